//! Graceful shutdown (SPEC section 5): SIGTERM and SIGINT make the exporter
//! exit 0 within 10 s. That a scrape under way still finishes is checked in
//! `server_limits.rs`, with the listener closing at once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;

const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(10);

/// An exporter that has already served a scrape (so its client holds an
/// idle keep-alive connection, as Prometheus's would).
async fn exporter_after_one_scrape() -> (agi_exporter::demo::Simulator, Exporter) {
    let api = spec_example_api().await;
    let exporter = Exporter::for_api(&api.url(), &[]).await;
    let body = exporter.scrape().await;
    assert_eq!(expect_value(&body, "agi_up", &[]), 1.0);
    (api, exporter)
}

async fn assert_exits_0_in_time(exporter: &mut Exporter, signal: &str) {
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
