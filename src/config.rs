//! The validated configuration, built once from the raw flags.
//!
//! Every rule about what a flag may hold lives here: durations and sizes, the
//! API URL (and the refusal to send a key over plain HTTP to another host),
//! the listen address, and where the API key comes from. The rest of the
//! program only ever sees a [`Config`] that already passed these checks.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use reqwest::Url;

use crate::accounts::AccountsConfig;
use crate::accounts::file::{self, AccountDefaults, AccountsFileError};
use crate::aggregate::Limits;
use crate::api::key::{ApiKey, KeyError, KeyFile, KeySource};
use crate::cli::Cli;
use crate::status::StatusModel;

/// Everything that can be wrong with the flags or the environment at start.
///
/// Messages name the flag and the offending value, but never the API key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A flag's value could not be parsed.
    #[error("invalid value {value:?} for {flag}: {reason}")]
    InvalidValue {
        /// The flag, e.g. `--api.timeout`.
        flag: &'static str,
        /// What the user gave.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// The API URL uses plain HTTP to a host that is not loopback.
    #[error(
        "refusing to send the API key over plain HTTP to {host:?}; use https:// or pass --api.allow-insecure-http"
    )]
    InsecureUrl {
        /// The host named in `--api.url`.
        host: String,
    },
    /// Neither `AGI_API_KEY` nor `--api.key-file` provided a key.
    #[error("no API key: set AGI_API_KEY or --api.key-file (or run with --demo)")]
    MissingKey,
    /// The key file could not be read or holds no usable key.
    #[error("cannot use API key file {path:?}: {reason}")]
    KeyFile {
        /// The file named by `--api.key-file`.
        path: PathBuf,
        /// Why it is unusable (never its contents).
        reason: String,
    },
    /// The key from `AGI_API_KEY` cannot be sent in an HTTP header.
    #[error("AGI_API_KEY is not usable: {0}")]
    InvalidKey(KeyError),
    /// `--config.file` is not usable.
    #[error(transparent)]
    AccountsFile(#[from] AccountsFileError),
    /// Two flags that cannot go together.
    #[error("{0}")]
    Conflict(&'static str),
}

/// Log verbosity, as `--log.level` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// Per-scrape detail.
    Debug,
    /// Start-up and shutdown.
    Info,
    /// Failed API requests.
    Warn,
    /// Only what stops the exporter.
    Error,
}

/// Log line format, as `--log.format` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// `key=value` pairs, the Prometheus exporters' default.
    Logfmt,
    /// One JSON object per line.
    Json,
}

/// The validated configuration.
#[derive(Debug)]
pub struct Config {
    /// The API the exporter watches.
    pub upstream: Upstream,
    /// How it talks to the API.
    pub api: ApiConfig,
    /// The HTTP server.
    pub web: WebConfig,
    /// The cardinality guard and `--sessions.top-oldest`.
    pub limits: Limits,
    /// `--sessions.final-statuses`: which statuses end a session.
    pub statuses: StatusModel,
    /// Log verbosity.
    pub log_level: LogLevel,
    /// Log format.
    pub log_format: LogFormat,
    /// Fetch once, print, exit.
    pub once: bool,
}

/// The API the exporter watches: a real account, or the built-in simulator.
#[derive(Debug)]
pub enum Upstream {
    /// `--demo`: a simulated API started inside the process on 127.0.0.1,
    /// with its own key.
    Demo,
    /// A real account.
    Remote {
        /// `--api.url`, checked (https, or http to loopback or when allowed).
        url: Url,
        /// `AGI_API_KEY` or `--api.key-file`.
        key: KeySource,
    },
    /// `--config.file`: named accounts, each probed on its own.
    Accounts(AccountsConfig),
}

/// How the exporter talks to the API.
#[derive(Debug, Clone, Copy)]
pub struct ApiConfig {
    /// Upper bound for one request, body included.
    pub timeout: Duration,
    /// How long a successful result is reused.
    pub cache_ttl: Duration,
    /// Responses larger than this (decompressed) are abandoned.
    pub max_response_bytes: u64,
}

