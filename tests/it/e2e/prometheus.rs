//! End to end with a real Prometheus: a fake API serving the demo's
//! population (without life going on), the real
//! `agi_exporter` binary and the `prometheus` server on loopback, with a
//! config derived from `prometheus/prometheus.yml` and the shipped alert
//! rules (their `for:` shortened). Through Prometheus's HTTP API it proves
//! that the target is up, every rule loads and evaluates without error,
//! every Grafana dashboard query returns data, every metric and label that
//! a dashboard query or an alert rule names is one the exporter emits, and
//! the session alerts fire on stuck, paused and errored sessions. Then the
//! API refuses the key: the API alerts fire, and the session alerts keep
//! firing through the outage.
//!
//! Needs `prometheus` and `promtool` (Debian package `prometheus`) and
//! `python3` on PATH; skipped with a message without them, unless `CI` is
//! set.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, SystemTime};

use agi_exporter::demo::{Population as Simulated, population_body};
use agi_exporter::format_timestamp;
use serde_json::{Value as Json, json};

use super::support as e2e;
use super::support::{Deadline, Process, PrometheusApi, TempDir, eventually};
use crate::support::{Behaviour, FakeApi};

/// The key the simulator accepts and the exporter is given.
const KEY: &str = "e2e-prometheus-key-93b1";

/// How long the whole run may wait, once every process has started (it
/// takes about 10 s).
const RUN_DEADLINE: Duration = Duration::from_secs(60);

/// How long a process may take to start listening.
const STARTUP_DEADLINE: Duration = Duration::from_secs(20);

/// Errored sessions the second phase adds: enough for AGISessionErrorRatioHigh
/// (at least 5 ended sessions, over 20% of them errors).
const NEW_ERRORS: usize = 5;

/// The alerts the demo population and the second phase must fire.
const FIRING: [&str; 5] = [
    "AGISessionStuckRunning",
    "AGISessionStuckInitializing",
    "AGISessionPausedTooLong",
    "AGINewErroredSessions",
    "AGISessionErrorRatioHigh",
];

