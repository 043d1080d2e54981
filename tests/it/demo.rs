//! `--demo`: the exporter serves its built-in simulated API and exports it,
//! so that a first-time user sees a lively dashboard without a key.

use crate::support::*;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

async fn demo_exporter() -> Exporter {
    Exporter::start(&["--demo"], None).await
}

/// What is still missing from a demo scrape, or `None` when it shows
/// everything a user expects.
fn missing_from_demo(body: &str) -> Option<String> {
    if value(body, "agi_up", &[]) != Some(1.0) {
        return Some("agi_up 1".to_owned());
    }
    for status in DOCUMENTED_STATUSES {
        if !value(body, "agi_sessions", &[("status", status)]).is_some_and(|v| v > 0.0) {
            return Some(format!("sessions in status {status}"));
        }
    }
    let agents: BTreeSet<String> = samples(body)
        .into_iter()
        .filter(|s| s.name == "agi_agent_sessions")
        .filter_map(|s| s.label("agent_name").map(str::to_owned))
        .collect();
    if agents.len() < 3 {
        return Some(format!("at least 3 agents (got {agents:?})"));
    }
    if !value(
        body,
        "agi_oldest_session_age_seconds",
        &[("status", "running")],
    )
    .is_some_and(|age| age > 0.0)
    {
        return Some("an oldest running session age above 0".to_owned());
    }
    None
}

#[tokio::test]
async fn demo_shows_every_status_several_agents_and_a_running_age() {
    let exporter = demo_exporter().await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let body = exporter.scrape().await;
        let Some(missing) = missing_from_demo(&body) else {
            break;
        };
        assert!(
            Instant::now() < deadline,
            "within 15 s the demo never showed {missing}; last scrape:\n{body}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
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
