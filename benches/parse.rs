//! Parse and fold throughput, side by side with the serde_json floor.
//!
//! `serde_json::from_slice::<IgnoredAny>` on the same bytes is the least any
//! serde_json-based reader must do; the parser alone runs at about half of
//! that time. The fold (parse, aggregate, match the previous fetch) is timed
//! in steady state, the previous fetch having listed the same body, so
//! that every session is recalled rather than read (docs/performance.md,
//! where the load script holds the scrape to its bars); and again with
//! recalling refused, every session read and matched: the cost of reading.
//! (A fetch whose sessions all changed also hashes some of them in vain
//! first; the load script's exporter of a changing API measures that.)
//! Machines are noisy, so only the ratio of timings
//! taken in the same run means anything. Criterion reports each timing per
//! body size; after it, this bench times them again, interleaved, and
//! prints one `ratio` line per size.
//!
//! Bodies come from the simulator's population generator
//! (`SimOptions::generated(n, shape)`): 1,000, 10,000 and 100,000 sessions
//! with a realistic mix of statuses, five agents, in each of two shapes:
//! the docs' (`docs/N`: four fields, millisecond timestamps, about 135
//! bytes a session, mostly `completed`) and the SDKs' (`sdk/N`: five more
//! fields, among them free-text goals full of escapes and URLs with
//! tokens, about 500 bytes a session, mostly `finished`). And the docs'
//! 100,000 again with three more fields per session that change from one
//! session to the next (`docs/100000-extra`: a number, a timestamp that is
//! `null` for a third of them, a short list).
//!
//! `cargo bench --bench parse` measures; `cargo test --benches` runs every
//! routine once as a smoke test.

// Shared with the scrape bench, which uses other parts of it.
#[allow(dead_code)]
mod support;

#[path = "../tests/it/support/reading.rs"]
mod reading;

use std::hint::black_box;

use std::sync::Arc;

use agi_exporter::{
    Aggregator, FetchTimes, Redactor, SessionRecord, SessionSink, SessionTracker, Snapshot,
    parse_sessions,
};
use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput};
use serde::de::IgnoredAny;

use reading::ReadEverything;
use support::{LIMITS, SHAPES, fail, ms};

/// Body sizes, in sessions.
const SIZES: [usize; 3] = [1_000, 10_000, 100_000];

fn main() {
    let mut bodies: Vec<(String, Bytes)> = Vec::new();
    for shape in SHAPES {
        for n in SIZES {
            bodies.push((format!("{shape}/{n}"), support::generated_body(n, shape)));
        }
    }
    let extra = match bodies.iter().find(|(name, _)| name == "docs/100000") {
        Some((_, docs)) => with_extra_fields(docs),
        None => fail("no docs/100000 body"),
    };
    bodies.push(("docs/100000-extra".to_owned(), extra));

    let mut criterion = Criterion::default().configure_from_args();
    for (n, body) in &bodies {
        let mut group = criterion.benchmark_group("parse_and_fold");
        group.throughput(Throughput::Bytes(body.len() as u64));
        if body.len() > 10_000_000 {
            group.sample_size(20);
        }
        group.bench_with_input(BenchmarkId::new("ignored_any", n), body, |b, body| {
            b.iter(|| ignored_any(body));
        });
        group.bench_with_input(BenchmarkId::new("parse_only", n), body, |b, body| {
            b.iter(|| parse_only(body));
        });
        let mut baseline = Baseline::of(body);
        group.bench_with_input(BenchmarkId::new("fold", n), body, |b, body| {
            b.iter(|| baseline.fold(body));
        });
        let mut baseline = Baseline::of(body);
        group.bench_with_input(BenchmarkId::new("fold_reading", n), body, |b, body| {
            b.iter(|| baseline.fold_reading(body));
        });
        group.finish();
    }
    criterion.final_summary();

    if support::listing() {
        return;
    }
    for (n, body) in &bodies {
        let mut baseline = Baseline::of(body);
        let mut reading = Baseline::of(body);
        let [floor, parse, read, fold] = support::interleaved(
            21,
            [
                &mut || {
                    black_box(ignored_any(body));
                },
                &mut || {
                    black_box(parse_only(body));
                },
                &mut || {
                    black_box(reading.fold_reading(body));
                },
                &mut || {
                    black_box(baseline.fold(body));
                },
            ],
        );
        println!(
            "ratio parse_and_fold/{n}: fold {:.3} ms / ignored_any {:.3} ms = {:.2}x \
             (every session read: {:.2}x; parse only {:.2}x; {} bytes, {:.0} MB/s folded){}",
            ms(fold),
            ms(floor),
            fold.as_secs_f64() / floor.as_secs_f64(),
            read.as_secs_f64() / floor.as_secs_f64(),
            parse.as_secs_f64() / floor.as_secs_f64(),
            body.len(),
            body.len() as f64 / fold.as_secs_f64() / 1e6,
            support::caveat(),
        );
    }
}