/// The alerts that must stay quiet: the exporter and the API are fine.
const QUIET: [&str; 4] = [
    "AGIExporterDown",
    "AGIApiDown",
    "AGIApiUnauthorized",
    "AGIApiRateLimited",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_exporter_evaluates_every_rule_and_answers_every_dashboard_query() {
    if !e2e::tools_present() {
        return;
    }
    // The demo population without evolution: every documented status, a
    // running session 3h12m old, an initializing one 25m old and a paused one
    // 26h old, and the same body on every fetch.
    let simulator = FakeApi::start(KEY, population_body(Simulated::Demo, 0x5eed)).await;
    let (exporter, exporter_address) = start_exporter(&simulator).await;
    let dir = TempDir::new("e2e-prometheus");
    let rule_files = write_prometheus_files(&dir, exporter_address);
    let (prometheus, api) = start_prometheus(&dir).await;
    let deadline = Deadline::after(RUN_DEADLINE);

    // Phase 1: a baseline of successful scrapes of the demo population.
    target_is_up(&api, exporter_address, deadline).await;
    eventually(
        "Prometheus has 3 successful scrapes (agi_up 1)",
        deadline,
        async || {
            let result = api
                .query(r#"sum_over_time(agi_up{job="agi"}[1m]) >= 3"#)
                .await?;
            non_empty(&result)
        },
    )
    .await;

    // Phase 2: new sessions appear (5 errored, 1 initializing, 1 completed
    // whose created_at cannot be parsed), so the transition and invalid-field
    // counters increase.
    simulator.set_behaviour(Behaviour::json(body_with_new_sessions(&simulator.body())));
    eventually(
        "the new errored sessions are counted",
        deadline,
        async || {
            let promql = format!(
                r#"agi_session_transitions_total{{job="agi", status="error"}} >= {NEW_ERRORS}"#
            );
            non_empty(&api.query(&promql).await?)
        },
    )
    .await;

    every_dashboard_query_returns_data(&api, deadline).await;
    oldest_running_age_is_in_seconds(&api).await;
    every_rule_is_loaded_and_healthy(&api, &rule_files, deadline).await;
    every_name_used_is_emitted(&api).await;
    session_alerts_fire(&api, &simulator, exporter_address, deadline).await;

    // Phase 3: the API refuses the key.
    api_outage_fires_the_api_alerts_and_keeps_the_session_alerts(&api, &simulator, deadline).await;

    drop(prometheus);
    let log = exporter.lines().join("\n");
    assert!(
        !log.contains(KEY),
        "the exporter logged the API key:\n{log}"
    );
}

/// Starts the real binary against the simulator, on an ephemeral port, and
/// returns it with the address it logged.
async fn start_exporter(simulator: &FakeApi) -> (Process, SocketAddr) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_agi_exporter"));
    command
        .args(["--api.url", &simulator.url()])
        .args(["--web.listen-address", "127.0.0.1:0"])
        .env("AGI_API_KEY", simulator.key())
        .env_remove("AGI_API_KEY_FILE")
        .env_remove("AGI_API_URL");
    let mut exporter = Process::spawn("agi_exporter", command);
    let deadline = Deadline::after(STARTUP_DEADLINE);
    let address = eventually(
        "agi_exporter logs its listening address",
        deadline,
        async || {
            if let Some(status) = exporter.exit_status() {
                panic!("agi_exporter exited with {status}:\n{}", exporter.tail());
            }
            exporter
                .lines()
                .iter()
                .find_map(|line| e2e::listening_address(line))
                .ok_or_else(|| exporter.tail())
        },
    )
    .await;
    (exporter, address)
}

/// Writes the test config and rule files into `dir`, checks them with
/// `promtool check config`, and returns the rule files' names.
fn write_prometheus_files(dir: &TempDir, exporter: SocketAddr) -> Vec<String> {
    let (config, rule_files) =
        e2e::test_prometheus_config(&e2e::repo_file("prometheus/prometheus.yml"), exporter);
    let config_path = dir.path().join("prometheus.yml");
    std::fs::write(&config_path, config).unwrap();
    for file in &rule_files {
        let shipped = format!("prometheus/{file}");
        let rules = e2e::test_rules(&e2e::repo_file(&shipped), &shipped);
        std::fs::write(dir.path().join(file), rules).unwrap();
    }
    let check = Command::new("promtool")
        .arg("check")
        .arg("config")
        .arg(&config_path)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "promtool check config rejects the test config:\n{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    rule_files
}

/// Starts `prometheus` on a free port, trying another port if that one was
/// taken in the meantime, and waits until it is ready.
async fn start_prometheus(dir: &TempDir) -> (Process, PrometheusApi) {
    for _attempt in 0..3 {
        let port = e2e::free_port();
        let mut command = Command::new("prometheus");
        command
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"));
        let mut prometheus = Process::spawn("prometheus", command);
        let api = PrometheusApi::new(port);
        let deadline = Deadline::after(STARTUP_DEADLINE);
        let ready = eventually("prometheus is ready", deadline, async || {
            if prometheus.exit_status().is_some() {
                return Ok(false);
            }
            match api.get("/-/ready", &[]).await {
                Ok((200, _)) => Ok(true),
                Ok((code, body)) => Err(format!("/-/ready: HTTP {code}: {body}")),
                Err(e) => Err(e),
            }
        })
        .await;
        if ready && prometheus.exit_status().is_none() {
            return (prometheus, api);
        }
        let log = prometheus.tail();
        assert!(
            log.contains("address already in use"),
            "prometheus exited:\n{log}"
        );
        eprintln!("port {port} was taken, trying another one");
    }
    panic!("prometheus could not bind a port in 3 attempts");
}

async fn target_is_up(api: &PrometheusApi, exporter: SocketAddr, deadline: Deadline) {
    eventually("/api/v1/targets shows job agi up", deadline, async || {
        let data = api.api("targets", &[("state", "active")]).await?;
        let targets = data["activeTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let target = match targets.as_slice() {
            [] => return Err("no active target yet".to_owned()),
            [target] => target,
            _ => panic!("expected one active target, got {data}"),
        };
        assert_eq!(target["labels"]["job"], "agi", "{target}");
        assert_eq!(
            target["scrapeUrl"],
            format!("http://{exporter}/metrics"),
            "{target}"
        );
        match target["health"].as_str() {
            Some("up") => Ok(()),
            _ => Err(format!("target not up yet: {target}")),
        }
    })
    .await;
}

/// The demo body plus new sessions: `NEW_ERRORS` errored, one initializing,
/// and one completed whose `created_at` cannot be parsed.
fn body_with_new_sessions(demo_body: &[u8]) -> Vec<u8> {
    let mut sessions: Vec<Json> = serde_json::from_slice(demo_body).unwrap();
    let now = format_timestamp(
        i64::try_from(
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_millis(),
        )
        .unwrap(),
    );
    for i in 0..NEW_ERRORS {
        sessions.push(
            json!({"session_id": format!("e2e-error-{i}"), "agent_name": "agi-0",
            "status": "error", "created_at": now}),
        );
    }
    sessions.push(json!({"session_id": "e2e-new", "agent_name": "agi-0-fast",
        "status": "initializing", "created_at": now}));
    sessions.push(json!({"session_id": "e2e-bad-time", "agent_name": "agi-1",
        "status": "completed", "created_at": "yesterday"}));
    serde_json::to_vec(&sessions).unwrap()
}

/// The panel queries of the dashboard, as `(panel title, expr)`.
fn dashboard_queries() -> Vec<(String, String)> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/dashboard-queries");
    let output = Command::new("python3")
        .arg(script)
        .args([
            "--set",
            "job=agi",
            "--set",
            "instance=.+",
            "--set",
            "agent_name=.+",
        ])
        .args(["--set", "__rate_interval=1m", "--set", "__interval=1m"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "scripts/dashboard-queries failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let queries: Vec<(String, String)> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let (title, expr) = line
                .split_once('\t')
                .unwrap_or_else(|| panic!("not `title<TAB>expr`: {line:?}"));
            (title.to_owned(), expr.to_owned())
        })
        .collect();
    assert!(
        queries.len() >= 15,
        "too few dashboard queries: {queries:?}"
    );
    queries
}

