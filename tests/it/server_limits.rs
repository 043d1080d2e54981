//! The server's own limits (README, Endpoints and Security): a header read
//! timeout, so a client that stops mid-request cannot hold a connection
//! forever; the `--web.max-requests` limit on concurrent scrapes (503
//! beyond it, health checks exempt); and graceful shutdown (a scrape under
//! way finishes, new connections are refused, and a scrape stuck on a slow
//! API cannot hold the shutdown past its grace). The header timeout and the
//! grace are 10 s and 9 s in production; these tests shorten them, which is
//! what they are for.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

/// The header read timeout these tests give the server.
const HEADER_TIMEOUT: Duration = Duration::from_secs(1);

/// How long a test waits for the server to close a connection.
const CLOSE_DEADLINE: Duration = Duration::from_secs(10);

/// The shutdown grace these tests give the server.
const GRACE: Duration = Duration::from_millis(500);

/// An exporter with the shortened header timeout and shutdown grace.
async fn exporter(api: &FakeApi, extra: &[&str]) -> Exporter {
    let url = api.url();
    let mut args = vec!["--api.url", url.as_str()];
    args.extend_from_slice(extra);
    Exporter::start_with(&args, Some(KEY), |config| {
        config.web.timings.header_read_timeout = HEADER_TIMEOUT;
        config.web.timings.shutdown_grace = GRACE;
    })
    .await
}

