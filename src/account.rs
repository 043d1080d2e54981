//! One account of the AGI API: its client and key, what it remembers
//! between fetches, and its scrapes: fetch (or reuse) the session list,
//! fold it, render the account's families.
//!
//! The [`Account`] is where the exporter protects the API from its
//! scrapers: concurrent scrapes share one in-flight request, a successful
//! result may be reused for `--api.cache-ttl`, and after a 429 no request is
//! sent until `Retry-After` has passed. The shared request runs in its own
//! task, so a scraper that gives up (its own deadline passed, or it hung
//! up) does not cancel the request the others are waiting for. What exists
//! once per process (the threads that fold, the process metrics) is the
//! [`Process`]'s.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus::proto::MetricFamily;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::aggregate::{FetchTimes, Limits, SessionTracker, Snapshot, lifecycle_of};
use crate::api::key::ApiKey;
use crate::api::redact::Redactor;
use crate::api::timestamp;
use crate::api::{ApiClient, FetchError};
use crate::deadline;
use crate::fold::FoldJob;
use crate::metrics::{AccountMetrics, ScrapeReport};
use crate::process::Process;
use crate::status::StatusModel;
use crate::sync::lock;

/// The result of one fetch, shared by every scrape that waited for it.
type FetchOutcome = Result<Arc<Snapshot>, FetchError>;

/// What one scrape of an account produced.
#[derive(Debug)]
pub(crate) struct AccountScrape {
    /// The account's families: its session families (when the fetch
    /// succeeded), its lifecycle families and its API families.
    pub(crate) families: Vec<MetricFamily>,
    /// Whether `agi_up` is 1.
    pub(crate) up: bool,
}

/// One account: fetches, folds and renders its session list.
#[derive(Debug)]
pub(crate) struct Account {
    client: ApiClient,
    metrics: AccountMetrics,
    limits: Limits,
    cache_ttl: Duration,
    /// Held by the one fetch under way for as long as it folds.
    tracker: Arc<tokio::sync::Mutex<SessionTracker>>,
    /// The threads its bodies are folded on.
    process: Arc<Process>,
    flight: Mutex<FlightState>,
}

#[derive(Debug, Default)]
struct FlightState {
    /// The request under way, if any; later scrapes wait on it.
    in_flight: Option<watch::Receiver<Option<FetchOutcome>>>,
    /// When that request started, and until when it may run: the longest
    /// deadline of the scrapes waiting for it, counted from its start (so
    /// never past `--api.timeout`), so that an impatient scraper that
    /// started it cannot make it fail for a patient one that joined.
    until: Option<(Instant, watch::Sender<Instant>)>,
    /// The last success, while `--api.cache-ttl` lasts.
    cached: Option<Cached>,
    /// After a 429: no request before this instant.
    not_before: Option<Instant>,
}

/// A successful fetch kept for `--api.cache-ttl`.
#[derive(Debug)]
struct Cached {
    fetched: Instant,
    snapshot: Arc<Snapshot>,
    /// The redactor of the key it was fetched with: its labels are redacted
    /// for that key only, so a new key ends its reuse.
    redactor: Arc<Redactor>,
}

/// How a scrape gets its snapshot.
enum Plan {
    /// At once: from the cache, or an error while backing off after a 429.
    Ready(FetchOutcome),
    /// From a request: one this scrape started, or one under way it joins.
    Wait {
        receiver: watch::Receiver<Option<FetchOutcome>>,
        started_here: bool,
    },
}

/// How an account fetches and counts.
#[derive(Debug, Clone)]
pub(crate) struct AccountSettings {
    pub(crate) limits: Limits,
    pub(crate) statuses: StatusModel,
    pub(crate) cache_ttl: Duration,
}