/// Every panel query succeeds with at least one series and no NaN (with a
/// request on every scrape, even the latency quantiles have data).
async fn every_dashboard_query_returns_data(api: &PrometheusApi, deadline: Deadline) {
    let queries = dashboard_queries();
    eventually("every dashboard query returns data", deadline, async || {
        let mut failures = String::new();
        for (title, expr) in &queries {
            let problem = match api.query(expr).await {
                Err(error) => Some(error),
                Ok(result) if result.series.is_empty() => {
                    Some(format!("no series: {}", result.raw))
                }
                Ok(result) if result.series.iter().any(|(_, v)| v.is_nan()) => {
                    Some(format!("NaN: {}", result.raw))
                }
                Ok(_) => None,
            };
            if let Some(problem) = problem {
                let _ = writeln!(failures, "panel {title:?}: {expr}\n  -> {problem}");
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(failures)
        }
    })
    .await;
}

/// The stuck demo session is 3h12m old: the age is in seconds.
async fn oldest_running_age_is_in_seconds(api: &PrometheusApi) {
    let promql =
        r#"last_over_time(agi_oldest_session_age_seconds{job="agi", status="running"}[1m])"#;
    let result = api.query(promql).await.unwrap();
    let [(_, age)] = result.series.as_slice() else {
        panic!("{promql}: expected one series, got {}", result.raw);
    };
    let expected = (3 * 3600 + 12 * 60) as f64;
    assert!(
        (expected..expected + 300.0).contains(age),
        "{promql} = {age}, expected about {expected}"
    );
}

/// `/api/v1/rules` has every group and rule of the shipped files, each
/// evaluated with health ok and no error.
async fn every_rule_is_loaded_and_healthy(
    api: &PrometheusApi,
    rule_files: &[String],
    deadline: Deadline,
) {
    let mut expected: Vec<(String, Vec<String>)> = Vec::new();
    for file in rule_files {
        let shipped = format!("prometheus/{file}");
        expected.extend(e2e::rule_names(&e2e::repo_file(&shipped), &shipped));
    }
    eventually(
        "every rule is evaluated with health ok",
        deadline,
        async || {
            let data = api.api("rules", &[]).await?;
            let groups = data["groups"].as_array().cloned().unwrap_or_default();
            let loaded: Vec<(String, Vec<String>)> = groups
                .iter()
                .map(|group| {
                    let rules = group["rules"].as_array().into_iter().flatten();
                    (
                        group["name"].as_str().unwrap_or_default().to_owned(),
                        rules
                            .map(|r| r["name"].as_str().unwrap_or_default().to_owned())
                            .collect(),
                    )
                })
                .collect();
            assert_eq!(
                loaded, expected,
                "loaded rule groups differ from the shipped files"
            );
            let mut not_ok = String::new();
            for rule in groups
                .iter()
                .flat_map(|g| g["rules"].as_array().into_iter().flatten())
            {
                let (health, error) = (&rule["health"], &rule["lastError"]);
                // A failing evaluation will not heal: fail now, with its error.
                assert!(
                    health != "err" && error.as_str().is_none_or(str::is_empty),
                    "rule {} fails to evaluate: {error}\n  query: {}",
                    rule["name"],
                    rule["query"]
                );
                if health != "ok" {
                    let _ = writeln!(not_ok, "rule {} has health {health}", rule["name"]);
                }
            }
            if not_ok.is_empty() {
                Ok(())
            } else {
                Err(not_ok)
            }
        },
    )
    .await;
}

/// Every selector in the dashboard queries and alert expressions matches a
/// series, and every label they group or match on is one those series
/// carry: nothing refers to a name the exporter does not emit. (Read through
/// `last_over_time` so that one failed scrape, whose stale markers hide the
/// session families for a second, cannot fail it.)
async fn every_name_used_is_emitted(api: &PrometheusApi) {
    let mut exprs: Vec<(String, String)> = dashboard_queries()
        .into_iter()
        .map(|(title, expr)| (format!("panel {title:?}"), expr))
        .collect();
    let alerts = e2e::repo_file("prometheus/alerts.yml");
    exprs.extend(
        e2e::alert_exprs(&alerts, "prometheus/alerts.yml")
            .into_iter()
            .map(|(name, expr)| (format!("alert {name}"), expr)),
    );
    let mut failures = String::new();
    let mut checked = BTreeSet::new();
    for (source, expr) in &exprs {
        let names = e2e::promql_names(expr);
        assert!(
            !names.selectors.is_empty(),
            "{source}: no selector found in {expr}"
        );
        for selector in &names.selectors {
            if !checked.insert(selector.clone()) {
                continue;
            }
            let promql = format!("count(last_over_time({selector}[5m]))");
            match api.query(&promql).await {
                Ok(result) if !result.series.is_empty() => {}
                Ok(result) => {
                    let _ = writeln!(
                        failures,
                        "{source}: {selector} matches no series ({})",
                        result.raw
                    );
                }
                Err(error) => {
                    let _ = writeln!(failures, "{source}: {error}");
                }
            }
        }
        for label in &names.grouping_labels {
            let mut found = false;
            for selector in &names.selectors {
                let promql = format!(
                    "count(last_over_time({}[5m]))",
                    e2e::with_label(selector, label)
                );
                if api.query(&promql).await.is_ok_and(|r| !r.series.is_empty()) {
                    found = true;
                    break;
                }
            }
            if !found {
                let _ = writeln!(
                    failures,
                    "{source}: no series of {:?} has the label {label:?} it groups by\n  expr: {expr}",
                    names.selectors
                );
            }
        }
    }
    assert!(
        failures.is_empty(),
        "names the exporter does not emit:\n{failures}"
    );
}

/// The session alerts fire with the exporter's labels and the stuck
/// session's id in the description; the exporter and API alerts stay quiet.
async fn session_alerts_fire(
    api: &PrometheusApi,
    simulator: &FakeApi,
    exporter: SocketAddr,
    deadline: Deadline,
) {
    let mut quiet_but_active = BTreeMap::new();
    let alerts = eventually("the session alerts fire", deadline, async || {
        let (by_name, data) = active_alerts(api).await?;
        for name in QUIET {
            if let Some(alert) = by_name.get(name) {
                quiet_but_active.insert(name, alert.clone());
            }
        }
        let missing: Vec<&str> = FIRING
            .into_iter()
            .filter(|name| by_name.get(*name).is_none_or(|a| a["state"] != "firing"))
            .collect();
        if missing.is_empty() {
            Ok(by_name)
        } else {
            Err(format!(
                "not firing yet: {missing:?}\nactive alerts: {data:#}"
            ))
        }
    })
    .await;

    if !quiet_but_active.is_empty() {
        // With `for: 0s`, AGIExporterDown and AGIApiDown rightly fire on one
        // failed scrape (a loaded machine can miss the 1s scrape timeout);
        // on data without a failed scrape, any of them is a false alarm.
        let failed = api
            .query(concat!(
                r#"sum(count_over_time(up{job="agi"}[5m]) - sum_over_time(up{job="agi"}[5m]))"#,
                r#" + sum(count_over_time(agi_up{job="agi"}[5m]) - sum_over_time(agi_up{job="agi"}[5m]))"#
            ))
            .await
            .unwrap();
        let failed = failed.series.first().map_or(0.0, |(_, v)| *v);
        let blips = ["AGIExporterDown", "AGIApiDown"];
        let false_alarms: Vec<_> = quiet_but_active
            .iter()
            .filter(|(name, _)| failed == 0.0 || !blips.contains(name))
            .collect();
        assert!(
            false_alarms.is_empty(),
            "alerts active on a healthy exporter and API ({failed} failed scrapes): {false_alarms:#?}"
        );
        eprintln!(
            "note: {failed} scrape(s) failed (machine under load?), so {:?} fired, rightly",
            quiet_but_active.keys()
        );
    }

    let stuck = alerts["AGISessionStuckRunning"].clone();
    assert_eq!(stuck["state"], "firing", "{stuck:#}");
    let labels = &stuck["labels"];
    assert_eq!(labels["job"], "agi", "{stuck:#}");
    assert_eq!(labels["instance"], exporter.to_string(), "{stuck:#}");
    assert_eq!(labels["status"], "running", "{stuck:#}");
    assert_eq!(labels["severity"], "warning", "{stuck:#}");
    let (id, agent) = oldest_running_session(&simulator.body());
    let description = stuck["annotations"]["description"]
        .as_str()
        .unwrap_or_default();
    assert!(
        description.contains(&format!("Oldest: session {id} (agent {agent})")),
        "the description does not name the stuck session {id}: {stuck:#}"
    );
}

/// While the API refuses the key, AGIApiUnauthorized and AGIApiDown fire
/// (the latter naming the reason), and the session alerts stay firing from
/// the same moment: `last_over_time` bridges the outage, so they neither
/// resolve nor fire again.
async fn api_outage_fires_the_api_alerts_and_keeps_the_session_alerts(
    api: &PrometheusApi,
    simulator: &FakeApi,
    deadline: Deadline,
) {
    let (before, _) = active_alerts(api).await.unwrap();
    simulator.set_behaviour(Behaviour::status(401, r#"{"detail":"Invalid API key"}"#));
    let during = eventually("the API alerts fire", deadline, async || {
        let (by_name, data) = active_alerts(api).await?;
        let firing = |name: &str| by_name.get(name).is_some_and(|a| a["state"] == "firing");
        if firing("AGIApiUnauthorized") && firing("AGIApiDown") {
            Ok(by_name)
        } else {
            Err(format!(
                "AGIApiUnauthorized and AGIApiDown not firing yet: {data:#}"
            ))
        }
    })
    .await;
    let down = &during["AGIApiDown"];
    let description = down["annotations"]["description"]
        .as_str()
        .unwrap_or_default();
    assert!(
        description.contains("Most frequent failure reason in the last 5 minutes: unauthorized."),
        "AGIApiDown does not name the failure reason: {down:#}"
    );
    assert!(
        !during.contains_key("AGIExporterDown"),
        "the exporter still answers, AGIExporterDown must not fire: {:#}",
        during["AGIExporterDown"]
    );
    for name in [
        "AGISessionStuckRunning",
        "AGISessionStuckInitializing",
        "AGISessionPausedTooLong",
    ] {
        let (was, is) = (&before[name], during.get(name));
        assert!(
            is.is_some_and(|is| is["state"] == "firing" && is["activeAt"] == was["activeAt"]),
            "{name} must keep firing through an API outage\nbefore: {was:#}\nduring: {is:#?}"
        );
    }
}

/// The active (pending or firing) alerts by name, and Prometheus's answer.
async fn active_alerts(api: &PrometheusApi) -> Result<(BTreeMap<String, Json>, Json), String> {
    let data = api.api("alerts", &[]).await?;
    let by_name = data["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            let name = a["labels"]["alertname"].as_str().unwrap_or_default();
            (name.to_owned(), a.clone())
        })
        .collect();
    Ok((by_name, data))
}

/// `Ok` when a query returned at least one series.
fn non_empty(result: &e2e::QueryResult) -> Result<(), String> {
    if result.series.is_empty() {
        Err(format!("no series yet: {}", result.raw))
    } else {
        Ok(())
    }
}

/// `(session_id, agent_name)` of the oldest running session of a body.
fn oldest_running_session(body: &[u8]) -> (String, String) {
    let sessions: Vec<Json> = serde_json::from_slice(body).unwrap();
    let oldest = sessions
        .iter()
        .filter(|s| s["status"] == "running")
        .min_by_key(|s| s["created_at"].as_str().unwrap_or_default().to_owned())
        .unwrap();
    (
        oldest["session_id"].as_str().unwrap().to_owned(),
        oldest["agent_name"].as_str().unwrap().to_owned(),
    )
}
