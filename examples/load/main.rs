//! Load test of the release binary against the simulator, on loopback only.
//!
//! For each body shape (`--shapes`: the docs' four fields, about 135 bytes
//! a session, and the SDKs' nine, about 500 bytes; or both interleaved) and
//! each size, it generates that many sessions once and starts three
//! simulated APIs serving them (in this process, sharing the body's bytes):
//! one answering plain JSON, one answering gzip when asked, and one
//! answering plain JSON that writes every session differently at every
//! other answer (`SimOptions::respaced`: the same fields, a space more), so
//! that the exporter fetching from it recalls no session and reads every
//! one, as when every session changed since the previous fetch. It starts
//! the exporter binary against each
//! (`--web.listen-address 127.0.0.1:0`, the port read from its `listening`
//! log line), and measures, all in the same run:
//!
//! - the floors, with the most efficient plain client this machine runs
//!   rather than the exporter's own ([`Floor`]): a keep-alive GET of the
//!   body read straight into one buffer, and the same GET of the gzip body
//!   inflated as it arrives with the exporter's inflater (flate2, zlib-rs);
//! - sequential `/metrics` scrapes of each exporter, interleaved with its
//!   floor so both see the same machine noise: medians, and their ratio
//!   (the bars of docs/performance.md at 100,000 sessions: plain at most
//!   1.25x its floor on the SDKs' shape and 2x on the docs', gzip at most
//!   1.1x); the exporter of the changing API against the plain floor;
//! - the exporter's CPU time per scrape (`/proc/PID/stat`), also per MB of
//!   body, idle RSS
//!   (`VmRSS` before any scrape), RSS between fetches once the scrapes are
//!   done (`VmRSS` again) and peak RSS (`VmHWM` after the scrapes);
//! - `/-/healthy` latency while folds are under way: probes on their own
//!   connection, one after another, for as long as each of a few scrapes
//!   lasts (p99 of all probes);
//! - how many API requests the simulator received for a burst of concurrent
//!   scrapes (200 concurrent scrapes cause one API request), once with the
//!   simulator answering at loopback speed and once with it answering in
//!   50 ms, as a real API a network round trip away does.
//!
//! It prints a markdown table, a row per shape and size. Every loop is
//! bounded; the exporters are killed when a size is done, or if this
//! program fails.
//!
//! With `--accounts N`, it measures instead many accounts in one exporter
//! (`--config.file`), each probed every 15 s ([`accounts`]). What both
//! share, the exporter process and the client, is in [`exporter`].
//!
//! `scripts/load` builds the binary and this example in release mode and
//! runs it; run that rather than this directly.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use agi_exporter::demo::{Shape, SimOptions, Simulator, population_body};
use flate2::{Decompress, FlushDecompress};

mod accounts;
mod exporter;
use exporter::{Exporter, REQUEST_TIMEOUT, TICK, new_client, scrape, start_simulator};

const USAGE: &str = "usage: load --exporter PATH [--exporter PATH...] [--shapes docs,sdk] [--sessions 10000,100000,1000000] [--scrapes 20] [--concurrent 200]
       load --exporter PATH [--exporter PATH...] --accounts 100 [--rounds 4] [--shapes docs] [--sessions 1000]";

/// Scrapes during which `/-/healthy` is probed.
const PROBED_SCRAPES: usize = 3;

/// How long the simulated API takes to answer in the second burst.
const SLOW_API: Duration = Duration::from_millis(50);

#[derive(Debug)]
struct Args {
    /// The builds measured, one after another in the same run (a build
    /// against the one before it, say).
    exporters: Vec<PathBuf>,
    /// How the sessions are written: `docs`, `sdk` or `mixed`.
    shapes: Vec<Shape>,
    sessions: Vec<usize>,
    /// Sequential scrapes per exporter, and the burst's concurrent ones.
    scrapes: usize,
    concurrent: usize,
    /// With `--accounts`: the many-accounts measurement instead.
    accounts: Option<accounts::Settings>,
}

