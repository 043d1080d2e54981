//! The metric families.
//!
//! Four kinds of families live here. The process's own (build info,
//! `process_*`) are [`ProcessMetrics`]. Each account's API counters and
//! histogram (requests, failures, latency...) accumulate across scrapes in
//! its [`AccountMetrics`]. The lifecycle families (transitions, new
//! sessions, removals, start latency, duration) are counted by the
//! account's session tracker under its sticky labels, and rendered from its
//! totals on every scrape, failed ones included, since a counter never goes
//! away. The session families (`agi_sessions`, ages, ...) describe one
//! fetch only, so they are built from a [`Snapshot`] at render time: a
//! series that disappears from the API disappears from the exposition, and
//! a failed fetch shows none of them instead of stale numbers.
//! [`crate::exposition`] writes them in either format.

mod process;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::aggregate::{
    DURATION_BUCKETS, HistogramCounts, InvalidFields, Lifecycle, LifecycleState,
    START_LATENCY_BUCKETS, Snapshot,
};
use crate::api::FailureReason;
use crate::api::timestamp::UnixMillis;
use crate::exposition::{Bucket, Family, Histogram, Kind, Series, Value};
use crate::sync::lock;
use crate::version::{REVISION, RUSTC_VERSION, VERSION};

/// Histogram buckets for API latency, in seconds: from a fast API on the
/// same network (1 ms) to the default 10 s timeout and beyond, no bound more
/// than 2.5 times the one before, so p50 of a sub-millisecond API reads
/// under 1 ms and p99 of a 30 s list reads between 15 and 30 s.
const LATENCY_BUCKETS: [f64; 16] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0, 60.0,
];

/// The process's own families: build info and, unless disabled,
/// `process_*`. They describe the exporter, whatever the accounts.
#[derive(Debug)]
pub(crate) struct ProcessMetrics {
    process_metrics: bool,
}

impl ProcessMetrics {
    /// The build info, and `process_*` when `process_metrics`.
    pub(crate) fn new(process_metrics: bool) -> Self {
        ProcessMetrics { process_metrics }
    }

    /// The families, read now.
    pub(crate) fn families(&self) -> Vec<Family> {
        let mut families = vec![Family::new(
            "agi_exporter_build_info",
            "A metric with a constant value of 1, labelled with the exporter's version, git revision and the rustc that built it.",
            Kind::Gauge,
            vec![Series::new(
                &[
                    ("revision", REVISION),
                    ("rustc_version", RUSTC_VERSION),
                    ("version", VERSION),
                ],
                Value::Number(1.0),
            )],
        )];
        if self.process_metrics {
            families.extend(process::families());
        }
        families
    }
}

/// One account's families: its API requests, failures and latency, the
/// invalid fields it sent, and what each scrape renders of its fetch and
/// of its lifecycle totals.
#[derive(Debug)]
pub(crate) struct AccountMetrics {
    api: Mutex<ApiCounts>,
    /// The lifecycle labels and totals the account's tracker counts.
    lifecycle: Arc<Mutex<LifecycleState>>,
}

/// What the account's requests and fetches added up to.
#[derive(Debug, Default)]
struct ApiCounts {
    requests: u64,
    failures: [u64; FailureReason::ALL.len()],
    duration: HistogramCounts,
    last_success: f64,
    /// By field, as [`InvalidFields::by_field`] lists them.
    invalid_fields: [u64; 3],
}

/// `agi_up`'s HELP, which says how long a result may be reused.
fn up_help(cache_ttl: Duration) -> String {
    if cache_ttl.is_zero() {
        "1 if this scrape's session list was fetched and parsed, else 0.".to_owned()
    } else {
        format!(
            "1 if the session list was fetched and parsed, else 0. A successful result is reused for up to {:.3}s (--api.cache-ttl).",
            cache_ttl.as_secs_f64()
        )
    }
}

/// What one scrape found, for rendering.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScrapeReport<'a> {
    /// The fetched snapshot, or `None` when the fetch failed.
    pub(crate) snapshot: Option<&'a Snapshot>,
    /// Time this scrape spent fetching and parsing (or waiting for a shared fetch).
    pub(crate) duration: Duration,
    /// Now, to turn creation times into ages.
    pub(crate) now: UnixMillis,
    /// How long until a request may be sent again after a 429.
    pub(crate) backoff: Duration,
    /// How long a successful result is reused (`agi_up`'s HELP says).
    pub(crate) cache_ttl: Duration,
}

