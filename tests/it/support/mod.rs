//! The harness the integration tests share.
//!
//! Most tests start what they test in this process: the library's server
//! ([`Exporter`], on 127.0.0.1 port 0) against a scripted fake AGI API
//! ([`FakeApi`], a real HTTP server on loopback), talk to it over HTTP and
//! read what it logged. Tests whose subject is the process itself (flags,
//! exit codes, signals, everything it prints) use [`process`] to run the
//! real binary. Every exposition a test scrapes goes through
//! [`assert_valid_exposition`], which refuses duplicate series.
//!
//! Every wait here is bounded by a deadline and polls; nothing sleeps to
//! assert on timing. Each test starts its own fake API and exporter on
//! ephemeral ports, so tests run in parallel safely.

#![allow(dead_code)]

pub mod bodies;
pub mod contract;
pub mod exposition;
pub mod fake_api;
pub mod files;
pub mod leaks;
pub mod listening;
pub mod logs;
pub mod openmetrics;
pub mod process;
pub mod raw;
pub mod reading;
pub use self::raw::{RawAnswer, RawUpstream, chunked_response, chunked_response_with};
pub mod serde_model;
pub mod tls;
pub mod tools;
pub mod wait;

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use agi_exporter::{Cli, Config, Running};
use clap::Parser;

pub use self::contract::{DOCUMENTED_STATUSES, KNOWN_LIVE_STATUSES, KNOWN_STATUSES, SDK_STATUSES};
pub use self::exposition::*;
pub use self::fake_api::{
    Behaviour, EXAMPLE_SESSION, FakeApi, KEY, Population, Shape, fake_api, fake_api_with_key,
    spec_example_api,
};
pub use self::files::{TempDir, TempFile};
pub use self::leaks::assert_no_key_in;
pub use self::logs::Logs;
pub use self::openmetrics::{OmExemplar, parse_openmetrics};
pub use self::wait::{Deadline, eventually, poll};

/// The exporter's own families, present on every scrape (`process_*`
/// aside): README, Metrics.
pub const EXPORTER_FAMILIES: [&str; 10] = [
    "agi_up",
    "agi_sessions_removed_total",
    "agi_api_rate_limit_backoff_seconds",
    "agi_scrape_duration_seconds",
    "agi_api_requests_total",
    "agi_api_request_failures_total",
    "agi_api_request_duration_seconds",
    "agi_api_last_success_timestamp_seconds",
    "agi_invalid_session_fields_total",
    "agi_exporter_build_info",
];

/// The lifecycle families with an `agent_name` label: present, and kept
/// on every later scrape, once an agent has been listed.
pub const AGENT_LIFECYCLE_FAMILIES: [&str; 3] = [
    "agi_session_transitions_total",
    "agi_session_start_latency_seconds",
    "agi_session_duration_seconds",
];

/// The families that describe one fetch, absent when it failed (no stale
/// numbers).
pub const SESSION_FAMILIES: [&str; 5] = [
    "agi_sessions",
    "agi_agent_sessions",
    "agi_oldest_session_age_seconds",
    "agi_agent_oldest_session_age_seconds",
    "agi_session_age_seconds",
];

/// The header Prometheus sends with its scrape timeout.
pub const SCRAPE_TIMEOUT_HEADER: &str = "X-Prometheus-Scrape-Timeout-Seconds";

/// How long waits in the harness may take before a test fails.
pub const DEADLINE: Duration = Duration::from_secs(15);

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
/// no automatic `Accept-Encoding` or decompression, and a new connection for
/// every request (so no test depends on the reuse of a kept-alive one).
pub fn http_client() -> reqwest::Client {
    // reqwest is built with rustls but without a crypto provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .no_gzip()
        .timeout(Duration::from_secs(20))
        .pool_max_idle_per_host(0)
        .build()
        .expect("the test HTTP client builds")
}

