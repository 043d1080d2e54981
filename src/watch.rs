//! Telling that a file changed, for the files the exporter re-reads while
//! it runs (`--web.config.file`, `--config.file`): by their metadata, and
//! their contents while they are new.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// What a set of files looks like on disk: enough
/// metadata to tell a change (a rewrite, a rename over it, a copy that keeps
/// its timestamps) without reading them. File times tick coarsely (a few
/// milliseconds), so two writes of the same size within one tick look alike:
/// while a file changed in the last [`RECENT`], its contents are compared
/// too. Config files are small, and that window is short.
#[derive(Debug, Clone)]
pub(crate) struct Fingerprint(Vec<Option<FileState>>);

/// How long after a change a file's contents are compared as well.
const RECENT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
struct FileState {
    len: u64,
    modified: Option<SystemTime>,
    /// Inode, device and change time: a file replaced or copied over with
    /// its old modification time still changes these.
    #[cfg(unix)]
    identity: (u64, u64, i64, i64),
    /// A hash of the contents, for a file changed within [`RECENT`].
    recent_contents: Option<u64>,
}

impl PartialEq for Fingerprint {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len()
            && self.0.iter().zip(&other.0).all(|pair| match pair {
                (Some(a), Some(b)) => a.same_as(b),
                (None, None) => true,
                _ => false,
            })
    }
}

impl FileState {
    /// The same file as far as can be told: the same metadata, and the same
    /// contents where both looked (a file that stopped being recent did not
    /// change by that).
    fn same_as(&self, other: &FileState) -> bool {
        #[cfg(unix)]
        let identity = self.identity == other.identity;
        #[cfg(not(unix))]
        let identity = true;
        let contents = match (self.recent_contents, other.recent_contents) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        self.len == other.len && self.modified == other.modified && identity && contents
    }
}

impl Fingerprint {
    /// The files' states now, in order; a file that cannot be read is
    /// `None` (so its coming back is a change too).
    pub(crate) fn of(paths: impl IntoIterator<Item = PathBuf>) -> Self {
        let state = |path: &Path| {
            let meta = std::fs::metadata(path).ok()?;
            #[cfg(unix)]
            let (identity, changed) = {
                use std::os::unix::fs::MetadataExt;
                let changed = std::time::UNIX_EPOCH
                    + Duration::new(
                        meta.ctime().max(0) as u64,
                        meta.ctime_nsec().clamp(0, 999_999_999) as u32,
                    );
                (
                    (meta.ino(), meta.dev(), meta.ctime(), meta.ctime_nsec()),
                    changed,
                )
            };
            #[cfg(not(unix))]
            let changed = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            let recent = SystemTime::now()
                .duration_since(changed)
                .map_or(true, |age| age < RECENT);
            let recent_contents =
                recent
                    .then(|| std::fs::read(path).ok())
                    .flatten()
                    .map(|contents| {
                        use std::hash::{Hash, Hasher};
                        let mut hasher = std::hash::DefaultHasher::new();
                        contents.hash(&mut hasher);
                        hasher.finish()
                    });
            Some(FileState {
                len: meta.len(),
                modified: meta.modified().ok(),
                #[cfg(unix)]
                identity,
                recent_contents,
            })
        };
        Fingerprint(paths.into_iter().map(|path| state(&path)).collect())
    }
}