/// One build's, shape's and size's results.
#[derive(Debug)]
struct Row {
    /// The binary's file name.
    build: String,
    shape: Shape,
    sessions: usize,
    body_bytes: usize,
    gzip_bytes: usize,
    plain: Encoding,
    /// Plain scrapes of an API that writes every session differently at
    /// every fetch, against the plain floor.
    changing: Encoding,
    gzip: Encoding,
    idle_rss_kib: u64,
    /// `VmRSS` between fetches once all the scrapes are done: what the
    /// exporter keeps (the tracker's baseline, the chunk buffers, what the
    /// allocator holds on to).
    after_rss_kib: u64,
    /// `VmHWM` of the plain, the changing and the gzip exporter after their
    /// scrapes.
    peak_rss_kib: [u64; 3],
    /// `VmHWM` of the plain exporter after the burst of concurrent scrapes
    /// (each renders an exposition of its own).
    burst_peak_rss_kib: u64,
    /// `/-/healthy` latency, p99, while folds were under way.
    healthy_p99: Duration,
    /// A burst against the simulator answering as fast as it can.
    at_loopback_speed: Burst,
    /// A burst against the simulator answering in [`SLOW_API`].
    slow_api: Burst,
}

/// Scrapes of one encoding against their floor.
#[derive(Debug)]
struct Encoding {
    floor_median: Duration,
    scrape_median: Duration,
    /// The exporter's CPU time per scrape.
    cpu_per_scrape: Duration,
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
    if let Some(settings) = &args.accounts {
        return accounts::run(&runtime, &args, settings);
    }
    let mut rows = Vec::new();
    for &shape in &args.shapes {
        for &n in &args.sessions {
            for exporter in &args.exporters {
                let build = exporter
                    .file_name()
                    .map_or_else(String::new, |name| name.to_string_lossy().into_owned());
                eprintln!("load: {n} sessions, {shape} shape, {build}...");
                match runtime.block_on(measure(&args, exporter, shape, n)) {
                    Ok(row) => rows.push(Row { build, ..row }),
                    Err(message) => {
                        eprintln!("load: {n} sessions, {shape} shape, {build}: {message}");
                        return ExitCode::FAILURE;
                    }
                }
            }
        }
    }
    print_table(&args, &rows);
    ExitCode::SUCCESS
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut exporters = Vec::new();
    let (mut shapes, mut sessions) = (None, None);
    let (mut scrapes, mut concurrent, mut accounts, mut rounds) = (None, None, None, None);
    let number = |flag: &str, value: String| {
        value
            .trim()
            .replace('_', "")
            .parse::<usize>()
            .map_err(|e| format!("{flag}: {e}"))
    };
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--exporter" => exporters.push(PathBuf::from(value()?)),
            "--shapes" => {
                shapes = Some(
                    value()?
                        .split(',')
                        .map(|shape| shape.trim().parse::<Shape>())
                        .collect::<Result<_, _>>()
                        .map_err(|e| format!("--shapes: {e}"))?,
                );
            }
            "--sessions" => {
                sessions = Some(
                    value()?
                        .split(',')
                        .map(|n| number(&flag, n.to_owned()))
                        .collect::<Result<_, _>>()?,
                );
            }
            "--scrapes" => scrapes = Some(number(&flag, value()?)?),
            "--concurrent" => concurrent = Some(number(&flag, value()?)?),
            "--accounts" => accounts = Some(number(&flag, value()?)?),
            "--rounds" => rounds = Some(number(&flag, value()?)?),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if exporters.is_empty() {
        return Err("--exporter is required".to_owned());
    }
    let accounts = match (accounts, rounds) {
        (Some(_), _) if scrapes.is_some() || concurrent.is_some() => {
            return Err(
                "--scrapes and --concurrent measure one account; with --accounts, give --rounds"
                    .to_owned(),
            );
        }
        (Some(accounts), rounds) => {
            let rounds = rounds.unwrap_or(4);
            if !(1..=1_000).contains(&accounts) || !(1..=100).contains(&rounds) {
                return Err("--accounts must be 1 to 1000, --rounds 1 to 100".to_owned());
            }
            Some(accounts::Settings { accounts, rounds })
        }
        (None, Some(_)) => return Err("--rounds needs --accounts".to_owned()),
        (None, None) => None,
    };
    let (scrapes, concurrent) = (scrapes.unwrap_or(20), concurrent.unwrap_or(200));
    if scrapes == 0 || scrapes > 1_000 || concurrent > 1_000 {
        return Err("--scrapes must be 1 to 1000, --concurrent at most 1000".to_owned());
    }
    let (default_shapes, default_sessions) = if accounts.is_some() {
        (vec![Shape::Docs], vec![1_000])
    } else {
        (
            vec![Shape::Docs, Shape::Sdk],
            vec![10_000, 100_000, 1_000_000],
        )
    };
    Ok(Args {
        exporters,
        shapes: shapes.unwrap_or(default_shapes),
        sessions: sessions.unwrap_or(default_sessions),
        scrapes,
        concurrent,
        accounts,
    })
}

