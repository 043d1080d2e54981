//! `--config.file`: the named accounts, read and checked.
//!
//! The file names accounts; for each, where its sessions are listed (`url`)
//! and where its key is (`key_file` or `key_env`, never the key itself), and
//! optionally how it is fetched (`timeout`, `cache_ttl`,
//! `max_response_bytes`) and which statuses end its sessions
//! (`final_statuses`); what it leaves out comes from the flags. Unknown
//! fields are refused, so a typo is an error rather than a setting silently
//! ignored. Every message names the file and the field; none quotes a key.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::Url;
use serde::Deserialize;

use crate::api::key::{ApiKey, KeyFile, KeySource};
use crate::config::{check_api_url, parse_duration, parse_size};
use crate::status::StatusModel;

/// At most this many accounts in one file: a few hundred is a large
/// deployment, and each account holds its own state.
pub(crate) const MAX_ACCOUNTS: usize = 1000;

/// A config file larger than this is not one (a wrong path).
const MAX_FILE_BYTES: u64 = 1 << 20;

/// The longest account name.
pub(crate) const MAX_NAME_BYTES: usize = 64;

/// Why the file cannot be used: one line, naming the file and the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--config.file {path}: {problem}")]
pub struct AccountsFileError {
    path: String,
    problem: String,
}

/// One account as the file names it, with the flags' defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AccountSpec {
    pub(crate) name: String,
    pub(crate) url: Url,
    pub(crate) key: KeySpec,
    pub(crate) timeout: Duration,
    pub(crate) cache_ttl: Duration,
    pub(crate) max_response_bytes: u64,
    pub(crate) statuses: StatusModel,
}

/// Where an account's key is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeySpec {
    /// A file, read again before every request.
    File(PathBuf),
    /// An environment variable, read when the file is.
    Env(String),
}

/// What an account takes from the flags when the file does not say.
#[derive(Debug, Clone)]
pub struct AccountDefaults {
    pub(crate) url: Url,
    pub(crate) allow_insecure_http: bool,
    pub(crate) timeout: Duration,
    pub(crate) cache_ttl: Duration,
    pub(crate) max_response_bytes: u64,
    pub(crate) statuses: StatusModel,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    accounts: Option<RawAccounts>,
}

/// The accounts as the file lists them, a name given twice refused (a map
/// would keep the last silently).
#[derive(Debug, Default)]
struct RawAccounts(BTreeMap<String, Option<RawAccount>>);

impl<'de> Deserialize<'de> for RawAccounts {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Names;
        impl<'de> serde::de::Visitor<'de> for Names {
            type Value = RawAccounts;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map from account names to accounts")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut map: M,
            ) -> Result<RawAccounts, M::Error> {
                let mut accounts = BTreeMap::new();
                while let Some((name, account)) = map.next_entry::<String, Option<RawAccount>>()? {
                    if accounts.contains_key(&name) {
                        return Err(serde::de::Error::custom(format!(
                            "account `{}` is named twice",
                            name.chars().take(MAX_NAME_BYTES + 1).collect::<String>()
                        )));
                    }
                    accounts.insert(name, account);
                }
                Ok(RawAccounts(accounts))
            }
        }
        deserializer.deserialize_map(Names)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccount {
    url: Option<String>,
    key_file: Option<PathBuf>,
    key_env: Option<String>,
    timeout: Option<String>,
    cache_ttl: Option<String>,
    max_response_bytes: Option<RawSize>,
    final_statuses: Option<Vec<String>>,
}

/// A size written as `64MiB` or as a number of bytes.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawSize {
    Bytes(u64),
    Text(String),
}

/// An account of the file, its key found.
#[derive(Debug)]
pub(crate) struct Loaded {
    pub(crate) spec: AccountSpec,
    pub(crate) key: KeySource,
}

/// Reads and checks the file, and finds each account's key (its key file
/// read, its variable looked up in `env`): the accounts, sorted by name.
pub(crate) fn load(
    path: &Path,
    defaults: &AccountDefaults,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<Loaded>, AccountsFileError> {
    let error = |problem: String| AccountsFileError {
        path: path.display().to_string(),
        problem,
    };
    let text = read_bounded(path).map_err(error)?;
    let specs = parse(&text, defaults).map_err(error)?;
    specs
        .into_iter()
        .map(|spec| match spec.key.source(env) {
            Ok(key) => Ok(Loaded { spec, key }),
            Err(problem) => Err(error(format!("accounts.{}.{problem}", spec.name))),
        })
        .collect()
}

/// The process's environment, where `key_env` looks.
pub(crate) fn process_env(variable: &str) -> Option<String> {
    // A value that is not UTF-8 is read lossily, so that the key check
    // refuses it by name rather than report it missing.
    std::env::var_os(variable).map(|value| value.to_string_lossy().into_owned())
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    if !file.metadata().map_err(|e| e.to_string())?.is_file() {
        return Err("not a regular file".to_owned());
    }
    let mut text = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut text)
        .map_err(|e| e.to_string())?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err("larger than 1 MiB".to_owned());
    }
    Ok(text)
}

