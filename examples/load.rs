//! Load test of the release binary against the simulator, on loopback only.
//!
//! For each size it starts the simulated API with that many generated
//! sessions (in this process), starts the exporter binary against it
//! (`--web.listen-address 127.0.0.1:0`, the port read from its `listening`
//! log line), and measures, all in the same run:
//!
//! - the floor: a plain GET of the body from the simulator with the same HTTP
//!   client stack (reqwest) plus `serde_json::from_slice::<IgnoredAny>` of it;
//! - sequential `/metrics` scrapes, interleaved with the floor, so both see
//!   the same machine noise: median and p90, and the ratio of the medians
//!   (the README's Performance section: at most 1.5x at 100,000 sessions);
//! - the exporter's idle RSS (`VmRSS` before any scrape) and peak RSS
//!   (`VmHWM` after the scrapes) from `/proc/PID/status`;
//! - how many API requests the simulator received for a burst of concurrent
//!   scrapes (README: 200 concurrent scrapes cause one API request), once with
//!   the simulator answering at loopback speed and once with it answering in
//!   50 ms, as a real API a network round trip away does.
//!
//! It prints a markdown table. Every loop is bounded; the exporter is killed
//! when a size is done, or if this program fails.
//!
//! `scripts/load` builds the binary and this example in release mode and
//! runs it; run that rather than this directly.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use agi_exporter::demo::{SimOptions, Simulator};
use serde::de::IgnoredAny;

const USAGE: &str =
    "usage: load --exporter PATH [--sessions 1000,10000,100000] [--scrapes 30] [--concurrent 200]";

/// How long the exporter may take to say it is listening.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the simulated API takes to answer in the second burst.
const SLOW_API: Duration = Duration::from_millis(50);
/// How long any one request may take before the run fails.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug)]
struct Args {
    exporter: PathBuf,
    sessions: Vec<usize>,
    scrapes: usize,
    concurrent: usize,
}

/// One size's results.
#[derive(Debug)]
struct Row {
    sessions: usize,
    body_bytes: usize,
    floor_median: Duration,
    scrape_median: Duration,
    scrape_p90: Duration,
    idle_rss_kib: u64,
    peak_rss_kib: u64,
    /// A burst against the simulator answering as fast as it can.
    at_loopback_speed: Burst,
    /// A burst against the simulator answering in [`SLOW_API`].
    slow_api: Burst,
}