impl AccountMetrics {
    /// Nothing counted yet; the lifecycle families are `lifecycle`'s.
    pub(crate) fn new(lifecycle: Arc<Mutex<LifecycleState>>) -> Self {
        AccountMetrics {
            api: Mutex::new(ApiCounts {
                duration: HistogramCounts::new(&LATENCY_BUCKETS),
                ..ApiCounts::default()
            }),
            lifecycle,
        }
    }

    /// Records one request sent to the API and how it ended.
    pub(crate) fn observe_request(&self, duration: Duration, failure: Option<FailureReason>) {
        let mut api = lock(&self.api);
        api.requests += 1;
        api.duration
            .observe(&LATENCY_BUCKETS, duration.as_secs_f64());
        if let Some(reason) = failure
            && let Some(place) = FailureReason::ALL.iter().position(|r| *r == reason)
        {
            api.failures[place] += 1;
        }
    }

    /// Records what a successful fetch contained: the invalid fields it had.
    pub(crate) fn observe_snapshot(&self, snapshot: &Snapshot, fetched_at: UnixMillis) {
        let mut api = lock(&self.api);
        api.last_success = fetched_at as f64 / 1000.0;
        for (total, (_, count)) in api
            .invalid_fields
            .iter_mut()
            .zip(snapshot.invalid_fields.by_field())
        {
            *total += count;
        }
    }

    /// The account's families for one scrape.
    pub(crate) fn families(&self, report: ScrapeReport<'_>) -> Vec<Family> {
        let mut families = self.api_families();
        families.push(gauge_family(
            "agi_up",
            up_help(report.cache_ttl),
            [(vec![], if report.snapshot.is_some() { 1.0 } else { 0.0 })],
        ));
        families.push(gauge_family(
            "agi_api_rate_limit_backoff_seconds",
            "Time until the exporter sends a request again after the API answered 429, in seconds; 0 when it is not backing off.",
            [(vec![], report.backoff.as_secs_f64())],
        ));
        families.push(gauge_family(
            "agi_scrape_duration_seconds",
            "Time this scrape spent fetching and parsing the session list, in seconds.",
            [(vec![], report.duration.as_secs_f64())],
        ));
        let lifecycle = lock(&self.lifecycle).by_text();
        families.extend(lifecycle_families(&lifecycle));
        if let Some(snapshot) = report.snapshot {
            families.extend(session_families(snapshot, report.now));
        }
        families
    }

    /// The API families, as counted so far.
    fn api_families(&self) -> Vec<Family> {
        let api = lock(&self.api);
        let counter = |n: u64| Value::Counter(n as f64, None);
        vec![
            Family::new(
                "agi_api_requests_total",
                "Requests sent to the AGI API (GET /v1/sessions), in requests.",
                Kind::Counter,
                vec![Series::new(&[], counter(api.requests))],
            ),
            Family::new(
                "agi_api_request_failures_total",
                "Failed requests to the AGI API by reason, in requests.",
                Kind::Counter,
                sorted_series(
                    FailureReason::ALL
                        .iter()
                        .zip(api.failures)
                        .map(|(reason, n)| Series::new(&[("reason", reason.as_str())], counter(n))),
                ),
            ),
            Family::new(
                "agi_api_request_duration_seconds",
                "Latency of requests to the AGI API, body included, in seconds.",
                Kind::Histogram,
                vec![Series::new(&[], histogram(&api.duration, &LATENCY_BUCKETS))],
            ),
            gauge_family(
                "agi_api_last_success_timestamp_seconds",
                "Unix time of the last successful fetch of the session list, in seconds.",
                [(vec![], api.last_success)],
            ),
            Family::new(
                "agi_invalid_session_fields_total",
                "Sessions seen with a missing or unparseable field, in sessions (counted at every fetch).",
                Kind::Counter,
                sorted_series(
                    (InvalidFields::default().by_field().iter())
                        .zip(api.invalid_fields)
                        .map(|((field, _), n)| Series::new(&[("field", field)], counter(n))),
                ),
            ),
        ]
    }
}

