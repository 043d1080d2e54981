//! The API key: where it comes from, the checks it passes, and the one
//! thing that may read it (the `Authorization` header of a request).
//!
//! The key comes from `AGI_API_KEY` or from `--api.key-file`, never from a
//! flag, so it never shows in `ps`. A key longer than [`MAX_KEY_BYTES`], a
//! key file larger than that, or a key with a byte that cannot be sent in an
//! HTTP header is refused: at start-up as a configuration error, and on a
//! later re-read of the file with a warning that keeps the last good key.
//! No message here ever quotes the key or the file's contents.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use reqwest::header::HeaderValue;

use super::redact::Redactor;
use crate::sync::lock;

/// The largest key, and the largest key file, accepted: a real key is a few
/// dozen bytes, and a mistaken path (a log file, a disk image) must not be
/// sent as a header on every request.
pub const MAX_KEY_BYTES: usize = 4096;

/// The shortest key accepted: a real key is a few dozen bytes, and a key of
/// a byte or two (a placeholder left in a Secret) would be redacted out of
/// ordinary text, such as agent names, wherever its letters appear.
pub const MIN_KEY_BYTES: usize = 8;

/// The key the demo simulator accepts, and `--demo` sends.
pub const DEMO_KEY: &str = "agi-demo-key";

/// Why a key is refused. The messages never quote the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Nothing but whitespace.
    #[error("the key is empty")]
    Empty,
    /// Shorter than [`MIN_KEY_BYTES`].
    #[error("the key is shorter than 8 bytes, too short to be an AGI API key")]
    TooShort,
    /// Longer than [`MAX_KEY_BYTES`].
    #[error("the key is longer than 4 KiB")]
    TooLong,
    /// A space, a control character or a byte outside visible ASCII.
    #[error("the key contains spaces or characters that cannot be sent in an HTTP header")]
    NotHeaderSafe,
}

/// The API key, ready to send. `Debug` never shows it.
#[derive(Clone)]
pub struct ApiKey {
    /// `Bearer <key>`, marked sensitive so that the HTTP stack never logs it.
    authorization: HeaderValue,
    /// The forms of this key that are cut out of upstream text.
    redactor: Arc<Redactor>,
}