/// What a burst of concurrent scrapes caused.
#[derive(Debug)]
struct Burst {
    /// Scrapes answered with `agi_up 1`.
    up: usize,
    /// Requests the simulated API received.
    api_requests: u64,
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("load: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    // reqwest is built without a default TLS provider, as in the exporter.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("load: cannot start a runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let mut rows = Vec::new();
    for &n in &args.sessions {
        eprintln!("load: {n} sessions...");
        match runtime.block_on(measure(&args, n)) {
            Ok(row) => rows.push(row),
            Err(message) => {
                eprintln!("load: {n} sessions: {message}");
                return ExitCode::FAILURE;
            }
        }
    }
    print_table(&args, &rows);
    ExitCode::SUCCESS
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut parsed = Args {
        exporter: PathBuf::new(),
        sessions: vec![1_000, 10_000, 100_000],
        scrapes: 30,
        concurrent: 200,
    };
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--exporter" => parsed.exporter = PathBuf::from(value()?),
            "--sessions" => {
                parsed.sessions = value()?
                    .split(',')
                    .map(|n| n.trim().replace('_', "").parse::<usize>())
                    .collect::<Result<_, _>>()
                    .map_err(|e| format!("--sessions: {e}"))?;
            }
            "--scrapes" => {
                parsed.scrapes = value()?.parse().map_err(|e| format!("--scrapes: {e}"))?;
            }
            "--concurrent" => {
                parsed.concurrent = value()?.parse().map_err(|e| format!("--concurrent: {e}"))?;
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if parsed.exporter.as_os_str().is_empty() {
        return Err("--exporter is required".to_owned());
    }
    if parsed.scrapes == 0 || parsed.scrapes > 1_000 || parsed.concurrent > 1_000 {
        return Err("--scrapes must be 1 to 1000, --concurrent at most 1000".to_owned());
    }
    Ok(parsed)
}

async fn measure(args: &Args, n: usize) -> Result<Row, String> {
    let simulator = Simulator::start(SimOptions::generated(n))
        .await
        .map_err(|e| format!("cannot start the simulator: {e}"))?;
    let body_bytes = simulator.body().len();
    let exporter = Exporter::start(&args.exporter, &simulator)?;
    // Let it settle: the runtime's threads and the allocator's arenas exist
    // once the listening line is out, but give them a moment.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let idle_rss_kib = exporter.status_kib("VmRSS")?;

    let client = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(|e| format!("cannot build the client: {e}"))?;
    let sessions_url = format!("{}/v1/sessions", simulator.url());
    let metrics_url = format!("http://{}/metrics", exporter.address);

    // One of each first: connections, and the exporter's first allocations.
    floor(&client, &sessions_url, simulator.key()).await?;
    scrape(&client, &metrics_url).await?;
    let mut floors = Vec::with_capacity(args.scrapes);
    let mut scrapes = Vec::with_capacity(args.scrapes);
    for _ in 0..args.scrapes {
        let started = Instant::now();
        floor(&client, &sessions_url, simulator.key()).await?;
        floors.push(started.elapsed());
        let started = Instant::now();
        scrape(&client, &metrics_url).await?;
        scrapes.push(started.elapsed());
    }

    let at_loopback_speed = burst(&simulator, &exporter, args.concurrent).await?;
    let peak_rss_kib = exporter.status_kib("VmHWM")?;
    drop(exporter);
    // A real API is a network round trip away: with one that answers in
    // 50 ms, every scrape of the burst arrives while the fetch is under way.
    let slow_simulator = Simulator::start(SimOptions {
        latency: SLOW_API,
        ..SimOptions::generated(n)
    })
    .await
    .map_err(|e| format!("cannot start the simulator: {e}"))?;
    let slow_exporter = Exporter::start(&args.exporter, &slow_simulator)?;
    let slow_api = burst(&slow_simulator, &slow_exporter, args.concurrent).await?;
    drop(slow_exporter);

    floors.sort_unstable();
    scrapes.sort_unstable();
    Ok(Row {
        sessions: n,
        body_bytes,
        floor_median: floors[floors.len() / 2],
        scrape_median: scrapes[scrapes.len() / 2],
        scrape_p90: scrapes[(scrapes.len() * 9).div_ceil(10) - 1],
        idle_rss_kib,
        peak_rss_kib,
        at_loopback_speed,
        slow_api,
    })
}

/// A burst of `concurrent` scrapes, all released at once on connections
/// opened beforehand, so that they are concurrent at the exporter and not
/// spread over the time it takes to open them.
async fn burst(
    simulator: &Simulator,
    exporter: &Exporter,
    concurrent: usize,
) -> Result<Burst, String> {
    let client = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(|e| format!("cannot build the client: {e}"))?;
    let health_url = format!("http://{}/-/healthy", exporter.address);
    let metrics_url = format!("http://{}/metrics", exporter.address);
    let opened: Vec<_> = (0..concurrent)
        .map(|_| tokio::spawn(client.get(&health_url).send()))
        .collect();
    for open in opened {
        let _ = open.await;
    }
    let before = simulator.requests();
    let gate = Arc::new(tokio::sync::Barrier::new(concurrent));
    let tasks: Vec<_> = (0..concurrent)
        .map(|_| {
            let client = client.clone();
            let url = metrics_url.clone();
            let gate = Arc::clone(&gate);
            tokio::spawn(async move {
                gate.wait().await;
                scrape(&client, &url).await
            })
        })
        .collect();
    let mut up = 0;
    for task in tasks {
        if matches!(task.await, Ok(Ok(()))) {
            up += 1;
        }
    }
    Ok(Burst {
        up,
        api_requests: simulator.requests() - before,
    })
}

/// The floor: the body fetched with the same HTTP stack and skimmed by serde_json.
async fn floor(client: &reqwest::Client, url: &str, key: &str) -> Result<(), String> {
    let response = client
        .get(url)
        .bearer_auth(key)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| format!("GET {url}: {e}"))?;
    let body = response
        .bytes()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    serde_json::from_slice::<IgnoredAny>(&body).map_err(|e| format!("GET {url}: {e}"))?;
    Ok(())
}

/// One `/metrics` scrape, as Prometheus sends it (gzip accepted), which must
/// report `agi_up 1`.
async fn scrape(client: &reqwest::Client, url: &str) -> Result<(), String> {
    let response = client
        .get(url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| format!("GET {url}: {e}"))?;
    let body = response
        .text()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    if !body.lines().any(|line| line == "agi_up 1") {
        return Err(format!("GET {url}: no `agi_up 1` in the exposition"));
    }
    Ok(())
}

/// The exporter process; killed when dropped.
struct Exporter {
    child: Child,
    address: SocketAddr,
}

impl Exporter {
    fn start(binary: &PathBuf, simulator: &Simulator) -> Result<Self, String> {
        let mut child = Command::new(binary)
            .args(["--api.url", &simulator.url()])
            .args(["--web.listen-address", "127.0.0.1:0"])
            // No 503s: the burst measures coalescing, not the request limit.
            .args(["--web.max-requests", "0"])
            .env("AGI_API_KEY", simulator.key())
            .env_remove("AGI_API_KEY_FILE")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let Some(stderr) = child.stderr.take() else {
            let _ = child.kill();
            return Err("no stderr pipe".to_owned());
        };
        // Read its log on a thread, which keeps draining it after the
        // listening line so that the exporter never blocks on a full pipe.
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(address) = listening_address(&line) {
                    let _ = sender.send(address);
                } else if line.contains("level=warn") || line.contains("level=error") {
                    eprintln!("exporter: {line}");
                }
            }
        });
        let mut exporter = Exporter {
            child,
            address: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        exporter.address = receiver
            .recv_timeout(START_TIMEOUT)
            .map_err(|_| "the exporter did not log its listening address".to_owned())?;
        Ok(exporter)
    }

    /// A `kB` line of `/proc/PID/status`, such as `VmRSS` or `VmHWM`.
    fn status_kib(&self, field: &str) -> Result<u64, String> {
        let path = format!("/proc/{}/status", self.child.id());
        let status = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
        status
            .lines()
            .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|value| value.trim().strip_suffix("kB"))
            .and_then(|kib| kib.trim().parse().ok())
            .ok_or(format!("no {field} in {path}"))
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address in the exporter's `msg=listening address=...` log line.
fn listening_address(line: &str) -> Option<SocketAddr> {
    if !line.contains("listening") {
        return None;
    }
    let value = line.split("address=").nth(1)?;
    let value = value.trim_start_matches('"');
    let end = value
        .find(|c: char| c == '"' || c.is_whitespace() || c == '\u{1b}')
        .unwrap_or(value.len());
    value[..end].parse().ok()
}

