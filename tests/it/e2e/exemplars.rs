//! Exemplars end to end: a real Prometheus with exemplar storage scrapes
//! the exporter of the living demo account in OpenMetrics (what it asks
//! for by default), and `/api/v1/query_exemplars` names, for the duration
//! and time-to-start buckets, sessions the demo really finished or started.
//!
//! Needs `prometheus` and `promtool` (Debian package `prometheus`);
//! skipped with a message without them, unless `CI` is set.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use agi_exporter::demo::{SimOptions, Simulator};
use serde_json::Value as Json;

use super::support as e2e;
use crate::support::process::BinaryExporter;
use crate::support::tools::{PROMETHEUS, PROMTOOL, tools_present};
use crate::support::{Deadline, Serving, TempDir, eventually, http_client};

/// The session ids of the exemplars of `series` over the last 10 minutes.
async fn exemplar_ids(api: &e2e::HttpApi, series: &str) -> Result<Vec<(String, f64)>, String> {
    let now = e2e::unix_millis() as f64 / 1000.0;
    let (start, end) = (format!("{:.3}", now - 600.0), format!("{now:.3}"));
    let data = api
        .api(
            "query_exemplars",
            &[("query", series), ("start", &start), ("end", &end)],
        )
        .await?;
    let mut ids = Vec::new();
    for group in data.as_array().cloned().unwrap_or_default() {
        for exemplar in group["exemplars"].as_array().cloned().unwrap_or_default() {
            let id = exemplar["labels"]["session_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let value: f64 = exemplar["value"]
                .as_str()
                .unwrap_or("nan")
                .parse()
                .unwrap_or(f64::NAN);
            ids.push((id, value));
        }
    }
    if ids.is_empty() {
        return Err(format!("no exemplars of {series} yet: {data}"));
    }
    Ok(ids)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_stores_the_sessions_behind_the_lifecycle_buckets() {
    if !tools_present(&[PROMETHEUS, PROMTOOL]) {
        return;
    }
    let simulator = Simulator::start(SimOptions::demo())
        .await
        .expect("the demo API starts");
    let exporter = BinaryExporter::for_api_with_key(&simulator.url(), simulator.key(), &[]).await;
    // What the demo lists, every half second: each id and the statuses it
    // was seen in, and the ids of the latest listing. A session can end and
    // be deleted between two looks, so one that ended may never be seen in
    // a final status; it is then gone from the list.
    let seen: std::sync::Arc<std::sync::Mutex<BTreeMap<String, BTreeSet<String>>>> =
        Default::default();
    let latest: std::sync::Arc<std::sync::Mutex<BTreeSet<String>>> = Default::default();
    let watcher = {
        let (seen, latest, url, key) = (
            seen.clone(),
            latest.clone(),
            simulator.url(),
            simulator.key().to_owned(),
        );
        tokio::spawn(async move {
            let client = http_client();
            loop {
                if let Ok(response) = client
                    .get(format!("{url}/v1/sessions"))
                    .bearer_auth(&key)
                    .send()
                    .await
                    && let Ok(bytes) = response.bytes().await
                    && let Ok(body) = serde_json::from_slice::<Json>(&bytes)
                {
                    let sessions = body
                        .as_array()
                        .cloned()
                        .or_else(|| body["sessions"].as_array().cloned());
                    let mut listed = BTreeSet::new();
                    for session in sessions.unwrap_or_default() {
                        let (Some(id), Some(status)) =
                            (session["session_id"].as_str(), session["status"].as_str())
                        else {
                            continue;
                        };
                        let mut seen = seen.lock().unwrap();
                        seen.entry(id.to_owned())
                            .or_default()
                            .insert(status.to_owned());
                        listed.insert(id.to_owned());
                    }
                    *latest.lock().unwrap() = listed;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };
    let dir = TempDir::new("e2e-exemplars");
    let (config, rule_files) = e2e::test_prometheus_config(
        &e2e::repo_file("prometheus/prometheus.yml"),
        &[exporter.address()],
        None,
    );
    e2e::write_prometheus_files(&dir, &config, &rule_files);
    let (_prometheus, api) = e2e::start_prometheus(&dir).await;
    let deadline = Deadline::after(Duration::from_secs(120));

    let durations = eventually("Prometheus has duration exemplars", deadline, async || {
        exemplar_ids(&api, "agi_session_duration_seconds_bucket").await
    })
    .await;
    let starts = eventually(
        "Prometheus has time-to-start exemplars",
        deadline,
        async || exemplar_ids(&api, "agi_session_start_latency_seconds_bucket").await,
    )
    .await;
    // One more look, so that every listing the exporter read is older than
    // the latest one the watcher holds.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    watcher.abort();
    let seen = seen.lock().unwrap().clone();
    let latest = latest.lock().unwrap().clone();
    const FINAL: [&str; 4] = ["completed", "finished", "error", "terminated"];
    for (id, value) in &durations {
        let statuses = seen
            .get(id)
            .unwrap_or_else(|| panic!("{id} was never listed: {seen:?}"));
        assert!(
            statuses.iter().any(|s| FINAL.contains(&s.as_str())) || !latest.contains(id),
            "{id} never ended, and is still listed: {statuses:?}"
        );
        assert!(*value >= 0.0, "{id}: {value}");
    }
    for (id, value) in &starts {
        let statuses = seen
            .get(id)
            .unwrap_or_else(|| panic!("{id} was never listed: {seen:?}"));
        assert!(
            statuses
                .iter()
                .any(|s| !["initializing", "ready"].contains(&s.as_str())),
            "{id} never started: {statuses:?}"
        );
        assert!(*value >= 0.0, "{id}: {value}");
    }
    // A transition names the session that entered it too.
    let entered = eventually(
        "Prometheus has transition exemplars",
        deadline,
        async || exemplar_ids(&api, r#"agi_session_transitions_total{status="running"}"#).await,
    )
    .await;
    assert!(
        entered.iter().all(|(id, _)| seen.contains_key(id)),
        "{entered:?}"
    );
}
