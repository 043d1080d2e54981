//! `--web.config.file`: TLS, client certificates, basic auth and response
//! headers, in the Prometheus exporter-toolkit format.
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt          # paths are relative to this file
//!   key_file: server.key
//!   client_auth_type: RequireAndVerifyClientCert
//!   client_ca_file: ca.crt
//!   min_version: TLS12
//! http_server_config:
//!   headers:
//!     Strict-Transport-Security: max-age=31536000
//! basic_auth_users:
//!   prometheus: $2y$10$...          # bcrypt hash
//! ```
//!
//! The file (and the certificate files it names) is checked for changes in
//! the background, every second by default, so rotated certificates and
//! passwords are picked up without a restart. A file that stops being valid
//! keeps the last good settings in force and logs why.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use hyper::header::{HeaderName, HeaderValue};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use serde::Deserialize;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::sync::lock;
use crate::watch::Fingerprint;

/// Why a web config file cannot be used. Messages name the file and the
/// setting, never a password.
#[derive(Debug, thiserror::Error)]
pub enum WebConfigError {
    /// The file (or a file it names) could not be read.
    #[error("cannot read {path:?}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The YAML does not match the format.
    #[error("invalid web config file {path:?}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// What the YAML parser said.
        message: String,
    },
    /// A setting has a value this exporter does not accept.
    #[error("invalid web config file {path:?}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Which setting and why.
        message: String,
    },
}

/// The file as written, before validation.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebConfig {
    #[serde(default)]
    tls_server_config: Option<RawTlsConfig>,
    #[serde(default)]
    http_server_config: Option<RawHttpConfig>,
    #[serde(default)]
    basic_auth_users: Option<HashMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTlsConfig {
    #[serde(default)]
    cert_file: Option<PathBuf>,
    #[serde(default)]
    key_file: Option<PathBuf>,
    #[serde(default)]
    client_auth_type: Option<String>,
    #[serde(default)]
    client_ca_file: Option<PathBuf>,
    #[serde(default)]
    min_version: Option<String>,
    #[serde(default)]
    max_version: Option<String>,
    // Accepted for compatibility with exporter-toolkit files; rustls's own
    // choices (modern suites and curves only) apply.
    #[serde(default)]
    cipher_suites: Option<Vec<String>>,
    #[serde(default)]
    curve_preferences: Option<Vec<String>>,
    #[serde(default)]
    prefer_server_cipher_suites: Option<bool>,
    #[serde(default)]
    client_allowed_sans: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttpConfig {
    #[serde(default)]
    http2: Option<bool>,
    #[serde(default)]
    headers: Option<HashMap<String, String>>,
}

/// Response headers the exporter-toolkit lets a web config set.
const SETTABLE_HEADERS: [&str; 5] = [
    "Strict-Transport-Security",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "X-XSS-Protection",
    "Content-Security-Policy",
];

/// Validated web settings, ready to serve with.
pub(crate) struct WebSettings {
    /// `None` serves plain HTTP.
    pub(crate) tls: Option<TlsAcceptor>,
    /// Basic auth users and their bcrypt hashes; empty means no auth.
    users: HashMap<String, String>,
    /// Extra headers on every response.
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    /// Checked when the user is unknown, so that an unknown user takes as
    /// long as a wrong password and the answer reveals nothing.
    dummy_hash: String,
    /// Username and password pairs that already passed bcrypt, so a scrape
    /// every few seconds does not pay bcrypt's deliberate slowness each time.
    verified: Mutex<HashSet<(String, String)>>,
}

impl std::fmt::Debug for WebSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSettings")
            .field("tls", &self.tls.is_some())
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .field("headers", &self.headers)
            .finish()
    }
}

/// The outcome of checking a request's credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Auth {
    /// No auth configured, or the credentials are right.
    Allowed,
    /// Missing or wrong credentials (which of the two is not said).
    Denied,
}

/// Bound on remembered successful logins.
const VERIFIED_CACHE_LIMIT: usize = 64;

impl WebSettings {
    /// No TLS, no auth, no headers.
    pub(crate) fn plain() -> Self {
        WebSettings {
            tls: None,
            users: HashMap::new(),
            headers: Vec::new(),
            dummy_hash: String::new(),
            verified: Mutex::new(HashSet::new()),
        }
    }

