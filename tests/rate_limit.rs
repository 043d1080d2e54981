//! 429 back-off (SPEC section 5): after a 429 no request reaches the API
//! until `Retry-After` has passed (seconds or an HTTP date; 60 s when
//! absent). Scrapes meanwhile answer 200 with `agi_up 0` and a
//! `rate_limited` warning, without calling the API.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod faults_support;

use std::time::{Duration, Instant, SystemTime};

use agi_exporter::demo::{Behaviour, Population, Simulator};
use common::*;
use faults_support::*;

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

/// Scrapes every 100 ms until `until`, asserting each scrape is `agi_up 0`
/// and that the API got no request; returns how many scrapes were made.
async fn assert_backing_off_until(exporter: &Exporter, api: &Simulator, until: Instant) -> usize {
    let mut scrapes = 0;
    while Instant::now() < until {
        let body = scrape(exporter).await;
        scrapes += 1;
        assert_eq!(
            up(&body),
            0.0,
            "scrape {scrapes} while backing off:\n{body}"
        );
        assert_eq!(
            api.requests(),
            1,
            "scrape {scrapes} reached the API before Retry-After passed\n{}",
            stderr_tail(exporter, 20)
        );
        assert_eq!(api_requests(&body), 1.0, "{body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    scrapes
}

/// Scrapes every 100 ms until one is `agi_up 1` (bounded by `within`);
/// returns when that scrape started.
async fn scrape_until_up(exporter: &Exporter, within: Duration) -> Instant {
    let deadline = Instant::now() + within;
    loop {
        let started = Instant::now();
        let body = scrape(exporter).await;
        if up(&body) == 1.0 {
            return started;
        }
        assert!(
            Instant::now() < deadline,
            "still agi_up 0 after {within:?}:\n{body}\n{}",
            stderr_tail(exporter, 20)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The first scrape meets the 429; returns when it was sent (the back-off
/// starts after that instant).
async fn first_scrape_is_rate_limited(exporter: &Exporter, api: &Simulator) -> Instant {
    let sent = Instant::now();
    let body = scrape(exporter).await;
    assert_eq!(up(&body), 0.0, "{body}");
    assert_eq!(failures(&body, "rate_limited"), 1.0, "{body}");
    assert_eq!(api.requests(), 1);
    sent
}

#[tokio::test]
async fn retry_after_in_seconds_holds_requests_back_until_it_passes() {
    let api = simulator(Population::Generated(5)).await;
    api.set_behaviour(too_many_requests(&[("Retry-After", "2")]));
    let mut exporter = Exporter::for_api(&api.url(), &[]).await;

    let sent = first_scrape_is_rate_limited(&exporter, &api).await;
    api.set_behaviour(Behaviour::Serve);
    let held_back =
        assert_backing_off_until(&exporter, &api, sent + Duration::from_millis(1700)).await;

    let skipped = exporter.log_lines(&["level=warn", "reason=rate_limited"]);
    assert!(
        skipped.len() > held_back,
        "every scrape held back logs a rate_limited warning ({held_back} scrapes, {} lines):\n{}",
        skipped.len(),
        skipped.join("\n")
    );

    let recovered = scrape_until_up(&exporter, Duration::from_secs(5)).await;
    assert!(
        recovered >= sent + Duration::from_secs(2),
        "a request was sent {:?} after the 429, before Retry-After: 2 passed",
        recovered - sent
    );
    assert_eq!(api.requests(), 2, "after Retry-After, one new request");
    assert_healthy(&mut exporter).await;
}

#[tokio::test]
async fn retry_after_as_an_http_date_holds_requests_back_until_that_time() {
    let api = simulator(Population::Generated(5)).await;
    let exporter = Exporter::for_api(&api.url(), &[]).await;
    let sent = Instant::now();
    // HTTP dates have whole seconds: "now + 3 s" is between 2 and 3 s away.
    let retry_at = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(3));
    api.set_behaviour(too_many_requests(&[("Retry-After", &retry_at)]));

    let body = scrape(&exporter).await;
    assert_eq!(failures(&body, "rate_limited"), 1.0, "{body}");
    api.set_behaviour(Behaviour::Serve);
    assert_backing_off_until(&exporter, &api, sent + Duration::from_millis(1700)).await;

    let recovered = scrape_until_up(&exporter, Duration::from_secs(6)).await;
    assert!(
        recovered >= sent + Duration::from_millis(1900),
        "a request was sent {:?} after the 429, before {retry_at}",
        recovered - sent
    );
    assert_eq!(api.requests(), 2);
}

#[tokio::test]
async fn a_429_without_retry_after_holds_requests_back_for_longer_than_a_few_seconds() {
    let api = simulator(Population::Generated(5)).await;
    api.set_behaviour(too_many_requests(&[]));
    let mut exporter = Exporter::for_api(&api.url(), &[]).await;

    let sent = first_scrape_is_rate_limited(&exporter, &api).await;
    api.set_behaviour(Behaviour::Serve);
    // The default is 60 s; 3 s of scrapes show it is not "retry at once".
    let held_back = assert_backing_off_until(&exporter, &api, sent + Duration::from_secs(3)).await;
    assert!(held_back >= 10, "only {held_back} scrapes in 3 s");
    assert_healthy(&mut exporter).await;
}

#[tokio::test]
async fn an_unparseable_retry_after_still_backs_off() {
    let api = simulator(Population::Generated(5)).await;
    api.set_behaviour(too_many_requests(&[("Retry-After", "soon-ish")]));
    let exporter = Exporter::for_api(&api.url(), &[]).await;

    let sent = first_scrape_is_rate_limited(&exporter, &api).await;
    api.set_behaviour(Behaviour::Serve);
    assert_backing_off_until(&exporter, &api, sent + Duration::from_secs(2)).await;
}

#[tokio::test]
async fn concurrent_scrapes_during_the_back_off_send_nothing() {
    let api = simulator(Population::Generated(5)).await;
    api.set_behaviour(too_many_requests(&[("Retry-After", "30")]));
    let exporter = Exporter::for_api(&api.url(), &["--web.max-requests", "0"]).await;
    first_scrape_is_rate_limited(&exporter, &api).await;
    api.set_behaviour(Behaviour::Serve);

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
async fn a_huge_retry_after_neither_panics_nor_lets_requests_through() {
    let api = simulator(Population::Generated(5)).await;
    // The largest delta-seconds a u64 holds: now + that is past any clock.
    api.set_behaviour(too_many_requests(&[(
        "Retry-After",
        "18446744073709551615",
    )]));
    let mut exporter = Exporter::for_api(&api.url(), &[]).await;

    let sent = first_scrape_is_rate_limited(&exporter, &api).await;
    let stderr = exporter.stderr_text();
    assert!(
        !stderr.contains("panicked"),
        "a Retry-After from the API must not make the exporter panic:\n{stderr}"
    );
    api.set_behaviour(Behaviour::Serve);
    assert_backing_off_until(&exporter, &api, sent + Duration::from_secs(1)).await;
    assert_healthy(&mut exporter).await;
}