/// The HTTP server's settings.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Where to listen.
    pub listen_address: SocketAddr,
    /// Path of the metrics endpoint, starting with `/`.
    pub telemetry_path: String,
    /// Exporter-toolkit web config file.
    pub config_file: Option<PathBuf>,
    /// Concurrent request limit; 0 means none.
    pub max_requests: usize,
    /// Subtracted from the scraper's timeout to get the fetch deadline.
    pub timeout_offset: Duration,
    /// Leave out `process_*`.
    pub disable_exporter_metrics: bool,
    /// Timings that are not flags (tests shorten them).
    pub timings: ServerTimings,
}

/// How long the server waits for slow clients, for requests under way at
/// shutdown, and between checks of the web config file. Not flags: the
/// defaults are what docs/configuration.md documents; tests shorten them.
#[derive(Debug, Clone, Copy)]
pub struct ServerTimings {
    /// A client must send its request headers within this time (which also
    /// closes a keep-alive connection idle for that long).
    pub header_read_timeout: Duration,
    /// Requests still under way this long after shutdown began are
    /// abandoned.
    pub shutdown_grace: Duration,
    /// How often `--web.config.file` and the files it names are checked for
    /// changes.
    pub config_check_interval: Duration,
}

impl Default for ServerTimings {
    fn default() -> Self {
        ServerTimings {
            header_read_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(9),
            config_check_interval: Duration::from_secs(1),
        }
    }
}

impl Config {
    /// Validates the raw flags. `api_key_env` is the value of `AGI_API_KEY`,
    /// passed in rather than read here so that tests need not touch the
    /// process environment.
    pub fn from_cli(cli: &Cli, api_key_env: Option<String>) -> Result<Self, ConfigError> {
        let timeout = parse_flag("--api.timeout", &cli.api_timeout, parse_duration)?;
        if timeout.is_zero() {
            return Err(invalid(
                "--api.timeout",
                &cli.api_timeout,
                "must be greater than 0",
            ));
        }
        let api = ApiConfig {
            timeout,
            cache_ttl: parse_flag("--api.cache-ttl", &cli.api_cache_ttl, parse_duration)?,
            max_response_bytes: parse_flag(
                "--api.max-response-bytes",
                &cli.api_max_response_bytes,
                parse_size,
            )?,
        };
        let statuses = parse_flag(
            "--sessions.final-statuses",
            &cli.sessions_final_statuses,
            StatusModel::parse,
        )?;
        let upstream = if let Some(path) = &cli.config_file {
            let conflict = match () {
                () if cli.demo => Some("--demo and --config.file cannot go together"),
                () if cli.once => Some(
                    "--once fetches one account; with --config.file, fetch /probe?account=NAME",
                ),
                () if cli.api_key_file.is_some() => Some(
                    "--api.key-file and --config.file cannot go together: name each account's key_file in the file",
                ),
                () => None,
            };
            if let Some(conflict) = conflict {
                return Err(ConfigError::Conflict(conflict));
            }
            let defaults = AccountDefaults {
                url: parse_api_url(&cli.api_url, cli.api_allow_insecure_http)?,
                allow_insecure_http: cli.api_allow_insecure_http,
                timeout: api.timeout,
                cache_ttl: api.cache_ttl,
                max_response_bytes: api.max_response_bytes,
                statuses: statuses.clone(),
            };
            let loaded = file::load(path, &defaults, &file::process_env)?;
            Upstream::Accounts(AccountsConfig {
                path: path.clone(),
                defaults,
                loaded,
            })
        } else if cli.demo {
            Upstream::Demo
        } else {
            let key = match (&cli.api_key_file, api_key_env) {
                (Some(path), _) => {
                    KeySource::File(KeyFile::open(path).map_err(|reason| ConfigError::KeyFile {
                        path: path.clone(),
                        reason,
                    })?)
                }
                (None, Some(raw)) => {
                    KeySource::Fixed(ApiKey::new(&raw).map_err(ConfigError::InvalidKey)?)
                }
                (None, None) => return Err(ConfigError::MissingKey),
            };
            Upstream::Remote {
                url: parse_api_url(&cli.api_url, cli.api_allow_insecure_http)?,
                key,
            }
        };
        let telemetry_path = cli.web_telemetry_path.clone();
        if !telemetry_path.starts_with('/')
            || telemetry_path == "/"
            || telemetry_path.starts_with("/-/")
            || ["/probe", "/accounts"].contains(&telemetry_path.as_str())
        {
            return Err(invalid(
                "--web.telemetry-path",
                &telemetry_path,
                "must start with / and not be /, /-/..., /probe or /accounts",
            ));
        }
        Ok(Config {
            upstream,
            api,
            web: WebConfig {
                listen_address: parse_flag(
                    "--web.listen-address",
                    &cli.web_listen_address,
                    parse_listen_address,
                )?,
                telemetry_path,
                config_file: cli.web_config_file.clone(),
                max_requests: parse_flag(
                    "--web.max-requests",
                    &cli.web_max_requests,
                    parse_count::<100_000>,
                )?,
                timeout_offset: parse_flag(
                    "--web.timeout-offset",
                    &cli.web_timeout_offset,
                    parse_duration,
                )?,
                disable_exporter_metrics: cli.web_disable_exporter_metrics,
                timings: ServerTimings::default(),
            },
            limits: Limits {
                agents_max: parse_flag("--agents.max", &cli.agents_max, parse_count::<1_000_000>)?,
                top_oldest: parse_flag(
                    "--sessions.top-oldest",
                    &cli.sessions_top_oldest,
                    parse_count::<1_000>,
                )?,
            },
            statuses,
            log_level: parse_flag("--log.level", &cli.log_level, parse_log_level)?,
            log_format: parse_flag("--log.format", &cli.log_format, parse_log_format)?,
            once: cli.once,
        })
    }
}

