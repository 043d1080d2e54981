//! One account of the AGI API: its client and key, what it remembers
//! between fetches, and its scrapes: fetch (or reuse) the session list,
//! fold it, render the account's families.
//!
//! How an account is fetched (its client and key, cache TTL and timeout:
//! its [`Setup`]) may be replaced while it runs, when `--config.file`
//! changes it; what it counted (its tracker, its counters) stays.
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

use tokio::sync::watch;
use tokio::time::Instant;

use crate::aggregate::{FetchTimes, Limits, SessionTracker, Snapshot, lifecycle_of};
use crate::api::key::ApiKey;
use crate::api::redact::Redactor;
use crate::api::timestamp;
use crate::api::{ApiClient, FetchError};
use crate::deadline::{self, DeadlinePolicy};
use crate::exposition::Family;
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
    pub(crate) families: Vec<Family>,
    /// Whether `agi_up` is 1.
    pub(crate) up: bool,
}

/// One account: fetches, folds and renders its session list.
#[derive(Debug)]
pub(crate) struct Account {
    /// Its name in `--config.file`; `None` for the account of the flags.
    name: Option<String>,
    /// How it is fetched now; each fetch keeps the one it started with.
    setup: Mutex<Arc<Setup>>,
    metrics: AccountMetrics,
    limits: Limits,
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

/// How an account counts: fixed for its life.
#[derive(Debug, Clone)]
pub(crate) struct AccountSettings {
    pub(crate) limits: Limits,
    pub(crate) statuses: StatusModel,
}

/// How an account is fetched: what a reload of `--config.file` may change
/// without restarting its counters.
#[derive(Debug)]
pub(crate) struct Setup {
    pub(crate) client: ApiClient,
    /// How long a successful result is reused.
    pub(crate) cache_ttl: Duration,
    /// Its timeout, and the scraper's less the offset.
    pub(crate) deadlines: DeadlinePolicy,
}

impl Account {
    /// An account fetched as `setup` says, whose bodies fold on
    /// `process`'s lanes; `name` is its name in `--config.file`.
    pub(crate) fn new(
        name: Option<String>,
        setup: Setup,
        settings: AccountSettings,
        process: Arc<Process>,
    ) -> Self {
        let AccountSettings { limits, statuses } = settings;
        let tracker = SessionTracker::with_statuses(limits.agents_max, statuses);
        Account {
            metrics: AccountMetrics::new(lifecycle_of(&tracker)),
            name,
            setup: Mutex::new(Arc::new(setup)),
            limits,
            tracker: Arc::new(tokio::sync::Mutex::new(tracker)),
            process,
            flight: Mutex::new(FlightState::default()),
        }
    }

    /// Fetches from now on as `setup` says. A result cached under the old
    /// setup is not reused, and the next scrape may send a request at once
    /// (a 429's wait was the old URL's or key's); a request under way
    /// finishes as it started.
    pub(crate) fn replace_setup(&self, setup: Setup) {
        *lock(&self.setup) = Arc::new(setup);
        let mut flight = lock(&self.flight);
        flight.cached = None;
        flight.not_before = None;
    }

    fn setup(&self) -> Arc<Setup> {
        Arc::clone(&lock(&self.setup))
    }

    /// Tells the process's keyring the key this account uses now (a key
    /// file is read again), so that every account's text is redacted of it
    /// before this account sends a request, or after its key rotated.
    pub(crate) fn learn_key(&self) {
        let key = self.setup().client.key_quietly();
        let name = self.name.as_deref().unwrap_or_default();
        self.process.keyring().learn(name, &key);
    }

    /// The key for the next request (a key file is read again), and what
    /// the account's text is redacted with: every key of the process.
    fn key(&self, setup: &Setup) -> (ApiKey, Arc<Redactor>) {
        let key = setup.client.key();
        let name = self.name.as_deref().unwrap_or_default();
        let redactor = self.process.keyring().redactor(name, &key);
        (key, redactor)
    }

