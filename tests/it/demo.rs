//! `--demo`: the exporter serves its built-in simulated API and exports it,
//! so that a first-time user sees a lively dashboard without a key.

use crate::support::*;
use std::collections::BTreeSet;
use std::time::Duration;

async fn demo_exporter() -> Exporter {
    Exporter::start(&["--demo"], None).await
}

/// The oldest session in each live status, at least this old: the demo's
/// stuck sessions, each past its alert's threshold.
const STUCK: [(&str, f64); 4] = [
    ("running", 3.0 * 3600.0),
    ("waiting_for_input", 30.0 * 60.0),
    ("ready", 3600.0),
    ("paused", 24.0 * 3600.0),
];

/// What is still missing from a demo scrape, or `None` when it shows
/// everything a user expects.
fn missing_from_demo(body: &str) -> Option<String> {
    if value(body, "agi_up", &[]) != Some(1.0) {
        return Some("agi_up 1".to_owned());
    }
    for status in SDK_STATUSES {
        if !value(body, "agi_sessions", &[("status", status)]).is_some_and(|v| v > 0.0) {
            return Some(format!("sessions in status {status}"));
        }
    }
    let agents: BTreeSet<String> = samples(body)
        .into_iter()
        .filter(|s| s.name == "agi_agent_sessions")
        .filter_map(|s| s.label("agent_name").map(str::to_owned))
        .collect();
    if agents.len() < 5 {
        return Some(format!("5 agents (got {agents:?})"));
    }
    for (status, at_least) in STUCK {
        let age = value(
            body,
            "agi_oldest_session_age_seconds",
            &[("status", status)],
        );
        if !age.is_some_and(|age| age >= at_least) {
            return Some(format!("an oldest {status} session {at_least} s old"));
        }
    }
    None
}

#[tokio::test]
async fn within_25_s_the_demo_shows_every_sdk_status_five_agents_and_its_stuck_sessions() {
    let exporter = demo_exporter().await;
    let body = eventually(
        "the demo shows everything it promises",
        Duration::from_secs(25),
        async || {
            let body = exporter.scrape().await;
            match missing_from_demo(&body) {
                None => Ok(body),
                Some(missing) => Err(format!("it never showed {missing}; last scrape:\n{body}")),
            }
        },
    )
    .await;
    // The SDKs' vocabulary only: the docs' own statuses stay empty.
    for status in ["initializing", "completed", "terminated"] {
        let listed = value(&body, "agi_sessions", &[("status", status)]);
        assert!(
            listed.is_none_or(|n| n == 0.0),
            "{status}: {listed:?}\n{body}"
        );
    }
}

#[tokio::test]
async fn demo_landing_page_says_demo() {
    let exporter = demo_exporter().await;
    let page = exporter.get("/").await.text();
    assert!(page.contains("DEMO"), "{page}");
    assert!(page.contains(r#"href="/metrics""#), "{page}");
}

#[tokio::test]
async fn demo_start_up_log_says_demo() {
    let exporter = demo_exporter().await;
    let log = exporter.logs().text();
    assert!(log.to_lowercase().contains("demo"), "{log}");
}

#[tokio::test]
async fn demo_needs_no_key() {
    // No AGI_API_KEY is given.
    let exporter = demo_exporter().await;
    let body = exporter.scrape().await;
    assert_eq!(expect_value(&body, "agi_up", &[]), 1.0, "{body}");
}
