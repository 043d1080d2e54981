//! The harness the integration tests share: start the real `agi_exporter`
//! binary on 127.0.0.1 port 0 against a simulated AGI API, talk to it over
//! HTTP, read what it logged, stop it with a signal, and compare
//! expositions with a readable diff.
//!
//! Every wait here is bounded by a deadline and polls; nothing sleeps to
//! assert on timing. Each test starts its own simulator and exporter on
//! ephemeral ports, so tests run in parallel safely.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use agi_exporter::demo::{Behaviour, Population, SimOptions, Simulator};

/// The key the simulators accept and the exporters send, unless a test
/// needs its own.
pub const KEY: &str = "test-key-4f1c2a";

/// The session the SPEC documents as its example.
pub const SPEC_SESSION: &str = r#"{"session_id":"f6a7b0e6-7f46-4a0d-9a47-92b7f0a4d2d3","agent_name":"agi-0","status":"running","created_at":"2025-10-05T18:04:34.281Z"}"#;

/// The seven documented statuses, in the order the SPEC lists them.
pub const DOCUMENTED_STATUSES: [&str; 7] = [
    "initializing",
    "ready",
    "running",
    "paused",
    "completed",
    "error",
    "terminated",
];

/// The exporter's own families, present on every scrape (SPEC section 3,
/// `process_*` aside).
pub const EXPORTER_FAMILIES: [&str; 9] = [
    "agi_up",
    "agi_session_transitions_total",
    "agi_scrape_duration_seconds",
    "agi_api_requests_total",
    "agi_api_request_failures_total",
    "agi_api_request_duration_seconds",
    "agi_api_last_success_timestamp_seconds",
    "agi_invalid_session_fields_total",
    "agi_exporter_build_info",
];

/// The families that describe one fetch, absent when it failed (no stale
/// numbers).
pub const SESSION_FAMILIES: [&str; 4] = [
    "agi_sessions",
    "agi_agent_sessions",
    "agi_oldest_session_age_seconds",
    "agi_session_age_seconds",
];

/// How long the exporter may take to start listening or to exit.
pub const STARTUP_DEADLINE: Duration = Duration::from_secs(15);

/// How often bounded waits look again.
const POLL: Duration = Duration::from_millis(20);

/// Starts a simulator that accepts [`KEY`] and does not evolve.
pub async fn simulator(population: Population) -> Simulator {
    simulator_with_key(population, KEY).await
}

/// Starts a simulator that accepts `key` and does not evolve.
pub async fn simulator_with_key(population: Population, key: &str) -> Simulator {
    Simulator::start(SimOptions {
        key: key.to_owned(),
        population,
        evolve: false,
        seed: 7,
    })
    .await
    .expect("the simulator starts")
}

/// A simulator that answers with the SPEC's example list.
pub async fn spec_example_api() -> Simulator {
    let sim = simulator(Population::Empty).await;
    sim.set_behaviour(Behaviour::json(format!("[{SPEC_SESSION}]")));
    sim
}

/// A loopback address nothing listens on: bound, then released.
pub fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let address = listener.local_addr().expect("local address");
    drop(listener);
    format!("http://{address}")
}

/// Output collected from a child's stdout or stderr by a background thread.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn follow(&self, mut pipe: impl Read + Send + 'static) -> JoinHandle<()> {
        let buffer = Arc::clone(&self.0);
        std::thread::spawn(move || {
            let mut chunk = [0u8; 8192];
            loop {
                match pipe.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buffer
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .extend_from_slice(&chunk[..n]),
                }
            }
        })
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

/// The `agi_exporter` binary with a clean environment: no `AGI_*` or proxy
/// variables leak in from the machine running the tests.
pub fn command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_agi_exporter"));
    for (name, _) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        let lower = name.to_ascii_lowercase();
        if name.starts_with("AGI_") || lower.ends_with("_proxy") || lower == "rust_backtrace" {
            command.env_remove(name);
        }
    }
    command
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// A running `agi_exporter` process whose output is being collected.
pub struct Process {
    child: Child,
    stdout: Captured,
    stderr: Captured,
    readers: Vec<JoinHandle<()>>,
    status: Option<ExitStatus>,
}

