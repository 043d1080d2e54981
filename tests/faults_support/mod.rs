//! What the fault and load tests (issue 3) share on top of `tests/common/`:
//! reading `agi_up` and the failure counters, asserting the exporter is
//! still healthy (with the tail of its log when it is not), a scrape that
//! carries Prometheus's timeout header, a raw TCP "API" that misbehaves
//! below HTTP (hangs up, streams chunked bodies), and the exporter's
//! resident memory.
//!
//! Every wait is bounded; nothing here sleeps to decide an assertion.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::common::{Exporter, Process, Reply, expect_value};

/// The header Prometheus sends with its scrape timeout.
pub const SCRAPE_TIMEOUT_HEADER: &str = "X-Prometheus-Scrape-Timeout-Seconds";

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

/// The last `lines` lines the process wrote to stderr, for failure messages.
pub fn stderr_tail(process: &Process, lines: usize) -> String {
    let text = process.stderr_text();
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    format!(
        "--- last {} lines of the exporter's stderr ---\n{}",
        all.len() - start,
        all[start..].join("\n")
    )
}

/// Asserts the process is still running and `/-/healthy` answers 200.
pub async fn assert_healthy(exporter: &mut Exporter) {
    if let Some(status) = exporter.try_status() {
        panic!(
            "the exporter exited ({status}); {}",
            stderr_tail(exporter, 40)
        );
    }
    let reply = exporter.get("/-/healthy").await;
    assert_eq!(
        reply.status,
        200,
        "/-/healthy answered {}: {}\n{}",
        reply.status,
        reply.text(),
        stderr_tail(exporter, 40)
    );
}

/// `GET /metrics` with Prometheus's timeout header; returns the whole reply.
pub async fn scrape_with_timeout(exporter: &Exporter, seconds: &str) -> Reply {
    exporter
        .send(
            exporter
                .client()
                .get(format!("{}/metrics", exporter.url()))
                .header(SCRAPE_TIMEOUT_HEADER, seconds),
        )
        .await
}

/// Scrapes once (200 required) and returns the exposition, checked with
/// [`crate::common::assert_valid_exposition`], printing the exporter's log
/// when the answer is not 200.
pub async fn scrape(exporter: &Exporter) -> String {
    let reply = exporter.get("/metrics").await;
    assert_eq!(
        reply.status,
        200,
        "GET /metrics answered {}: {}\n{}",
        reply.status,
        reply.text(),
        stderr_tail(exporter, 40)
    );
    let text = reply.text();
    crate::common::assert_valid_exposition(&text);
    text
}

/// Polls `condition` every 20 ms until it holds; panics with `what` (and
/// the exporter's log) after `within`.
pub async fn wait_until(
    exporter: &Process,
    within: Duration,
    what: &str,
    mut condition: impl FnMut() -> bool,
) {
    let deadline = Instant::now() + within;
    while !condition() {
        if Instant::now() >= deadline {
            panic!(
                "{what}: not so after {within:?}\n{}",
                stderr_tail(exporter, 40)
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The resident set size of a process (`VmRSS` in `/proc/<pid>/status`).
pub fn rss_bytes(pid: u32) -> u64 {
    proc_status_bytes(pid, "VmRSS:")
}

/// The peak resident set size of a process so far (`VmHWM`).
pub fn peak_rss_bytes(pid: u32) -> u64 {
    proc_status_bytes(pid, "VmHWM:")
}

fn proc_status_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("cannot read /proc/{pid}/status: {e}"));
    let line = status
        .lines()
        .find(|line| line.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status:\n{status}"));
    let kib: u64 = line
        .trim_start_matches(field)
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("bad {field} line {line:?}: {e}"));
    kib * 1024
}

/// What a [`RawUpstream`] does with each connection.
#[derive(Debug, Clone)]
pub enum RawAnswer {
    /// Close the connection as soon as it is accepted, before reading.
    CloseAtOnce,
    /// Read the request head, then close without answering.
    CloseAfterRequest,
    /// Read the request head, write these bytes verbatim, then close.
    Send(Vec<u8>),
    /// Read the request head, write these bytes, then hold the connection
    /// open without another byte (for at most 30 s).
    SendAndHold(Vec<u8>),
}

/// An "API" that speaks raw TCP on 127.0.0.1, for faults the simulator's
/// well-behaved HTTP server cannot produce: hang-ups and hand-made bodies.
pub struct RawUpstream {
    address: SocketAddr,
    connections: Arc<AtomicU64>,
    requests: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl RawUpstream {
    /// Binds 127.0.0.1 on an ephemeral port and answers every connection
    /// with `answer`.
    pub async fn start(answer: RawAnswer) -> RawUpstream {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let address = listener.local_addr().expect("local address");
        let connections = Arc::new(AtomicU64::new(0));
        let requests = Arc::new(AtomicU64::new(0));
        let (counted_connections, counted_requests) =
            (Arc::clone(&connections), Arc::clone(&requests));
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    continue;
                };
                counted_connections.fetch_add(1, Ordering::SeqCst);
                let answer = answer.clone();
                let requests = Arc::clone(&counted_requests);
                tokio::spawn(async move {
                    if matches!(answer, RawAnswer::CloseAtOnce) {
                        return;
                    }
                    if !read_request_head(&mut stream).await {
                        return;
                    }
                    requests.fetch_add(1, Ordering::SeqCst);
                    match answer {
                        RawAnswer::Send(bytes) => {
                            let _ = stream.write_all(&bytes).await;
                            let _ = stream.shutdown().await;
                        }
                        RawAnswer::SendAndHold(bytes) => {
                            let _ = stream.write_all(&bytes).await;
                            tokio::time::sleep(Duration::from_secs(30)).await;
                        }
                        RawAnswer::CloseAtOnce | RawAnswer::CloseAfterRequest => {}
                    }
                });
            }
        });
        RawUpstream {
            address,
            connections,
            requests,
            task,
        }
    }

    /// The base URL for `--api.url`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::SeqCst)
    }

    /// Complete request heads received so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for RawUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads until the blank line that ends a request head (at most 64 KiB, 5 s).
async fn read_request_head(stream: &mut tokio::net::TcpStream) -> bool {
    let mut head = Vec::new();
    let mut buffer = [0u8; 4096];
    let read = async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => head.extend_from_slice(&buffer[..n]),
            }
        }
        true
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .unwrap_or(false)
}

/// A complete HTTP/1.1 200 answer whose body is sent with chunked transfer
/// encoding (so there is no `Content-Length` to check up front).
pub fn chunked_response(body: &[u8], chunk_size: usize) -> Vec<u8> {
    let mut out = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n".to_vec();
    for chunk in body.chunks(chunk_size.max(1)) {
        out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// A JSON list of `count` copies of one valid session.
pub fn session_list(count: usize) -> String {
    let session = crate::common::SPEC_SESSION;
    let mut body = String::with_capacity(count * (session.len() + 1) + 2);
    body.push('[');
    for i in 0..count {
        if i > 0 {
            body.push(',');
        }
        body.push_str(session);
    }
    body.push(']');
    body
}