fn invalid(flag: &'static str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::InvalidValue {
        flag,
        value: value.to_owned(),
        reason: reason.into(),
    }
}

fn parse_flag<T>(
    flag: &'static str,
    value: &str,
    parse: fn(&str) -> Result<T, String>,
) -> Result<T, ConfigError> {
    parse(value).map_err(|reason| invalid(flag, value, reason))
}

/// Parses a Prometheus-style duration: `500ms`, `10s`, `1m30s`, `2h`, `1d`,
/// `1w`, with fractions (`0.5s`); `0` alone means no time. A number without
/// a unit is refused, so `10` cannot be taken for seconds or milliseconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    const EXPECTED: &str = "expected a duration such as 500ms, 10s, 5m or 1h";
    let text = text.trim();
    if text.is_empty() {
        return Err(EXPECTED.to_owned());
    }
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total = 0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("missing unit; {EXPECTED}"))?;
        let (number, tail) = rest.split_at(number_len);
        let value: f64 = number.parse().map_err(|_| EXPECTED.to_owned())?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let seconds = match unit {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86_400.0,
            "w" => 604_800.0,
            _ => return Err(format!("unknown unit {unit:?}; {EXPECTED}")),
        };
        total += value * seconds;
        rest = tail;
    }
    Duration::try_from_secs_f64(total).map_err(|_| EXPECTED.to_owned())
}

/// Parses a byte size: `1048576`, `512KiB`, `64MiB`, `1GiB`, `10MB`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    const EXPECTED: &str = "expected a size such as 512KiB, 64MiB or 1GiB";
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: u64 = number.parse().map_err(|_| EXPECTED.to_owned())?;
    let multiplier: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        other => return Err(format!("unknown unit {other:?}; {EXPECTED}")),
    };
    match value.checked_mul(multiplier) {
        Some(0) | None => Err(format!("must be between 1 byte and 16EiB; {EXPECTED}")),
        Some(bytes) => Ok(bytes),
    }
}

