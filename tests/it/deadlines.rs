//! Deadlines (README, Failure model): each fetch is bounded by the shorter of
//! `--api.timeout` and Prometheus's own scrape timeout
//! (`X-Prometheus-Scrape-Timeout-Seconds`) minus `--web.timeout-offset`, so
//! a slow API costs one scrape `agi_up 0` instead of a failed scrape. And a
//! failed request is never retried inside a scrape: one scrape, one request.

use crate::support::*;
use std::time::{Duration, Instant};

/// Scrapes with Prometheus's timeout header and returns the exposition and
/// how long the answer took.
async fn timed_scrape(exporter: &Exporter, scrape_timeout: &str) -> (String, Duration) {
    let started = Instant::now();
    let reply = exporter.scrape_with_timeout(scrape_timeout).await;
    let elapsed = started.elapsed();
    assert_eq!(
        reply.status,
        200,
        "the scrape answered {}: {}\n{}",
        reply.status,
        reply.text(),
        exporter.logs().tail(20)
    );
    (reply.text(), elapsed)
}

#[tokio::test]
async fn a_slow_api_is_abandoned_before_prometheus_gives_up_on_the_scrape() {
    let api = fake_api(Population::Generated(10, Shape::Mixed)).await;
    api.set_behaviour(Behaviour::Delay(Duration::from_secs(5)));
    let exporter = Exporter::for_api(&api.url(), &["--api.timeout", "10s"]).await;

    let (body, elapsed) = timed_scrape(&exporter, "1").await;

    assert!(
        elapsed < Duration::from_secs(1),
        "Prometheus gives up after its 1 s scrape timeout; the answer took {elapsed:?}"
    );
    assert_eq!(up(&body), 0.0, "agi_up after a timeout:\n{body}");
    assert_eq!(
        failures(&body, "timeout"),
        1.0,
        "the timeout must be counted in the exposition of the scrape that timed out:\n{body}\n{}",
        exporter.logs().tail(20)
    );
    assert_eq!(api.requests(), 1);
    exporter.assert_healthy().await;
}

#[tokio::test]
async fn the_api_timeout_wins_when_it_is_shorter_than_the_scrape_timeout() {
    let api = fake_api(Population::Generated(10, Shape::Mixed)).await;
    api.set_behaviour(Behaviour::Delay(Duration::from_secs(5)));
    let exporter = Exporter::for_api(&api.url(), &["--api.timeout", "500ms"]).await;

    let (body, elapsed) = timed_scrape(&exporter, "10").await;

    assert!(
        elapsed >= Duration::from_millis(450) && elapsed < Duration::from_secs(3),
        "--api.timeout 500ms must bound the fetch (scrape timeout 10 s); took {elapsed:?}"
    );
    assert_eq!(up(&body), 0.0, "{body}");
    assert_eq!(failures(&body, "timeout"), 1.0, "{body}");
}

#[tokio::test]
async fn the_timeout_offset_leaves_room_for_the_answer() {
    let api = fake_api(Population::Generated(10, Shape::Mixed)).await;
    api.set_behaviour(Behaviour::Delay(Duration::from_secs(5)));
    let exporter = Exporter::for_api(
        &api.url(),
        &["--api.timeout", "10s", "--web.timeout-offset", "1.5s"],
    )
    .await;

    // Scrape timeout 2 s minus the 1.5 s offset: the fetch gets 0.5 s.
    let (body, elapsed) = timed_scrape(&exporter, "2").await;

    assert!(
        elapsed >= Duration::from_millis(450) && elapsed < Duration::from_millis(1500),
        "the fetch deadline is 2 s - 1.5 s = 0.5 s; the answer took {elapsed:?}"
    );
    assert_eq!(up(&body), 0.0, "{body}");
}

#[tokio::test]
async fn a_fast_api_is_unaffected_by_the_scrape_timeout_header() {
    let api = fake_api(Population::Generated(10, Shape::Mixed)).await;
    api.set_behaviour(Behaviour::Delay(Duration::from_millis(200)));
    let exporter = Exporter::for_api(&api.url(), &["--api.timeout", "10s"]).await;

    let (body, _) = timed_scrape(&exporter, "2").await;

    assert_eq!(
        up(&body),
        1.0,
        "a 200 ms API fits in a 1.5 s deadline:\n{body}"
    );
}

