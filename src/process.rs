//! What exists once per process, whatever the accounts: the exporter's own
//! families (build info, `process_*`) and the lanes that inflate and fold
//! the bodies of every account's fetches.

use std::sync::Arc;
use std::time::Duration;

use crate::account::Account;
use crate::fold::Lanes;
use crate::metrics::{ProcessMetrics, encode};

/// Bodies read and folded at once, two threads each: with one account,
/// one fetch is under way at a time and uses one lane.
const LANES: usize = 2;

/// The process-wide part of the exporter.
#[derive(Debug)]
pub(crate) struct Process {
    metrics: ProcessMetrics,
    lanes: Lanes,
}

/// Why the process's parts could not start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProcessError {
    /// The metric families could not be registered.
    #[error("cannot set up metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The threads that fold the session lists could not start.
    #[error("cannot start a thread: {0}")]
    Thread(#[from] std::io::Error),
}

impl Process {
    /// Starts the lanes; `process_metrics` says whether `process_*` are
    /// rendered.
    pub(crate) fn start(process_metrics: bool) -> Result<Self, ProcessError> {
        Ok(Process {
            metrics: ProcessMetrics::new(process_metrics)?,
            lanes: Lanes::start(LANES)?,
        })
    }

    /// The lanes bodies are folded on.
    pub(crate) fn lanes(&self) -> &Lanes {
        &self.lanes
    }

    /// `/metrics` with one account: the account's families, scraped within
    /// `deadline`, and the process's, read after it.
    pub(crate) async fn exposition(
        &self,
        account: &Arc<Account>,
        deadline: Duration,
    ) -> Exposition {
        let scrape = account.scrape(deadline).await;
        let mut families = scrape.families;
        families.extend(self.metrics.families());
        Exposition {
            body: encode(families),
            up: scrape.up,
        }
    }
}

/// What a scrape produced.
#[derive(Debug)]
pub(crate) struct Exposition {
    /// The text exposition.
    pub(crate) body: Vec<u8>,
    /// Whether `agi_up` is 1.
    pub(crate) up: bool,
}
