//! Rendering the exposition, and the whole scrape path in process.
//!
//! - `render/100_agents`: [`Metrics::render`] of a snapshot with 100 agents
//!   (the default `--agents.max`), every documented status and the
//!   exporter's own families, `process_*` included.
//! - `fold_and_render/100000`: parsing, folding and rendering a
//!   100,000-session body, without HTTP.
//! - `scrape/100000` against `floor/100000`: a [`Scraper`] fetching from the
//!   simulator over loopback, folding and rendering, against a plain GET of
//!   the same body with the same HTTP client plus
//!   `serde_json::from_slice::<IgnoredAny>` of it. SPEC section 8 asks for at
//!   most 1.5x; the `ratio` line at the end compares them in the same run.
//!   (`scripts/load` measures the same through the release binary.)
//!
//! `cargo bench --bench scrape` measures; `cargo test --benches` runs every
//! routine once as a smoke test.

// Shared with the parse bench, which uses other parts of it.
#[allow(dead_code)]
mod support;

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use agi_exporter::aggregate::{Aggregator, DOCUMENTED_STATUSES, Snapshot, Transitions};
use agi_exporter::api::ApiClient;
use agi_exporter::api::key::{ApiKey, KeySource};
use agi_exporter::api::parse::parse_sessions;
use agi_exporter::api::redact::Redactor;
use agi_exporter::demo::format_timestamp;
use agi_exporter::metrics::{Metrics, MetricsOptions, ScrapeReport};
use agi_exporter::scrape::{Scraper, unix_millis};
use criterion::{BenchmarkId, Criterion, Throughput};
use serde::de::IgnoredAny;

use support::{LIMITS, fail, ms};

/// Sessions in the scrape benchmarks: the size SPEC section 8 is about.
const SESSIONS: usize = 100_000;

/// Generous: a timeout here is a failure, not a measurement.
const DEADLINE: Duration = Duration::from_secs(30);

fn main() {
    let runtime = support::runtime();
    let simulator = support::simulator(&runtime, SESSIONS);
    let body = simulator.body();
    let url = simulator.url();
    let key = simulator.key().to_owned();

    let many_agents = fold(&many_agents_body(100), &mut Transitions::default());
    let metrics = metrics();
    metrics.observe_snapshot(&many_agents, now());

    let scraper = Arc::new(scraper(&url, &key));
    // The exporter's HTTP client stack (reqwest without a default TLS
    // provider, so one is installed first, as the exporter does).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let floor = || {
        runtime.block_on(async {
            let response = http
                .get(format!("{url}/v1/sessions"))
                .bearer_auth(&key)
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .unwrap_or_else(|error| fail(&format!("GET failed: {error}")));
            let bytes = response
                .bytes()
                .await
                .unwrap_or_else(|error| fail(&format!("reading the body failed: {error}")));
            serde_json::from_slice::<IgnoredAny>(&bytes)
                .unwrap_or_else(|error| fail(&format!("the body is not JSON: {error}")))
        })
    };
    let scrape = || {
        let exposition = runtime.block_on(scraper.scrape(DEADLINE));
        if !exposition.up {
            fail("the scrape reported agi_up 0");
        }
        exposition.body
    };

    let mut criterion = Criterion::default().configure_from_args();
    criterion.bench_function("render/100_agents", |b| {
        b.iter(|| {
            metrics.render(ScrapeReport {
                snapshot: Some(&many_agents),
                duration: Duration::from_millis(25),
                now: now(),
            })
        });
    });

    let mut group = criterion.benchmark_group("fold_and_render");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.sample_size(20);
    let mut transitions = Transitions::default();
    group.bench_with_input(BenchmarkId::from_parameter(SESSIONS), &body, |b, body| {
        b.iter(|| {
            let snapshot = fold(black_box(body), &mut transitions);
            metrics.render(ScrapeReport {
                snapshot: Some(&snapshot),
                duration: Duration::from_millis(25),
                now: now(),
            })
        });
    });
    group.finish();

    let mut group = criterion.benchmark_group("scrape");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.sample_size(20);
    group.bench_function(BenchmarkId::new("floor", SESSIONS), |b| b.iter(floor));
    group.bench_function(BenchmarkId::new("scrape", SESSIONS), |b| b.iter(scrape));
    group.finish();
    criterion.final_summary();

    if support::listing() {
        return;
    }
    let [floor_time, scrape_time] = support::interleaved(
        15,
        [
            &mut || {
                black_box(floor());
            },
            &mut || {
                black_box(scrape());
            },
        ],
    );
    println!(
        "ratio scrape/{SESSIONS}: scrape {:.3} ms / (GET + ignored_any) {:.3} ms = {:.2}x ({} bytes){}",
        ms(scrape_time),
        ms(floor_time),
        scrape_time.as_secs_f64() / floor_time.as_secs_f64(),
        body.len(),
        support::caveat(),
    );
}

fn now() -> i64 {
    unix_millis(std::time::SystemTime::now())
}

fn metrics() -> Metrics {
    Metrics::new(MetricsOptions {
        process_metrics: true,
        cache_ttl: Duration::ZERO,
    })
    .unwrap_or_else(|error| fail(&format!("cannot create the metrics: {error}")))
}

/// A scraper as the binary builds it with the default flags, pointed at the
/// simulator.
fn scraper(url: &str, key: &str) -> Scraper {
    let url = reqwest::Url::parse(url).unwrap_or_else(|error| fail(&format!("{url}: {error}")));
    let key = ApiKey::new(key).unwrap_or_else(|error| fail(&error.to_string()));
    let client = ApiClient::new(&url, KeySource::Fixed(key), 64 << 20)
        .unwrap_or_else(|error| fail(&format!("cannot build the client: {error}")));
    Scraper::new(client, metrics(), LIMITS, DEADLINE, Duration::ZERO)
}

fn fold(body: &[u8], transitions: &mut Transitions) -> Snapshot {
    let redactor = Redactor::new(support::KEY);
    let mut aggregator = Aggregator::new(LIMITS, transitions, &redactor);
    if let Err(error) = parse_sessions(body, &mut aggregator) {
        fail(&format!("the body does not parse: {error}"));
    }
    aggregator.finish()
}

/// 100 sessions per agent, cycling through the documented statuses and one
/// undocumented one, created over the past day.
fn many_agents_body(agents: usize) -> Vec<u8> {
    let now = now();
    let statuses: Vec<&str> = DOCUMENTED_STATUSES
        .iter()
        .copied()
        .chain(["waiting_for_input"])
        .collect();
    let sessions: Vec<String> = (0..agents * 100)
        .map(|i| {
            format!(
                r#"{{"session_id":"s-{i:06}","agent_name":"agent-{:03}","status":"{}","created_at":"{}"}}"#,
                i % agents,
                statuses[i % statuses.len()],
                format_timestamp(now - (i as i64) * 8_640),
            )
        })
        .collect();
    format!("[{}]", sessions.join(",")).into_bytes()
}