#[tokio::test]
async fn a_5xx_is_not_retried_within_a_scrape() {
    let api = fake_api(Population::Generated(3, Shape::Mixed)).await;
    let exporter = Exporter::for_api(&api.url(), &[]).await;
    for (scrapes, status) in [500u16, 502, 503, 504].into_iter().enumerate() {
        api.set_behaviour(Behaviour::status(status, "upstream trouble"));
        let body = exporter.scrape().await;
        assert_eq!(up(&body), 0.0, "HTTP {status}:\n{body}");
        assert_eq!(
            api.requests(),
            scrapes as u64 + 1,
            "one scrape must send one request, also after HTTP {status}"
        );
        assert_eq!(failures(&body, "http_status"), scrapes as f64 + 1.0);
    }
    exporter.assert_healthy().await;
}

#[tokio::test]
async fn a_connection_closed_without_an_answer_is_not_retried_within_a_scrape() {
    let api = RawUpstream::start(RawAnswer::CloseAfterRequest).await;
    let exporter = Exporter::for_api(&api.url(), &[]).await;

    let body = exporter.scrape().await;

    assert_eq!(up(&body), 0.0, "{body}");
    assert_eq!(failures(&body, "connect"), 1.0, "{body}");
    assert_eq!(
        (api.connections(), api.requests()),
        (1, 1),
        "one scrape must open one connection and send one request"
    );
    exporter.assert_healthy().await;
}

#[tokio::test]
async fn a_connection_reset_at_accept_is_not_retried_within_a_scrape() {
    let api = RawUpstream::start(RawAnswer::CloseAtOnce).await;
    let exporter = Exporter::for_api(&api.url(), &[]).await;

    let body = exporter.scrape().await;

    assert_eq!(up(&body), 0.0, "{body}");
    assert_eq!(failures(&body, "connect"), 1.0, "{body}");
    assert_eq!(api.connections(), 1, "one scrape must open one connection");
    exporter.assert_healthy().await;
}

#[tokio::test]
async fn a_refused_connection_is_not_retried_within_a_scrape() {
    let exporter = Exporter::for_api(&closed_port_url(), &[]).await;
    let body = exporter.scrape().await;
    assert_eq!(up(&body), 0.0, "{body}");
    assert_eq!(failures(&body, "connect"), 1.0, "{body}");
    assert_eq!(api_requests(&body), 1.0, "{body}");
    exporter.assert_healthy().await;
}

/// A scraper with a short timeout that starts the shared request must not
/// cut it short for a patient scraper that joined it: the request runs as
/// long as the latest deadline of those waiting, and the impatient one gets
/// its `agi_up 0` on time.
#[tokio::test]
async fn a_short_scrape_does_not_cut_short_the_request_a_patient_one_joined() {
    let api = fake_api(Population::Generated(10, Shape::Mixed)).await;
    api.set_behaviour(Behaviour::Delay(Duration::from_millis(1500)));
    let exporter = Exporter::for_api(&api.url(), &["--api.timeout", "10s"]).await;
    let (short, patient) = tokio::join!(timed_scrape(&exporter, "1"), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        timed_scrape(&exporter, "10").await
    });
    let ((short, short_took), (patient, _)) = (short, patient);
    assert_eq!(up(&short), 0.0, "{short}");
    assert!(short_took < Duration::from_millis(1400), "{short_took:?}");
    assert_eq!(up(&patient), 1.0, "{patient}");
    assert_eq!(failures(&patient, "timeout"), 0.0, "{patient}");
    assert_eq!(api.requests(), 1);
}

/// Scrapes that keep joining a request cannot keep it running: each extends
/// it at most to its own deadline counted from the request's start, so a
/// request never outlives `--api.timeout`.
#[tokio::test]
async fn overlapping_scrapes_cannot_keep_one_request_past_the_api_timeout() {
    let api = fake_api(Population::Generated(10, Shape::Mixed)).await;
    api.set_behaviour(Behaviour::Delay(Duration::from_secs(60)));
    let exporter = Exporter::for_api(&api.url(), &["--api.timeout", "1s"]).await;
    let started = Instant::now();
    let scrape_for = |lag: u64| {
        let exporter = &exporter;
        async move {
            tokio::time::sleep(Duration::from_millis(lag)).await;
            let mut last = String::new();
            while started.elapsed() < Duration::from_millis(3500) {
                last = timed_scrape(exporter, "2").await.0;
            }
            last
        }
    };
    let (last, _) = tokio::join!(scrape_for(0), scrape_for(400));
    assert!(api.requests() >= 2, "{} requests in 3.5 s", api.requests());
    assert!(failures(&last, "timeout") >= 1.0, "{last}");
}
