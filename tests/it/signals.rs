//! Signals, against the real binary (README, Endpoints): SIGTERM and SIGINT
//! make the exporter stop and exit 0 within 10 s, letting a scrape under way
//! finish. What the server does while it stops (new connections refused, a
//! stuck scrape cut off after the grace) is in `server_limits`.

use std::time::{Duration, Instant};

use crate::support::process::*;
use crate::support::*;

const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(10);

/// An exporter that has already served a scrape (so its client holds an
/// idle keep-alive connection, as Prometheus's would).
async fn exporter_after_one_scrape() -> (FakeApi, BinaryExporter) {
    let api = spec_example_api().await;
    let exporter = BinaryExporter::for_api(&api.url(), &[]).await;
    let body = exporter.scrape().await;
    assert_eq!(expect_value(&body, "agi_up", &[]), 1.0);
    (api, exporter)
}

async fn assert_exits_0_in_time(exporter: &mut BinaryExporter, signal: &str) {
    let status = exporter.wait_for_exit(SHUTDOWN_DEADLINE).await;
    let Some(status) = status else {
        panic!(
            "still running {SHUTDOWN_DEADLINE:?} after {signal}; stderr:\n{}",
            exporter.stderr_text()
        );
    };
    assert!(
        status.success(),
        "exit status after {signal}: {status}; stderr:\n{}",
        exporter.stderr_text()
    );
}

#[tokio::test]
async fn sigterm_exits_0_within_10_seconds() {
    let (_api, mut exporter) = exporter_after_one_scrape().await;
    exporter.sigterm();
    assert_exits_0_in_time(&mut exporter, "SIGTERM").await;
}

#[tokio::test]
async fn sigint_exits_0_within_10_seconds() {
    let (_api, mut exporter) = exporter_after_one_scrape().await;
    exporter.sigint();
    assert_exits_0_in_time(&mut exporter, "SIGINT").await;
}

#[tokio::test]
async fn sigterm_lets_a_scrape_under_way_finish_and_exits_0() {
    let api = fake_api(Population::Generated(20, Shape::Mixed)).await;
    let mut exporter = BinaryExporter::for_api(&api.url(), &[]).await;
    api.set_behaviour(Behaviour::Delay(Duration::from_millis(700)));
    let in_flight = exporter.spawn_scrape();
    assert_eq!(
        wait_for_requests(&api, 1).await,
        1,
        "the scrape reaches the API"
    );
    let signalled = Instant::now();
    exporter.sigterm();
    let (status, body) = in_flight.await.expect("the scrape task finishes");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        up(&body),
        1.0,
        "the scrape under way finishes normally:\n{body}"
    );
    assert_exits_0_in_time(&mut exporter, "SIGTERM").await;
    assert!(signalled.elapsed() < SHUTDOWN_DEADLINE);
}