    /// Runs one scrape for a scraper that sent `scrape_timeout` (the
    /// header's value), or none: the account's families.
    pub(crate) async fn scrape(self: &Arc<Self>, scrape_timeout: Option<&str>) -> AccountScrape {
        let started = Instant::now();
        let setup = self.setup();
        let deadline = setup.deadlines.for_scrape(scrape_timeout);
        let outcome = self.snapshot(&setup, deadline).await;
        let snapshot = outcome.as_ref().ok().map(Arc::as_ref);
        let families = self.metrics.families(ScrapeReport {
            snapshot,
            duration: started.elapsed(),
            now: timestamp::now(),
            backoff: self.backoff(),
            cache_ttl: setup.cache_ttl,
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
    async fn snapshot(self: &Arc<Self>, setup: &Arc<Setup>, deadline: Duration) -> FetchOutcome {
        match self.plan(setup, deadline) {
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
    fn plan(self: &Arc<Self>, setup: &Arc<Setup>, deadline: Duration) -> Plan {
        let (_, redactor) = self.key(setup);
        let mut state = lock(&self.flight);
        if let Some(cached) = &state.cached
            && cached.fetched.elapsed() < setup.cache_ttl
            && Arc::ptr_eq(&cached.redactor, &redactor)
        {
            return Plan::Ready(Ok(Arc::clone(&cached.snapshot)));
        }
        if let Some(not_before) = state.not_before {
            let now = Instant::now();
            if now < not_before {
                let error = FetchError::RateLimited {
                    retry_after: not_before - now,
                };
                tracing::warn!(account = self.name, reason = error.reason().as_str(), %error, "skipping the API request");
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
        tokio::spawn(Arc::clone(self).fetch(Arc::clone(setup), planned, deadline, sender));
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
        setup: Arc<Setup>,
        planned: Instant,
        deadline: watch::Receiver<Instant>,
        sender: watch::Sender<Option<FetchOutcome>>,
    ) {
        let (key, redactor) = self.key(&setup);
        let started = Instant::now();
        let fetched = self.fetch_and_fold(&setup.client, &key, &redactor);
        let outcome = deadline::until(planned, deadline, fetched)
            .await
            .map(Arc::new);
        let elapsed = started.elapsed();
        self.metrics
            .observe_request(elapsed, outcome.as_ref().err().map(FetchError::reason));
        match &outcome {
            Ok(snapshot) => {
                self.metrics.observe_snapshot(snapshot, timestamp::now());
                tracing::debug!(
                    account = self.name,
                    sessions = snapshot.sessions,
                    agents = snapshot.agents.len(),
                    duration_seconds = elapsed.as_secs_f64(),
                    "fetched the session list"
                );
            }
            Err(error) => {
                tracing::warn!(account = self.name, reason = error.reason().as_str(), %error, "API request failed");
            }
        }
        self.settle(&outcome, &setup, &redactor);
        sender.send_replace(Some(outcome));
    }

    /// Records what a finished request means for the next scrapes: nothing
    /// under way, the result cached, or a back-off after a 429.
    fn settle(&self, outcome: &FetchOutcome, setup: &Setup, redactor: &Arc<Redactor>) {
        let mut state = lock(&self.flight);
        state.in_flight = None;
        state.until = None;
        match outcome {
            Ok(snapshot) if !setup.cache_ttl.is_zero() => {
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
    async fn fetch_and_fold(
        &self,
        client: &ApiClient,
        key: &ApiKey,
        redactor: &Arc<Redactor>,
    ) -> Result<Snapshot, FetchError> {
        let sent_at = timestamp::now();
        let answer = client.send(key, redactor).await?;
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
            redactor: Arc::clone(redactor),
            times,
            max_bytes: client.max_response_bytes(),
        };
        let folded = lane.fold(answer, job).await;
        // With no await from here on, the deadline can no longer give this
        // fetch up: the tracker takes the fold's changes and the scrape
        // gets its snapshot, or neither happens.
        folded.map(|folded| folded.commit())
    }
}
