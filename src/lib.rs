//! `agi_exporter`: a Prometheus exporter for the AGI agent API.
//!
//! On each scrape of `/metrics` it fetches the account's session list
//! (`GET /v1/sessions`), folds it into counts per status and agent, ages of
//! the oldest live sessions and transitions, and renders those with the
//! exporter's own health metrics.
//!
//! Data flows one way: flags ([`cli`]) -> [`config`] -> [`server`];
//! scrape ([`scrape`]) -> fetch ([`api`]) -> parse and fold ([`api::parse`],
//! [`aggregate`]) -> render ([`metrics`]). [`demo`] is a simulated API used
//! by `--demo`, the tests and the benchmarks.

pub mod aggregate;
pub mod api;
pub mod cli;
pub mod config;
pub mod demo;
pub mod metrics;
pub mod scrape;
pub mod server;
mod sync;
pub mod web_config;

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::aggregate::Limits;
use crate::api::key::{ApiKey, KeyError, KeySource as RequestKey};
use crate::api::{ApiClient, ClientError};
use crate::config::{Config, KeySource};
use crate::demo::{SimOptions, Simulator};
use crate::metrics::{Metrics, MetricsOptions};
use crate::scrape::Scraper;
use crate::server::App;

/// The crate version, as `--version` and `agi_exporter_build_info` show it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git revision it was built from, or `unknown`.
pub const REVISION: &str = env!("AGI_EXPORTER_REVISION");
/// The version of rustc that built it.
pub const RUSTC_VERSION: &str = env!("AGI_EXPORTER_RUSTC_VERSION");

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
    /// The metric families could not be registered.
    #[error("cannot set up metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The server stopped with an error.
    #[error("server error: {0}")]
    Serve(std::io::Error),
    /// `--web.config.file` is not usable.
    #[error(transparent)]
    WebConfig(#[from] web_config::WebConfigError),
    /// The demo's key was refused by the key check (a bug).
    #[error("invalid demo key: {0}")]
    DemoKey(KeyError),
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
pub async fn run(mut config: Config) -> Result<Outcome, RunError> {
    // Checked first: a bad web config file is refused before anything starts.
    let web = web_config::WebConfigWatcher::new(config.web.config_file.as_deref())?;
    // In demo mode the simulator must outlive the scraper that calls it.
    let (scraper, _simulator) = build_scraper(&mut config).await?;
    if config.once {
        let exposition = scraper.scrape(config.api.timeout).await;
        use std::io::Write;
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(&exposition.body)
            .and_then(|()| stdout.flush())
            .map_err(RunError::Serve)?;
        return Ok(Outcome::Once { up: exposition.up });
    }

    let listener = server::bind(config.web.listen_address)
        .await
        .map_err(RunError::Bind)?;
    let address = listener.local_addr().map_err(RunError::Bind)?;
    let app = Arc::new(App {
        scraper,
        telemetry_path: config.web.telemetry_path.clone(),
        timeout_offset: config.web.timeout_offset,
        request_slots: (config.web.max_requests > 0)
            .then(|| Semaphore::new(config.web.max_requests)),
        demo: config.demo,
        web,
    });
    tracing::info!(
        %address,
        telemetry_path = %config.web.telemetry_path,
        version = VERSION,
        "listening"
    );
    server::serve(listener, app, shutdown_signal())
        .await
        .map_err(RunError::Serve)?;
    tracing::info!("stopped");
    Ok(Outcome::Stopped)
}

/// Builds the client and scraper; in demo mode also starts the simulator
/// they talk to.
async fn build_scraper(config: &mut Config) -> Result<(Arc<Scraper>, Option<Simulator>), RunError> {
    let key = std::mem::replace(&mut config.api.key, KeySource::Demo);
    let (url, key, simulator) = match (config.api.url.clone(), key) {
        (Some(url), KeySource::Env(key)) => (url, RequestKey::Fixed(key), None),
        (Some(url), KeySource::File(file)) => (url, RequestKey::File(file), None),
        (_, KeySource::Demo) | (None, _) => {
            let simulator = Simulator::start(SimOptions::demo())
                .await
                .map_err(RunError::Demo)?;
            tracing::info!(
                url = %simulator.url(),
                "DEMO MODE: exporting a built-in simulated AGI API, not a real account"
            );
            let url = reqwest::Url::parse(&simulator.url())
                .map_err(|e| RunError::Demo(std::io::Error::other(e)))?;
            let key = ApiKey::new(demo::DEMO_KEY).map_err(RunError::DemoKey)?;
            (url, RequestKey::Fixed(key), Some(simulator))
        }
    };
    let client = ApiClient::new(&url, key, config.api.max_response_bytes)?;
    let metrics = Metrics::new(MetricsOptions {
        process_metrics: !config.web.disable_exporter_metrics,
        cache_ttl: config.api.cache_ttl,
    })?;
    let limits = Limits {
        agents_max: config.agents_max,
        top_oldest: config.top_oldest,
    };
    let scraper = Scraper::new(
        client,
        metrics,
        limits,
        config.api.timeout,
        config.api.cache_ttl,
    );
    Ok((Arc::new(scraper), simulator))
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
