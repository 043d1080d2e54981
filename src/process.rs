//! What exists once per process, whatever the accounts: the exporter's own
//! families (build info, `process_*`), the lanes that inflate and fold the
//! bodies of every account's fetches, and the keys every account's text is
//! redacted of.

use std::sync::Arc;

use crate::account::Account;
use crate::api::ClientError;
use crate::api::http_client;
use crate::api::keyring::Keyring;
use crate::exposition::Family;
use crate::fold::Lanes;
use crate::metrics::ProcessMetrics;

/// Bodies read and folded at once, two threads each: with one account,
/// one fetch is under way at a time and uses one lane.
const LANES: usize = 2;

/// The process-wide part of the exporter.
#[derive(Debug)]
pub(crate) struct Process {
    metrics: ProcessMetrics,
    http: reqwest::Client,
    lanes: Lanes,
    keyring: Keyring,
}

/// Why the process's parts could not start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProcessError {
    /// The threads that fold the session lists could not start.
    #[error("cannot start a thread: {0}")]
    Thread(#[from] std::io::Error),
    /// The HTTP client could not be built.
    #[error(transparent)]
    Client(#[from] ClientError),
}

impl Process {
    /// Starts the lanes; `process_metrics` says whether `process_*` are
    /// rendered.
    pub(crate) fn start(process_metrics: bool) -> Result<Self, ProcessError> {
        Ok(Process {
            metrics: ProcessMetrics::new(process_metrics),
            http: http_client()?,
            lanes: Lanes::start(LANES)?,
            keyring: Keyring::default(),
        })
    }

    /// The HTTP client every account sends with.
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The lanes bodies are folded on.
    pub(crate) fn lanes(&self) -> &Lanes {
        &self.lanes
    }

    /// Every account's key, for redaction.
    pub(crate) fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// `/metrics` with one account: the account's families, scraped for a
    /// scraper that sent `scrape_timeout`, and the process's, read after it.
    pub(crate) async fn exposition(
        &self,
        account: &Arc<Account>,
        scrape_timeout: Option<&str>,
    ) -> Exposition {
        let scrape = account.scrape(scrape_timeout).await;
        let mut families = scrape.families;
        families.extend(self.metrics.families());
        Exposition {
            families,
            up: scrape.up,
        }
    }

    /// `/metrics` with `--config.file`: the process's families alone.
    pub(crate) fn own_families(&self) -> Vec<Family> {
        self.metrics.families()
    }
}

/// `/probe?account=`: one account's families alone.
pub(crate) async fn probe(account: &Arc<Account>, scrape_timeout: Option<&str>) -> Exposition {
    let scrape = account.scrape(scrape_timeout).await;
    Exposition {
        families: scrape.families,
        up: scrape.up,
    }
}

/// What a scrape produced.
#[derive(Debug)]
pub(crate) struct Exposition {
    /// The families, to be written in the scraper's format.
    pub(crate) families: Vec<Family>,
    /// Whether `agi_up` is 1.
    pub(crate) up: bool,
}