    /// Whether requests need basic auth.
    pub(crate) fn requires_auth(&self) -> bool {
        !self.users.is_empty()
    }

    /// Checks an `Authorization` header value. bcrypt is slow on purpose:
    /// call this from a blocking-friendly context.
    pub(crate) fn check(&self, authorization: Option<&[u8]>) -> Auth {
        if self.users.is_empty() {
            return Auth::Allowed;
        }
        let Some((user, password)) = authorization.and_then(parse_basic) else {
            return Auth::Denied;
        };
        let key = (user, password);
        if lock(&self.verified).contains(&key) {
            return Auth::Allowed;
        }
        let (user, password) = &key;
        let (hash, known) = match self.users.get(user) {
            Some(hash) => (hash.as_str(), true),
            None => (self.dummy_hash.as_str(), false),
        };
        let matches = bcrypt::verify(password, hash).unwrap_or(false);
        if !(known && matches) {
            return Auth::Denied;
        }
        let mut verified = lock(&self.verified);
        if verified.len() >= VERIFIED_CACHE_LIMIT {
            verified.clear();
        }
        verified.insert(key);
        Auth::Allowed
    }
}

fn parse_basic(header: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(header).ok()?;
    let (scheme, encoded) = text.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// Loads and validates a web config file.
pub(crate) fn load(path: &Path) -> Result<WebSettings, WebConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| WebConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let raw: RawWebConfig = if text.trim().is_empty() {
        RawWebConfig::default()
    } else {
        serde_yaml_ng::from_str(&text).map_err(|e| WebConfigError::Syntax {
            path: path.to_owned(),
            message: e.to_string(),
        })?
    };
    let invalid = |message: String| WebConfigError::Invalid {
        path: path.to_owned(),
        message,
    };
    let base = path.parent().unwrap_or(Path::new("."));

    let tls = match raw.tls_server_config {
        Some(tls) => Some(tls_acceptor(tls, base).map_err(|e| match e {
            TlsProblem::Invalid(message) => invalid(message),
            TlsProblem::Read(path, source) => WebConfigError::Read { path, source },
        })?),
        None => None,
    };

    let mut headers = Vec::new();
    if let Some(http) = raw.http_server_config {
        if http.http2 == Some(true) {
            tracing::debug!("http_server_config.http2 is ignored: the exporter serves HTTP/1.1");
        }
        for (name, value) in http.headers.unwrap_or_default() {
            let Some(allowed) = SETTABLE_HEADERS
                .iter()
                .find(|h| h.eq_ignore_ascii_case(&name))
            else {
                return Err(invalid(format!(
                    "http_server_config.headers: {name:?} cannot be set; allowed: {}",
                    SETTABLE_HEADERS.join(", ")
                )));
            };
            let value = HeaderValue::from_str(&value).map_err(|_| {
                invalid(format!(
                    "http_server_config.headers.{name}: not a valid header value"
                ))
            })?;
            let name = HeaderName::from_bytes(allowed.as_bytes())
                .map_err(|_| invalid(format!("http_server_config.headers: bad name {name:?}")))?;
            headers.push((name, value));
        }
    }

    let users = raw.basic_auth_users.unwrap_or_default();
    for (user, hash) in &users {
        if user.contains(':') {
            return Err(invalid(format!(
                "basic_auth_users: user {user:?} contains ':'"
            )));
        }
        // Refuse what is not a bcrypt hash now rather than deny every login later.
        if bcrypt::verify("", hash).is_err() {
            return Err(invalid(format!(
                "basic_auth_users.{user}: not a bcrypt hash (generate one with htpasswd -nBC 10 \"\" | tr -d ':\\n')"
            )));
        }
    }

    let dummy_hash = match users.values().next() {
        Some(hash) => {
            let cost = hash
                .get(4..6)
                .and_then(|c| c.parse().ok())
                .unwrap_or(bcrypt::DEFAULT_COST);
            bcrypt::hash("not a password anyone uses", cost).unwrap_or_default()
        }
        None => String::new(),
    };
    Ok(WebSettings {
        tls,
        users,
        headers,
        dummy_hash,
        verified: Mutex::new(HashSet::new()),
    })
}

enum TlsProblem {
    Invalid(String),
    Read(PathBuf, std::io::Error),
}