/// The sessions of `body` with three more fields each, which change from
/// one session to the next.
fn with_extra_fields(body: &[u8]) -> Bytes {
    let Ok(mut sessions) = serde_json::from_slice::<Vec<serde_json::Value>>(body) else {
        fail("the generated body is not a list of sessions");
    };
    for (i, session) in sessions.iter_mut().enumerate() {
        if let Some(fields) = session.as_object_mut() {
            fields.insert("steps".to_owned(), serde_json::json!(i % 997));
            let ended = (i % 3 != 0).then_some("2026-11-30T10:00:00.000Z");
            fields.insert("ended_at".to_owned(), serde_json::json!(ended));
            fields.insert("tags".to_owned(), serde_json::json!(["agi", i % 5]));
        }
    }
    match serde_json::to_vec(&sessions) {
        Ok(body) => Bytes::from(body),
        Err(error) => fail(&format!("serializing the sessions: {error}")),
    }
}

/// The floor: what serde_json must do to read the body at all.
fn ignored_any(body: &[u8]) -> IgnoredAny {
    serde_json::from_slice::<IgnoredAny>(black_box(body))
        .unwrap_or_else(|error| fail(&format!("the generated body is not JSON: {error}")))
}

/// The parser alone, with a sink that only counts: how much of the fold's
/// time is parsing.
fn parse_only(body: &[u8]) -> usize {
    struct Count(usize);
    impl SessionSink for Count {
        fn session(&mut self, session: &SessionRecord<'_>) {
            self.0 += usize::from(session.status.as_str().is_some());
        }
    }
    let mut sink = Count(0);
    if let Err(error) = parse_sessions(black_box(body), &mut sink) {
        fail(&format!("the generated body does not parse: {error}"));
    }
    sink.0
}

/// The state of a running exporter: the previous scrape saw the same body,
/// so every session is looked up in the transitions baseline, as in steady
/// state. Each fold makes the same body the baseline again, so each
/// iteration does the same work.
struct Baseline(SessionTracker, Arc<Redactor>);

impl Baseline {
    fn of(body: &[u8]) -> Self {
        let mut baseline = Baseline(
            SessionTracker::new(LIMITS.agents_max),
            Arc::new(Redactor::new(support::KEY)),
        );
        baseline.fold(body);
        baseline
    }

    fn fold(&mut self, body: &[u8]) -> Snapshot {
        fold_once(&mut self.0, &self.1, black_box(body))
    }

    /// The same fold with no session recalled: every one is read and
    /// matched.
    fn fold_reading(&mut self, body: &[u8]) -> Snapshot {
        let mut aggregator = Aggregator::new(LIMITS, &mut self.0, &self.1, TIMES);
        if let Err(error) = parse_sessions(black_box(body), &mut ReadEverything(&mut aggregator)) {
            fail(&format!("the generated body does not parse: {error}"));
        }
        aggregator.finish()
    }
}

/// When every fold's fetch happened.
const TIMES: FetchTimes = FetchTimes {
    sent_at: 1_800_000_000_000,
    received_at: 1_800_000_000_000,
};

fn fold_once(tracker: &mut SessionTracker, redactor: &Arc<Redactor>, body: &[u8]) -> Snapshot {
    let mut aggregator = Aggregator::new(LIMITS, tracker, redactor, TIMES);
    if let Err(error) = parse_sessions(body, &mut aggregator) {
        fail(&format!("the generated body does not parse: {error}"));
    }
    aggregator.finish()
}
