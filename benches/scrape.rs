//! The whole scrape path in process, through the exporter's own server.
//!
//! - `scrape/100_agents`: `GET /metrics` of an exporter whose API lists 100
//!   agents (the default `--agents.max`) in every status of both
//!   vocabularies and one neither knows: a small
//!   body, so the time is mostly rendering the exposition and the two HTTP
//!   hops.
//! - `scrape/100_agents/openmetrics`: the same in OpenMetrics, with its
//!   exemplars; a `ratio` line compares the two formats.
//! - `scrape/docs-100000` against `floor/docs-100000`, and the same for
//!   `sdk`: `GET /metrics` of an exporter fetching 100,000 sessions from
//!   the simulator over loopback, written in the docs' shape (about 135
//!   bytes a session) or the SDKs' (about 500), against a plain GET of the
//!   same body with the same HTTP client plus
//!   `serde_json::from_slice::<IgnoredAny>` of it; the `ratio` lines at the
//!   end compare them in the same run, one per shape. (`scripts/load`
//!   holds the release binary to the bars of docs/performance.md, against a GET that
//!   only reads.)
//!
//! `cargo bench --bench scrape` measures; `cargo test --benches` runs every
//! routine once as a smoke test.

// Shared with the parse bench, which uses other parts of it.
#[allow(dead_code)]
mod support;

// The tests' fake API, which stops the benchmark with a panic if it cannot
// bind, as it stops a test.
#[path = "../tests/it/support/fake_api.rs"]
#[allow(dead_code, clippy::expect_used)]
mod fake_api;

use std::hint::black_box;

use agi_exporter::demo::{Shape, Simulator};
use agi_exporter::{Cli, Config, Running, format_timestamp};
use clap::Parser;
use criterion::{BenchmarkId, Criterion, Throughput};
use serde::de::IgnoredAny;

use contract::DOCUMENTED_STATUSES;
use support::{SHAPES, fail, ms};

#[path = "../tests/it/support/contract.rs"]
#[allow(dead_code, clippy::panic)]
mod contract;

/// What Prometheus asks for first.
const OPENMETRICS: &str =
    "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";

/// Sessions in the large scrape benchmark: the size the bars are about.
const SESSIONS: usize = 100_000;