/// Sends `request` and reads the whole answer.
pub async fn send(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.bytes().await.expect("the body is read").to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

/// An exporter serving HTTP on 127.0.0.1, in this process ([`Exporter`])
/// or as the binary ([`process::BinaryExporter`]): what a test asks of it
/// over HTTP.
pub trait Serving {
    /// The address it serves on.
    fn address(&self) -> SocketAddr;

    /// The test client, for requests `get` does not cover.
    fn client(&self) -> &reqwest::Client;

    /// The last `lines` lines of its log, for failure messages.
    fn log_tail(&self, lines: usize) -> String;

    /// The base URL it serves on, e.g. `http://127.0.0.1:41234`.
    fn url(&self) -> String {
        format!("http://{}", self.address())
    }

    /// Sends a request built from `request` and reads the whole answer.
    async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        send(request).await
    }

    /// `GET path`.
    async fn get(&self, path: &str) -> Reply {
        send(self.client().get(format!("{}{path}", self.url()))).await
    }

    /// `GET /metrics`, which must answer 200 with a valid exposition;
    /// returns it.
    async fn scrape(&self) -> String {
        self.scrape_path("/metrics").await
    }

    /// `GET path`, which must answer 200 with a well-formed exposition
    /// (see [`assert_valid_exposition`]).
    async fn scrape_path(&self, path: &str) -> String {
        exposition_of(self.get(path).await, path, || self.log_tail(20))
    }

    /// `GET /metrics` with Prometheus's timeout header; returns the reply.
    async fn scrape_with_timeout(&self, seconds: &str) -> Reply {
        let request = self
            .client()
            .get(format!("{}/metrics", self.url()))
            .header(SCRAPE_TIMEOUT_HEADER, seconds);
        send(request).await
    }

    /// Starts a scrape of `/metrics` in the background; it yields the
    /// status and the body (checked when it is 200). For scrapes that must
    /// overlap.
    fn spawn_scrape(&self) -> tokio::task::JoinHandle<(u16, String)> {
        let request = self.client().get(format!("{}/metrics", self.url()));
        tokio::spawn(async move {
            let response = request.send().await.expect("the scrape is answered");
            let status = response.status().as_u16();
            let body = response.text().await.expect("the body is read");
            if status == 200 {
                assert_valid_exposition(&body);
            }
            (status, body)
        })
    }

    /// Asserts `/-/healthy` answers 200.
    async fn assert_healthy(&self) {
        let reply = self.get("/-/healthy").await;
        assert_eq!(
            reply.status,
            200,
            "/-/healthy answered {}: {}\n{}",
            reply.status,
            reply.text(),
            self.log_tail(40)
        );
    }
}

/// The exporter's library, serving in this process on 127.0.0.1.
pub struct Exporter {
    running: Option<Running>,
    address: SocketAddr,
    client: reqwest::Client,
    logs: Logs,
}

impl Serving for Exporter {
    fn address(&self) -> SocketAddr {
        self.address
    }

    fn client(&self) -> &reqwest::Client {
        &self.client
    }

    fn log_tail(&self, lines: usize) -> String {
        self.logs.tail(lines)
    }
}

impl Exporter {
    /// Starts an exporter for `api_url` with [`KEY`] and extra flags.
    pub async fn for_api(api_url: &str, extra: &[&str]) -> Exporter {
        let mut args = vec!["--api.url", api_url];
        args.extend_from_slice(extra);
        Exporter::start(&args, Some(KEY)).await
    }

    /// Starts an exporter with these flags and `AGI_API_KEY`, listening on
    /// 127.0.0.1 port 0 whatever the flags say.
    pub async fn start(args: &[&str], api_key: Option<&str>) -> Exporter {
        Exporter::start_with(args, api_key, |_| {}).await
    }

    /// Like [`Exporter::start`], with a change to the configuration the
    /// flags gave (timings that are not flags, say).
    pub async fn start_with(
        args: &[&str],
        api_key: Option<&str>,
        adjust: impl FnOnce(&mut Config),
    ) -> Exporter {
        let mut config = config(args, api_key).unwrap_or_else(|error| panic!("{args:?}: {error}"));
        config.web.listen_address = SocketAddr::from(([127, 0, 0, 1], 0));
        // Quick to notice a changed web config file; the default is 1 s.
        config.web.timings.config_check_interval = Duration::from_millis(50);
        adjust(&mut config);
        let logs = Logs::capture(config.log_level, config.log_format);
        let running = agi_exporter::start(config)
            .await
            .unwrap_or_else(|error| panic!("the exporter starts with {args:?}: {error}"));
        Exporter {
            address: running.address(),
            running: Some(running),
            client: http_client(),
            logs,
        }
    }

    /// What the exporter (and anything else in this test) logged.
    pub fn logs(&self) -> &Logs {
        &self.logs
    }

