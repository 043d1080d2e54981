//! The lifecycle families through the whole exporter (README, Metrics): a
//! fake API scripted to list a session starting, running and finishing,
//! another already running when the exporter started, and a third that is
//! deleted. The exposition must count the transitions per agent, observe
//! the one session it saw start and finish (within one fetch interval of the
//! truth), never the one it did not, count the deletion under the status it
//! last had, and stay a valid exposition that `promtool` accepts.

use std::time::{SystemTime, UNIX_EPOCH};

use agi_exporter::format_timestamp;

use crate::support::*;

fn now_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn session(id: &str, agent: &str, status: &str, created_at: f64) -> String {
    let created = format_timestamp((created_at * 1000.0) as i64);
    format!(
        r#"{{"session_id":"{id}","agent_name":"{agent}","status":"{status}","created_at":"{created}"}}"#
    )
}

fn list(sessions: &[String]) -> Behaviour {
    Behaviour::json(format!("[{}]", sessions.join(",")))
}

/// Scrapes, checks the exposition with promtool as well, and returns it.
async fn scrape(exporter: &Exporter) -> String {
    let body = exporter.scrape().await;
    assert_eq!(up(&body), 1.0, "{body}");
    promtool_check_metrics(&body);
    body
}

fn histogram(body: &str, name: &str, labels: &[(&str, &str)]) -> (f64, f64) {
    (
        expect_value(body, &format!("{name}_count"), labels),
        expect_value(body, &format!("{name}_sum"), labels),
    )
}

fn bucket(body: &str, name: &str, labels: &[(&str, &str)], le: &str) -> f64 {
    let mut labels = labels.to_vec();
    labels.push(("le", le));
    expect_value(body, &format!("{name}_bucket"), &labels)
}

#[tokio::test]
async fn a_session_seen_starting_and_finishing_is_observed_and_one_seen_late_is_not() {
    let api = fake_api(Population::Empty).await;
    let created = now_seconds() - 2.0;
    let old = now_seconds() - 3600.0;
    let already_running = session("seen-late", "agi-1", "running", old);
    let deleted = session("deleted", "agi-1", "error", old);
    api.set_behaviour(list(&[
        session("watched", "agi-0-fast", "initializing", created),
        already_running.clone(),
        deleted,
    ]));
    let exporter = Exporter::for_api(&api.url(), &[]).await;
    let first = scrape(&exporter).await;
    let start = "agi_session_start_latency_seconds";
    let duration = "agi_session_duration_seconds";
    let fast = [("agent_name", "agi-0-fast")];
    assert_eq!(
        histogram(&first, start, &fast),
        (0.0, 0.0),
        "a baseline only"
    );

    let switched = now_seconds();
    api.set_behaviour(list(&[
        session("watched", "agi-0-fast", "running", created),
        already_running.clone(),
    ]));
    let second = scrape(&exporter).await;
    let scraped = now_seconds();
    let (count, sum) = histogram(&second, start, &fast);
    assert_eq!(count, 1.0, "{second}");
    // The truth is when the list changed; the value is at most one fetch
    // interval later (the fetch happened between the two instants).
    assert!(
        sum >= switched - created - 0.01 && sum <= scraped - created + 0.01,
        "start latency {sum} s, the session started {} s after it was created",
        switched - created
    );
    assert_eq!(bucket(&second, start, &fast, "1"), 0.0);
    assert_eq!(bucket(&second, start, &fast, "+Inf"), 1.0);
    assert_eq!(
        histogram(&second, start, &[("agent_name", "agi-1")]),
        (0.0, 0.0),
        "a session first seen running long after it was created is not observed"
    );
    assert_eq!(
        expect_value(
            &second,
            "agi_session_transitions_total",
            &[("agent_name", "agi-0-fast"), ("status", "running")]
        ),
        1.0
    );
    assert_eq!(
        expect_value(
            &second,
            "agi_sessions_removed_total",
            &[("status", "error")]
        ),
        1.0,
        "the deleted session counts under the status it last had"
    );

    let finished = now_seconds();
    api.set_behaviour(list(&[
        session("watched", "agi-0-fast", "completed", created),
        already_running,
    ]));
    let third = scrape(&exporter).await;
    let done = now_seconds();
    let completed = [("agent_name", "agi-0-fast"), ("status", "completed")];
    let (count, sum) = histogram(&third, duration, &completed);
    assert_eq!(count, 1.0, "{third}");
    assert!(
        sum >= finished - created - 0.01 && sum <= done - created + 0.01,
        "duration {sum} s, the session finished {} s after it was created",
        finished - created
    );
    assert_eq!(bucket(&third, duration, &completed, "15"), 1.0);
    // Again, and again: each session is observed once.
    let fourth = scrape(&exporter).await;
    assert_eq!(histogram(&fourth, duration, &completed).0, 1.0);
    assert_eq!(histogram(&fourth, start, &fast).0, 1.0);
    for status in DOCUMENTED_STATUSES {
        let labels = [("agent_name", "agi-1"), ("status", status)];
        assert!(
            value(&fourth, "agi_session_transitions_total", &labels).is_some(),
            "every documented status of every agent from 0: {status}\n{fourth}"
        );
    }
}

#[tokio::test]
async fn coalesced_and_cached_scrapes_never_observe_twice() {
    let api = fake_api(Population::Empty).await;
    let created = now_seconds() - 1.0;
    api.set_behaviour(list(&[session("s", "agi-0", "initializing", created)]));
    let exporter = Exporter::for_api(&api.url(), &["--api.cache-ttl", "1h"]).await;
    scrape(&exporter).await;
    api.set_behaviour(list(&[session("s", "agi-0", "running", created)]));
    // Served from the cache: the change is not seen, nothing observed.
    let cached = scrape(&exporter).await;
    let labels = [("agent_name", "agi-0")];
    assert_eq!(
        histogram(&cached, "agi_session_start_latency_seconds", &labels).0,
        0.0
    );
    assert_eq!(api.requests(), 1);
    let_time_pass(std::time::Duration::from_secs(3601)).await;
    let fetched = scrape(&exporter).await;
    assert_eq!(
        histogram(&fetched, "agi_session_start_latency_seconds", &labels).0,
        1.0
    );
    let again = scrape(&exporter).await;
    assert_eq!(
        histogram(&again, "agi_session_start_latency_seconds", &labels).0,
        1.0
    );
    assert_eq!(api.requests(), 2);
}
