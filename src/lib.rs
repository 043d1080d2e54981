//! `agi_exporter`: a Prometheus exporter for the AGI agent API.
//!
//! On each scrape of `/metrics` it fetches the account's session list
//! (`GET /v1/sessions`), folds it into counts per status and agent, ages of
//! the oldest live sessions and transitions, and renders those with the
//! exporter's own health metrics. The README and docs/ are the contract:
//! configuration.md, metrics.md (with what the exporter accepts),
//! operations.md (the failure model), security.md and performance.md say
//! what every part here implements.
//!
//! Data flows one way: flags ([`Cli`]) -> [`Config`] -> [`start`]; a
//! scrape: `server` -> `deadline` -> `process` (what exists once per
//! process: its families, the lanes that fold) -> `account` (one account:
//! coalescing, cache, back-off) -> `api` (client, key, redaction, parser)
//! -> `fold` -> `aggregate` -> `metrics` (render). `demo` is the simulated
//! API of `--demo`. The design notes (docs/design.md) have the module map.
//!
//! The public API is what the binary, the tests and the benchmarks use:
//! [`run`] and [`start`] with their configuration, the logging set-up, and
//! the parse-and-fold steps with the simulator's populations, which the
//! benchmarks, the property tests and the fuzz targets drive directly.

mod account;
mod accounts;
mod aggregate;
mod api;
mod cli;
mod config;
mod deadline;
mod exposition;

pub mod demo;
mod fold;
mod logging;
mod metrics;
mod process;
mod server;
mod status;
mod sync;
mod version;
mod watch;
mod web_config;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinHandle;

pub use crate::accounts::file::{AccountDefaults, AccountsFileError};
pub use crate::accounts::{AccountsConfig, AccountsError};
pub use crate::aggregate::{
    AgentCounts, Aggregator, FetchTimes, HistogramCounts, InvalidFields, Lifecycle, Limits,
    SessionTracker, Snapshot, StatusCount, TopSession,
};
pub use crate::api::ClientError;
pub use crate::api::key::DEMO_KEY;
pub use crate::api::parse::{
    Field, ParseError, Recalled, SessionRecord, SessionSink, SessionStream, parse_sessions,
};
pub use crate::api::redact::Redactor;
pub use crate::api::timestamp::{
    UnixMillis, format_timestamp, looks_like_timestamp, parse_timestamp,
};
pub use crate::cli::Cli;
pub use crate::config::{
    ApiConfig, Config, ConfigError, LogFormat, LogLevel, ServerTimings, Upstream, WebConfig,
    parse_duration, parse_size,
};
pub use crate::logging::subscriber as log_subscriber;
pub use crate::status::StatusModel;
pub use crate::web_config::WebConfigError;

use crate::account::{Account, AccountSettings, Setup};
use crate::accounts::Accounts;
use crate::api::ApiClient;
use crate::api::key::{ApiKey, KeySource};
use crate::deadline::DeadlinePolicy;
use crate::demo::{SimOptions, Simulator};
use crate::exposition::Format;
use crate::process::{Process, ProcessError};
use crate::server::{Exported, ExporterRoutes};
use crate::version::VERSION;
use crate::web_config::WebSettingsSource;

