//! The metric families and the text exposition.
//!
//! Four kinds of families live here. The process's own (build info,
//! `process_*`) are [`ProcessMetrics`], in a private [`Registry`]. Each
//! account's API counters and histograms (requests, failures, latency...)
//! accumulate across scrapes in a private [`Registry`] owned by its
//! [`AccountMetrics`]. The lifecycle families (transitions, new sessions,
//! removals, start latency, duration) are counted by the account's session
//! tracker under its sticky labels, and rendered from its totals on every
//! scrape, failed ones included, since a counter never goes away. The
//! session families (`agi_sessions`, ages, ...) describe one fetch only, so
//! they are built from a [`Snapshot`] at render time: a series that
//! disappears from the API disappears from the exposition, and a failed
//! fetch shows none of them instead of stale numbers. [`encode`] writes
//! any set of them in the text format.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus::proto::{self, MetricFamily, MetricType};
use prometheus::{
    Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, IntCounter, IntCounterVec, Opts, Registry,
    TextEncoder,
};

use crate::aggregate::{
    DURATION_BUCKETS, HistogramCounts, InvalidFields, Lifecycle, LifecycleState,
    START_LATENCY_BUCKETS, Snapshot,
};
use crate::api::FailureReason;
use crate::api::timestamp::UnixMillis;
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
    registry: Registry,
}

impl ProcessMetrics {
    /// Registers the build info, and the process collector when
    /// `process_metrics`.
    pub(crate) fn new(process_metrics: bool) -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let build_info = GaugeVec::new(
            Opts::new(
                "agi_exporter_build_info",
                "A metric with a constant value of 1, labelled with the exporter's version, git revision and the rustc that built it.",
            ),
            &["version", "revision", "rustc_version"],
        )?;
        build_info
            .with_label_values(&[VERSION, REVISION, RUSTC_VERSION])
            .set(1.0);
        registry.register(Box::new(build_info))?;
        if process_metrics {
            registry.register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))?;
        }
        Ok(ProcessMetrics { registry })
    }

    /// The families, read now.
    pub(crate) fn families(&self) -> Vec<MetricFamily> {
        self.registry.gather()
    }
}

/// One account's families: its API requests, failures and latency, the
/// invalid fields it sent, and what each scrape renders of its fetch and
/// of its lifecycle totals.
#[derive(Debug)]
pub(crate) struct AccountMetrics {
    registry: Registry,
    api_requests: IntCounter,
    api_failures: IntCounterVec,
    api_duration: Histogram,
    api_last_success: Gauge,
    invalid_fields: IntCounterVec,
    /// The lifecycle labels and totals the account's tracker counts.
    lifecycle: Arc<Mutex<LifecycleState>>,
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
    /// Creates and registers the account's own families.
    pub(crate) fn new(lifecycle: Arc<Mutex<LifecycleState>>) -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let api_requests = IntCounter::new(
            "agi_api_requests_total",
            "Requests sent to the AGI API (GET /v1/sessions), in requests.",
        )?;
        let api_failures = IntCounterVec::new(
            Opts::new(
                "agi_api_request_failures_total",
                "Failed requests to the AGI API by reason, in requests.",
            ),
            &["reason"],
        )?;
        for reason in FailureReason::ALL {
            api_failures.with_label_values(&[reason.as_str()]);
        }
        let api_duration = Histogram::with_opts(
            HistogramOpts::new(
                "agi_api_request_duration_seconds",
                "Latency of requests to the AGI API, body included, in seconds.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
        )?;
        let api_last_success = Gauge::new(
            "agi_api_last_success_timestamp_seconds",
            "Unix time of the last successful fetch of the session list, in seconds.",
        )?;
        let invalid_fields = IntCounterVec::new(
            Opts::new(
                "agi_invalid_session_fields_total",
                "Sessions seen with a missing or unparseable field, in sessions (counted at every fetch).",
            ),
            &["field"],
        )?;
        for (field, _) in InvalidFields::default().by_field() {
            invalid_fields.with_label_values(&[field]);
        }
        registry.register(Box::new(api_requests.clone()))?;
        registry.register(Box::new(api_failures.clone()))?;
        registry.register(Box::new(api_duration.clone()))?;
        registry.register(Box::new(api_last_success.clone()))?;
        registry.register(Box::new(invalid_fields.clone()))?;
        Ok(AccountMetrics {
            registry,
            api_requests,
            api_failures,
            api_duration,
            api_last_success,
            invalid_fields,
            lifecycle,
        })
    }

    /// Records one request sent to the API and how it ended.
    pub(crate) fn observe_request(&self, duration: Duration, failure: Option<FailureReason>) {
        self.api_requests.inc();
        self.api_duration.observe(duration.as_secs_f64());
        if let Some(reason) = failure {
            self.api_failures
                .with_label_values(&[reason.as_str()])
                .inc();
        }
    }

    /// Records what a successful fetch contained: the invalid fields it had.
    pub(crate) fn observe_snapshot(&self, snapshot: &Snapshot, fetched_at: UnixMillis) {
        self.api_last_success.set(fetched_at as f64 / 1000.0);
        for (field, count) in snapshot.invalid_fields.by_field() {
            self.invalid_fields
                .with_label_values(&[field])
                .inc_by(count);
        }
    }