fn tls_acceptor(raw: RawTlsConfig, base: &Path) -> Result<TlsAcceptor, TlsProblem> {
    use TlsProblem::Invalid;
    let resolve = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };
    let (Some(cert_file), Some(key_file)) = (raw.cert_file, raw.key_file) else {
        return Err(Invalid(
            "tls_server_config needs both cert_file and key_file".to_owned(),
        ));
    };
    if raw.client_allowed_sans.is_some_and(|sans| !sans.is_empty()) {
        return Err(Invalid(
            "tls_server_config.client_allowed_sans is not supported by this exporter".to_owned(),
        ));
    }
    if raw.cipher_suites.is_some()
        || raw.curve_preferences.is_some()
        || raw.prefer_server_cipher_suites.is_some()
    {
        tracing::info!(
            "tls_server_config cipher_suites/curve_preferences are ignored: rustls uses only modern suites and curves"
        );
    }
    let cert_file = resolve(cert_file);
    let key_file = resolve(key_file);
    let certs: Vec<CertificateDer<'static>> = read_pem(&cert_file, |path| {
        CertificateDer::pem_file_iter(path).and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
    })?;
    if certs.is_empty() {
        return Err(Invalid(format!(
            "cert_file {cert_file:?} holds no certificate"
        )));
    }
    let key = read_pem(&key_file, |path| PrivateKeyDer::from_pem_file(path))?;

    let versions =
        tls_versions(raw.min_version.as_deref(), raw.max_version.as_deref()).map_err(Invalid)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
        .map_err(|e| Invalid(format!("tls_server_config: {e}")))?;

    let auth_type = raw.client_auth_type.as_deref().unwrap_or("NoClientCert");
    let builder = match auth_type {
        "NoClientCert" | "" => builder.with_no_client_auth(),
        "VerifyClientCertIfGiven" | "RequireAndVerifyClientCert" => {
            let Some(ca_file) = raw.client_ca_file else {
                return Err(Invalid(format!(
                    "tls_server_config.client_auth_type {auth_type} needs client_ca_file"
                )));
            };
            let ca_file = resolve(ca_file);
            let cas: Vec<CertificateDer<'static>> = read_pem(&ca_file, |path| {
                CertificateDer::pem_file_iter(path).and_then(|c| c.collect::<Result<Vec<_>, _>>())
            })?;
            let mut roots = rustls::RootCertStore::empty();
            let (added, _) = roots.add_parsable_certificates(cas);
            if added == 0 {
                return Err(Invalid(format!(
                    "client_ca_file {ca_file:?} holds no usable certificate"
                )));
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if auth_type == "VerifyClientCertIfGiven" {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            let verifier = verifier
                .build()
                .map_err(|e| Invalid(format!("client_ca_file {ca_file:?}: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        }
        "RequestClientCert" | "RequireAnyClientCert" => {
            return Err(Invalid(format!(
                "tls_server_config.client_auth_type {auth_type} (accepting unverified client certificates) is not supported; use VerifyClientCertIfGiven or RequireAndVerifyClientCert"
            )));
        }
        other => {
            return Err(Invalid(format!(
                "tls_server_config.client_auth_type {other:?} is unknown; use NoClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert"
            )));
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| Invalid(format!("cert_file/key_file: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn read_pem<T>(
    path: &Path,
    read: impl FnOnce(&Path) -> Result<T, rustls::pki_types::pem::Error>,
) -> Result<T, TlsProblem> {
    use rustls::pki_types::pem::Error;
    read(path).map_err(|e| match e {
        Error::Io(source) => TlsProblem::Read(path.to_owned(), source),
        Error::NoItemsFound => {
            TlsProblem::Invalid(format!("{path:?} holds no PEM item of the expected kind"))
        }
        other => TlsProblem::Invalid(format!("{path:?}: {other}")),
    })
}

fn tls_versions(
    min: Option<&str>,
    max: Option<&str>,
) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, String> {
    // rustls implements TLS 1.2 and 1.3 only; older minimums mean 1.2.
    let rank = |name: &str, setting: &str| match name {
        "TLS10" | "TLS11" | "TLS12" => Ok(12),
        "TLS13" => Ok(13),
        other => Err(format!(
            "tls_server_config.{setting} {other:?} is unknown; use TLS12 or TLS13"
        )),
    };
    let min = min
        .map(|m| rank(m, "min_version"))
        .transpose()?
        .unwrap_or(12);
    let max = max
        .map(|m| rank(m, "max_version"))
        .transpose()?
        .unwrap_or(13);
    let versions: Vec<_> = [(12, &rustls::version::TLS12), (13, &rustls::version::TLS13)]
        .into_iter()
        .filter(|(v, _)| (min..=max).contains(v))
        .map(|(_, version)| version)
        .collect();
    if versions.is_empty() {
        return Err("tls_server_config: min_version is above max_version".to_owned());
    }
    Ok(versions)
}

/// The web settings in force, and what keeps them current: a background
/// check of the config file and the files it names, by their metadata, every
/// [`crate::config::ServerTimings::config_check_interval`]. A change is
/// loaded off the accept path (bcrypt and certificate parsing are slow) and
/// published at once to every new connection, which only reads the settings
/// published last.
#[derive(Debug)]
pub(crate) struct WebSettingsSource {
    path: Option<PathBuf>,
    /// The files as they were when the settings published last were read.
    seen: Option<Fingerprint>,
    published: watch::Sender<Arc<WebSettings>>,
}

impl WebSettingsSource {
    /// Loads the file once; an invalid file is a start-up error. Without a
    /// file the settings are plain HTTP, for good.
    pub(crate) fn new(path: Option<&Path>) -> Result<Self, WebConfigError> {
        // Taken before reading, so that a change made while the file is
        // read is seen as one.
        let seen = path.map(fingerprint);
        let settings = match path {
            Some(path) => load(path)?,
            None => WebSettings::plain(),
        };
        Ok(WebSettingsSource {
            path: path.map(Path::to_owned),
            seen,
            published: watch::Sender::new(Arc::new(settings)),
        })
    }

    /// What each new connection reads its settings from.
    pub(crate) fn settings(&self) -> watch::Receiver<Arc<WebSettings>> {
        self.published.subscribe()
    }

    /// Checks the files every `interval` and publishes what changed, until
    /// dropped. Returns at once when there is no file to watch.
    pub(crate) async fn keep_current(mut self, interval: Duration) {
        let (Some(path), Some(mut seen)) = (self.path.clone(), self.seen.take()) else {
            return;
        };
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let now = fingerprint(&path);
            if now == seen {
                continue;
            }
            seen = now;
            let reload = path.clone();
            match tokio::task::spawn_blocking(move || load(&reload)).await {
                Ok(loaded) => self.apply(&path, loaded),
                Err(error) => tracing::warn!(%error, "cannot reload the web config file"),
            }
        }
    }

    fn apply(&self, path: &Path, loaded: Result<WebSettings, WebConfigError>) {
        let current = Arc::clone(&self.published.borrow());
        match loaded {
            // A file caught half-written (empty, say) must not open the
            // endpoint: TLS and basic auth can be changed, not removed,
            // without a restart.
            Ok(settings) if current.tls.is_some() && settings.tls.is_none() => {
                tracing::warn!(path = %path.display(), "the web config file no longer enables TLS; keeping TLS on (restart to turn it off)");
            }
            Ok(settings) if current.requires_auth() && !settings.requires_auth() => {
                tracing::warn!(path = %path.display(), "the web config file no longer has basic_auth_users; keeping basic auth on (restart to turn it off)");
            }
            Ok(settings) => {
                tracing::info!(path = %path.display(), "reloaded the web config file");
                self.published.send_replace(Arc::new(settings));
            }
            Err(error) => {
                tracing::warn!(%error, "keeping the previous web config");
            }
        }
    }
}

/// The config file and the files it names, as they are on disk.
fn fingerprint(path: &Path) -> Fingerprint {
    Fingerprint::of(std::iter::once(path.to_owned()).chain(named_files(path)))
}

/// The certificate and key files a config file names, resolved against its
/// directory; none when it cannot be read.
fn named_files(path: &Path) -> Vec<PathBuf> {
    let base = path.parent().unwrap_or(Path::new("."));
    std::fs::read(path)
        .ok()
        .and_then(|text| serde_yaml_ng::from_slice::<RawWebConfig>(&text).ok())
        .and_then(|raw| raw.tls_server_config)
        .map(|tls| [tls.cert_file, tls.key_file, tls.client_ca_file])
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .map(|file| base.join(file))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("agi-webcfg-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    // bcrypt of "secret" at cost 4 (fast for tests).
    fn hash(password: &str) -> String {
        bcrypt::hash(password, 4).unwrap()
    }

    fn basic(user: &str, password: &str) -> Vec<u8> {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        format!("Basic {encoded}").into_bytes()
    }

    #[test]
    fn basic_auth_allows_only_the_right_password() {
        let dir = temp_dir("auth");
        let path = write(
            &dir,
            "web.yml",
            &format!("basic_auth_users:\n  alice: {}\n", hash("secret")),
        );
        let settings = load(&path).unwrap();
        assert!(settings.requires_auth());
        assert_eq!(
            settings.check(Some(&basic("alice", "secret"))),
            Auth::Allowed
        );
        // Cached, still allowed.
        assert_eq!(
            settings.check(Some(&basic("alice", "secret"))),
            Auth::Allowed
        );
        assert_eq!(settings.check(Some(&basic("alice", "wrong"))), Auth::Denied);
        assert_eq!(settings.check(Some(&basic("bob", "secret"))), Auth::Denied);
        assert_eq!(settings.check(None), Auth::Denied);
        assert_eq!(settings.check(Some(b"Bearer abc")), Auth::Denied);
        assert_eq!(settings.check(Some(b"Basic !!!")), Auth::Denied);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn bad_files_are_refused_with_the_setting_named() {
        let dir = temp_dir("bad");
        for (text, expected) in [
            ("tls_server_config: [", "invalid web config"),
            ("unknown_key: 1\n", "unknown_key"),
            (
                "basic_auth_users:\n  alice: plaintext\n",
                "not a bcrypt hash",
            ),
            (
                "tls_server_config:\n  cert_file: a.crt\n",
                "cert_file and key_file",
            ),
            (
                "tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n",
                "missing.crt",
            ),
            (
                "http_server_config:\n  headers:\n    Content-Type: text/html\n",
                "cannot be set",
            ),
        ] {
            let path = write(&dir, "web.yml", text);
            let error = load(&path).map(|_| ()).unwrap_err().to_string();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn headers_and_an_empty_file_are_accepted() {
        let dir = temp_dir("headers");
        let path = write(
            &dir,
            "web.yml",
            "http_server_config:\n  headers:\n    X-Frame-Options: deny\n",
        );
        let settings = load(&path).unwrap();
        assert_eq!(settings.headers.len(), 1);
        assert_eq!(settings.headers[0].0.as_str(), "x-frame-options");
        let empty = write(&dir, "empty.yml", "");
        assert!(!load(&empty).unwrap().requires_auth());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn a_changed_file_is_published_and_a_broken_one_is_not() {
        let dir = temp_dir("publish");
        let path = write(
            &dir,
            "web.yml",
            &format!("basic_auth_users:\n  a: {}\n", hash("one")),
        );
        let source = WebSettingsSource::new(Some(&path)).unwrap();
        let mut settings = source.settings();
        let watcher = tokio::spawn(source.keep_current(Duration::from_millis(10)));
        write(
            &dir,
            "web.yml",
            &format!("basic_auth_users:\n  b: {}\n", hash("two")),
        );
        tokio::time::timeout(Duration::from_secs(5), settings.changed())
            .await
            .unwrap()
            .unwrap();
        let current = Arc::clone(&settings.borrow_and_update());
        assert_eq!(current.check(Some(&basic("b", "two"))), Auth::Allowed);
        write(&dir, "web.yml", "basic_auth_users: [ broken\n");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            !settings.has_changed().unwrap(),
            "a broken file is not published"
        );
        watcher.abort();
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn tls_versions_follow_min_and_max() {
        assert_eq!(tls_versions(None, None).unwrap().len(), 2);
        assert_eq!(tls_versions(Some("TLS13"), None).unwrap().len(), 1);
        assert_eq!(tls_versions(Some("TLS10"), Some("TLS12")).unwrap().len(), 1);
        assert!(tls_versions(Some("SSL3"), None).is_err());
        assert!(tls_versions(Some("TLS13"), Some("TLS12")).is_err());
    }
}