async fn measure(args: &Args, exporter: &Path, shape: Shape, n: usize) -> Result<Row, String> {
    // Generated once, its bytes shared by every simulator of the size (a
    // million SDK-shaped sessions are about 500 MB).
    let generated = SimOptions::generated(n, shape);
    let body = population_body(generated.population, generated.seed);
    let serving = || SimOptions::serving(body.clone());
    let plain_api = start_simulator(serving()).await?;
    let gzip_api = start_simulator(SimOptions {
        gzip: true,
        ..serving()
    })
    .await?;
    let changing_api = start_simulator(SimOptions {
        respaced: true,
        ..serving()
    })
    .await?;
    let body_bytes = plain_api.body().len();
    let plain = start_exporter(exporter, &plain_api)?;
    let gzip = start_exporter(exporter, &gzip_api)?;
    let changing = start_exporter(exporter, &changing_api)?;
    // Let it settle: the runtime's threads and the allocator's arenas exist
    // once the listening line is out, but give them a moment.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let idle_rss_kib = plain.status_kib("VmRSS")?;

    let client = new_client()?;
    let mut plain_floor = Floor::connect(&plain_api, false)?;
    let mut gzip_floor = Floor::connect(&gzip_api, true)?;
    // One of each first: connections, the simulator's gzip of the body, and
    // the exporters' first allocations.
    plain_floor.get().await?;
    let gzip_bytes = gzip_floor.get().await?;
    scrape(&client, &plain.metrics_url()).await?;
    scrape(&client, &gzip.metrics_url()).await?;
    scrape(&client, &changing.metrics_url()).await?;

    let plain_result = compare(args, &client, &plain, &mut plain_floor).await?;
    // Only the exporter asks the changing API, so that each of its fetches
    // gets the other spacing; the floor is the plain API's, the same
    // sessions within a byte each.
    let changing_result = compare(args, &client, &changing, &mut plain_floor).await?;
    let gzip_result = compare(args, &client, &gzip, &mut gzip_floor).await?;
    let healthy_p99 = healthy_during_folds(&client, &plain).await?;
    let mut peak_rss_kib = [0; 3];
    let mut after_rss_kib = 0;
    for (peak, exporter) in peak_rss_kib.iter_mut().zip([&plain, &changing, &gzip]) {
        *peak = exporter.status_kib("VmHWM")?;
        after_rss_kib = after_rss_kib.max(exporter.status_kib("VmRSS")?);
    }
    let at_loopback_speed = burst(&plain_api, &plain, args.concurrent).await?;
    let burst_peak_rss_kib = plain.status_kib("VmHWM")?;
    drop((plain, gzip, changing, plain_api, gzip_api, changing_api));
    // A real API is a network round trip away: with one that answers in
    // 50 ms, every scrape of the burst arrives while the fetch is under way.
    let slow_api = start_simulator(SimOptions {
        latency: SLOW_API,
        ..serving()
    })
    .await?;
    let slow_exporter = start_exporter(exporter, &slow_api)?;
    let slow = burst(&slow_api, &slow_exporter, args.concurrent).await?;

    Ok(Row {
        build: String::new(),
        shape,
        sessions: n,
        body_bytes,
        gzip_bytes,
        plain: plain_result,
        changing: changing_result,
        gzip: gzip_result,
        idle_rss_kib,
        after_rss_kib,
        peak_rss_kib,
        burst_peak_rss_kib,
        healthy_p99,
        at_loopback_speed,
        slow_api: slow,
    })
}