    /// The account's families for one scrape.
    pub(crate) fn families(&self, report: ScrapeReport<'_>) -> Vec<MetricFamily> {
        let mut families = self.registry.gather();
        families.push(gauge_family(
            "agi_up",
            &up_help(report.cache_ttl),
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
}

/// The text exposition (format 0.0.4) of `families`, sorted by name;
/// families without series are left out.
pub(crate) fn encode(mut families: Vec<MetricFamily>) -> Vec<u8> {
    // The text encoder refuses a family without series (and writes
    // nothing after it), e.g. agi_session_age_seconds with no live session.
    families.retain(|family| !family.get_metric().is_empty());
    families.sort_by(|a, b| a.name().cmp(b.name()));
    let mut out = Vec::with_capacity(16 * 1024);
    // Encoding to a Vec cannot fail on I/O, and our families are well formed.
    if let Err(error) = TextEncoder::new().encode(&families, &mut out) {
        tracing::error!(%error, "cannot encode metrics");
    }
    out
}

/// The lifecycle families, from their totals.
fn lifecycle_families(lifecycle: &Lifecycle) -> Vec<MetricFamily> {
    vec![
        family(
            "agi_session_transitions_total",
            "Sessions seen entering a status since the exporter started, per agent, in sessions.",
            MetricType::COUNTER,
            lifecycle.transitions.iter().map(|((agent, status), n)| {
                metric(
                    &[("agent_name", agent), ("status", status)],
                    counter(*n as f64),
                )
            }),
        ),
        family(
            "agi_sessions_seen_total",
            "Sessions listed that the previous successful fetch did not list (new sessions), per agent, whatever their first status, in sessions.",
            MetricType::COUNTER,
            lifecycle
                .seen
                .iter()
                .map(|(agent, n)| metric(&[("agent_name", agent)], counter(*n as f64))),
        ),
        family(
            "agi_sessions_removed_total",
            "Sessions listed by the previous successful fetch and gone from the next, by the status they last had, in sessions.",
            MetricType::COUNTER,
            lifecycle
                .removed
                .iter()
                .map(|(status, n)| metric(&[("status", status)], counter(*n as f64))),
        ),
        family(
            "agi_session_start_latency_seconds",
            "Time from a session's created_at to the first fetch that listed it as running, for sessions this exporter saw start, in seconds.",
            MetricType::HISTOGRAM,
            lifecycle.start_latency.iter().map(|(agent, counts)| {
                metric(
                    &[("agent_name", agent)],
                    histogram(counts, &START_LATENCY_BUCKETS),
                )
            }),
        ),
        family(
            "agi_session_duration_seconds",
            "Time from a session's created_at to the first fetch that listed it in a final status, for sessions this exporter saw finish, in seconds.",
            MetricType::HISTOGRAM,
            lifecycle.duration.iter().map(|((agent, status), counts)| {
                metric(
                    &[("agent_name", agent), ("status", status)],
                    histogram(counts, &DURATION_BUCKETS),
                )
            }),
        ),
    ]
}

/// A family of any type, built directly, without a registry.
fn family(
    name: &str,
    help: &str,
    kind: MetricType,
    metrics: impl IntoIterator<Item = proto::Metric>,
) -> MetricFamily {
    let mut family = MetricFamily::default();
    family.set_name(name.to_owned());
    family.set_help(help.to_owned());
    family.set_field_type(kind);
    family.set_metric(metrics.into_iter().collect());
    family
}

/// A metric with these labels, whose value `value` sets.
fn metric(labels: &[(&str, &str)], value: impl FnOnce(&mut proto::Metric)) -> proto::Metric {
    let mut metric = proto::Metric::default();
    metric.set_label(
        labels
            .iter()
            .map(|(name, value)| {
                let mut pair = proto::LabelPair::default();
                pair.set_name((*name).to_owned());
                pair.set_value((*value).to_owned());
                pair
            })
            .collect(),
    );
    value(&mut metric);
    metric
}

fn counter(value: f64) -> impl FnOnce(&mut proto::Metric) {
    move |metric| {
        let mut counter = proto::Counter::default();
        counter.set_value(value);
        metric.set_counter(counter);
    }
}

fn histogram<'a>(
    counts: &'a HistogramCounts,
    bounds: &'a [f64],
) -> impl FnOnce(&mut proto::Metric) + 'a {
    move |metric| {
        let mut histogram = proto::Histogram::default();
        histogram.set_sample_count(counts.count);
        histogram.set_sample_sum(counts.sum);
        histogram.set_bucket(
            counts
                .cumulative(bounds)
                .map(|(bound, n)| {
                    let mut bucket = proto::Bucket::default();
                    bucket.set_upper_bound(bound);
                    bucket.set_cumulative_count(n);
                    bucket
                })
                .collect(),
        );
        metric.set_histogram(histogram);
    }
}

/// The families that describe one snapshot.
fn session_families(snapshot: &Snapshot, now: UnixMillis) -> Vec<MetricFamily> {
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

/// A gauge family built directly, without a registry: these series live for
/// one scrape only.
fn gauge_family<'a>(
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (Vec<(&'a str, &'a str)>, f64)>,
) -> MetricFamily {
    family(
        name,
        help,
        MetricType::GAUGE,
        samples.into_iter().map(|(labels, value)| {
            metric(&labels, |metric| {
                let mut gauge = proto::Gauge::default();
                gauge.set_value(value);
                metric.set_gauge(gauge);
            })
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let metrics = AccountMetrics::new(lifecycle).unwrap();
        metrics.observe_request(Duration::from_micros(300), None);
        metrics.observe_request(Duration::from_millis(4), None);
        metrics.observe_request(Duration::from_secs(20), Some(FailureReason::Timeout));
        let exposition = String::from_utf8(encode(metrics.families(ScrapeReport {
            snapshot: None,
            duration: Duration::ZERO,
            now: 0,
            backoff: Duration::ZERO,
            cache_ttl: Duration::ZERO,
        })))
        .unwrap();

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