/// A whole number up to `MAX`: the bound keeps an absurd value from turning
/// into an absurd allocation (`--sessions.top-oldest`) or a panic (a
/// semaphore has a maximum number of permits).
fn parse_count<const MAX: usize>(text: &str) -> Result<usize, String> {
    match text.trim().parse() {
        Ok(n) if n <= MAX => Ok(n),
        _ => Err(format!("expected a whole number from 0 to {MAX}")),
    }
}

fn parse_log_level(text: &str) -> Result<LogLevel, String> {
    match text.to_ascii_lowercase().as_str() {
        "debug" => Ok(LogLevel::Debug),
        "info" => Ok(LogLevel::Info),
        "warn" => Ok(LogLevel::Warn),
        "error" => Ok(LogLevel::Error),
        _ => Err("expected one of debug, info, warn, error".to_owned()),
    }
}

fn parse_log_format(text: &str) -> Result<LogFormat, String> {
    match text.to_ascii_lowercase().as_str() {
        "logfmt" => Ok(LogFormat::Logfmt),
        "json" => Ok(LogFormat::Json),
        _ => Err("expected logfmt or json".to_owned()),
    }
}

/// Parses `:10027` (every interface), `127.0.0.1:10027`, `[::1]:10027` or
/// `localhost:10027`.
fn parse_listen_address(text: &str) -> Result<SocketAddr, String> {
    const EXPECTED: &str = "expected [host]:port, e.g. :10027 or 127.0.0.1:10027";
    let with_host = match text.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => text.to_owned(),
    };
    with_host
        .to_socket_addrs()
        .map_err(|_| EXPECTED.to_owned())?
        .next()
        .ok_or_else(|| EXPECTED.to_owned())
}

fn parse_api_url(text: &str, allow_insecure_http: bool) -> Result<Url, ConfigError> {
    check_api_url(text, allow_insecure_http).map_err(|problem| match problem {
        UrlProblem::Insecure { host } => ConfigError::InsecureUrl { host },
        UrlProblem::Credentials => invalid("--api.url", "<redacted>", problem.to_string()),
        problem => invalid("--api.url", text, problem.to_string()),
    })
}

/// Why an API URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum UrlProblem {
    /// Not a URL.
    #[error("{0}")]
    Invalid(String),
    /// Credentials in the URL would end up in logs and error messages.
    #[error(
        "must not contain credentials; the key comes from AGI_API_KEY, --api.key-file, or an account's key_file or key_env"
    )]
    Credentials,
    /// A query or fragment.
    #[error("must not have a query or fragment")]
    QueryOrFragment,
    /// Not http or https.
    #[error("must be an http:// or https:// URL")]
    Scheme,
    /// Plain HTTP to a host that is not loopback.
    #[error(
        "refusing to send the API key over plain HTTP to {host:?}; use https:// or pass --api.allow-insecure-http"
    )]
    Insecure {
        /// The URL's host.
        host: String,
    },
}