/// `binary` in single-account mode against `simulator`.
fn start_exporter(binary: &Path, simulator: &Simulator) -> Result<Exporter, String> {
    Exporter::start(
        binary,
        // No 503s: the burst measures coalescing, not the request limit.
        &["--api.url", &simulator.url(), "--web.max-requests", "0"],
        &[("AGI_API_KEY", simulator.key())],
    )
}

/// Scrapes interleaved with floors: the medians, and the exporter's CPU
/// time per scrape.
async fn compare(
    args: &Args,
    client: &reqwest::Client,
    exporter: &Exporter,
    floor: &mut Floor,
) -> Result<Encoding, String> {
    let mut floors = Vec::with_capacity(args.scrapes);
    let mut scrapes = Vec::with_capacity(args.scrapes);
    let mut cpu = Duration::ZERO;
    for _ in 0..args.scrapes {
        let started = Instant::now();
        floor.get().await?;
        floors.push(started.elapsed());
        let ticks = exporter.cpu_ticks()?;
        let started = Instant::now();
        scrape(client, &exporter.metrics_url()).await?;
        scrapes.push(started.elapsed());
        cpu += TICK * u32::try_from(exporter.cpu_ticks()? - ticks).unwrap_or(u32::MAX);
    }
    floors.sort_unstable();
    scrapes.sort_unstable();
    Ok(Encoding {
        floor_median: floors[floors.len() / 2],
        scrape_median: scrapes[scrapes.len() / 2],
        cpu_per_scrape: cpu / u32::try_from(args.scrapes).unwrap_or(1),
    })
}

/// `/-/healthy` probed one after another on a connection of its own while
/// each of [`PROBED_SCRAPES`] scrapes is under way: the p99 latency.
async fn healthy_during_folds(
    client: &reqwest::Client,
    exporter: &Exporter,
) -> Result<Duration, String> {
    let probe = new_client()?;
    let health_url = format!("http://{}/-/healthy", exporter.address);
    probe
        .get(&health_url)
        .send()
        .await
        .map_err(|e| format!("{health_url}: {e}"))?;
    let mut latencies = Vec::new();
    for _ in 0..PROBED_SCRAPES {
        let scraping = tokio::spawn({
            let client = client.clone();
            let url = exporter.metrics_url();
            async move { scrape(&client, &url).await }
        });
        while !scraping.is_finished() {
            let started = Instant::now();
            let response = probe
                .get(&health_url)
                .send()
                .await
                .map_err(|e| format!("{health_url}: {e}"))?;
            if !response.status().is_success() {
                return Err(format!("{health_url}: {}", response.status()));
            }
            latencies.push(started.elapsed());
        }
        scraping.await.map_err(|e| e.to_string())??;
    }
    latencies.sort_unstable();
    Ok(latencies[(latencies.len() * 99).div_ceil(100).max(1) - 1])
}