impl Account {
    /// An account fetched with `client`, whose bodies fold on `process`'s
    /// lanes.
    pub(crate) fn new(
        client: ApiClient,
        settings: AccountSettings,
        process: Arc<Process>,
    ) -> Result<Self, prometheus::Error> {
        let AccountSettings {
            limits,
            statuses,
            cache_ttl,
        } = settings;
        let tracker = SessionTracker::with_statuses(limits.agents_max, statuses);
        Ok(Account {
            metrics: AccountMetrics::new(cache_ttl, lifecycle_of(&tracker))?,
            client,
            limits,
            cache_ttl,
            tracker: Arc::new(tokio::sync::Mutex::new(tracker)),
            process,
            flight: Mutex::new(FlightState::default()),
        })
    }

    /// Runs one scrape bounded by `deadline`: the account's families.
    pub(crate) async fn scrape(self: &Arc<Self>, deadline: Duration) -> AccountScrape {
        let started = Instant::now();
        let outcome = self.snapshot(deadline).await;
        let snapshot = outcome.as_ref().ok().map(Arc::as_ref);
        let families = self.metrics.families(ScrapeReport {
            snapshot,
            duration: started.elapsed(),
            now: timestamp::now(),
            backoff: self.backoff(),
        });
        AccountScrape {
            families,
            up: snapshot.is_some(),
        }
    }

    /// How long until a request may be sent again after a 429.
    fn backoff(&self) -> Duration {
        lock(&self.flight)
            .not_before
            .map_or(Duration::ZERO, |not_before| {
                not_before.saturating_duration_since(Instant::now())
            })
    }

    /// Returns a fresh snapshot: cached, shared with a request under way, or
    /// from a new request.
    async fn snapshot(self: &Arc<Self>, deadline: Duration) -> FetchOutcome {
        match self.plan(deadline) {
            Plan::Ready(outcome) => outcome,
            Plan::Wait {
                receiver,
                started_here: true,
            } => {
                // The request enforces this scrape's deadline itself unless a
                // later scrape gave it longer; waiting for it (rather than
                // racing it) means this scrape reports its own request,
                // counted and with its own reason.
                let own = deadline::after(Instant::now(), deadline);
                match deadline::within(deadline, self.answer(receiver.clone())).await {
                    Err(FetchError::Timeout(_)) if !self.runs_past(own) => {
                        self.answer(receiver).await
                    }
                    outcome => outcome,
                }
            }
            Plan::Wait { receiver, .. } => {
                // A scrape that joined another's request keeps its own deadline.
                let outcome = deadline::within(deadline, self.answer(receiver)).await;
                if let Err(FetchError::Timeout(_)) = &outcome {
                    tracing::debug!(?deadline, "gave up waiting for the shared API request");
                }
                outcome
            }
        }
    }

    /// Decides, under the lock, where this scrape's snapshot comes from;
    /// starts the request when none is under way.
    fn plan(self: &Arc<Self>, deadline: Duration) -> Plan {
        let mut state = lock(&self.flight);
        if let Some(cached) = &state.cached
            && cached.fetched.elapsed() < self.cache_ttl
            && Arc::ptr_eq(&cached.redactor, self.client.key().redactor())
        {
            return Plan::Ready(Ok(Arc::clone(&cached.snapshot)));
        }
        if let Some(not_before) = state.not_before {
            let now = Instant::now();
            if now < not_before {
                let error = FetchError::RateLimited {
                    retry_after: not_before - now,
                };
                tracing::warn!(reason = error.reason().as_str(), %error, "skipping the API request");
                return Plan::Ready(Err(error));
            }
        }
        if let Some(receiver) = &state.in_flight {
            if let Some((started, until)) = &state.until {
                let wanted = deadline::after(*started, deadline);
                until.send_if_modified(|at| {
                    let later = wanted > *at;
                    if later {
                        *at = wanted;
                    }
                    later
                });
            }
            return Plan::Wait {
                receiver: receiver.clone(),
                started_here: false,
            };
        }
        let (sender, receiver) = watch::channel(None);
        let planned = Instant::now();
        let (until, deadline) = watch::channel(deadline::after(planned, deadline));
        state.in_flight = Some(receiver.clone());
        state.until = Some((planned, until));
        tokio::spawn(Arc::clone(self).fetch(planned, deadline, sender));
        Plan::Wait {
            receiver,
            started_here: true,
        }
    }