/// Why the exporter could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The listen address could not be bound.
    #[error("{0}")]
    Bind(std::io::Error),
    /// The demo simulator could not start.
    #[error("cannot start the demo API: {0}")]
    Demo(std::io::Error),
    /// The HTTP client could not be built.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The threads that fold the session lists could not start.
    #[error("cannot start a thread: {0}")]
    Thread(std::io::Error),
    /// The exposition could not be written (`--once`).
    #[error("cannot write the exposition: {0}")]
    Write(std::io::Error),
    /// `--web.config.file` is not usable.
    #[error(transparent)]
    WebConfig(#[from] WebConfigError),
    /// The accounts of `--config.file` could not be set up.
    #[error(transparent)]
    Accounts(#[from] AccountsError),
}

impl From<ProcessError> for RunError {
    fn from(error: ProcessError) -> Self {
        match error {
            ProcessError::Thread(error) => RunError::Thread(error),
            ProcessError::Client(error) => RunError::Client(error),
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The server ran until it was asked to stop.
    Stopped,
    /// `--once`: whether `agi_up` was 1.
    Once {
        /// `agi_up` was 1.
        up: bool,
    },
}

/// Runs the exporter until SIGTERM or SIGINT (or, with `--once`, for one
/// scrape whose exposition goes to stdout).
pub async fn run(config: Config) -> Result<Outcome, RunError> {
    if config.once {
        // A bad web config file is refused here too, as at a normal start.
        WebSettingsSource::new(config.web.config_file.as_deref())?;
        let (process, exported, _simulator) = exporter(config).await?;
        let Exported::One(account) = exported else {
            return Err(RunError::Write(std::io::Error::other(
                "--once fetches one account, not --config.file's",
            )));
        };
        let exposition = process.exposition(&account, None).await;
        use std::io::Write;
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(&exposition::render(exposition.families, Format::Text))
            .and_then(|()| stdout.flush())
            .map_err(RunError::Write)?;
        return Ok(Outcome::Once { up: exposition.up });
    }
    let running = start(config).await?;
    shutdown_signal().await;
    running.stop().await;
    tracing::info!("stopped");
    Ok(Outcome::Stopped)
}

/// A running exporter; dropping it stops the server without waiting.
#[derive(Debug)]
pub struct Running {
    address: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
    /// What re-reads the web config file and `--config.file`.
    watchers: Vec<JoinHandle<()>>,
    /// In demo mode, the simulator the scraper talks to.
    _simulator: Option<Simulator>,
}

impl Running {
    /// The address the server listens on (the port chosen, with port 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Stops accepting connections, lets requests under way finish (for at
    /// most the shutdown grace), and returns once the server has stopped.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        for watcher in &self.watchers {
            watcher.abort();
        }
    }
}

/// Starts the exporter's server on `config.web.listen_address` and returns
/// once it accepts connections (`/-/ready` answers from then on).
pub async fn start(config: Config) -> Result<Running, RunError> {
    // Checked first: a bad web config file is refused before anything starts.
    let web = WebSettingsSource::new(config.web.config_file.as_deref())?;
    let demo = matches!(config.upstream, Upstream::Demo);
    let web_config = config.web.clone();
    let (process, exported, simulator) = exporter(config).await?;
    let listener = server::bind(web_config.listen_address)
        .await
        .map_err(RunError::Bind)?;
    let address = listener.local_addr().map_err(RunError::Bind)?;
    let timings = web_config.timings;
    let mut watchers = Vec::new();
    if let Exported::Many(accounts) = &exported {
        let accounts = Arc::clone(accounts);
        watchers.push(tokio::spawn(
            accounts.keep_current(timings.config_check_interval),
        ));
    }
    let routes = Arc::new(ExporterRoutes {
        process,
        exported,
        telemetry_path: web_config.telemetry_path.clone(),
        request_slots: (web_config.max_requests > 0)
            .then(|| Semaphore::new(web_config.max_requests)),
        demo,
    });
    tracing::info!(
        %address,
        telemetry_path = %web_config.telemetry_path,
        version = VERSION,
        "listening"
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let settings = web.settings();
    let server = tokio::spawn(server::serve(listener, routes, settings, timings, async {
        let _ = stopped.await;
    }));
    watchers.push(tokio::spawn(
        web.keep_current(timings.config_check_interval),
    ));
    Ok(Running {
        address,
        stop: Some(stop),
        server: Some(server),
        watchers,
        _simulator: simulator,
    })
}

/// The process's parts, and the account or accounts of the configured
/// upstream; in demo mode also starts the simulator its client talks to,
/// which must outlive them.
async fn exporter(config: Config) -> Result<(Arc<Process>, Exported, Option<Simulator>), RunError> {
    let process = Arc::new(Process::start(!config.web.disable_exporter_metrics)?);
    let (client, simulator) = match config.upstream {
        Upstream::Accounts(accounts) => {
            let accounts = Accounts::start(
                accounts,
                config.limits,
                config.web.timeout_offset,
                Arc::clone(&process),
            )?;
            return Ok((process, Exported::Many(Arc::new(accounts)), None));
        }
        Upstream::Remote { url, key } => {
            let client = ApiClient::new(process.http(), &url, key, config.api.max_response_bytes);
            (client, None)
        }
        Upstream::Demo => {
            let simulator = Simulator::start(SimOptions::demo())
                .await
                .map_err(RunError::Demo)?;
            tracing::info!(
                url = %simulator.url(),
                "DEMO MODE: exporting a built-in simulated AGI API, not a real account"
            );
            let url = reqwest::Url::parse(&simulator.url())
                .map_err(|e| RunError::Demo(std::io::Error::other(e)))?;
            let key = KeySource::Fixed(ApiKey::demo());
            let client = ApiClient::new(process.http(), &url, key, config.api.max_response_bytes);
            (client, Some(simulator))
        }
    };
    let setup = Setup {
        client,
        cache_ttl: config.api.cache_ttl,
        deadlines: DeadlinePolicy {
            api_timeout: config.api.timeout,
            timeout_offset: config.web.timeout_offset,
        },
    };
    let settings = AccountSettings {
        limits: config.limits,
        statuses: config.statuses,
    };
    let account = Account::new(None, setup, settings, Arc::clone(&process));
    Ok((process, Exported::One(Arc::new(account)), simulator))
}

/// Completes on SIGTERM or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot listen for SIGTERM");
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::select! {
            _ = interrupt => {}
            () = terminate => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("received a shutdown signal");
}
