//! 429 back-off (README, Failure model): after a 429 no request reaches the
//! API until `Retry-After` has passed (seconds or an HTTP date; 60 s when
//! absent or unreadable; at most an hour). Scrapes meanwhile answer 200
//! with `agi_up 0` and a `rate_limited` warning, without calling the API.
//!
//! The back-off is timed on tokio's clock, which these tests move forward
//! between scrapes ([`let_time_pass`]) instead of waiting for it.

use std::time::{Duration, SystemTime};

use crate::support::*;

/// A 429 carrying these headers.
fn too_many_requests(headers: &[(&str, &str)]) -> Behaviour {
    Behaviour::Respond {
        status: 429,
        headers: headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
        body: r#"{"error":"rate limit exceeded"}"#.into(),
    }
}

/// Scrapes `times` times, asserting each is `agi_up 0` and that the API got
/// no request beyond the first.
async fn assert_backing_off(exporter: &Exporter, api: &FakeApi, times: usize) {
    for scrape in 1..=times {
        let body = exporter.scrape().await;
        assert_eq!(up(&body), 0.0, "scrape {scrape} while backing off:\n{body}");
        assert_eq!(
            api.requests(),
            1,
            "scrape {scrape} reached the API before Retry-After passed\n{}",
            exporter.logs().tail(20)
        );
        assert_eq!(api_requests(&body), 1.0, "{body}");
        assert!(
            backoff(&body) > 0.0,
            "the back-off shows while it lasts:\n{body}"
        );
    }
}

/// `agi_api_rate_limit_backoff_seconds`.
fn backoff(exposition: &str) -> f64 {
    expect_value(exposition, "agi_api_rate_limit_backoff_seconds", &[])
}

/// Scrapes once, which must be `agi_up 1` after one new request.
async fn assert_fetches_again(exporter: &Exporter, api: &FakeApi) {
    let body = exporter.scrape().await;
    assert_eq!(up(&body), 1.0, "{body}\n{}", exporter.logs().tail(20));
    assert_eq!(api.requests(), 2, "after Retry-After, one new request");
    assert_eq!(backoff(&body), 0.0, "{body}");
}

/// The first scrape meets the 429 (which the API then stops sending).
async fn first_scrape_is_rate_limited(exporter: &Exporter, api: &FakeApi) {
    let body = exporter.scrape().await;
    assert_eq!(up(&body), 0.0, "{body}");
    assert_eq!(failures(&body, "rate_limited"), 1.0, "{body}");
    assert!(backoff(&body) > 0.0, "{body}");
    assert_eq!(api.requests(), 1);
    api.set_behaviour(Behaviour::Serve);
}

/// An exporter whose API answers 429 with these headers.
async fn rate_limited(headers: &[(&str, &str)]) -> (FakeApi, Exporter) {
    let api = fake_api(Population::Generated(5, Shape::Mixed)).await;
    api.set_behaviour(too_many_requests(headers));
    let exporter = Exporter::for_api(&api.url(), &["--web.max-requests", "0"]).await;
    first_scrape_is_rate_limited(&exporter, &api).await;
    (api, exporter)
}

#[tokio::test]
async fn retry_after_in_seconds_holds_requests_back_until_it_passes() {
    let (api, exporter) = rate_limited(&[("Retry-After", "2")]).await;
    assert_backing_off(&exporter, &api, 3).await;
    let skipped = exporter
        .logs()
        .lines(&["level=warn", "reason=rate_limited"]);
    assert_eq!(
        skipped.len(),
        4,
        "the 429 and every scrape held back log a rate_limited warning:\n{}",
        skipped.join("\n")
    );
    let_time_pass(Duration::from_millis(1900)).await;
    assert_backing_off(&exporter, &api, 1).await;
    let_time_pass(Duration::from_millis(200)).await;
    assert_fetches_again(&exporter, &api).await;
    exporter.assert_healthy().await;
}

#[tokio::test]
async fn retry_after_as_an_http_date_holds_requests_back_until_that_time() {
    // HTTP dates have whole seconds: "now + 3 s" is between 2 and 3 s away.
    let retry_at = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(3));
    let (api, exporter) = rate_limited(&[("Retry-After", &retry_at)]).await;
    let_time_pass(Duration::from_millis(1800)).await;
    assert_backing_off(&exporter, &api, 1).await;
    let_time_pass(Duration::from_millis(1300)).await;
    assert_fetches_again(&exporter, &api).await;
}

#[tokio::test]
async fn a_429_without_retry_after_holds_requests_back_for_60_seconds() {
    let (api, exporter) = rate_limited(&[]).await;
    let_time_pass(Duration::from_secs(59)).await;
    assert_backing_off(&exporter, &api, 2).await;
    let_time_pass(Duration::from_secs(2)).await;
    assert_fetches_again(&exporter, &api).await;
    exporter.assert_healthy().await;
}

#[tokio::test]
async fn an_unparseable_retry_after_holds_requests_back_for_60_seconds() {
    let (api, exporter) = rate_limited(&[("Retry-After", "soon-ish")]).await;
    let_time_pass(Duration::from_secs(59)).await;
    assert_backing_off(&exporter, &api, 1).await;
    let_time_pass(Duration::from_secs(2)).await;
    assert_fetches_again(&exporter, &api).await;
}

#[tokio::test]
async fn concurrent_scrapes_during_the_back_off_send_nothing() {
    let (api, exporter) = rate_limited(&[("Retry-After", "30")]).await;
    let scrapes: Vec<_> = (0..50).map(|_| exporter.spawn_scrape()).collect();
    for scrape in scrapes {
        let (status, body) = scrape.await.expect("the scrape task finishes");
        assert_eq!(status, 200, "{body}");
        assert_eq!(up(&body), 0.0, "{body}");
    }
    assert_eq!(
        api.requests(),
        1,
        "50 scrapes during the back-off reached the API"
    );
}

#[tokio::test]
async fn a_huge_retry_after_neither_panics_nor_holds_requests_back_past_an_hour() {
    // The largest delta-seconds a u64 holds: now + that is past any clock.
    let (api, exporter) = rate_limited(&[("Retry-After", "18446744073709551615")]).await;
    let log = exporter.logs().text();
    assert!(
        !log.contains("panicked"),
        "a Retry-After from the API must not make the exporter panic:\n{log}"
    );
    let_time_pass(Duration::from_secs(3599)).await;
    assert_backing_off(&exporter, &api, 1).await;
    let_time_pass(Duration::from_secs(2)).await;
    assert_fetches_again(&exporter, &api).await;
    exporter.assert_healthy().await;
}
