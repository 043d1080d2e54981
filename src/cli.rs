//! Command-line flags, exactly as the user types them.
//!
//! This module only describes the flags (names, env vars, defaults, help). It
//! does not validate them: [`crate::Config::from_cli`] turns these raw
//! strings into a checked configuration, so every rule lives in one place.
//!
//! The API key is deliberately not a flag: flags show up in `ps` and in shell
//! history. It comes from `AGI_API_KEY` or from `--api.key-file`.

use std::path::PathBuf;

use clap::Parser;

/// Raw command-line flags, following the Prometheus exporter conventions.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "agi_exporter",
    version = crate::version::VERSION,
    about = "Prometheus exporter for the AGI agent API: session counts per status and agent, \
             ages of the oldest live sessions, and API health.",
    after_help = "The API key is read from the AGI_API_KEY environment variable or from \
                  --api.key-file; it is never a flag.\n\
                  Durations accept 500ms, 10s, 5m, 1h; sizes accept 512KiB, 64MiB, 1GiB.\n\
                  Every flag can also be set with the environment variable shown in brackets."
)]
pub struct Cli {
    /// Base URL of the AGI API; the exporter only ever sends GET {api.url}/v1/sessions.
    #[arg(
        long = "api.url",
        env = "AGI_API_URL",
        default_value = "https://api.agi.tech"
    )]
    pub api_url: String,

    /// YAML file naming several accounts (each probed at /probe?account=NAME, listed at /accounts); re-read when it changes. The --api.* and --sessions.final-statuses flags are the defaults of what it leaves out.
    #[arg(long = "config.file", env = "AGI_CONFIG_FILE", value_name = "PATH")]
    pub config_file: Option<PathBuf>,

    /// File holding the API key (instead of AGI_API_KEY). Re-read when it changes.
    #[arg(long = "api.key-file", env = "AGI_API_KEY_FILE", value_name = "PATH")]
    pub api_key_file: Option<PathBuf>,

    /// Upper bound for one API request, body included.
    #[arg(
        long = "api.timeout",
        env = "AGI_API_TIMEOUT",
        default_value = "10s",
        value_name = "DURATION"
    )]
    pub api_timeout: String,

    /// Reuse a successful API result for this long (0s: fetch on every scrape).
    #[arg(
        long = "api.cache-ttl",
        env = "AGI_API_CACHE_TTL",
        default_value = "0s",
        value_name = "DURATION"
    )]
    pub api_cache_ttl: String,

    /// Abandon API responses larger than this (after decompression); it bounds the time and CPU a fetch may take.
    #[arg(
        long = "api.max-response-bytes",
        env = "AGI_API_MAX_RESPONSE_BYTES",
        default_value = "512MiB",
        value_name = "SIZE"
    )]
    pub api_max_response_bytes: String,

    /// Allow a plain http:// API URL to a host other than loopback (sends the key in clear text).
    #[arg(long = "api.allow-insecure-http", env = "AGI_API_ALLOW_INSECURE_HTTP")]
    pub api_allow_insecure_http: bool,

    /// Address to listen on for the web interface and telemetry.
    #[arg(
        long = "web.listen-address",
        env = "AGI_WEB_LISTEN_ADDRESS",
        default_value = ":10027",
        value_name = "ADDRESS"
    )]
    pub web_listen_address: String,

    /// Path under which to expose metrics.
    #[arg(
        long = "web.telemetry-path",
        env = "AGI_WEB_TELEMETRY_PATH",
        default_value = "/metrics",
        value_name = "PATH"
    )]
    pub web_telemetry_path: String,

    /// Exporter-toolkit web config file (TLS, basic auth, response headers).
    #[arg(
        long = "web.config.file",
        env = "AGI_WEB_CONFIG_FILE",
        value_name = "PATH"
    )]
    pub web_config_file: Option<PathBuf>,

    /// Maximum number of concurrent HTTP requests; more get 503 (0: no limit).
    #[arg(
        long = "web.max-requests",
        env = "AGI_WEB_MAX_REQUESTS",
        default_value = "40",
        value_name = "N"
    )]
    pub web_max_requests: String,

    /// Subtracted from Prometheus's X-Prometheus-Scrape-Timeout-Seconds to get the fetch deadline.
    #[arg(
        long = "web.timeout-offset",
        env = "AGI_WEB_TIMEOUT_OFFSET",
        default_value = "0.5s",
        value_name = "DURATION"
    )]
    pub web_timeout_offset: String,

    /// Leave out the process_* metrics about the exporter itself.
    #[arg(
        long = "web.disable-exporter-metrics",
        env = "AGI_WEB_DISABLE_EXPORTER_METRICS"
    )]
    pub web_disable_exporter_metrics: bool,

    /// At most this many distinct agent names per scrape; the rest are folded into "other".
    #[arg(
        long = "agents.max",
        env = "AGI_AGENTS_MAX",
        default_value = "100",
        value_name = "N"
    )]
    pub agents_max: String,

    /// Export this many oldest live sessions as agi_session_age_seconds (0 disables).
    #[arg(
        long = "sessions.top-oldest",
        env = "AGI_SESSIONS_TOP_OLDEST",
        default_value = "5",
        value_name = "N"
    )]
    pub sessions_top_oldest: String,

    /// The statuses that end a session, comma-separated; every other status is live. Must include error.
    #[arg(
        long = "sessions.final-statuses",
        env = "AGI_SESSIONS_FINAL_STATUSES",
        default_value = crate::status::StatusModel::DEFAULT_FLAG,
        value_name = "LIST"
    )]
    pub sessions_final_statuses: String,

    /// Only log messages with the given severity or above: debug, info, warn, error.
    #[arg(
        long = "log.level",
        env = "AGI_LOG_LEVEL",
        default_value = "info",
        value_name = "LEVEL"
    )]
    pub log_level: String,

    /// Output format of log messages: logfmt or json.
    #[arg(
        long = "log.format",
        env = "AGI_LOG_FORMAT",
        default_value = "logfmt",
        value_name = "FORMAT"
    )]
    pub log_format: String,

    /// Serve a built-in simulated AGI API on 127.0.0.1 and export it (no key needed).
    #[arg(long = "demo", env = "AGI_DEMO")]
    pub demo: bool,

    /// Fetch once, print the exposition to stdout and exit: 0 if agi_up is 1, else 1.
    #[arg(long = "once")]
    pub once: bool,
}