/// An API URL the key may be sent to: https, or http to loopback (or
/// anywhere with `--api.allow-insecure-http`), without credentials, query
/// or fragment.
pub(crate) fn check_api_url(text: &str, allow_insecure_http: bool) -> Result<Url, UrlProblem> {
    let url = Url::parse(text).map_err(|e| UrlProblem::Invalid(e.to_string()))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlProblem::Credentials);
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(UrlProblem::QueryOrFragment);
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if allow_insecure_http || is_loopback(&url) => Ok(url),
        "http" => Err(UrlProblem::Insecure {
            host: url.host_str().unwrap_or_default().to_owned(),
        }),
        _ => Err(UrlProblem::Scheme),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn cli(args: &[&str]) -> Cli {
        let mut argv = vec!["agi_exporter"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{e}"))
    }

    fn config(args: &[&str]) -> Result<Config, ConfigError> {
        Config::from_cli(&cli(args), Some("secret-key".to_owned()))
    }

    #[test]
    fn durations_accept_prometheus_forms() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("0.5s"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        for bad in ["", "10", "10x", "s", "-1s", "1..2s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn sizes_accept_binary_and_decimal_units() {
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("512KiB"), Ok(512 << 10));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("10MB"), Ok(10_000_000));
        assert_eq!(parse_size("1234"), Ok(1234));
        for bad in ["", "0", "MiB", "1.5MiB", "64mib", "99999999999999999999GiB"] {
            assert!(parse_size(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn defaults_match_the_readme() -> Result<(), ConfigError> {
        let config = config(&[])?;
        let url = match &config.upstream {
            Upstream::Remote { url, .. } => Some(url.as_str()),
            Upstream::Demo | Upstream::Accounts(_) => None,
        };
        assert_eq!(url, Some("https://api.agi.tech/"));
        assert_eq!(config.api.timeout, Duration::from_secs(10));
        assert_eq!(config.api.cache_ttl, Duration::ZERO);
        assert_eq!(config.api.max_response_bytes, 512 << 20);
        assert_eq!(
            config.web.listen_address,
            SocketAddr::from(([0, 0, 0, 0], 10027))
        );
        assert_eq!(config.web.telemetry_path, "/metrics");
        assert_eq!(config.web.max_requests, 40);
        assert_eq!(config.web.timeout_offset, Duration::from_millis(500));
        assert_eq!(config.limits.agents_max, 100);
        assert_eq!(config.limits.top_oldest, 5);
        assert_eq!(config.log_level, LogLevel::Info);
        assert_eq!(config.log_format, LogFormat::Logfmt);
        Ok(())
    }

    #[test]
    fn plain_http_is_refused_unless_loopback_or_allowed() {
        let refused = config(&["--api.url", "http://api.example.com"]);
        assert!(
            matches!(refused, Err(ConfigError::InsecureUrl { .. })),
            "{refused:?}"
        );
        for loopback in [
            "http://127.0.0.1:8080",
            "http://localhost:1",
            "http://[::1]:2",
        ] {
            assert!(config(&["--api.url", loopback]).is_ok(), "{loopback}");
        }
        assert!(
            config(&[
                "--api.url",
                "http://api.example.com",
                "--api.allow-insecure-http"
            ])
            .is_ok()
        );
        assert!(config(&["--api.url", "ftp://api.example.com"]).is_err());
        assert!(config(&["--api.url", "https://user:pw@api.example.com"]).is_err());
    }

    #[test]
    fn a_missing_key_is_an_error_except_in_demo_mode() {
        let missing = Config::from_cli(&cli(&[]), None);
        assert!(
            matches!(missing, Err(ConfigError::MissingKey)),
            "{missing:?}"
        );
        let demo = Config::from_cli(&cli(&["--demo"]), None);
        assert!(matches!(
            demo,
            Ok(Config {
                upstream: Upstream::Demo,
                ..
            })
        ));
    }

    #[test]
    fn bad_values_name_the_flag() {
        let err = config(&["--api.timeout", "soon"])
            .map(|_| ())
            .unwrap_err_string();
        assert!(
            err.contains("--api.timeout") && err.contains("soon"),
            "{err}"
        );
        let err = config(&["--log.level", "loud"])
            .map(|_| ())
            .unwrap_err_string();
        assert!(err.contains("--log.level"), "{err}");
        let err = config(&["--sessions.top-oldest", "1000000000000"])
            .map(|_| ())
            .unwrap_err_string();
        assert!(
            err.contains("--sessions.top-oldest") && err.contains("1000"),
            "{err}"
        );
        let err = config(&["--web.max-requests", "18446744073709551615"])
            .map(|_| ())
            .unwrap_err_string();
        assert!(err.contains("--web.max-requests"), "{err}");
        let err = config(&["--web.listen-address", "nowhere"])
            .map(|_| ())
            .unwrap_err_string();
        assert!(err.contains("--web.listen-address"), "{err}");
    }

    trait ErrString {
        fn unwrap_err_string(self) -> String;
    }
    impl ErrString for Result<(), ConfigError> {
        fn unwrap_err_string(self) -> String {
            match self {
                Ok(()) => String::from("<no error>"),
                Err(e) => e.to_string(),
            }
        }
    }
}
