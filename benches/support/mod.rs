//! What both benchmarks need: the simulator's bodies, the exporter's default
//! limits, and a timing loop that compares routines in the same run.

use std::hint::black_box;
use std::time::{Duration, Instant};

use agi_exporter::Limits;
use agi_exporter::demo::{Population, Shape, SimOptions, Simulator};
use bytes::Bytes;

/// The defaults of `--agents.max` and `--sessions.top-oldest`.
pub const LIMITS: Limits = Limits {
    agents_max: 100,
    top_oldest: 5,
};

/// The key the simulator accepts, which the exporter would redact.
pub const KEY: &str = agi_exporter::DEMO_KEY;

/// Whether this run measures (`cargo bench`) rather than checks that every
/// routine runs (`cargo test --benches`), where timings mean nothing.
pub fn measuring() -> bool {
    std::env::args().any(|arg| arg == "--bench")
}

/// Whether criterion was only asked to list the benchmarks.
pub fn listing() -> bool {
    std::env::args().any(|arg| arg == "--list")
}

/// A runtime for the simulator and the HTTP client.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|error| fail(&format!("cannot start a runtime: {error}")))
}

/// The shapes the benchmarks measure: the docs' four fields, and the SDKs'
/// (about 500 bytes a session).
pub const SHAPES: [Shape; 2] = [Shape::Docs, Shape::Sdk];

/// A simulator serving `n` generated sessions of `shape` on 127.0.0.1.
pub fn simulator(runtime: &tokio::runtime::Runtime, n: usize, shape: Shape) -> Simulator {
    runtime
        .block_on(Simulator::start(SimOptions::generated(n, shape)))
        .unwrap_or_else(|error| fail(&format!("cannot start the simulator: {error}")))
}

/// The simulator's exact body for `n` generated sessions of `shape`.
pub fn generated_body(n: usize, shape: Shape) -> Bytes {
    let seed = SimOptions::generated(n, shape).seed;
    agi_exporter::demo::population_body(Population::Generated { sessions: n, shape }, seed)
}

/// Times each routine in turn, round after round, and returns the median
/// time of one call of each, so that all see the same machine noise.
pub fn interleaved<const N: usize>(
    rounds: usize,
    mut routines: [&mut dyn FnMut(); N],
) -> [Duration; N] {
    // Batches of about 20 ms (sized on the last routine, the slowest), so
    // that timer resolution does not matter.
    let batch = if measuring() {
        let once = time_batch(1, &mut routines[N - 1]).max(Duration::from_micros(1));
        (Duration::from_millis(20).as_nanos() / once.as_nanos()).clamp(1, 10_000) as u32
    } else {
        1
    };
    let rounds = if measuring() { rounds } else { 1 };
    let mut times = [(); N].map(|()| Vec::with_capacity(rounds));
    for _ in 0..rounds {
        for (routine, times) in routines.iter_mut().zip(&mut times) {
            times.push(time_batch(batch, routine));
        }
    }
    times.map(|mut times| {
        times.sort_unstable();
        times[times.len() / 2]
    })
}

fn time_batch(batch: u32, routine: &mut dyn FnMut()) -> Duration {
    let started = Instant::now();
    for _ in 0..batch {
        routine();
    }
    black_box(started.elapsed() / batch)
}

/// Said after a `ratio` line printed by `cargo test --benches`, whose single
/// round in a debug build measures nothing.
pub fn caveat() -> &'static str {
    if measuring() {
        ""
    } else {
        " [smoke test: one round of a debug build, not a measurement]"
    }
}

/// Milliseconds, for printing.
pub fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

/// Benchmarks have no caller to report to: say why and stop.
pub fn fail(message: &str) -> ! {
    eprintln!("bench: {message}");
    std::process::exit(1)
}
