//! One scrape: fetch (or reuse) the session list, fold it, render it.
//!
//! The [`Scraper`] is where the exporter protects the API from its scrapers:
//! concurrent scrapes share one in-flight request, a successful result may be
//! reused for `--api.cache-ttl`, and after a 429 no request is sent until
//! `Retry-After` has passed. The shared request runs in its own task, so a
//! scraper that gives up (its own deadline passed, or it hung up) does not
//! cancel the request the others are waiting for.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::aggregate::{FetchTimes, Limits, SessionTracker, Snapshot};
use crate::api::key::ApiKey;
use crate::api::redact::Redactor;
use crate::api::timestamp;
use crate::api::{ApiClient, FetchError};
use crate::deadline;
use crate::fold::{self, Fold, Piece, Recycler, Worker};
use crate::metrics::{Metrics, ScrapeReport};
use crate::status::StatusModel;
use crate::sync::lock;

/// The result of one fetch, shared by every scrape that waited for it.
type FetchOutcome = Result<Arc<Snapshot>, FetchError>;

/// What a scrape produced.
#[derive(Debug)]
pub(crate) struct Exposition {
    /// The text exposition.
    pub(crate) body: Vec<u8>,
    /// Whether `agi_up` is 1.
    pub(crate) up: bool,
}

/// Fetches, folds and renders; owns the exporter's own metrics.
#[derive(Debug)]
pub(crate) struct Scraper {
    client: ApiClient,
    metrics: Metrics,
    limits: Limits,
    cache_ttl: Duration,
    /// Held by the one fetch under way for as long as it folds.
    tracker: Arc<tokio::sync::Mutex<SessionTracker>>,
    /// The thread every fold runs on.
    folder: Worker,
    /// The thread every gzip body is inflated on.
    inflater: Worker,
    /// The buffers the body's chunks are copied into, and those of the
    /// inflated pieces: kept from one fetch to the next, so that a fetch
    /// reads into memory it already has.
    read_into: Recycler,
    inflated_into: Recycler,
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

impl Scraper {
    /// Creates a scraper around a client and the exporter's metrics.
    pub(crate) fn new(
        client: ApiClient,
        metrics: Metrics,
        limits: Limits,
        statuses: StatusModel,
        cache_ttl: Duration,
    ) -> std::io::Result<Self> {
        Ok(Scraper {
            client,
            metrics,
            limits,
            cache_ttl,
            tracker: Arc::new(tokio::sync::Mutex::new(SessionTracker::with_statuses(
                limits.agents_max,
                statuses,
            ))),
            flight: Mutex::new(FlightState::default()),
            folder: Worker::start("agi-fold")?,
            inflater: Worker::start("agi-inflate")?,
            read_into: Recycler::new(fold::READ_BUFFER),
            inflated_into: Recycler::new(fold::READ_BUFFER),
        })
    }

    /// Runs one scrape bounded by `deadline` and renders the exposition.
    pub(crate) async fn scrape(self: &Arc<Self>, deadline: Duration) -> Exposition {
        let started = Instant::now();
        let outcome = self.snapshot(deadline).await;
        let snapshot = outcome.as_ref().ok().map(Arc::as_ref);
        let body = self.metrics.render(ScrapeReport {
            snapshot,
            duration: started.elapsed(),
            now: timestamp::now(),
            backoff: self.backoff(),
        });
        Exposition {
            body,
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
        self.rekey(redactor).await;
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

    /// Before a request with a new key: the lifecycle labels given so far
    /// are redacted again for it, and the totals shown from now on, even if
    /// the request fails, carry the new labels.
    async fn rekey(&self, redactor: &Arc<Redactor>) {
        let relabelled = self.tracker.lock().await.rekey(redactor);
        if let Some(lifecycle) = relabelled {
            self.metrics.show_lifecycle(lifecycle);
        }
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
    /// caller's deadline: this task reads the socket and hands the chunks
    /// to a fold on a blocking thread ([`Fold`]). On success the sessions
    /// seen become the tracker's baseline for the next fetch; if the
    /// deadline or a broken body cuts it short, the tracker is left as it
    /// was.
    async fn fetch_and_fold(&self, key: &ApiKey) -> Result<Snapshot, FetchError> {
        let sent_at = timestamp::now();
        let mut answer = self.client.send(key).await?;
        let tracker = Arc::clone(&self.tracker).lock_owned().await;
        let times = FetchTimes {
            sent_at,
            received_at: timestamp::now(),
        };
        // Dropped with this future when the deadline gives the fetch up.
        let (_waiting, wanted) = tokio::sync::oneshot::channel();
        let read_into = self.read_into.clone();
        let (pieces, received) = mpsc::channel(fold::QUEUE);
        // The fold takes the read chunks, or those the inflater makes of them.
        let (received, folded_from) = if answer.is_gzip() {
            let (inflated, to_fold) = mpsc::channel(fold::QUEUE);
            let redactor = Arc::clone(key.redactor());
            let (used, inflated_into) = (read_into.clone(), self.inflated_into.clone());
            drop(self.inflater.run(move || {
                fold::inflate(received, &used, inflated, &inflated_into, &redactor);
            }));
            (to_fold, self.inflated_into.clone())
        } else {
            (received, read_into.clone())
        };
        let fold = Fold {
            tracker,
            limits: self.limits,
            redactor: Arc::clone(key.redactor()),
            times,
            max_bytes: self.client.max_response_bytes(),
            wanted,
            recycler: folded_from,
        };
        let mut folding = self.folder.run(move || fold.run(received));
        let read = async move {
            while let Some(chunk) = answer.chunk(key.redactor()).await? {
                // Copied and dropped before waiting for the fold, so that
                // the client reads on into the memory the chunk held.
                let copies: Vec<Vec<u8>> = read_into.copies_of(&chunk).collect();
                drop(chunk);
                for copy in copies {
                    if pieces.send(Piece::Chunk(copy)).await.is_err() {
                        // The fold stopped: its error is the answer.
                        return Ok(());
                    }
                }
            }
            let _ = pieces.send(Piece::End).await;
            Ok(())
        };
        let folded = tokio::select! {
            read = read => {
                let folded = folding.await.unwrap_or(Err(FetchError::Abandoned));
                // A body that broke while being read fails for that reason;
                // the fold only saw it stop.
                read.and(folded)
            }
            // The fold ended first (a body that is not a session list): stop
            // reading, even a gzip stream that inflates to nothing more.
            folded = &mut folding => folded.unwrap_or(Err(FetchError::Abandoned)),
        };
        // With no await from here on, the deadline can no longer give this
        // fetch up: the tracker takes the fold's changes and the scrape
        // gets its snapshot, or neither happens.
        folded.map(|folded| {
            let (snapshot, retired) = folded.commit();
            // Freed on the fold's thread, as the tracker's memory always is.
            drop(self.folder.run(move || drop(retired)));
            snapshot
        })
    }
}