impl Burst {
    fn describe(&self, concurrent: usize) -> String {
        format!(
            "{} ({} of {concurrent} answered `agi_up 1`)",
            self.api_requests, self.up
        )
    }
}

fn print_table(args: &Args, rows: &[Row]) {
    let mib = |bytes: f64| bytes / (1024.0 * 1024.0);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "| sessions | body | GET + IgnoredAny (median) | /metrics scrape (median) | scrape p90 | ratio (medians) | idle RSS | peak RSS | peak bar (3x body + 20 MiB) | {0} concurrent scrapes: API requests | same, API answering in {1} ms |",
        args.concurrent,
        SLOW_API.as_millis(),
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        let bar = 3.0 * mib(row.body_bytes as f64) + 20.0;
        println!(
            "| {} | {:.1} MiB | {:.2} ms | {:.2} ms | {:.2} ms | {:.2}x | {:.1} MiB | {:.1} MiB | {:.1} MiB | {} | {} |",
            row.sessions,
            mib(row.body_bytes as f64),
            ms(row.floor_median),
            ms(row.scrape_median),
            ms(row.scrape_p90),
            row.scrape_median.as_secs_f64() / row.floor_median.as_secs_f64(),
            row.idle_rss_kib as f64 / 1024.0,
            row.peak_rss_kib as f64 / 1024.0,
            bar,
            row.at_loopback_speed.describe(args.concurrent),
            row.slow_api.describe(args.concurrent),
        );
    }
    println!();
    println!(
        "{} sequential scrapes per size, interleaved with as many floor requests; exporter flags: defaults plus --web.max-requests 0.",
        args.scrapes
    );
}