/// The accounts of a file's text.
pub(crate) fn parse(text: &[u8], defaults: &AccountDefaults) -> Result<Vec<AccountSpec>, String> {
    let raw: RawFile =
        serde_yaml_ng::from_slice(text).map_err(|e| one_line(&without_quoted(&e.to_string())))?;
    let accounts = raw.accounts.unwrap_or_default().0;
    if accounts.is_empty() {
        return Err("no accounts: name at least one under `accounts:`".to_owned());
    }
    if accounts.len() > MAX_ACCOUNTS {
        return Err(format!(
            "{} accounts; at most {MAX_ACCOUNTS}",
            accounts.len()
        ));
    }
    accounts
        .into_iter()
        .map(|(name, account)| {
            check_name(&name)?;
            let account =
                account.ok_or_else(|| format!("accounts.{name}: needs key_file or key_env"))?;
            spec(name.clone(), account, defaults)
                .map_err(|problem| format!("accounts.{name}.{problem}"))
        })
        .collect()
}

/// An account name: what a scraper puts in `/probe?account=` and what the
/// `account` label holds.
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    if name.is_empty() || name.len() > MAX_NAME_BYTES || !name.chars().all(allowed) {
        return Err(format!(
            "account name {:?} must be 1 to {MAX_NAME_BYTES} letters, digits, `_`, `.` or `-`",
            name.chars().take(MAX_NAME_BYTES + 1).collect::<String>()
        ));
    }
    Ok(())
}

fn spec(name: String, raw: RawAccount, defaults: &AccountDefaults) -> Result<AccountSpec, String> {
    let key = match (raw.key_file, raw.key_env) {
        (Some(path), None) => KeySpec::File(path),
        (None, Some(variable)) => {
            check_variable(&variable)?;
            KeySpec::Env(variable)
        }
        (Some(_), Some(_)) => {
            return Err("key_file, key_env: give one, not both".to_owned());
        }
        (None, None) => return Err("key_file: give key_file or key_env".to_owned()),
    };
    let url = match raw.url {
        Some(url) => check_api_url(&url, defaults.allow_insecure_http)
            .map_err(|problem| format!("url: {problem}"))?,
        None => defaults.url.clone(),
    };
    let duration = |field: &str, text: Option<String>, default: Duration| match text {
        Some(text) => parse_duration(&text).map_err(|problem| format!("{field}: {problem}")),
        None => Ok(default),
    };
    let timeout = duration("timeout", raw.timeout, defaults.timeout)?;
    if timeout.is_zero() {
        return Err("timeout: must be greater than 0".to_owned());
    }
    let max_response_bytes = match raw.max_response_bytes {
        Some(RawSize::Bytes(0)) => {
            return Err("max_response_bytes: must be at least 1 byte".to_owned());
        }
        Some(RawSize::Bytes(bytes)) => bytes,
        Some(RawSize::Text(text)) => {
            parse_size(&text).map_err(|problem| format!("max_response_bytes: {problem}"))?
        }
        None => defaults.max_response_bytes,
    };
    let statuses = match raw.final_statuses {
        Some(list) if list.iter().any(|status| status.contains(',')) => {
            return Err("final_statuses: one status per item, without commas".to_owned());
        }
        Some(list) => StatusModel::parse(&list.join(","))
            .map_err(|problem| format!("final_statuses: {problem}"))?,
        None => defaults.statuses.clone(),
    };
    Ok(AccountSpec {
        name,
        url,
        key,
        timeout,
        cache_ttl: duration("cache_ttl", raw.cache_ttl, defaults.cache_ttl)?,
        max_response_bytes,
        statuses,
    })
}

/// `key_env` names a variable: a value that could not be one is likely the
/// key itself, which is never quoted.
fn check_variable(variable: &str) -> Result<(), String> {
    let mut chars = variable.chars();
    let first = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first || variable.len() > 128 || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(
            "key_env: must name an environment variable (letters, digits and `_`), not hold the key"
                .to_owned(),
        );
    }
    Ok(())
}

