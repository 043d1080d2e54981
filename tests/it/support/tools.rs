//! The programs some tests run beside the exporter (promtool, Prometheus,
//! Alertmanager, VictoriaMetrics, python3), and the one rule for their
//! absence: the test is skipped with a message saying what to install,
//! unless `CI` is set, where it fails.

/// A program a test runs, and the Debian package that has it.
#[derive(Debug, Clone, Copy)]
pub struct Tool {
    /// The name on PATH.
    pub program: &'static str,
    /// The Debian package to install.
    pub package: &'static str,
}

/// `promtool`, Prometheus's checker.
pub const PROMTOOL: Tool = Tool {
    program: "promtool",
    package: "prometheus",
};
/// Prometheus itself.
pub const PROMETHEUS: Tool = Tool {
    program: "prometheus",
    package: "prometheus",
};
/// `python3`, for `scripts/dashboard-queries`.
pub const PYTHON: Tool = Tool {
    program: "python3",
    package: "python3",
};
/// Alertmanager as Debian names it.
pub const ALERTMANAGER: Tool = Tool {
    program: "prometheus-alertmanager",
    package: "prometheus-alertmanager",
};
/// VictoriaMetrics single-node.
pub const VICTORIA_METRICS: Tool = Tool {
    program: "victoria-metrics",
    package: "victoria-metrics",
};

/// Whether every tool is on PATH. Without one the test (or check) is
/// skipped with a message, unless `CI` is set, where that is an error.
pub fn tools_present(tools: &[Tool]) -> bool {
    let missing: Vec<Tool> = tools
        .iter()
        .copied()
        .filter(|tool| !on_path(tool.program))
        .collect();
    if missing.is_empty() {
        return true;
    }
    let programs: Vec<&str> = missing.iter().map(|t| t.program).collect();
    let mut packages: Vec<&str> = missing.iter().map(|t| t.package).collect();
    packages.dedup();
    let message = format!(
        "{} not found on PATH (apt-get install {})",
        programs.join(" and "),
        packages.join(" ")
    );
    if std::env::var_os("CI").is_some_and(|ci| !ci.is_empty()) {
        panic!("{message}, and CI is set");
    }
    eprintln!("SKIP: {message}");
    false
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            dir.join(tool)
                .metadata()
                .is_ok_and(|m| m.is_file() && is_executable(&m))
        })
    })
}

#[cfg(unix)]
fn is_executable(metadata: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    metadata.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_: &std::fs::Metadata) -> bool {
    true
}