/// Series sorted by their label values, as a registry lists them.
fn sorted_series(series: impl Iterator<Item = Series>) -> Vec<Series> {
    let mut series: Vec<Series> = series.collect();
    series.sort_by(|a, b| a.labels.cmp(&b.labels));
    series
}

/// The lifecycle families, from their totals.
fn lifecycle_families(lifecycle: &Lifecycle) -> Vec<Family> {
    vec![
        Family::new(
            "agi_session_transitions_total",
            "Sessions seen entering a status since the exporter started, per agent, in sessions.",
            Kind::Counter,
            (lifecycle.transitions.iter().zip(&lifecycle.entered_last))
                .map(|(((agent, status), n), latest)| {
                    Series::new(
                        &[("agent_name", agent), ("status", status)],
                        Value::Counter(*n as f64, latest.clone()),
                    )
                })
                .collect(),
        ),
        Family::new(
            "agi_sessions_seen_total",
            "Sessions listed that the previous successful fetch did not list (new sessions), per agent, whatever their first status, in sessions.",
            Kind::Counter,
            (lifecycle.seen.iter())
                .map(|(agent, n)| {
                    Series::new(&[("agent_name", agent)], Value::Counter(*n as f64, None))
                })
                .collect(),
        ),
        Family::new(
            "agi_sessions_removed_total",
            "Sessions listed by the previous successful fetch and gone from the next, by the status they last had, in sessions.",
            Kind::Counter,
            (lifecycle.removed.iter())
                .map(|(status, n)| {
                    Series::new(&[("status", status)], Value::Counter(*n as f64, None))
                })
                .collect(),
        ),
        Family::new(
            "agi_session_start_latency_seconds",
            "Time from a session's created_at to the first fetch that listed it as running, for sessions this exporter saw start, in seconds.",
            Kind::Histogram,
            (lifecycle.start_latency.iter())
                .map(|(agent, counts)| {
                    Series::new(
                        &[("agent_name", agent)],
                        histogram(counts, &START_LATENCY_BUCKETS),
                    )
                })
                .collect(),
        ),
        Family::new(
            "agi_session_duration_seconds",
            "Time from a session's created_at to the first fetch that listed it in a final status, for sessions this exporter saw finish, in seconds.",
            Kind::Histogram,
            (lifecycle.duration.iter())
                .map(|((agent, status), counts)| {
                    Series::new(
                        &[("agent_name", agent), ("status", status)],
                        histogram(counts, &DURATION_BUCKETS),
                    )
                })
                .collect(),
        ),
    ]
}

/// A histogram's value, with the latest observation of each bucket.
fn histogram(counts: &HistogramCounts, bounds: &[f64]) -> Value {
    Value::Histogram(Histogram {
        buckets: (counts.buckets(bounds))
            .map(|(le, cumulative, latest)| Bucket {
                le,
                cumulative,
                exemplar: latest.cloned(),
            })
            .collect(),
        above: counts.above(bounds).cloned(),
        count: counts.count,
        sum: counts.sum,
    })
}