/// A key file's path as a message shows it: a path without a `/` may be
/// a key pasted into the wrong field, so it is not quoted.
fn shown_path(path: &Path) -> String {
    let text = path.display().to_string();
    if text.contains('/') {
        text
    } else {
        "(not shown: without a /, it may be a key)".to_owned()
    }
}

/// A parser's message with the values it quotes left out: a key pasted
/// where a map or list was expected would be quoted.
fn without_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut quoted = false;
    for c in message.chars() {
        match (c, quoted) {
            ('"', false) => {
                quoted = true;
                out.push_str("\"…\"");
            }
            ('"', true) => quoted = false,
            (c, false) => out.push(c),
            (_, true) => {}
        }
    }
    out
}

impl KeySpec {
    /// The key source this names: the file opened (and read once), or the
    /// variable read from `env`. Messages never quote the key, nor the
    /// variable (which may hold the key by mistake).
    pub(crate) fn source(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<KeySource, String> {
        match self {
            KeySpec::File(path) => KeyFile::open(path)
                .map(KeySource::File)
                .map_err(|reason| format!("key_file {}: {reason}", shown_path(path))),
            KeySpec::Env(variable) => {
                let raw = env(variable).ok_or_else(|| {
                    "key_env: the environment variable it names is not set".to_owned()
                })?;
                ApiKey::new(&raw)
                    .map(KeySource::Fixed)
                    .map_err(|reason| format!("key_env: {reason}"))
            }
        }
    }
}

/// serde's messages can span lines; the exporter's errors are one line.
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> AccountDefaults {
        AccountDefaults {
            url: Url::parse("https://api.agi.tech").unwrap_or_else(|e| panic!("{e}")),
            allow_insecure_http: false,
            timeout: Duration::from_secs(10),
            cache_ttl: Duration::ZERO,
            max_response_bytes: 512 << 20,
            statuses: StatusModel::parse(StatusModel::DEFAULT_FLAG)
                .unwrap_or_else(|e| panic!("{e}")),
        }
    }

    fn specs(text: &str) -> Result<Vec<AccountSpec>, String> {
        parse(text.as_bytes(), &defaults())
    }

    #[test]
    fn a_key_pasted_into_the_wrong_field_is_not_quoted() {
        let key = "sk-live-abcdef0123456789";
        for text in [
            format!("accounts:\n  prod: {key}\n"),
            format!("accounts:\n  prod:\n    key_env: A\n    final_statuses: {key}\n"),
            format!("accounts: {key}\n"),
        ] {
            let error = parse(text.as_bytes(), &defaults()).unwrap_err();
            assert!(!error.contains(key), "{error}");
        }
        let spec = KeySpec::File(PathBuf::from(key));
        let error = spec.source(&|_| None).err().unwrap_or_default();
        assert!(
            !error.contains(key) && error.contains("not shown"),
            "{error}"
        );
        let spec = KeySpec::File(PathBuf::from("/no/such/dir/prod.key"));
        let error = spec.source(&|_| None).err().unwrap_or_default();
        assert!(error.contains("/no/such/dir/prod.key"), "{error}");
    }

    #[test]
    fn the_documented_shape_is_read_with_the_flags_as_defaults() {
        let read = specs(
            "accounts:\n  prod:\n    key_file: /etc/agi_exporter/prod.key\n  staging:\n    url: https://staging.example.com\n    key_env: AGI_STAGING_KEY\n    timeout: 5s\n    cache_ttl: 30s\n    max_response_bytes: 64MiB\n    final_statuses: [completed, error, cancelled]\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let [prod, staging] = &read[..] else {
            panic!("{read:?}");
        };
        assert_eq!(prod.name, "prod");
        assert_eq!(prod.url.as_str(), "https://api.agi.tech/");
        assert_eq!(
            prod.key,
            KeySpec::File(PathBuf::from("/etc/agi_exporter/prod.key"))
        );
        assert_eq!(prod.timeout, Duration::from_secs(10));
        assert_eq!(prod.statuses, defaults().statuses);
        assert_eq!(staging.url.as_str(), "https://staging.example.com/");
        assert_eq!(staging.key, KeySpec::Env("AGI_STAGING_KEY".to_owned()));
        assert_eq!(
            (
                staging.timeout,
                staging.cache_ttl,
                staging.max_response_bytes
            ),
            (Duration::from_secs(5), Duration::from_secs(30), 64 << 20)
        );
        assert_eq!(
            staging.statuses.finals(),
            ["completed", "error", "cancelled"]
        );
        let bytes = specs("accounts:\n  a:\n    key_env: K\n    max_response_bytes: 1000\n");
        assert_eq!(bytes.map(|s| s[0].max_response_bytes), Ok(1000));
    }