/// Waits for the server to close `stream` (EOF or a reset), reading and
/// discarding whatever it sends first; returns what it sent and when it
/// closed. Panics if the connection is still open after [`CLOSE_DEADLINE`].
async fn wait_for_close(stream: &mut TcpStream, exporter: &Exporter) -> (String, Instant) {
    let mut received = Vec::new();
    let read = tokio::time::timeout(CLOSE_DEADLINE, async {
        let mut buffer = [0u8; 1024];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    if read.is_err() {
        panic!(
            "the server kept the connection open for {CLOSE_DEADLINE:?}\n{}",
            exporter.logs().tail(20)
        );
    }
    (
        String::from_utf8_lossy(&received).into_owned(),
        Instant::now(),
    )
}

/// Opens a connection and sends the start of a request, never its end.
async fn half_sent_request(exporter: &Exporter) -> TcpStream {
    let mut stream = TcpStream::connect(exporter.address())
        .await
        .expect("connect to the exporter");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("send half a request");
    stream
}

#[tokio::test]
async fn a_client_that_stops_sending_headers_is_cut_off_and_blocks_no_scrape() {
    let api = fake_api(Population::Generated(5, Shape::Mixed)).await;
    let exporter = exporter(&api, &["--web.max-requests", "1"]).await;

    let opened = Instant::now();
    let mut stalled = Vec::new();
    for _ in 0..20 {
        stalled.push(half_sent_request(&exporter).await);
    }

    // While they hang, a real scrape gets the only request slot.
    let body = exporter.scrape().await;
    assert_eq!(up(&body), 1.0, "{body}");

    for stream in &mut stalled {
        let (sent, closed) = wait_for_close(stream, &exporter).await;
        assert!(
            sent.is_empty() || sent.starts_with("HTTP/1.1 408"),
            "a stalled request gets nothing or a 408, got: {sent:?}"
        );
        assert!(
            closed - opened >= HEADER_TIMEOUT,
            "closed after {:?}: before the header read timeout of {HEADER_TIMEOUT:?}",
            closed - opened
        );
    }
    exporter.assert_healthy().await;
}

#[tokio::test]
async fn a_connection_that_never_sends_a_byte_is_closed_too() {
    let api = fake_api(Population::Generated(5, Shape::Mixed)).await;
    let exporter = exporter(&api, &[]).await;

    let mut silent = TcpStream::connect(exporter.address())
        .await
        .expect("connect to the exporter");
    let (sent, _) = wait_for_close(&mut silent, &exporter).await;

    assert!(
        sent.is_empty() || sent.starts_with("HTTP/1.1 408"),
        "got: {sent:?}"
    );
    exporter.assert_healthy().await;
}

#[tokio::test]
async fn scrapes_beyond_max_requests_get_503_while_health_checks_still_answer() {
    let api = fake_api(Population::Generated(5, Shape::Mixed)).await;
    api.set_behaviour(Behaviour::Delay(Duration::from_secs(2)));
    let exporter = Exporter::for_api(&api.url(), &["--web.max-requests", "2"]).await;

    let started = Instant::now();
    let scrapes: Vec<_> = (0..6)
        .map(|_| {
            let client = exporter.client().clone();
            let url = format!("{}/metrics", exporter.url());
            tokio::spawn(async move {
                let response = client
                    .get(url)
                    .send()
                    .await
                    .expect("the scrape is answered");
                let status = response.status().as_u16();
                let body = response.text().await.expect("the body is read");
                (status, body, started.elapsed())
            })
        })
        .collect();

    wait_for_requests(&api, 1).await;
    for path in ["/-/healthy", "/-/ready", "/"] {
        let asked = Instant::now();
        let reply = exporter.get(path).await;
        assert_eq!(reply.status, 200, "{path} while the scrape slots are full");
        assert!(
            asked.elapsed() < Duration::from_secs(1),
            "{path} waited {:?} behind the scrapes",
            asked.elapsed()
        );
    }

    let mut answers = Vec::new();
    for scrape in scrapes {
        answers.push(scrape.await.expect("the scrape task finishes"));
    }
    let ok: Vec<_> = answers.iter().filter(|(s, _, _)| *s == 200).collect();
    let busy: Vec<_> = answers.iter().filter(|(s, _, _)| *s == 503).collect();
    assert_eq!(
        (ok.len(), busy.len()),
        (2, 4),
        "6 concurrent scrapes with --web.max-requests 2: statuses {:?}",
        answers.iter().map(|(s, _, _)| *s).collect::<Vec<_>>()
    );
    for (_, body, _) in &ok {
        assert_eq!(up(body), 1.0, "{body}");
    }
    for (_, body, took) in &busy {
        assert!(
            *took < Duration::from_millis(1500),
            "a 503 must come at once, not after the API's 2 s ({took:?}): {body}"
        );
    }
    assert_eq!(
        api.requests(),
        1,
        "the two admitted scrapes share one request"
    );

    // The slots are free again.
    api.set_behaviour(Behaviour::Serve);
    assert_eq!(up(&exporter.scrape().await), 1.0);
    exporter.assert_healthy().await;
}

#[tokio::test]
async fn stopping_lets_a_scrape_under_way_finish_and_refuses_new_connections() {
    let api = fake_api(Population::Generated(20, Shape::Mixed)).await;
    let exporter = Exporter::start_with(&["--api.url", &api.url()], Some(KEY), |config| {
        // Longer than the API takes: the scrape under way must finish.
        config.web.timings.shutdown_grace = Duration::from_secs(5);
    })
    .await;
    api.set_behaviour(Behaviour::Delay(Duration::from_millis(800)));

    let in_flight = exporter.spawn_scrape();
    assert_eq!(
        wait_for_requests(&api, 1).await,
        1,
        "the scrape reaches the API"
    );

    let address = exporter.address();
    let stopping = tokio::spawn(exporter.stop());

    // The listener closes at once, while the scrape is still waiting on the API.
    eventually(
        "new connections are refused, within 0.5 s of the stop",
        Duration::from_millis(500),
        async || match TcpStream::connect(address).await {
            Err(_) => Ok(()),
            Ok(_) => Err("a new connection was accepted"),
        },
    )
    .await;
    assert!(
        !in_flight.is_finished(),
        "the scrape ended before the API answered"
    );

    let (status, body) = in_flight.await.expect("the scrape task finishes");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        up(&body),
        1.0,
        "the scrape under way finishes normally:\n{body}"
    );
    stopping.await.expect("the server stops");
}

#[tokio::test]
async fn a_scrape_stuck_on_a_slow_api_does_not_hold_shutdown_past_the_grace() {
    let api = fake_api(Population::Generated(5, Shape::Mixed)).await;
    api.set_behaviour(Behaviour::Delay(Duration::from_secs(60)));
    let exporter = exporter(&api, &["--api.timeout", "60s"]).await;

    let client = exporter.client().clone();
    let url = format!("{}/metrics", exporter.url());
    let stuck = tokio::spawn(async move { client.get(url).send().await.map(|r| r.status()) });
    assert_eq!(
        wait_for_requests(&api, 1).await,
        1,
        "the scrape reaches the API"
    );

    let logs = exporter.logs().clone();
    let asked = Instant::now();
    tokio::time::timeout(GRACE * 10, exporter.stop())
        .await
        .expect("the server stops soon after its grace");
    assert!(
        asked.elapsed() >= GRACE,
        "it waited for the scrape, up to the grace"
    );
    logs.wait_for(&["level=warn", "closing anyway"], Duration::from_secs(1))
        .await;
    stuck.abort();
}

#[tokio::test]
async fn malformed_and_oversized_requests_are_refused_without_harm() {
    let api = fake_api(Population::Generated(5, Shape::Mixed)).await;
    let exporter = exporter(&api, &[]).await;
    let huge_header = format!(
        "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(1024 * 1024)
    );
    let huge_uri = format!(
        "GET /metrics?{} HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(256 * 1024)
    );
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("not HTTP at all", b"GARBAGE GARBAGE\r\n\r\n".to_vec()),
        ("binary noise", (0u8..=255).cycle().take(8192).collect()),
        (
            "a TLS ClientHello on the plain port",
            vec![
                0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
            ],
        ),
        (
            "an unknown HTTP version",
            b"GET /metrics HTTP/9.9\r\n\r\n".to_vec(),
        ),
        (
            "a header without a colon",
            b"GET /metrics HTTP/1.1\r\nHost x\r\n\r\n".to_vec(),
        ),
        ("a 1 MiB header", huge_header.into_bytes()),
        ("a 256 KiB URI", huge_uri.into_bytes()),
        (
            "a POST announcing 100 MB",
            b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n{\"a\":"
                .to_vec(),
        ),
        (
            "a bad chunked body",
            b"POST /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
                .to_vec(),
        ),
    ];
    for (what, bytes) in cases {
        let mut stream = TcpStream::connect(exporter.address())
            .await
            .expect("connect to the exporter");
        // The server may hang up before reading it all; that is fine.
        let _ = stream.write_all(&bytes).await;
        let (answer, _) = wait_for_close(&mut stream, &exporter).await;
        assert!(
            answer.is_empty()
                || answer.starts_with("HTTP/1.1 4")
                || answer.starts_with("HTTP/1.1 5"),
            "{what}: expected an error status or a closed connection, got {:?}",
            answer.chars().take(200).collect::<String>()
        );
        exporter.assert_healthy().await;
    }
    assert_eq!(api.requests(), 0, "no malformed request may reach the API");
    assert!(
        !exporter.logs().text().contains("panicked"),
        "{}",
        exporter.logs().tail(20)
    );
}
