//! Files a test writes: a lone file ([`TempFile`], a key file, say) or a
//! directory of them ([`TempDir`], a web config and its certificates, or a
//! Prometheus config and its data). Both get names no other test uses and
//! are removed when dropped.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

/// A name no other temporary file or directory of this run has.
fn unique_name(tag: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    format!("agi-exporter-test-{}-{tag}-{n}", std::process::id())
}

/// A file in the system temp dir, removed on drop.
pub struct TempFile {
    path: PathBuf,
}

impl TempFile {
    /// Writes `contents` to a fresh file whose name includes `tag`.
    pub fn with_contents(tag: &str, contents: &str) -> TempFile {
        let path = std::env::temp_dir().join(unique_name(tag));
        std::fs::write(&path, contents).expect("write the temp file");
        TempFile { path }
    }

    /// Its path, as text for a flag.
    pub fn path(&self) -> &str {
        self.path.to_str().expect("temp paths are UTF-8")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A fresh directory under Cargo's temporary directory for integration
/// tests; removed when dropped, except when the test failed (its path is
/// printed so the files can be inspected).
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates a directory whose name includes `tag`.
    pub fn new(tag: &str) -> TempDir {
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(unique_name(tag));
        // Left over from an earlier run that failed, with the same pid.
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        TempDir(path)
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The path of `name` in it.
    pub fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Writes the file `name` and moves its mtime one second past whatever
    /// it was, so that a change is seen however coarse the file system's
    /// clock is; returns its path.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.file(name);
        let before = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
        std::fs::write(&path, contents)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        if let Some(before) = before {
            set_mtime(&path, before + Duration::from_secs(1));
        }
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- test files kept in {} ----", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Sets the modification time of the file at `path`.
pub fn set_mtime(path: &Path, when: SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|file| file.set_modified(when))
        .unwrap_or_else(|e| panic!("cannot set the mtime of {}: {e}", path.display()));
}