impl ApiKey {
    /// Trims surrounding whitespace and checks that the key can be sent in
    /// an HTTP header.
    pub fn new(raw: &str) -> Result<Self, KeyError> {
        let key = raw.trim();
        if key.is_empty() {
            return Err(KeyError::Empty);
        }
        if key.len() < MIN_KEY_BYTES {
            return Err(KeyError::TooShort);
        }
        if key.len() > MAX_KEY_BYTES {
            return Err(KeyError::TooLong);
        }
        if key.bytes().any(|b| !(0x21..=0x7e).contains(&b)) {
            return Err(KeyError::NotHeaderSafe);
        }
        let mut authorization =
            HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| KeyError::NotHeaderSafe)?;
        authorization.set_sensitive(true);
        Ok(ApiKey {
            authorization,
            redactor: Arc::new(Redactor::new(key)),
        })
    }

    /// The demo simulator's key ([`DEMO_KEY`]).
    pub(crate) fn demo() -> Self {
        let mut authorization = HeaderValue::from_static("Bearer agi-demo-key");
        authorization.set_sensitive(true);
        ApiKey {
            authorization,
            redactor: Arc::new(Redactor::new(DEMO_KEY)),
        }
    }

    /// The `Authorization` header value that carries the key.
    pub(crate) fn authorization(&self) -> HeaderValue {
        self.authorization.clone()
    }

    /// What cuts this key out of text from upstream.
    pub(crate) fn redactor(&self) -> &Arc<Redactor> {
        &self.redactor
    }

    fn same_key(&self, other: &ApiKey) -> bool {
        self.authorization.as_bytes() == other.authorization.as_bytes()
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

impl PartialEq for ApiKey {
    fn eq(&self, other: &Self) -> bool {
        self.same_key(other)
    }
}

impl Eq for ApiKey {}

/// A key file that is read again before every request, so that a rotated
/// key (a remounted Kubernetes Secret, a file replaced by rename or copied
/// over with its old timestamp) is used from the next request on. The file
/// is a few bytes; reading it costs nothing next to the request.
#[derive(Debug)]
pub struct KeyFile {
    path: PathBuf,
    last_good: Mutex<ApiKey>,
}

impl KeyFile {
    /// Reads the key file once. `Err` says why it is unusable, without its
    /// contents.
    pub fn open(path: &Path) -> Result<Self, String> {
        let key = read_key_file(path)?;
        Ok(KeyFile {
            path: path.to_owned(),
            last_good: Mutex::new(key),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The key the file holds now. If it cannot be used (being rewritten,
    /// deleted, grown too large), the last good key is kept and the reason
    /// returned beside it so the caller can log it.
    pub fn current(&self) -> (ApiKey, Option<String>) {
        let mut last_good = lock(&self.last_good);
        match read_key_file(&self.path) {
            Ok(key) => {
                // The same key again keeps its prepared redactor.
                if !key.same_key(&last_good) {
                    *last_good = key;
                }
                (last_good.clone(), None)
            }
            Err(reason) => (last_good.clone(), Some(reason)),
        }
    }
}

/// Reads at most one byte more than [`MAX_KEY_BYTES`], so that a huge file
/// is refused without being read whole. Only a regular file is read: it is
/// opened without blocking and refused if it is a pipe or a device, which
/// could make the read wait forever (a FIFO with no writer) or never end.
fn read_key_file(path: &Path) -> Result<ApiKey, String> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(|e| e.to_string())?;
    if !file.metadata().map_err(|e| e.to_string())?.is_file() {
        return Err("not a regular file".to_owned());
    }
    let mut raw = Vec::new();
    file.take(MAX_KEY_BYTES as u64 + 1)
        .read_to_end(&mut raw)
        .map_err(|e| e.to_string())?;
    if raw.len() > MAX_KEY_BYTES {
        return Err("the file is larger than 4 KiB".to_owned());
    }
    let text = std::str::from_utf8(&raw).map_err(|_| KeyError::NotHeaderSafe.to_string())?;
    ApiKey::new(text).map_err(|e| e.to_string())
}

/// Where each request's key comes from.
#[derive(Debug)]
pub enum KeySource {
    /// A key fixed for the process's life (`AGI_API_KEY`, or the demo key).
    Fixed(ApiKey),
    /// `--api.key-file`, re-read before every request.
    File(KeyFile),
}

impl KeySource {
    /// The key as [`Self::current`] reads it, without the warning: for
    /// the keyring, which reads every account's key every second.
    pub(crate) fn current_quietly(&self) -> ApiKey {
        match self {
            KeySource::Fixed(key) => key.clone(),
            KeySource::File(file) => file.current().0,
        }
    }

    /// The key for the next request; a key file that cannot be used is
    /// logged (its path and why, never its contents) and the last good key
    /// used.
    pub(crate) fn current(&self) -> ApiKey {
        match self {
            KeySource::Fixed(key) => key.clone(),
            KeySource::File(file) => {
                let (key, problem) = file.current();
                if let Some(problem) = problem {
                    tracing::warn!(
                        path = %file.path().display(),
                        problem,
                        "cannot use the API key file; using the last good key"
                    );
                }
                key
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_path(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("agi-key-{name}-{}", std::process::id()))
    }

    fn bearer(key: &ApiKey) -> &str {
        key.authorization.to_str().unwrap_or_default()
    }

    #[test]
    fn a_key_is_trimmed_and_never_shown_by_debug() {
        let key = ApiKey::new("  sk-very-secret\n").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(bearer(&key), "Bearer sk-very-secret");
        assert!(key.authorization.is_sensitive());
        assert!(!format!("{key:?}").contains("very-secret"));
    }

    #[test]
    fn the_demo_key_is_the_one_the_simulator_accepts() {
        assert_eq!(Ok(ApiKey::demo()), ApiKey::new(DEMO_KEY));
    }

    #[test]
    fn keys_that_cannot_be_sent_are_refused() {
        assert_eq!(ApiKey::new(" \n"), Err(KeyError::Empty));
        assert_eq!(ApiKey::new(" k\n"), Err(KeyError::TooShort));
        assert_eq!(ApiKey::new("1234567"), Err(KeyError::TooShort));
        assert!(ApiKey::new("12345678").is_ok());
        assert_eq!(ApiKey::new("two words"), Err(KeyError::NotHeaderSafe));
        assert_eq!(
            ApiKey::new("caf\u{e9}-is-not-ascii"),
            Err(KeyError::NotHeaderSafe)
        );
        assert_eq!(
            ApiKey::new("a\u{7f}b-delete-inside"),
            Err(KeyError::NotHeaderSafe)
        );
        assert_eq!(ApiKey::new(&"k".repeat(4097)), Err(KeyError::TooLong));
        assert!(ApiKey::new(&"k".repeat(4096)).is_ok());
        assert!(ApiKey::new(r#"sk/+="\-key"#).is_ok());
    }

    #[test]
    fn a_key_file_is_reread_and_a_bad_one_keeps_the_last_good_key() {
        let path = temp_path("reread");
        let write = |text: &[u8]| std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
        write(b"first-key\n");
        let file = KeyFile::open(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(bearer(&file.current().0), "Bearer first-key");
        write(b"second-key-longer\n");
        assert_eq!(bearer(&file.current().0), "Bearer second-key-longer");
        for (bad, why) in [
            (&b""[..], "empty"),
            (&[b'k'; 10 << 20][..], "larger than 4 KiB"),
            (b"with a space", "HTTP header"),
            (b"caf\xe9-latin-1", "HTTP header"),
            (b"short", "shorter than 8 bytes"),
        ] {
            write(bad);
            let (kept, problem) = file.current();
            assert_eq!(bearer(&kept), "Bearer second-key-longer");
            let problem = problem.unwrap_or_default();
            assert!(problem.contains(why), "{problem}");
            assert!(
                !problem.contains("kkkk") && !problem.contains("caf"),
                "{problem}"
            );
        }
        std::fs::remove_file(&path).unwrap_or_else(|e| panic!("{e}"));
        let (kept, problem) = file.current();
        assert_eq!(bearer(&kept), "Bearer second-key-longer");
        assert!(problem.is_some());
    }

    #[cfg(unix)]
    #[test]
    fn a_pipe_or_a_device_is_refused_without_waiting_for_it() {
        let fifo = temp_path("fifo");
        let _ = std::fs::remove_file(&fifo);
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|status| status.success()) {
            let error = KeyFile::open(&fifo).err().unwrap_or_default();
            assert!(error.contains("not a regular file"), "{error}");
            std::fs::remove_file(&fifo).unwrap_or_else(|e| panic!("{e}"));
        }
        let error = KeyFile::open(Path::new("/dev/zero"))
            .err()
            .unwrap_or_default();
        assert!(error.contains("not a regular file"), "{error}");
    }

    #[test]
    fn a_key_file_larger_than_4_kib_is_refused_at_start() {
        let path = temp_path("large");
        std::fs::write(&path, vec![b'k'; 4097]).unwrap_or_else(|e| panic!("{e}"));
        let error = KeyFile::open(&path).err().unwrap_or_default();
        assert!(error.contains("larger than 4 KiB"), "{error}");
        std::fs::write(&path, format!("{}\n", "k".repeat(4095))).unwrap_or_else(|e| panic!("{e}"));
        assert!(KeyFile::open(&path).is_ok());
        std::fs::remove_file(&path).unwrap_or_else(|e| panic!("{e}"));
    }
}
