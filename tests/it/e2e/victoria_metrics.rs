//! A second real scraper: VictoriaMetrics single-node scrapes the real
//! binary, with the `agi` job of `prometheus/prometheus.yml`, and takes
//! every sample of every scrape without an error, lifecycle histograms
//! included.
//!
//! Needs `victoria-metrics` (Debian package `victoria-metrics`) on PATH;
//! skipped with a message without it, unless `CI` is set.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use agi_exporter::demo::{Population as Simulated, population_body};
use agi_exporter::format_timestamp;
use serde_json::json;

use super::support as e2e;
use super::support::HttpApi;
use crate::support::process::BinaryExporter;
use crate::support::tools::{VICTORIA_METRICS, tools_present};
use crate::support::{Behaviour, Deadline, FakeApi, Serving, TempDir, eventually};

const KEY: &str = "e2e-victoria-key-5d2e";

/// Scrapes VictoriaMetrics must have made before the checks.
const SCRAPES: f64 = 5.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn victoria_metrics_scrapes_every_sample_without_an_error() {
    if !tools_present(&[VICTORIA_METRICS]) {
        return;
    }
    let simulator = FakeApi::start(KEY, population_body(Simulated::Demo, 0x5eed)).await;
    let exporter = BinaryExporter::for_api_with_key(&simulator.url(), KEY, &[]).await;
    let address = exporter.address();
    let dir = TempDir::new("e2e-victoria-metrics");
    let (config, _) = e2e::test_prometheus_config(
        &e2e::repo_file("prometheus/prometheus.yml"),
        &[address],
        None,
    );
    let config_path = dir.path().join("scrape.yml");
    std::fs::write(&config_path, for_victoria_metrics(&config)).unwrap();
    let storage = dir.path().join("data");
    let (victoria, vm) = e2e::start_server("victoria-metrics", "/health", |port| {
        let mut command = Command::new("victoria-metrics");
        command
            .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
            .arg(format!("-storageDataPath={}", storage.display()))
            .arg(format!("-promscrape.config={}", config_path.display()))
            .arg("-promscrape.config.strictParse=true")
            .arg("-search.latencyOffset=0s");
        command
    })
    .await;
    let deadline = Deadline::after(Duration::from_secs(60));

    // A session is seen starting, so a lifecycle histogram has a count.
    let created = format_timestamp(e2e::unix_millis() - 30_000);
    let sessions = vec![json!({"session_id": "vm-1", "agent_name": "vm-agent",
        "status": "initializing", "created_at": created})];
    simulator.set_behaviour(Behaviour::json(serde_json::to_vec(&sessions).unwrap()));
    let target = eventually("the target has been scraped", deadline, async || {
        let data = vm.get_json("/api/v1/targets", &[]).await?;
        let targets = data["data"]["activeTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        match targets.as_slice() {
            [target] if target["health"] == "up" => Ok(target.clone()),
            _ => Err(format!("targets: {data:#}")),
        }
    })
    .await;
    assert_eq!(target["labels"]["job"], "agi", "{target:#}");
    // The exporter must have listed it initializing before it runs, or its
    // start is not one this exporter saw.
    eventually(
        "VictoriaMetrics has the session listed initializing",
        deadline,
        async || {
            let listed = query_one(
                &vm,
                r#"agi_agent_sessions{job="agi", agent_name="vm-agent", status="initializing"}"#,
            )
            .await?;
            if listed == Some(1.0) {
                Ok(())
            } else {
                Err(format!("initializing sessions of vm-agent: {listed:?}"))
            }
        },
    )
    .await;
    let mut running = sessions;
    running[0]["status"] = json!("running");
    simulator.set_behaviour(Behaviour::json(serde_json::to_vec(&running).unwrap()));

    let counters = eventually(
        "VictoriaMetrics has scraped the start and more scrapes",
        deadline,
        async || {
            let counters = own_counters(&vm).await?;
            let started = query_one(
                &vm,
                r#"agi_session_start_latency_seconds_count{job="agi", agent_name="vm-agent"}"#,
            )
            .await?;
            if counters.get("vm_promscrape_scrapes_total").copied() >= Some(SCRAPES)
                && started == Some(1.0)
            {
                Ok(counters)
            } else {
                Err(format!(
                    "start latency count {started:?}, counters {counters:?}"
                ))
            }
        },
    )
    .await;
    for failure in [
        "vm_promscrape_scrapes_failed_total",
        "vm_promscrape_scrapes_timed_out_total",
        "vm_promscrape_scrapes_skipped_by_sample_limit_total",
        "vm_rows_invalid_total",
    ] {
        assert_eq!(
            counters.get(failure).copied().unwrap_or(0.0),
            0.0,
            "{failure}: {counters:?}"
        );
    }

    // The last scrape took every sample the exporter writes.
    let data = vm.get_json("/api/v1/targets", &[]).await.unwrap();
    let target = &data["data"]["activeTargets"][0];
    assert_eq!(target["lastError"], "", "{target:#}");
    let scraped = target["lastSamplesScraped"].as_f64().unwrap();
    let exposition = crate::support::http_client()
        .get(format!("http://{address}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let samples = exposition
        .lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .count() as f64;
    assert_eq!(
        scraped, samples,
        "samples of the last scrape:\n{exposition}"
    );
    let log = victoria.output();
    assert!(
        !log.contains("cannot parse"),
        "VictoriaMetrics could not parse the exposition:\n{log}"
    );
    drop(exporter);
}

/// A Prometheus config as VictoriaMetrics reads it: its scrape settings, without
/// the rule evaluation it does not do (`rule_files`, `evaluation_interval`),
/// which its strict parsing refuses.
fn for_victoria_metrics(config: &str) -> String {
    let mut yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(config).unwrap();
    let config = yaml.as_mapping_mut().unwrap();
    config.remove("rule_files");
    if let Some(global) = config.get_mut("global").and_then(|g| g.as_mapping_mut()) {
        global.remove("evaluation_interval");
    }
    serde_yaml_ng::to_string(&yaml).unwrap()
}

/// VictoriaMetrics' own counters, summed over their labels.
async fn own_counters(vm: &HttpApi) -> Result<BTreeMap<String, f64>, String> {
    let (code, text) = vm.get("/metrics", &[]).await?;
    if code != 200 {
        return Err(format!("/metrics: HTTP {code}"));
    }
    let mut counters = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let name = series.split('{').next().unwrap_or(series);
        if let Ok(value) = value.parse::<f64>() {
            *counters.entry(name.to_owned()).or_insert(0.0) += value;
        }
    }
    Ok(counters)
}

/// The value of a query with at most one series, over every sample
/// VictoriaMetrics has taken so far: it first makes those it still buffers
/// searchable, which it would otherwise do only seconds later.
async fn query_one(vm: &HttpApi, promql: &str) -> Result<Option<f64>, String> {
    match vm.get("/internal/force_flush", &[]).await? {
        (200, _) => {}
        (code, body) => return Err(format!("/internal/force_flush: HTTP {code}: {body}")),
    }
    let data = vm.get_json("/api/v1/query", &[("query", promql)]).await?;
    let result = data["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    match result.as_slice() {
        [] => Ok(None),
        [series] => Ok(series["value"][1].as_str().and_then(|v| v.parse().ok())),
        _ => Err(format!("{promql}: several series: {data}")),
    }
}