    #[test]
    fn mistakes_are_refused_naming_the_field() {
        for (text, expected) in [
            ("", "no accounts"),
            ("accounts: {}", "no accounts"),
            ("accounts:\n  a:\n", "accounts.a: needs key_file or key_env"),
            ("acounts:\n  a: {key_env: K}\n", "unknown field `acounts`"),
            (
                "accounts:\n  a: {key_env: K, timeout: 5}\n",
                "accounts.a.timeout: missing unit",
            ),
            (
                "accounts:\n  a: {key_env: K, tiemout: 5s}\n",
                "unknown field `tiemout`",
            ),
            (
                "accounts:\n  a: {key: sk-secret-value}\n",
                "unknown field `key`",
            ),
            (
                "accounts:\n  a: {key_env: K, key_file: /k}\n",
                "accounts.a.key_file, key_env: give one",
            ),
            (
                "accounts:\n  a: {url: https://x.example}\n",
                "accounts.a.key_file: give key_file or key_env",
            ),
            (
                "accounts:\n  a: {key_env: K, url: http://api.example.com}\n",
                "accounts.a.url: refusing to send the API key over plain HTTP",
            ),
            (
                "accounts:\n  a: {key_env: K, url: 'https://u:p@x.example'}\n",
                "accounts.a.url: must not contain credentials",
            ),
            (
                "accounts:\n  a: {key_env: K, timeout: 0s}\n",
                "accounts.a.timeout: must be greater than 0",
            ),
            (
                "accounts:\n  a: {key_env: K, cache_ttl: soon}\n",
                "accounts.a.cache_ttl: expected a duration",
            ),
            (
                "accounts:\n  a: {key_env: K, max_response_bytes: 0}\n",
                "accounts.a.max_response_bytes: must be at least 1 byte",
            ),
            (
                "accounts:\n  a: {key_env: K, final_statuses: [completed]}\n",
                "accounts.a.final_statuses: the final statuses must include \"error\"",
            ),
            (
                "accounts:\n  a: {key_env: K, final_statuses: ['error,done']}\n",
                "without commas",
            ),
            (
                "accounts:\n  a: {key_env: K}\n  a: {key_env: L}\n",
                "account `a` is named twice",
            ),
            (
                "accounts:\n  'a b': {key_env: K}\n",
                "account name \"a b\" must be 1 to 64",
            ),
            ("accounts:\n  '': {key_env: K}\n", "account name \"\""),
        ] {
            let problem = specs(text)
                .err()
                .unwrap_or_else(|| panic!("{text:?} was accepted"));
            assert!(problem.contains(expected), "{text:?}: {problem}");
            assert!(!problem.contains('\n'), "{problem}");
        }
        let long = format!("accounts:\n  {}: {{key_env: K}}\n", "a".repeat(65));
        assert!(specs(&long).is_err());
        assert!(
            specs(&format!(
                "accounts:\n  {}: {{key_env: K}}\n",
                "a".repeat(64)
            ))
            .is_ok()
        );
        let many: String = (0..=MAX_ACCOUNTS)
            .map(|i| format!("  a{i}: {{key_env: K}}\n"))
            .collect();
        let problem = specs(&format!("accounts:\n{many}"))
            .err()
            .unwrap_or_default();
        assert!(problem.contains("at most 1000"), "{problem}");
    }

    #[test]
    fn a_key_in_key_env_is_refused_without_being_quoted() {
        for value in ["sk-live/abc+def=", "Bearer sk-123", "1abc"] {
            let text = format!("accounts:\n  a:\n    key_env: '{value}'\n");
            let problem = specs(&text).err().unwrap_or_default();
            assert!(
                problem.contains("must name an environment variable"),
                "{problem}"
            );
            assert!(!problem.contains(value), "{problem}");
        }
        let spec = KeySpec::Env("AGI_UNSET_FOR_THIS_TEST".to_owned());
        let problem = spec.source(&|_| None).err().unwrap_or_default();
        assert!(
            problem.contains("is not set") && !problem.contains("AGI_UNSET"),
            "{problem}"
        );
        let problem = spec
            .source(&|_| Some("short".to_owned()))
            .err()
            .unwrap_or_default();
        assert!(problem.contains("shorter than 8 bytes"), "{problem}");
        assert!(spec.source(&|_| Some("a-good-key-123".to_owned())).is_ok());
    }
}