fn main() {
    let runtime = support::runtime();
    // One simulator and one exporter of it per shape.
    let large: Vec<(Shape, Simulator, Running)> = SHAPES
        .into_iter()
        .map(|shape| {
            let simulator = support::simulator(&runtime, SESSIONS, shape);
            let exporter = runtime.block_on(exporter(&simulator.url(), simulator.key()));
            (shape, simulator, exporter)
        })
        .collect();
    let many_agents = runtime.block_on(fake_api::FakeApi::start(
        fake_api::KEY,
        many_agents_body(100, true).into(),
    ));
    let small = runtime.block_on(exporter(&many_agents.url(), fake_api::KEY));
    // The exporter's HTTP client stack (reqwest without a default TLS
    // provider, so one is installed first, as the exporter does).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let get = |url: String, key: Option<&str>, accept: &str| {
        runtime.block_on(async {
            let request = http.get(url).header("Accept", accept);
            let request = match key {
                Some(key) => request.bearer_auth(key),
                None => request,
            };
            let response = request
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .unwrap_or_else(|error| fail(&format!("GET failed: {error}")));
            response
                .bytes()
                .await
                .unwrap_or_else(|error| fail(&format!("reading the body failed: {error}")))
        })
    };
    let floor = |simulator: &Simulator| {
        let bytes = get(
            format!("{}/v1/sessions", simulator.url()),
            Some(simulator.key()),
            "*/*",
        );
        serde_json::from_slice::<IgnoredAny>(&bytes)
            .unwrap_or_else(|error| fail(&format!("the body is not JSON: {error}")))
    };
    let scrape_as = |exporter: &Running, accept: &str| {
        let exposition = get(
            format!("http://{}/metrics", exporter.address()),
            None,
            accept,
        );
        if !exposition.windows(8).any(|w| w == b"agi_up 1") {
            fail("the scrape reported agi_up 0");
        }
        exposition
    };
    let scrape = |exporter: &Running| scrape_as(exporter, "*/*");
    let openmetrics = |exporter: &Running| scrape_as(exporter, OPENMETRICS);
    // Every session of the many agents seen ready, then moved: the worst
    // case of exemplars too.
    scrape(&small);
    many_agents.set_behaviour(fake_api::Behaviour::json(many_agents_body(100, false)));
    scrape(&small);

    let mut criterion = Criterion::default().configure_from_args();
    criterion.bench_function("scrape/100_agents", |b| b.iter(|| scrape(&small)));
    criterion.bench_function("scrape/100_agents/openmetrics", |b| {
        b.iter(|| openmetrics(&small))
    });

    for (shape, simulator, exporter) in &large {
        let mut group = criterion.benchmark_group("scrape");
        group.throughput(Throughput::Bytes(simulator.body().len() as u64));
        group.sample_size(20);
        let name = format!("{shape}-{SESSIONS}");
        group.bench_function(BenchmarkId::new("floor", &name), |b| {
            b.iter(|| floor(simulator))
        });
        group.bench_function(BenchmarkId::new("scrape", &name), |b| {
            b.iter(|| scrape(exporter))
        });
        group.finish();
    }
    criterion.final_summary();

    if support::listing() {
        return;
    }
    let samples = |exposition: &[u8]| {
        (exposition.split(|&b| b == b'\n'))
            .filter(|line| !line.is_empty() && !line.starts_with(b"#"))
            .count()
    };
    let [text_time, openmetrics_time] = support::interleaved(
        21,
        [
            &mut || {
                black_box(scrape(&small));
            },
            &mut || {
                black_box(openmetrics(&small));
            },
        ],
    );
    let exemplars = |exposition: &[u8]| exposition.windows(4).filter(|w| w == b" # {").count();
    println!(
        "ratio scrape/100_agents: openmetrics {:.3} ms / text {:.3} ms = {:.2}x ({} samples, {} exemplars){}",
        ms(openmetrics_time),
        ms(text_time),
        openmetrics_time.as_secs_f64() / text_time.as_secs_f64(),
        samples(&scrape(&small)),
        exemplars(&openmetrics(&small)),
        support::caveat(),
    );
    for (shape, simulator, exporter) in &large {
        let [floor_time, scrape_time] = support::interleaved(
            15,
            [
                &mut || {
                    black_box(floor(simulator));
                },
                &mut || {
                    black_box(scrape(exporter));
                },
            ],
        );
        println!(
            "ratio scrape/{shape}-{SESSIONS}: scrape {:.3} ms / (GET + ignored_any) {:.3} ms = {:.2}x ({} bytes){}",
            ms(scrape_time),
            ms(floor_time),
            scrape_time.as_secs_f64() / floor_time.as_secs_f64(),
            simulator.body().len(),
            support::caveat(),
        );
    }
}

/// An exporter as the binary builds it with the default flags, pointed at
/// `url`, serving on 127.0.0.1.
async fn exporter(url: &str, key: &str) -> Running {
    let cli = Cli::try_parse_from([
        "agi_exporter",
        "--api.url",
        url,
        "--web.listen-address",
        "127.0.0.1:0",
        "--web.max-requests",
        "0",
    ])
    .unwrap_or_else(|error| fail(&error.to_string()));
    let config = Config::from_cli(&cli, Some(key.to_owned()))
        .unwrap_or_else(|error| fail(&error.to_string()));
    agi_exporter::start(config)
        .await
        .unwrap_or_else(|error| fail(&format!("the exporter does not start: {error}")))
}

/// 100 sessions per agent, cycling through the docs' statuses, the two
/// only the SDKs use, and one neither knows, created over the past day.
/// `agents` agents' sessions, created over the last day; all `ready` when
/// `ready`, else in every status (so that, after a `ready` one, each moves
/// and the lifecycle histograms get an exemplar in every bucket).
fn many_agents_body(agents: usize, ready: bool) -> Vec<u8> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as i64);
    let statuses: Vec<&str> = DOCUMENTED_STATUSES
        .iter()
        .copied()
        .chain(["waiting_for_input", "finished", "queued"])
        .collect();
    let sessions: Vec<String> = (0..agents * 100)
        .map(|i| {
            format!(
                r#"{{"session_id":"s-{i:06}","agent_name":"agent-{:03}","status":"{}","created_at":"{}"}}"#,
                i % agents,
                if ready { "ready" } else { statuses[(i / agents) % statuses.len()] },
                // An agent's sessions in every status, created 1 s to 18 h
                // ago: every bucket of a histogram gets an observation.
                format_timestamp(now - 1000 * (1 << (2 * ((i / agents) / statuses.len()))).min(65_536)),
            )
        })
        .collect();
    format!("[{}]", sessions.join(",")).into_bytes()
}