    /// Stops it as SIGTERM would: no new connections, requests under way
    /// finish within the shutdown grace.
    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await;
        }
    }
}

/// The exposition in `reply` to `GET path`, which must be a 200 with a
/// well-formed exposition; `context` says what else to print when not.
pub fn exposition_of(reply: Reply, path: &str, context: impl FnOnce() -> String) -> String {
    assert_eq!(
        reply.status,
        200,
        "GET {path} answered {}: {}\n{}",
        reply.status,
        reply.text(),
        context()
    );
    let text = reply.text();
    assert_valid_exposition(&text);
    text
}

/// The lines of `log` that contain every one of `needles`.
pub fn lines_containing(log: &str, needles: &[&str]) -> Vec<String> {
    log.lines()
        .filter(|line| needles.iter().all(|n| line.contains(n)))
        .map(str::to_owned)
        .collect()
}

/// Waits until `log()`, the log of `source`, has a line containing every
/// one of `needles`; returns that line. Panics with the whole log after
/// `within`.
pub async fn wait_for_line(
    source: &str,
    needles: &[&str],
    within: Duration,
    log: impl Fn() -> String,
) -> String {
    eventually(
        &format!("{source} has a line containing {needles:?}"),
        within,
        async || {
            let log = log();
            match lines_containing(&log, needles).into_iter().next() {
                Some(line) => Ok(line),
                None => Err(format!("{source}:\n{log}")),
            }
        },
    )
    .await
}

/// The last `lines` lines of `text`, headed by where they come from, for
/// failure messages.
pub fn tail(text: &str, lines: usize, source: &str) -> String {
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    format!(
        "--- last {} lines of {source} ---\n{}",
        all.len() - start,
        all[start..].join("\n")
    )
}

/// The configuration these flags and this `AGI_API_KEY` give, as the
/// binary would build it.
pub fn config(args: &[&str], api_key: Option<&str>) -> Result<Config, String> {
    let mut argv = vec!["agi_exporter"];
    argv.extend_from_slice(args);
    let cli = Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
    Config::from_cli(&cli, api_key.map(str::to_owned)).map_err(|e| e.to_string())
}

/// `agi_up` of an exposition.
pub fn up(exposition: &str) -> f64 {
    expect_value(exposition, "agi_up", &[])
}

/// `agi_api_request_failures_total{reason}` of an exposition.
pub fn failures(exposition: &str, reason: &str) -> f64 {
    expect_value(
        exposition,
        "agi_api_request_failures_total",
        &[("reason", reason)],
    )
}

/// `agi_api_requests_total` of an exposition.
pub fn api_requests(exposition: &str) -> f64 {
    expect_value(exposition, "agi_api_requests_total", &[])
}

/// Waits until `api` has received at least `count` requests; returns how
/// many it has.
pub async fn wait_for_requests(api: &FakeApi, count: u64) -> u64 {
    eventually(
        &format!("the API receives {count} request(s)"),
        Duration::from_secs(5),
        async || match api.requests() {
            received if received >= count => Ok(received),
            received => Err(format!("{received} so far")),
        },
    )
    .await
}

/// Moves tokio's clock forward by `by` at once, as if that much time had
/// passed, between two requests (nothing may be under way): the timers of
/// the cache and the back-off see it, real sockets do not wait for it.
pub async fn let_time_pass(by: Duration) {
    tokio::time::pause();
    tokio::time::advance(by).await;
    tokio::time::resume();
}

/// A loopback address nothing listens on: bound, then released.
pub fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let address = listener.local_addr().expect("local address");
    drop(listener);
    format!("http://{address}")
}

/// A JSON list of `count` copies of one valid session.
pub fn session_list(count: usize) -> String {
    let mut body = String::with_capacity(count * (EXAMPLE_SESSION.len() + 1) + 2);
    body.push('[');
    for i in 0..count {
        if i > 0 {
            body.push(',');
        }
        body.push_str(EXAMPLE_SESSION);
    }
    body.push(']');
    body
}

/// `pieces`, one after the other, compressed with gzip as an API
/// answering `Content-Encoding: gzip` sends them (in pieces, so that a
/// large body of repeated parts need not be built first).
pub fn gzip<P: AsRef<[u8]>>(pieces: impl IntoIterator<Item = P>) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    for piece in pieces {
        encoder.write_all(piece.as_ref()).expect("gzip in memory");
    }
    encoder.finish().expect("gzip in memory")
}
