//! One scrape: fetch (or reuse) the session list, fold it, render it.
//!
//! The [`Scraper`] is where the exporter protects the API from its scrapers:
//! concurrent scrapes share one in-flight request, a successful result may be
//! reused for `--api.cache-ttl`, and after a 429 no request is sent until
//! `Retry-After` has passed. The shared request runs in its own task, so a
//! scraper that gives up (its own deadline passed, or it hung up) does not
//! cancel the request the others are waiting for.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::watch;

use crate::aggregate::{Aggregator, Limits, Snapshot, Transitions};
use crate::api::parse::parse_sessions;
use crate::api::redact::Redactor;
use crate::api::timestamp::UnixMillis;
use crate::api::{ApiClient, FetchError};
use crate::metrics::{Metrics, ScrapeReport};
use crate::sync::lock;

/// The result of one fetch, shared by every scrape that waited for it.
pub type FetchOutcome = Result<Arc<Snapshot>, FetchError>;

/// What a scrape produced.
#[derive(Debug)]
pub struct Exposition {
    /// The text exposition.
    pub body: Vec<u8>,
    /// Whether `agi_up` is 1.
    pub up: bool,
}

/// Fetches, folds and renders; owns the exporter's own metrics.
#[derive(Debug)]
pub struct Scraper {
    client: ApiClient,
    metrics: Metrics,
    limits: Limits,
    api_timeout: Duration,
    cache_ttl: Duration,
    transitions: Mutex<Transitions>,
    flight: Mutex<FlightState>,
}

#[derive(Debug, Default)]
struct FlightState {
    /// The request under way, if any; later scrapes wait on it.
    in_flight: Option<watch::Receiver<Option<FetchOutcome>>>,
    /// The last success and when it was fetched, while `--api.cache-ttl` lasts.
    cached: Option<(Instant, Arc<Snapshot>)>,
    /// After a 429: no request before this instant.
    not_before: Option<Instant>,
}

impl Scraper {
    /// Creates a scraper around a client and the exporter's metrics.
    pub fn new(
        client: ApiClient,
        metrics: Metrics,
        limits: Limits,
        api_timeout: Duration,
        cache_ttl: Duration,
    ) -> Self {
        Scraper {
            client,
            metrics,
            limits,
            api_timeout,
            cache_ttl,
            transitions: Mutex::new(Transitions::default()),
            flight: Mutex::new(FlightState::default()),
        }
    }

    /// The `--api.timeout` this scraper was built with.
    pub fn api_timeout(&self) -> Duration {
        self.api_timeout
    }

    /// Runs one scrape bounded by `deadline` and renders the exposition.
    pub async fn scrape(self: &Arc<Self>, deadline: Duration) -> Exposition {
        let started = Instant::now();
        let outcome = self.snapshot(deadline).await;
        let snapshot = outcome.as_ref().ok().map(Arc::as_ref);
        let body = self.metrics.render(ScrapeReport {
            snapshot,
            duration: started.elapsed(),
            now: unix_millis(SystemTime::now()),
        });
        Exposition {
            body,
            up: snapshot.is_some(),
        }
    }

    /// Returns a fresh snapshot: cached, shared with a request under way, or
    /// from a new request.
    async fn snapshot(self: &Arc<Self>, deadline: Duration) -> FetchOutcome {
        let (mut receiver, started_here) = {
            let mut state = lock(&self.flight);
            if let Some((fetched, snapshot)) = &state.cached
                && fetched.elapsed() < self.cache_ttl
            {
                return Ok(Arc::clone(snapshot));
            }
            if let Some(not_before) = state.not_before {
                let now = Instant::now();
                if now < not_before {
                    let error = FetchError::RateLimited {
                        retry_after: not_before - now,
                    };
                    tracing::warn!(reason = error.reason().as_str(), %error, "skipping the API request");
                    return Err(error);
                }
            }
            match &state.in_flight {
                Some(receiver) => (receiver.clone(), false),
                None => {
                    let (sender, receiver) = watch::channel(None);
                    state.in_flight = Some(receiver.clone());
                    tokio::spawn(Arc::clone(self).fetch(deadline, sender));
                    (receiver, true)
                }
            }
        };
        let answer = async {
            let answer = receiver.wait_for(Option::is_some).await;
            answer.map(|outcome| outcome.clone()).ok().flatten()
        };
        let answer = if started_here {
            // The request enforces this scrape's deadline itself; waiting for
            // it (rather than racing it) means this scrape reports its own
            // request, counted and with its own reason.
            Ok(answer.await)
        } else {
            // A scrape that joined another's request keeps its own deadline.
            tokio::time::timeout(deadline, answer).await
        };
        match answer {
            Ok(Some(outcome)) => outcome,
            Ok(None) => {
                // The request's task ended without an answer (it cannot,
                // short of a bug): forget it so the next scrape starts anew.
                let mut state = lock(&self.flight);
                if state
                    .in_flight
                    .as_ref()
                    .is_some_and(|current| current.same_channel(&receiver))
                {
                    state.in_flight = None;
                }
                Err(FetchError::Abandoned)
            }
            Err(_) => Err(FetchError::Timeout(deadline)),
        }
    }

    /// Sends one request, folds the answer, records it and hands it to every
    /// scrape waiting on `sender`.
    async fn fetch(
        self: Arc<Self>,
        deadline: Duration,
        sender: watch::Sender<Option<FetchOutcome>>,
    ) {
        let started = Instant::now();
        let body = match tokio::time::timeout(deadline, self.client.fetch_body()).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::Timeout(deadline)),
        };
        let outcome = body
            .and_then(|(body, key)| {
                let folded = self.fold(&body, key.redactor());
                self.client.recycle(body);
                folded
            })
            .map(Arc::new);
        let elapsed = started.elapsed();
        self.metrics
            .observe_request(elapsed, outcome.as_ref().err().map(FetchError::reason));
        match &outcome {
            Ok(snapshot) => {
                self.metrics
                    .observe_snapshot(snapshot, unix_millis(SystemTime::now()));
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
        {
            let mut state = lock(&self.flight);
            state.in_flight = None;
            match &outcome {
                Ok(snapshot) if !self.cache_ttl.is_zero() => {
                    state.cached = Some((Instant::now(), Arc::clone(snapshot)));
                }
                Err(FetchError::RateLimited { retry_after }) => {
                    let now = Instant::now();
                    state.not_before = Some(now.checked_add(*retry_after).unwrap_or(now));
                }
                _ => {}
            }
        }
        sender.send_replace(Some(outcome));
    }

    /// Parses a body and folds it; on success the statuses seen become the
    /// baseline for the next fetch's transitions.
    fn fold(&self, body: &[u8], redactor: &Redactor) -> Result<Snapshot, FetchError> {
        let mut transitions = lock(&self.transitions);
        let mut aggregator = Aggregator::new(self.limits, &mut transitions, redactor);
        parse_sessions(body, &mut aggregator).map_err(|e| FetchError::InvalidResponse(e.into()))?;
        Ok(aggregator.finish())
    }
}

/// Milliseconds since the Unix epoch (negative before it, which never happens
/// on a sane clock but must not panic).
pub fn unix_millis(time: SystemTime) -> UnixMillis {
    match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(since) => i64::try_from(since.as_millis()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_millis()).unwrap_or(i64::MAX),
    }
}