/// The families that describe one snapshot.
fn session_families(snapshot: &Snapshot, now: UnixMillis) -> Vec<Family> {
    let age = |created_at: Option<UnixMillis>| {
        created_at.map_or(0.0, |created| (now - created).max(0) as f64 / 1000.0)
    };
    vec![
        gauge_family(
            "agi_sessions",
            "Sessions listed by the API per status, in sessions.",
            snapshot
                .statuses
                .iter()
                .map(|s| (vec![("status", s.status.as_str())], s.count as f64)),
        ),
        gauge_family(
            "agi_agent_sessions",
            "Sessions listed by the API per agent and status, in sessions.",
            snapshot.agents.iter().flat_map(|agent| {
                agent.statuses.iter().map(|(status, count)| {
                    (
                        vec![
                            ("agent_name", agent.agent_name.as_str()),
                            ("status", status.as_str()),
                        ],
                        *count as f64,
                    )
                })
            }),
        ),
        gauge_family(
            "agi_oldest_session_age_seconds",
            "Age of the oldest session in each live status (now - created_at), in seconds; 0 when there is none.",
            snapshot
                .statuses
                .iter()
                .filter(|s| s.live)
                .map(|s| (vec![("status", s.status.as_str())], age(s.oldest))),
        ),
        gauge_family(
            "agi_agent_oldest_session_age_seconds",
            "Age of each agent's oldest session in each live status (now - created_at), in seconds; 0 when there is none.",
            snapshot.agents.iter().flat_map(|agent| {
                agent.oldest.iter().map(move |(status, oldest)| {
                    (
                        vec![
                            ("agent_name", agent.agent_name.as_str()),
                            ("status", status.as_str()),
                        ],
                        age(*oldest),
                    )
                })
            }),
        ),
        gauge_family(
            "agi_session_age_seconds",
            "Age of each of the oldest live sessions (now - created_at), in seconds; bounded by --sessions.top-oldest.",
            snapshot.oldest_sessions.iter().map(|s| {
                (
                    vec![
                        ("session_id", s.session_id.as_str()),
                        ("agent_name", s.agent_name.as_str()),
                        ("status", s.status.as_str()),
                    ],
                    age(Some(s.created_at)),
                )
            }),
        ),
        gauge_family(
            "agi_label_values_truncated",
            "1 when this scrape folded label values into \"other\" because of the cardinality guard, else 0.",
            [
                (
                    vec![("label", "agent_name")],
                    f64::from(u8::from(snapshot.agents_truncated)),
                ),
                (
                    vec![("label", "status")],
                    f64::from(u8::from(snapshot.statuses_truncated)),
                ),
            ],
        ),
    ]
}

/// A gauge family of these series.
fn gauge_family<'a>(
    name: &'static str,
    help: impl Into<String>,
    samples: impl IntoIterator<Item = (Vec<(&'static str, &'a str)>, f64)>,
) -> Family {
    Family::new(
        name,
        help,
        Kind::Gauge,
        (samples.into_iter())
            .map(|(labels, value)| Series::new(&labels, Value::Number(value)))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::{Format, render};

    /// The cumulative count of `agi_api_request_duration_seconds` at `le`.
    fn bucket(exposition: &str, le: &str) -> f64 {
        let prefix = format!("agi_api_request_duration_seconds_bucket{{le=\"{le}\"}} ");
        exposition
            .lines()
            .find_map(|line| line.strip_prefix(&prefix))
            .and_then(|value| value.parse().ok())
            .unwrap_or_else(|| panic!("no bucket le={le}:\n{exposition}"))
    }

    #[test]
    fn latency_buckets_resolve_a_fast_api_and_a_slow_one() {
        let lifecycle = crate::aggregate::lifecycle_of(&crate::aggregate::SessionTracker::new(1));
        let metrics = AccountMetrics::new(lifecycle);
        metrics.observe_request(Duration::from_micros(300), None);
        metrics.observe_request(Duration::from_millis(4), None);
        metrics.observe_request(Duration::from_secs(20), Some(FailureReason::Timeout));
        let families = metrics.families(ScrapeReport {
            snapshot: None,
            duration: Duration::ZERO,
            now: 0,
            backoff: Duration::ZERO,
            cache_ttl: Duration::ZERO,
        });
        let exposition = String::from_utf8(render(families, Format::Text)).unwrap();

        // Each request lands in its own bucket: p50 of a sub-millisecond API
        // reads under 1 ms, not half of the first bound.
        assert_eq!(bucket(&exposition, "0.001"), 1.0);
        assert_eq!(bucket(&exposition, "0.0025"), 1.0);
        assert_eq!(bucket(&exposition, "0.005"), 2.0);
        assert_eq!(bucket(&exposition, "15"), 2.0);
        assert_eq!(bucket(&exposition, "30"), 3.0);
        assert_eq!(bucket(&exposition, "+Inf"), 3.0);
        assert!(
            LATENCY_BUCKETS.windows(2).all(|w| w[1] <= 2.5 * w[0]),
            "no bound may be more than 2.5 times the one before: {LATENCY_BUCKETS:?}"
        );
    }
}
