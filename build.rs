//! Records the git revision and the compiler version for
//! `agi_exporter_build_info`. Both fall back to "unknown" (a source tarball,
//! a Docker build without `.git`) rather than failing the build.

use std::process::Command;

fn main() {
    let revision = std::env::var("AGI_EXPORTER_REVISION")
        .ok()
        .filter(|r| !r.is_empty())
        .or_else(|| output("git", &["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_owned());
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let rustc_version = output(&rustc, &["--version"])
        .and_then(|v| v.split_whitespace().nth(1).map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=AGI_EXPORTER_REVISION={revision}");
    println!("cargo:rustc-env=AGI_EXPORTER_RUSTC_VERSION={rustc_version}");
    println!("cargo:rerun-if-env-changed=AGI_EXPORTER_REVISION");
    for path in [".git/HEAD", ".git/refs/heads", ".git/packed-refs"] {
        if std::path::Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
}

fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (out.status.success() && !text.is_empty()).then_some(text)
}