impl Process {
    /// Spawns the binary with these flags and environment.
    pub fn spawn(args: &[&str], env: &[(&str, &str)]) -> Process {
        let mut child = command(args, env)
            .spawn()
            .expect("the agi_exporter binary starts");
        let stdout = Captured::default();
        let stderr = Captured::default();
        let readers = vec![
            stdout.follow(child.stdout.take().expect("piped stdout")),
            stderr.follow(child.stderr.take().expect("piped stderr")),
        ];
        Process {
            child,
            stdout,
            stderr,
            readers,
            status: None,
        }
    }

    /// Everything written to stdout so far.
    pub fn stdout_text(&self) -> String {
        self.stdout.text()
    }

    /// Everything written to stderr so far.
    pub fn stderr_text(&self) -> String {
        self.stderr.text()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status, if it has exited.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().expect("try_wait");
        }
        self.status
    }

    /// Waits (without blocking the async runtime) for the process to exit,
    /// then for its output to be fully read. `None` if it is still running
    /// after `within`.
    pub async fn wait_for_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.try_status() {
                // The pipes close when the process exits: the readers finish.
                for reader in self.readers.drain(..) {
                    let _ = tokio::task::spawn_blocking(move || reader.join()).await;
                }
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Sends a signal with the `kill` command.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("the kill command runs");
        assert!(status.success(), "kill -{name} {} failed", self.pid());
    }

    /// Waits until stderr has a line containing every one of `needles`;
    /// returns that line. Panics with the whole log after `within`.
    pub async fn wait_for_log_line(&self, needles: &[&str], within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let text = self.stderr_text();
            if let Some(line) = text
                .lines()
                .find(|line| needles.iter().all(|n| line.contains(n)))
            {
                return line.to_owned();
            }
            if Instant::now() >= deadline {
                panic!("no log line containing {needles:?} within {within:?}; stderr:\n{text}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Lines of stderr containing every one of `needles`.
    pub fn log_lines(&self, needles: &[&str]) -> Vec<String> {
        self.stderr_text()
            .lines()
            .filter(|line| needles.iter().all(|n| line.contains(n)))
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.try_status().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// What a process printed and how it ended.
#[derive(Debug)]
pub struct Finished {
    /// Its exit status.
    pub status: ExitStatus,
    /// Its stdout.
    pub stdout: String,
    /// Its stderr.
    pub stderr: String,
}

impl Finished {
    /// The exit code (`None` if killed by a signal).
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
}

/// Runs the binary to completion (bounded by [`STARTUP_DEADLINE`]).
pub async fn run(args: &[&str], env: &[(&str, &str)]) -> Finished {
    let mut process = Process::spawn(args, env);
    let Some(status) = process.wait_for_exit(STARTUP_DEADLINE).await else {
        panic!(
            "agi_exporter {args:?} still running after {STARTUP_DEADLINE:?}; stderr:\n{}",
            process.stderr_text()
        );
    };
    Finished {
        status,
        stdout: process.stdout_text(),
        stderr: process.stderr_text(),
    }
}

/// An HTTP answer, read whole.
#[derive(Debug)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
    /// The body as received (not decompressed).
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header's value, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A plain-HTTP client that sends exactly what a test asks for: no proxy,
/// no automatic `Accept-Encoding` or decompression.
pub fn http_client() -> reqwest::Client {
    // reqwest is built with rustls but without a crypto provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .no_gzip()
        .timeout(Duration::from_secs(20))
        // The exporter closes a connection that sends no request for 10 s
        // (its header read timeout). Go's client, which Prometheus uses,
        // retries a GET that races such a close; reqwest does not, so drop
        // idle connections well before that instead.
        .pool_idle_timeout(Duration::from_secs(5))
        .build()
        .expect("the test HTTP client builds")
}

/// A running exporter that is serving HTTP.
pub struct Exporter {
    process: Process,
    address: SocketAddr,
    client: reqwest::Client,
}

impl std::ops::Deref for Exporter {
    type Target = Process;

    fn deref(&self) -> &Process {
        &self.process
    }
}

impl std::ops::DerefMut for Exporter {
    fn deref_mut(&mut self) -> &mut Process {
        &mut self.process
    }
}

impl Exporter {
    /// Starts the binary with `args` (which should include
    /// `--web.listen-address 127.0.0.1:0`) and waits for it to log the
    /// address it listens on.
    pub async fn start(args: &[&str], env: &[(&str, &str)]) -> Exporter {
        let mut process = Process::spawn(args, env);
        let deadline = Instant::now() + STARTUP_DEADLINE;
        let address = loop {
            let log = process.stderr_text();
            if let Some(address) = listening_address(&log) {
                break address;
            }
            if let Some(status) = process.try_status() {
                panic!(
                    "agi_exporter {args:?} exited with {status} before listening; stderr:\n{log}"
                );
            }
            if Instant::now() >= deadline {
                panic!(
                    "agi_exporter {args:?} not listening after {STARTUP_DEADLINE:?}; stderr:\n{log}"
                );
            }
            tokio::time::sleep(POLL).await;
        };
        Exporter {
            process,
            address,
            client: http_client(),
        }
    }

    /// Starts an exporter for `api_url` with [`KEY`] and extra flags.
    pub async fn for_api(api_url: &str, extra: &[&str]) -> Exporter {
        let mut args = vec!["--web.listen-address", "127.0.0.1:0", "--api.url", api_url];
        args.extend_from_slice(extra);
        Exporter::start(&args, &[("AGI_API_KEY", KEY)]).await
    }

    /// The base URL it serves on, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The address it serves on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The test client, for requests `get` does not cover.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Starts a scrape of `/metrics` in the background; it yields the
    /// status and the body. For scrapes that must overlap.
    pub fn spawn_scrape(&self) -> tokio::task::JoinHandle<(u16, String)> {
        let request = self.client.get(format!("{}/metrics", self.url()));
        tokio::spawn(async move {
            let response = request.send().await.expect("the scrape is answered");
            let status = response.status().as_u16();
            (status, response.text().await.expect("the body is read"))
        })
    }

    /// Sends a request built from `request` and reads the whole answer.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("the exporter answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.expect("the body is read").to_vec();
        Reply {
            status,
            headers,
            body,
        }
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.client.get(format!("{}{path}", self.url())))
            .await
    }

    /// `GET /metrics`, which must answer 200; returns the exposition.
    pub async fn scrape(&self) -> String {
        self.scrape_path("/metrics").await
    }

    /// `GET path`, which must answer 200 with a well-formed exposition
    /// (see [`assert_valid_exposition`]).
    pub async fn scrape_path(&self, path: &str) -> String {
        let reply = self.get(path).await;
        assert_eq!(
            reply.status,
            200,
            "GET {path} answered {}: {}",
            reply.status,
            reply.text()
        );
        let text = reply.text();
        assert_valid_exposition(&text);
        text
    }

    /// Sends SIGTERM.
    pub fn sigterm(&self) {
        self.process.signal("TERM");
    }

    /// Sends SIGINT.
    pub fn sigint(&self) {
        self.process.signal("INT");
    }
}

/// Finds the address in the `listening` log line, logfmt or JSON.
fn listening_address(log: &str) -> Option<SocketAddr> {
    log.lines()
        .filter(|line| line.contains("listening"))
        .find_map(|line| {
            let start = line
                .find("address=")
                .map(|i| i + "address=".len())
                .or_else(|| {
                    line.find(r#""address":""#)
                        .map(|i| i + r#""address":""#.len())
                })?;
            let rest = &line[start..];
            let end = rest
                .find(|c: char| c.is_whitespace() || c == '"')
                .unwrap_or(rest.len());
            rest[..end].parse().ok()
        })
}

/// One sample of a text exposition.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name (with `_bucket`, `_sum`... suffixes).
    pub name: String,
    /// Labels in the order written.
    pub labels: Vec<(String, String)>,
    /// Value.
    pub value: f64,
}

impl Sample {
    /// A label's value.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses the sample lines of a text exposition (enough for what the
/// exporter writes: no timestamps, simple escapes).
pub fn samples(exposition: &str) -> Vec<Sample> {
    exposition
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| parse_sample(line).unwrap_or_else(|| panic!("not a sample line: {line:?}")))
        .collect()
}

fn parse_sample(line: &str) -> Option<Sample> {
    let (series, value) = line.rsplit_once(' ')?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        other => other.parse().ok()?,
    };
    let Some((name, labels)) = series.split_once('{') else {
        return Some(Sample {
            name: series.to_owned(),
            labels: Vec::new(),
            value,
        });
    };
    let mut labels_text = labels.strip_suffix('}')?;
    let mut labels = Vec::new();
    while !labels_text.is_empty() {
        let (label, rest) = labels_text.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            let (i, c) = chars.next()?;
            match c {
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                '"' => break i,
                c => value.push(c),
            }
        };
        labels.push((label.trim_start_matches(',').to_owned(), value));
        labels_text = &rest[end + 1..];
        labels_text = labels_text.strip_prefix(',').unwrap_or(labels_text);
    }
    Some(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// The value of the sample `name` whose labels are exactly `labels`.
pub fn value(exposition: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples(exposition)
        .into_iter()
        .find(|s| {
            s.name == name
                && s.labels.len() == labels.len()
                && labels.iter().all(|(n, v)| s.label(n) == Some(v))
        })
        .map(|s| s.value)
}

/// Like [`value`], but the sample must be there.
pub fn expect_value(exposition: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    value(exposition, name, labels)
        .unwrap_or_else(|| panic!("no sample {name}{labels:?} in:\n{exposition}"))
}

/// The families declared by `# TYPE` lines.
pub fn families(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// Checks what the text format requires and `promtool check metrics` does
/// not: every sample belongs to the family its `# TYPE` line declared just
/// before it, no family is declared twice or split, no two samples have the
/// same name and label set, no sample repeats a label name, histogram
/// buckets are cumulative and end with `+Inf` equal to `_count`, and
/// counters are not negative. Panics with the offending lines.
pub fn assert_valid_exposition(exposition: &str) {
    use std::collections::{BTreeMap, HashSet};
    let fail = |why: String| -> ! { panic!("invalid exposition: {why}\n{exposition}") };
    let mut declared: BTreeMap<String, String> = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    let mut seen: HashSet<(String, Vec<(String, String)>)> = HashSet::new();
    // Per histogram series (labels without `le`): bucket values in order,
    // and the count.
    type Series = (String, Vec<(String, String)>);
    let mut buckets: BTreeMap<Series, Vec<(f64, f64)>> = BTreeMap::new();
    let mut counts: BTreeMap<Series, f64> = BTreeMap::new();
    for line in exposition.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            let (Some(name), Some(kind)) = (parts.next(), parts.next()) else {
                fail(format!("bad TYPE line {line:?}"));
            };
            if declared.insert(name.to_owned(), kind.to_owned()).is_some() {
                fail(format!("family {name} declared twice"));
            }
            current = Some((name.to_owned(), kind.to_owned()));
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let Some(sample) = parse_sample(line) else {
            fail(format!("not a sample line: {line:?}"));
        };
        let Some((family, kind)) = &current else {
            fail(format!("sample before any TYPE line: {line:?}"));
        };
        let suffix = sample.name.strip_prefix(family.as_str());
        let belongs = matches!(
            (kind.as_str(), suffix),
            ("histogram", Some("_bucket" | "_sum" | "_count"))
                | ("summary", Some("_sum" | "_count"))
                | (_, Some(""))
        );
        if !belongs {
            fail(format!("{line:?} is not part of family {family} ({kind})"));
        }
        let mut names: Vec<&str> = sample.labels.iter().map(|(n, _)| n.as_str()).collect();
        names.sort_unstable();
        if names.windows(2).any(|pair| pair[0] == pair[1]) {
            fail(format!("a label repeats in {line:?}"));
        }
        let mut labels = sample.labels.clone();
        labels.sort();
        if !seen.insert((sample.name.clone(), labels.clone())) {
            fail(format!("duplicate series {line:?}"));
        }
        if kind == "counter" && (sample.value.is_nan() || sample.value < 0.0) {
            fail(format!("negative or NaN counter {line:?}"));
        }
        if kind == "histogram" {
            let without_le: Vec<(String, String)> =
                labels.iter().filter(|(n, _)| n != "le").cloned().collect();
            let key = (family.clone(), without_le);
            match suffix {
                Some("_bucket") => {
                    let Some(le) = sample.label("le") else {
                        fail(format!("bucket without le: {line:?}"));
                    };
                    let le = if le == "+Inf" {
                        f64::INFINITY
                    } else {
                        le.parse().unwrap_or(f64::NAN)
                    };
                    buckets.entry(key).or_default().push((le, sample.value));
                }
                Some("_count") => {
                    counts.insert(key, sample.value);
                }
                _ => {}
            }
        }
    }
    for (series, list) in &buckets {
        if !list
            .windows(2)
            .all(|pair| pair[0].0 < pair[1].0 && pair[0].1 <= pair[1].1)
        {
            fail(format!(
                "buckets of {series:?} are not cumulative in order: {list:?}"
            ));
        }
        let last = list.last().copied().unwrap_or((0.0, 0.0));
        if last.0 != f64::INFINITY || counts.get(series) != Some(&last.1) {
            fail(format!("{series:?}: the +Inf bucket must equal _count"));
        }
    }
}

/// Asserts `actual` equals `expected`, printing a line diff when not.
pub fn assert_same_text(expected: &str, actual: &str, what: &str) {
    if expected != actual {
        panic!(
            "{what} differs from what was expected (- expected, + actual):\n{}",
            line_diff(expected, actual)
        );
    }
}

/// A minimal line diff (longest common subsequence), `-` for lines only in
/// `old`, `+` for lines only in `new`, two spaces for common lines near a
/// change.
pub fn line_diff(old: &str, new: &str) -> String {
    let old: Vec<&str> = old.lines().collect();
    let new: Vec<&str> = new.lines().collect();
    // lcs[i][j]: length of the LCS of old[i..] and new[j..].
    let mut lcs = vec![vec![0usize; new.len() + 1]; old.len() + 1];
    for i in (0..old.len()).rev() {
        for j in (0..new.len()).rev() {
            lcs[i][j] = if old[i] == new[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut ops: Vec<(char, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < new.len() {
        if i < old.len() && j < new.len() && old[i] == new[j] {
            ops.push((' ', old[i]));
            i += 1;
            j += 1;
        } else if i < old.len() && (j == new.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', old[i]));
            i += 1;
        } else {
            ops.push(('+', new[j]));
            j += 1;
        }
    }
    const CONTEXT: usize = 2;
    let changed: Vec<usize> = (0..ops.len()).filter(|&k| ops[k].0 != ' ').collect();
    let mut out = String::new();
    let mut last_shown: Option<usize> = None;
    for (k, (op, line)) in ops.iter().enumerate() {
        let near = changed.iter().any(|&c| c.abs_diff(k) <= CONTEXT);
        if !near {
            continue;
        }
        if last_shown.is_some_and(|last| k > last + 1) || (last_shown.is_none() && k > 0) {
            out.push_str("  ...\n");
        }
        out.push(*op);
        out.push(' ');
        out.push_str(line);
        out.push('\n');
        last_shown = Some(k);
    }
    if old.len() != new.len() || out.is_empty() {
        out.push_str(&format!(
            "({} expected lines, {} actual lines)\n",
            old.len(),
            new.len()
        ));
    }
    out
}

/// Runs `promtool check metrics` on an exposition. Without promtool the
/// check is skipped, except on CI where it must be installed.
pub fn promtool_check_metrics(exposition: &str) {
    let spawned = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            if std::env::var_os("CI").is_some() {
                panic!(
                    "promtool not found on PATH, and CI is set: install promtool (Prometheus) so the exposition is checked"
                );
            }
            eprintln!("SKIP: promtool not found");
            return;
        }
        Err(error) => panic!("cannot run promtool: {error}"),
    };
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin
        .write_all(exposition.as_bytes())
        .expect("write to promtool");
    drop(stdin);
    let output = child.wait_with_output().expect("promtool runs");
    assert!(
        output.status.success(),
        "promtool check metrics failed ({}):\n{}{}\nexposition:\n{exposition}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A file in the system temp dir, removed on drop.
pub struct TempFile {
    path: std::path::PathBuf,
}

impl TempFile {
    /// Writes `contents` to a fresh file whose name includes `tag`.
    pub fn with_contents(tag: &str, contents: &str) -> TempFile {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!(
            "agi-exporter-test-{}-{tag}-{n}",
            std::process::id()
        ));
        std::fs::write(&path, contents).expect("write the temp file");
        TempFile { path }
    }

    /// Its path, as text for a flag.
    pub fn path(&self) -> &str {
        self.path.to_str().expect("temp paths are UTF-8")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