/// A burst of `concurrent` scrapes, all released at once on connections
/// opened beforehand, so that they are concurrent at the exporter and not
/// spread over the time it takes to open them.
async fn burst(
    simulator: &Simulator,
    exporter: &Exporter,
    concurrent: usize,
) -> Result<Burst, String> {
    let client = new_client()?;
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

/// The floor: the most efficient plain client this machine runs, not the
/// exporter's own. One keep-alive connection, a GET written by hand, and
/// the answer read with blocking reads straight into one buffer that is
/// kept from one request to the next (so no page is mapped anew); with
/// `gzip`, asked for in gzip and inflated as it arrives, with the
/// exporter's inflater (flate2, zlib-rs), into one reused buffer. Nothing
/// else is done with the bytes.
struct Floor {
    /// The connection and the buffer, moved to a blocking thread for each
    /// request.
    state: Option<(std::net::TcpStream, Vec<u8>)>,
    host: String,
    request: Vec<u8>,
    gzip: bool,
}

impl Floor {
    fn connect(api: &Simulator, gzip: bool) -> Result<Self, String> {
        let host = api.url().trim_start_matches("http://").to_owned();
        let encoding = if gzip {
            "accept-encoding: gzip\r\n"
        } else {
            ""
        };
        let request = format!(
            "GET /v1/sessions HTTP/1.1\r\nhost: {host}\r\nauthorization: Bearer {}\r\n{encoding}\r\n",
            api.key()
        );
        Ok(Floor {
            state: Some((open(&host)?, Vec::new())),
            host,
            request: request.into_bytes(),
            gzip,
        })
    }

    /// One request; returns the body's bytes as received. A connection the
    /// API closed while it was idle (its keep-alive timeout) is opened
    /// again first, as any client does.
    async fn get(&mut self) -> Result<usize, String> {
        let (stream, buffer) = self.state.take().ok_or("the floor's connection broke")?;
        let (host, request, gzip) = (self.host.clone(), self.request.clone(), self.gzip);
        let (stream, buffer, received) = tokio::task::spawn_blocking(move || {
            let mut stream = stream;
            let mut buffer = buffer;
            if closed(&stream) {
                stream = open(&host)?;
            }
            let received = raw_get(&mut stream, &request, &mut buffer, gzip)?;
            Ok::<_, String>((stream, buffer, received))
        })
        .await
        .map_err(|e| e.to_string())??;
        self.state = Some((stream, buffer));
        Ok(received)
    }
}

/// A connection to `host`, bounded by [`REQUEST_TIMEOUT`].
fn open(host: &str) -> Result<std::net::TcpStream, String> {
    let stream = std::net::TcpStream::connect(host).map_err(|e| format!("{host}: {e}"))?;
    stream
        .set_nodelay(true)
        .and_then(|()| stream.set_read_timeout(Some(REQUEST_TIMEOUT)))
        .map_err(|e| format!("{host}: {e}"))?;
    Ok(stream)
}

/// Whether the other side closed `stream` (nothing is due on it between
/// two requests).
fn closed(stream: &std::net::TcpStream) -> bool {
    let mut byte = [0];
    let _ = stream.set_nonblocking(true);
    let closed = matches!(stream.peek(&mut byte), Ok(0));
    let _ = stream.set_nonblocking(false);
    closed
}

/// Writes `request` and reads its answer (headers and a body of the
/// `content-length` they give) into `buffer`, inflating the body as it
/// arrives when `gzip`; returns the body's length as received.
fn raw_get(
    stream: &mut std::net::TcpStream,
    request: &[u8],
    buffer: &mut Vec<u8>,
    gzip: bool,
) -> Result<usize, String> {
    use std::io::{Read, Write};
    const ROOM: usize = 1 << 20;
    stream.write_all(request).map_err(|e| e.to_string())?;
    let mut inflater = gzip.then(|| (Decompress::new_gzip(15), vec![0; 256 * 1024]));
    let (mut filled, mut inflated_to) = (0, 0);
    let mut body: Option<(usize, usize)> = None;
    loop {
        if let Some((start, len)) = body {
            if let Some((decompress, out)) = &mut inflater {
                while inflated_to < filled {
                    let before = (decompress.total_in(), decompress.total_out());
                    decompress
                        .decompress(&buffer[inflated_to..filled], out, FlushDecompress::None)
                        .map_err(|e| e.to_string())?;
                    let read = usize::try_from(decompress.total_in() - before.0).unwrap_or(0);
                    inflated_to += read;
                    if read == 0 && decompress.total_out() == before.1 {
                        break;
                    }
                }
                inflated_to = inflated_to.max(start);
            }
            if filled >= start + len {
                return Ok(len);
            }
        }
        if buffer.len() - filled < ROOM {
            buffer.resize(buffer.len() + 16 * ROOM, 0);
        }
        let read = stream
            .read(&mut buffer[filled..])
            .map_err(|e| e.to_string())?;
        if read == 0 {
            return Err("the API closed the connection".to_owned());
        }
        filled += read;
        if body.is_none()
            && let Some(end) = buffer[..filled].windows(4).position(|w| w == b"\r\n\r\n")
        {
            let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|len| len.trim().parse().ok())
                .ok_or("no content-length in the API's answer")?;
            body = Some((end + 4, len));
            inflated_to = end + 4;
        }
    }
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
    let ratio = |e: &Encoding| e.scrape_median.as_secs_f64() / e.floor_median.as_secs_f64();
    // CPU milliseconds per megabyte of (inflated) body.
    let per_mb = |e: &Encoding, row: &Row| ms(e.cpu_per_scrape) / (row.body_bytes as f64 / 1e6);
    println!(
        "| build | shape | sessions | body (gzip) | plain: GET floor | plain: scrape | plain: ratio | every session changed: scrape | its ratio | gzip: GET + inflate floor | gzip: scrape | gzip: ratio | CPU per scrape (plain, changed, gzip) | CPU per MB of body (plain, changed, gzip) |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        println!(
            "| {} | {} | {} | {:.1} MiB ({:.1} MiB) | {:.2} ms | {:.2} ms | {:.2}x | {:.2} ms | {:.2}x | {:.2} ms | {:.2} ms | {:.2}x | {:.0} ms, {:.0} ms, {:.0} ms | {:.2} ms, {:.2} ms, {:.2} ms |",
            row.build,
            row.shape,
            row.sessions,
            mib(row.body_bytes as f64),
            mib(row.gzip_bytes as f64),
            ms(row.plain.floor_median),
            ms(row.plain.scrape_median),
            ratio(&row.plain),
            ms(row.changing.scrape_median),
            ratio(&row.changing),
            ms(row.gzip.floor_median),
            ms(row.gzip.scrape_median),
            ratio(&row.gzip),
            ms(row.plain.cpu_per_scrape),
            ms(row.changing.cpu_per_scrape),
            ms(row.gzip.cpu_per_scrape),
            per_mb(&row.plain, row),
            per_mb(&row.changing, row),
            per_mb(&row.gzip, row),
        );
    }
    println!();
    println!(
        "| build | shape | sessions | idle RSS | RSS between fetches after the scrapes | peak RSS (plain, changed, gzip) | peak RSS after {0} concurrent scrapes | `/-/healthy` p99 during folds | {0} concurrent scrapes: API requests | same, API answering in {1} ms |",
        args.concurrent,
        SLOW_API.as_millis(),
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mib = |kib: u64| kib as f64 / 1024.0;
    for row in rows {
        let [plain, changed, gzip] = row.peak_rss_kib.map(mib);
        println!(
            "| {} | {} | {} | {:.1} MiB | {:.1} MiB | {plain:.1}, {changed:.1}, {gzip:.1} MiB | {:.1} MiB | {:.2} ms | {} | {} |",
            row.build,
            row.shape,
            row.sessions,
            mib(row.idle_rss_kib),
            mib(row.after_rss_kib),
            mib(row.burst_peak_rss_kib),
            ms(row.healthy_p99),
            row.at_loopback_speed.describe(args.concurrent),
            row.slow_api.describe(args.concurrent),
        );
    }
    println!();
    println!(
        "{} sequential scrapes per shape, size and encoding, interleaved with as many floor requests (a keep-alive GET written by hand, read with blocking reads into one buffer kept between requests; gzip inflated as it arrives into one reused buffer); `/-/healthy` probed during {PROBED_SCRAPES} more; exporter flags: defaults plus --web.max-requests 0; CPU from /proc in 10 ms ticks.",
        args.scrapes
    );
}