    /// Whether the request under way may run past `instant`.
    fn runs_past(&self, instant: Instant) -> bool {
        lock(&self.flight)
            .until
            .as_ref()
            .is_some_and(|(_, until)| *until.borrow() > instant)
    }

    /// The outcome of the request `receiver` follows.
    async fn answer(&self, mut receiver: watch::Receiver<Option<FetchOutcome>>) -> FetchOutcome {
        let answer = receiver.wait_for(Option::is_some).await;
        if let Some(outcome) = answer.map(|outcome| outcome.clone()).ok().flatten() {
            return outcome;
        }
        // The request's task ended without an answer (it was cancelled):
        // forget it so that the next scrape starts anew.
        let mut state = lock(&self.flight);
        if state
            .in_flight
            .as_ref()
            .is_some_and(|current| current.same_channel(&receiver))
        {
            state.in_flight = None;
            state.until = None;
        }
        Err(FetchError::Abandoned)
    }

    /// Sends one request, folds the answer, records it and hands it to every
    /// scrape waiting on `sender`.
    async fn fetch(
        self: Arc<Self>,
        planned: Instant,
        deadline: watch::Receiver<Instant>,
        sender: watch::Sender<Option<FetchOutcome>>,
    ) {
        let key = self.client.key();
        let redactor = key.redactor();
        let started = Instant::now();
        let outcome = deadline::until(planned, deadline, self.fetch_and_fold(&key))
            .await
            .map(Arc::new);
        let elapsed = started.elapsed();
        self.metrics
            .observe_request(elapsed, outcome.as_ref().err().map(FetchError::reason));
        match &outcome {
            Ok(snapshot) => {
                self.metrics.observe_snapshot(snapshot, timestamp::now());
                tracing::debug!(
                    sessions = snapshot.sessions,
                    agents = snapshot.agents.len(),
                    duration_seconds = elapsed.as_secs_f64(),
                    "fetched the session list"
                );
            }
            Err(error) => {
                tracing::warn!(reason = error.reason().as_str(), %error, "API request failed");
            }
        }
        self.settle(&outcome, redactor);
        sender.send_replace(Some(outcome));
    }

    /// Records what a finished request means for the next scrapes: nothing
    /// under way, the result cached, or a back-off after a 429.
    fn settle(&self, outcome: &FetchOutcome, redactor: &Arc<Redactor>) {
        let mut state = lock(&self.flight);
        state.in_flight = None;
        state.until = None;
        match outcome {
            Ok(snapshot) if !self.cache_ttl.is_zero() => {
                state.cached = Some(Cached {
                    fetched: Instant::now(),
                    snapshot: Arc::clone(snapshot),
                    redactor: Arc::clone(redactor),
                });
            }
            Err(FetchError::RateLimited { retry_after }) => {
                state.not_before = Some(deadline::after(Instant::now(), *retry_after));
            }
            _ => {}
        }
    }

    /// Sends the request and folds the body as it arrives, within the
    /// caller's deadline, on one of the process's lanes. On success the
    /// sessions seen become the tracker's baseline for the next fetch; if
    /// the deadline or a broken body cuts it short, the tracker is left as
    /// it was.
    async fn fetch_and_fold(&self, key: &ApiKey) -> Result<Snapshot, FetchError> {
        let sent_at = timestamp::now();
        let answer = self.client.send(key).await?;
        let tracker = Arc::clone(&self.tracker).lock_owned().await;
        let times = FetchTimes {
            sent_at,
            received_at: timestamp::now(),
        };
        let held = self.process.lanes().take().await?;
        let lane = held.lane().ok_or(FetchError::Abandoned)?;
        let job = FoldJob {
            tracker,
            limits: self.limits,
            redactor: Arc::clone(key.redactor()),
            times,
            max_bytes: self.client.max_response_bytes(),
        };
        let folded = lane.fold(answer, job).await;
        // With no await from here on, the deadline can no longer give this
        // fetch up: the tracker takes the fold's changes and the scrape
        // gets its snapshot, or neither happens.
        folded.map(|folded| folded.commit())
    }
}
