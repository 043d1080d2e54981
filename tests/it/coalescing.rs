//! Coalescing and the result cache (README, Failure model; Performance): concurrent
//! scrapes share one in-flight API request, and with `--api.cache-ttl` a
//! successful result is reused for that long. The API sees the difference;
//! the scrapers do not.

use crate::support::*;
use std::time::{Duration, Instant};

const CONCURRENT_SCRAPES: usize = 200;

#[tokio::test]
async fn two_hundred_concurrent_scrapes_cause_one_api_request() {
    let api = fake_api(Population::Generated(20, Shape::Mixed)).await;
    // Long enough for all 200 scrapes to arrive while the first request is
    // still under way, even on a busy 2-core machine.
    api.set_behaviour(Behaviour::Delay(Duration::from_secs(3)));
    let exporter = Exporter::for_api(&api.url(), &["--web.max-requests", "0"]).await;

    let started = Instant::now();
    let scrapes: Vec<_> = (0..CONCURRENT_SCRAPES)
        .map(|_| exporter.spawn_scrape())
        .collect();
    let mut answers = Vec::new();
    for scrape in scrapes {
        answers.push(scrape.await.expect("the scrape task finishes"));
    }
    let elapsed = started.elapsed();

    let running = |body: &str| expect_value(body, "agi_sessions", &[("status", "running")]);
    let shared = running(&answers[0].1);
    for (i, (status, body)) in answers.iter().enumerate() {
        assert_eq!(*status, 200, "scrape {i} answered {status}: {body}");
        assert_eq!(up(body), 1.0, "scrape {i}:\n{body}");
        assert_eq!(
            running(body),
            shared,
            "every scrape sees the same shared result"
        );
    }
    assert_eq!(
        api.requests(),
        1,
        "{CONCURRENT_SCRAPES} concurrent scrapes (answered within {elapsed:?}) must share one API request"
    );
    exporter.assert_healthy().await;
}

#[tokio::test]
async fn a_scrape_after_the_shared_request_finished_sends_a_new_one() {
    let api = fake_api(Population::Generated(5, Shape::Mixed)).await;
    let exporter = Exporter::for_api(&api.url(), &[]).await;
    assert_eq!(up(&exporter.scrape().await), 1.0);
    assert_eq!(up(&exporter.scrape().await), 1.0);
    assert_eq!(
        api.requests(),
        2,
        "without --api.cache-ttl each scrape that is not concurrent fetches"
    );
}

#[tokio::test]
async fn a_result_is_reused_within_the_cache_ttl_and_refetched_after_it() {
    let api = fake_api(Population::Generated(5, Shape::Mixed)).await;
    let exporter = Exporter::for_api(&api.url(), &["--api.cache-ttl", "2s"]).await;

    let first = exporter.scrape().await;
    let_time_pass(Duration::from_millis(1900)).await;
    let second = exporter.scrape().await;
    assert_eq!(up(&first), 1.0, "{first}");
    assert_eq!(up(&second), 1.0, "a cached result is up:\n{second}");
    assert_eq!(api.requests(), 1, "the second scrape is within the 2 s TTL");
    assert_eq!(api_requests(&second), 1.0, "{second}");

    let_time_pass(Duration::from_millis(200)).await;
    let third = exporter.scrape().await;
    assert_eq!(up(&third), 1.0, "{third}");
    assert_eq!(api.requests(), 2, "the TTL has passed: a new request");
}

#[tokio::test]
async fn a_failure_is_not_cached() {
    let api = fake_api(Population::Generated(5, Shape::Mixed)).await;
    api.set_behaviour(Behaviour::status(500, "oops"));
    let exporter = Exporter::for_api(&api.url(), &["--api.cache-ttl", "30s"]).await;
    assert_eq!(up(&exporter.scrape().await), 0.0);
    api.set_behaviour(Behaviour::Serve);
    assert_eq!(
        up(&exporter.scrape().await),
        1.0,
        "a failed fetch must not be reused"
    );
    assert_eq!(api.requests(), 2);
}

#[tokio::test]
async fn the_help_of_agi_up_mentions_the_cache_ttl() {
    let api = fake_api(Population::Generated(5, Shape::Mixed)).await;
    let exporter = Exporter::for_api(&api.url(), &["--api.cache-ttl", "2s"]).await;
    let body = exporter.scrape().await;
    let help = body
        .lines()
        .find(|line| line.starts_with("# HELP agi_up "))
        .unwrap_or_else(|| panic!("no HELP line for agi_up in:\n{body}"));
    assert!(
        help.contains("--api.cache-ttl") && help.contains('2'),
        "the HELP of agi_up must say a result may be up to 2 s old (--api.cache-ttl): {help}"
    );
}
