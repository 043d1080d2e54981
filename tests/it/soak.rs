//! A bounded soak against the real binary (README, Failure model and
//! Performance): the API flaps every 50 ms between serving 1,000 sessions,
//! answering too slowly, failing with 500 and rate limiting with
//! `Retry-After: 1`, while four scrapers send 80 scrapes each with a
//! Prometheus timeout header of 0.6 s. Every scrape must get a 200 with an
//! `agi_up` line; afterwards the exporter must be alive, healthy and no
//! bigger than it was, and the API must have been spared most of the load
//! (coalescing and back-off). Bounded by the number of scrapes, not by a
//! clock: a few seconds.

use crate::support::process::*;
use crate::support::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const SCRAPES_EACH: u64 = 80;
const SWITCH_EVERY: Duration = Duration::from_millis(50);
const SCRAPERS: usize = 4;
/// The scrape timeout Prometheus would send: a 0.1 s deadline with the
/// default `--web.timeout-offset`.
const SCRAPE_TIMEOUT: &str = "0.6";
/// Memory may grow by at most this much over the soak: allocator slack for
/// a few concurrent 1,000-session bodies, with no room for a real leak.
const RSS_HEADROOM: u64 = 32 * 1024 * 1024;

/// The API's moods, in the order it cycles through them: a 429 now and
/// then, since its back-off silences the API for a second.
fn moods() -> Vec<Behaviour> {
    let serve = Behaviour::Serve;
    let slow = Behaviour::Delay(Duration::from_millis(250));
    let failing = Behaviour::status(500, r#"{"message":"internal error"}"#);
    let limited = Behaviour::Respond {
        status: 429,
        headers: vec![("Retry-After".to_owned(), "1".to_owned())],
        body: r#"{"error":"slow down"}"#.into(),
    };
    let mut moods = Vec::new();
    for _ in 0..6 {
        moods.extend([serve.clone(), slow.clone(), failing.clone()]);
    }
    moods.push(limited);
    moods
}

/// What one scraper saw.
#[derive(Default)]
struct Tally {
    scrapes: u64,
    up: u64,
    /// Scrapes that were not a 200 with an `agi_up` line, with the reason.
    bad: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flapping_api_under_four_scrapers_leaves_the_exporter_healthy_and_lean() {
    let api = Arc::new(fake_api(Population::Generated(1000, Shape::Sdk)).await);
    let exporter = BinaryExporter::for_api(&api.url(), &["--web.max-requests", "0"]).await;

    // Warm up: the allocator, the connection pool and the metric families.
    for _ in 0..5 {
        assert_eq!(up(&exporter.scrape().await), 1.0);
    }
    let initial_rss = exporter.rss_bytes();
    let requests_before = api.requests();

    let stop = Arc::new(AtomicBool::new(false));
    let switcher = {
        let api = Arc::clone(&api);
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            for mood in moods().into_iter().cycle() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                api.set_behaviour(mood);
                tokio::time::sleep(SWITCH_EVERY).await;
            }
        })
    };

    let scrapers: Vec<_> = (0..SCRAPERS)
        .map(|_| {
            let client = exporter.client().clone();
            let url = format!("{}/metrics", exporter.url());
            tokio::spawn(async move {
                let mut tally = Tally::default();
                while tally.scrapes < SCRAPES_EACH {
                    tally.scrapes += 1;
                    // Paced a little, as scrapers are, so that the scrapes
                    // spread over the API's moods.
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    let answer = client
                        .get(&url)
                        .header(SCRAPE_TIMEOUT_HEADER, SCRAPE_TIMEOUT)
                        .send()
                        .await;
                    let response = match answer {
                        Ok(response) => response,
                        Err(error) => {
                            tally.bad.push(format!("no answer: {error}"));
                            continue;
                        }
                    };
                    let status = response.status().as_u16();
                    let body = response.text().await.unwrap_or_default();
                    match (status, value(&body, "agi_up", &[])) {
                        (200, Some(up)) => tally.up += u64::from(up == 1.0),
                        (status, _) => tally.bad.push(format!("HTTP {status}: {body:.200}")),
                    }
                }
                tally
            })
        })
        .collect();

    let mut total = Tally::default();
    for scraper in scrapers {
        let tally = scraper.await.expect("the scraper finishes");
        total.scrapes += tally.scrapes;
        total.up += tally.up;
        total.bad.extend(tally.bad);
    }
    stop.store(true, Ordering::SeqCst);
    switcher.await.expect("the switcher stops");
    let api_requests = api.requests() - requests_before;
    eprintln!(
        "soak: {} scrapes ({} up), {api_requests} API requests, RSS {initial_rss} bytes before",
        total.scrapes, total.up
    );

    assert!(
        total.bad.is_empty(),
        "{} of {} scrapes were not a 200 with agi_up, e.g.:\n{}\n{}",
        total.bad.len(),
        total.scrapes,
        total
            .bad
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n"),
        exporter.stderr_tail(20)
    );
    assert!(total.up > 0, "no scrape was up in {} tries", total.scrapes);
    assert!(
        total.up < total.scrapes,
        "every scrape was up: the API never misbehaved, so this soak proved nothing"
    );

    let healthy = exporter.get("/-/healthy").await;
    assert_eq!(healthy.status, 200, "{}", exporter.stderr_tail(20));
    api.set_behaviour(Behaviour::Serve);
    let after = scrape_until_up(&exporter).await;
    assert_eq!(up(&after), 1.0);
    let final_rss = exporter.rss_bytes();
    eprintln!("soak: RSS {final_rss} bytes after");
    assert!(
        final_rss < initial_rss + RSS_HEADROOM,
        "RSS after the soak is {final_rss} bytes; the bound is the {initial_rss} bytes after warm-up + 32 MiB"
    );

    assert!(
        api_requests * 2 < total.scrapes,
        "{api_requests} API requests for {} scrapes: coalescing and back-off must spare the API most of the load",
        total.scrapes
    );
}

/// Scrapes until one is up (the last 429's `Retry-After: 1` may still hold).
async fn scrape_until_up(exporter: &BinaryExporter) -> String {
    let last = poll(Duration::from_secs(5), async || {
        let body = exporter.scrape().await;
        if up(&body) == 1.0 {
            Ok(body)
        } else {
            Err(body)
        }
    })
    .await;
    last.unwrap_or_else(|body| body)
}
