//! End to end with a real Prometheus and a real Alertmanager: one fake API
//! serving the demo's population (without life going on) and then the
//! sessions the test scripts, two `agi_exporter` binaries watching it as two
//! instances of one job (replicas), `prometheus` with a config derived from
//! `prometheus/prometheus.yml` and the shipped recording and alert rules
//! (their `for:` a hundred times shorter in the copy), and
//! `prometheus-alertmanager` with the inhibit rule of
//! `docs/alerts.md` and a webhook receiver, all on loopback.
//!
//! The scripted sessions speak both status vocabularies, the SDKs' and the
//! docs', and make every lifecycle family move: errors, new sessions,
//! sessions that are slow to start (some from `initializing`, some from
//! `ready`), then end (`finished` or `completed`), then are deleted, and a
//! session stuck initializing. Through the servers' HTTP APIs it proves that
//! both targets are up, every rule loads and evaluates without error, every
//! Grafana dashboard query returns data, every account-level dashboard query
//! gives with two replicas what one exporter gives (nothing counted twice),
//! the Service levels row reads the recording rules and objectives into the
//! budget left and burn rates the scripted sessions make,
//! every metric and label a query or rule names is one the exporter emits or
//! a recording rule records, and the session alerts fire per agent: exactly
//! those that the sessions listed call for (the age alerts from the listed
//! ages, whichever vocabulary the demo speaks), per exporter, and the error
//! ratio once for both replicas; each age alert names its session when the
//! exporter lists it among the oldest, and says so when it does not.
//! Through Alertmanager, the stuck-running alert reaches the
//! webhook with its agent, severity, session and runbook; a broken API fires
//! `AGIApiDown`, which resolves once it is repaired; and a refused key fires
//! `AGIApiUnauthorized` while the inhibit rule keeps `AGIApiDown` from being
//! notified, and the session alerts keep firing through the outage.
//!
//! Needs `prometheus`, `promtool` (Debian package `prometheus`),
//! `prometheus-alertmanager` and `python3` on PATH; skipped with a message
//! without them, unless `CI` is set.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use agi_exporter::demo::{Population as Simulated, population_body};
use agi_exporter::{format_timestamp, parse_timestamp};
use serde_json::{Value as Json, json};

use super::alertmanager::{self, Webhook};
use super::support as e2e;
use super::support::{HttpApi, QueryResult};
use crate::support::process::BinaryExporter;
use crate::support::tools::{ALERTMANAGER, PROMETHEUS, PROMTOOL, PYTHON, tools_present};
use crate::support::{
    Behaviour, Deadline, FakeApi, Serving, TempDir, assert_no_key_in, eventually,
};

/// The key the simulator accepts and the exporters are given.
const KEY: &str = "e2e-prometheus-key-93b1";

/// How long the whole run may wait, once every process has started (it
/// takes about 30 s).
const RUN_DEADLINE: Duration = Duration::from_secs(120);

/// The agent whose sessions end in error: AGISessionErrorRatioHigh is to
/// fire for it.
const ERRORED_AGENT: &str = "agi-0";

/// Errored sessions the test adds for `ERRORED_AGENT`, and nothing else
/// ends for it: enough for AGISessionErrorRatioHigh (every ended session in
/// error, at least 3 in 30 minutes).
const NEW_ERRORS: usize = 10;

/// The agent whose sessions start slowly: created 9 minutes ago, listed
/// initializing (half of them, the docs' first status) or ready (the SDKs'),
/// then running, then finished or completed.
const SLOW_AGENT: &str = "e2e-slow";

/// How many sessions it has: AGISessionStartSlow needs 10 starts.
const SLOW_SESSIONS: usize = 12;

/// An agent of the docs' vocabulary whose one session has been initializing
/// for 11 minutes: AGISessionStuckInitializing fires for it whichever
/// vocabulary the demo speaks.
const DOCS_AGENT: &str = "e2e-docs";

/// Sessions the scripted list adds at once: the errors, a new ready one, a
/// finished one without a usable `created_at`, the slow agent's and the
/// docs agent's. `agi_sessions_seen_total` counts each once.
const NEW_SESSIONS: usize = NEW_ERRORS + 2 + SLOW_SESSIONS + 1;

/// The exporter's default final statuses: every other status is live.
const FINAL_STATUSES: [&str; 4] = ["completed", "finished", "error", "terminated"];

/// The alerts on the age of an agent's oldest session in one live status,
/// with their thresholds in seconds, as `prometheus/alerts.yml` has them.
const AGE_ALERTS: [(&str, &str, i64); 5] = [
    ("AGISessionStuckRunning", "running", 3600),
    ("AGISessionStuckInitializing", "initializing", 600),
    ("AGISessionPausedTooLong", "paused", 86400),
    ("AGISessionWaitingForInput", "waiting_for_input", 1800),
    ("AGISessionIdle", "ready", 3600),
];

/// The session alerts raised per exporter (with `instance`), and those that
/// fold the replicas of an account (one alert, without `instance`).
const PER_EXPORTER_SESSION_ALERTS: [&str; 6] = [
    "AGISessionStuckRunning",
    "AGISessionStuckInitializing",
    "AGISessionPausedTooLong",
    "AGISessionWaitingForInput",
    "AGISessionIdle",
    "AGISessionStartSlow",
];
const FOLDED_SESSION_ALERTS: [&str; 2] = ["AGISessionErrorRatioHigh", "AGINewErroredSessions"];

/// The alerts that must stay quiet: the exporters and the API are fine, and
/// AGINewErroredSessions needs an hour of recorded history before it
/// compares, which a test of seconds does not have (its promtool tests
/// cover it).
const QUIET: [&str; 6] = [
    "AGINewErroredSessions",
    "AGIExporterDown",
    "AGIExporterAbsent",
    "AGIApiDown",
    "AGIApiUnauthorized",
    "AGIApiRateLimited",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_and_alertmanager_run_the_shipped_dashboard_and_alerts_on_two_replicas() {
    if !tools_present(&[PROMETHEUS, PROMTOOL, PYTHON, ALERTMANAGER]) {
        return;
    }
    // The demo population without evolution: every documented status, a
    // running session 3h12m old, an initializing one 25m old and a paused one
    // 26h old.
    let simulator = FakeApi::start(KEY, population_body(Simulated::Demo, 0x5eed)).await;
    let mut account = Account::new(&simulator);
    let exporter_a = BinaryExporter::for_api_with_key(&simulator.url(), KEY, &[]).await;
    let exporter_b = BinaryExporter::for_api_with_key(&simulator.url(), KEY, &[]).await;
    let (a, b) = (exporter_a.address(), exporter_b.address());
    let dir = TempDir::new("e2e-prometheus");
    let webhook = Webhook::start().await;
    let (_alertmanager, am) =
        alertmanager::start(&dir, &webhook, alertmanager::documented_inhibit_rules()).await;
    let (config, rule_files) = e2e::test_prometheus_config(
        &e2e::repo_file("prometheus/prometheus.yml"),
        &[a, b],
        Some(am.address()),
    );
    e2e::write_prometheus_files(&dir, &config, &rule_files);
    let (prometheus, api) = e2e::start_prometheus(&dir).await;
    let deadline = Deadline::after(RUN_DEADLINE);
    let both = Replicas { api: &api, a, b };

    // A baseline of successful scrapes of the demo population.
    let scraped = [a, b]
        .iter()
        .map(|e| format!("http://{e}/metrics"))
        .collect();
    e2e::targets_are_up(&api, &scraped, deadline).await;
    both.hold(
        "3 successful scrapes (agi_up 1)",
        r#"sum_over_time(agi_up{job="agi"}[1m]) >= 3"#,
        deadline,
    )
    .await;

    // New sessions: errors, a new ready one, a finished one whose
    // created_at cannot be parsed, the slow agent's sessions, created 9
    // minutes ago and not started yet, and the docs agent's stuck one.
    account.add_new_sessions();
    account.publish(&simulator);
    both.hold(
        "the errored sessions are counted",
        &format!(
            r#"agi_session_transitions_total{{agent_name="{ERRORED_AGENT}", status="error"}} >= {NEW_ERRORS}"#
        ),
        deadline,
    )
    .await;
    both.hold(
        "the new sessions are counted once each, whatever their first status",
        &format!(r#"sum by (instance) (agi_sessions_seen_total) == {NEW_SESSIONS}"#),
        deadline,
    )
    .await;
    both.hold(
        "the slow agent's sessions are listed initializing or ready",
        &format!(
            r#"sum by (instance) (agi_agent_sessions{{agent_name="{SLOW_AGENT}", status=~"initializing|ready"}}) == {SLOW_SESSIONS}"#
        ),
        deadline,
    )
    .await;

    // They start, about 9 minutes after they were created...
    account.set_status(SLOW_AGENT, "running");
    account.publish(&simulator);
    both.hold(
        "the slow starts are observed",
        &format!(
            r#"agi_session_start_latency_seconds_count{{agent_name="{SLOW_AGENT}"}} == {SLOW_SESSIONS}"#
        ),
        deadline,
    )
    .await;

    // ...they end, half of them finished (the SDKs' word), half completed
    // (the docs'), and the errored sessions are deleted.
    account.finish(SLOW_AGENT);
    account.delete_errors();
    account.publish(&simulator);
    for status in ["finished", "completed"] {
        both.hold(
            &format!("the slow agent's {status} durations are observed"),
            &format!(
                r#"agi_session_duration_seconds_count{{agent_name="{SLOW_AGENT}", status="{status}"}} == {}"#,
                SLOW_SESSIONS / 2
            ),
            deadline,
        )
        .await;
    }
    both.hold(
        "the deleted sessions are counted as removed",
        &format!(r#"agi_sessions_removed_total{{status="error"}} >= {NEW_ERRORS}"#),
        deadline,
    )
    .await;

    every_dashboard_query_returns_data(&api, deadline).await;
    replicas_are_not_counted_twice(&both, &account).await;
    service_levels_read_the_rules(&api, deadline).await;
    oldest_running_age_is_in_seconds(&api).await;
    every_rule_is_loaded_and_healthy(&api, &rule_files, deadline).await;
    every_name_used_is_emitted(&api).await;
    let firing = session_alerts_fire(&api, &[a, b], &account, deadline).await;
    age_alerts_name_their_session(&firing, &account);
    stuck_running_reaches_the_webhook(&webhook, &simulator.body(), deadline).await;

    // The API breaks, and is repaired.
    let since = webhook.count();
    simulator.set_behaviour(Behaviour::status(
        503,
        r#"{"detail":"Service Unavailable"}"#,
    ));
    both_fire(&api, "AGIApiDown", deadline).await;
    eventually("AGIApiDown reaches the webhook", deadline, async || {
        found(&webhook, since, "AGIApiDown", "firing", 2)
    })
    .await;
    account.publish(&simulator);
    eventually("AGIApiDown resolves at the webhook", deadline, async || {
        found(&webhook, since, "AGIApiDown", "resolved", 2)
    })
    .await;

    // The key is refused: AGIApiUnauthorized is notified, AGIApiDown fires
    // but is inhibited, and the session alerts stay firing.
    let since = webhook.count();
    simulator.set_behaviour(Behaviour::status(401, r#"{"detail":"Invalid API key"}"#));
    refused_key_is_notified_once(&api, &am, &webhook, since, deadline).await;
    session_alerts_keep_firing(&api, &firing).await;
    account.publish(&simulator);
    eventually(
        "AGIApiUnauthorized resolves at the webhook",
        deadline,
        async || found(&webhook, since, "AGIApiUnauthorized", "resolved", 2),
    )
    .await;
    let down = webhook.find(since, "AGIApiDown", "firing");
    assert!(
        down.is_empty(),
        "the inhibit rule of docs/alerts.md must keep AGIApiDown from being notified while the key is refused: {down:#?}"
    );

    drop(prometheus);
    for (name, exporter) in [("a", exporter_a), ("b", exporter_b)] {
        assert_no_key_in(
            KEY,
            &format!("the output of exporter {name}"),
            &exporter.output(),
        );
    }
}

/// The session list the fake API serves, as the test changes it.
struct Account {
    sessions: Vec<Json>,
}

impl Account {
    fn new(simulator: &FakeApi) -> Account {
        Account {
            sessions: serde_json::from_slice(&simulator.body()).unwrap(),
        }
    }

    /// Serves the list as it is now.
    fn publish(&self, simulator: &FakeApi) {
        simulator.set_behaviour(Behaviour::json(serde_json::to_vec(&self.sessions).unwrap()));
    }

    /// `NEW_ERRORS` errored sessions of agi-0, a ready one of agi-0-fast
    /// and a finished one of agi-1 whose `created_at` cannot be parsed, all
    /// created now; `SLOW_SESSIONS` of `SLOW_AGENT`, created 9 minutes ago
    /// (under AGISessionStuckInitializing's 10) and initializing or ready,
    /// one in two; and one of `DOCS_AGENT`, initializing for 11 minutes.
    fn add_new_sessions(&mut self) {
        let now = e2e::unix_millis();
        let created = |ago_ms: i64| format_timestamp(now - ago_ms);
        let before = self.sessions.len();
        for i in 0..NEW_ERRORS {
            self.sessions
                .push(json!({"session_id": format!("e2e-error-{i}"),
                "agent_name": ERRORED_AGENT, "status": "error", "created_at": created(0)}));
        }
        self.sessions
            .push(json!({"session_id": "e2e-new", "agent_name": "agi-0-fast",
            "status": "ready", "created_at": created(0)}));
        self.sessions
            .push(json!({"session_id": "e2e-bad-time", "agent_name": "agi-1",
            "status": "finished", "created_at": "yesterday"}));
        for i in 0..SLOW_SESSIONS {
            let status = if i % 2 == 0 { "initializing" } else { "ready" };
            self.sessions
                .push(json!({"session_id": format!("e2e-slow-{i}"),
                "agent_name": SLOW_AGENT, "status": status,
                "created_at": created(9 * 60 * 1000)}));
        }
        self.sessions.push(
            json!({"session_id": "e2e-docs-stuck", "agent_name": DOCS_AGENT,
            "status": "initializing", "created_at": created(11 * 60 * 1000)}),
        );
        assert_eq!(self.sessions.len() - before, NEW_SESSIONS);
    }

    /// Ends every session of `agent`: one in two finished, the others
    /// completed.
    fn finish(&mut self, agent: &str) {
        for (i, session) in self
            .sessions
            .iter_mut()
            .filter(|s| s["agent_name"] == agent)
            .enumerate()
        {
            session["status"] = json!(if i % 2 == 0 { "finished" } else { "completed" });
        }
    }

    /// Sets the status of every session of `agent`.
    fn set_status(&mut self, agent: &str, status: &str) {
        for session in self
            .sessions
            .iter_mut()
            .filter(|s| s["agent_name"] == agent)
        {
            session["status"] = json!(status);
        }
    }

    /// Deletes the errored sessions the test added.
    fn delete_errors(&mut self) {
        self.sessions.retain(|s| {
            !s["session_id"]
                .as_str()
                .is_some_and(|id| id.starts_with("e2e-error-"))
        });
    }

    /// Sessions per status, as `agi_sessions` counts them.
    fn by_status(&self) -> BTreeMap<String, f64> {
        let mut counts = BTreeMap::new();
        for session in &self.sessions {
            let status = session["status"].as_str().unwrap_or("unknown");
            *counts.entry(status.to_owned()).or_insert(0.0) += 1.0;
        }
        counts
    }
}

/// Two exporters scraped as two instances of job `agi`.
struct Replicas<'a> {
    api: &'a HttpApi,
    a: SocketAddr,
    b: SocketAddr,
}

impl Replicas<'_> {
    /// Waits until `promql` has a result for both instances.
    async fn hold(&self, what: &str, promql: &str, deadline: Deadline) {
        let instances: BTreeSet<String> = [self.a, self.b].iter().map(|a| a.to_string()).collect();
        eventually(what, deadline, async || {
            let result = self.api.query(promql).await?;
            let seen: BTreeSet<String> = result
                .series
                .iter()
                .filter_map(|(labels, _)| labels.get("instance")?.as_str().map(str::to_owned))
                .collect();
            if instances.is_subset(&seen) {
                Ok(())
            } else {
                Err(format!(
                    "{promql}: not on both instances yet: {}",
                    result.raw
                ))
            }
        })
        .await;
    }
}

/// The panel queries of the dashboard, as `(panel title, expr)`, with
/// `instance` set to `instances` (a regex).
fn dashboard_queries(instances: &str) -> Vec<(String, String)> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/dashboard-queries");
    let output = Command::new("python3")
        .arg(script)
        .args(["--set", "job=agi", "--set", "agent_name=.+"])
        .args(["--set", &format!("instance={instances}")])
        // The shortest window the recording rules record.
        .args([
            "--set",
            "__rate_interval=1m",
            "--set",
            "__interval=1m",
            "--set",
            "window=5m",
        ])
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
        queries.len() >= 30,
        "too few dashboard queries: {queries:?}"
    );
    queries
}

/// Every panel query succeeds with at least one series and no NaN.
async fn every_dashboard_query_returns_data(api: &HttpApi, deadline: Deadline) {
    let queries = dashboard_queries(".+");
    let exprs: Vec<String> = queries.iter().map(|(_, expr)| expr.clone()).collect();
    eventually("every dashboard query returns data", deadline, async || {
        let mut failures = String::new();
        for ((title, expr), result) in queries.iter().zip(api.query_many(&exprs, None).await) {
            let problem = match result {
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

/// A query's series by their labels.
type Series = BTreeMap<String, f64>;

/// The series of each of `exprs` at `time`, queried at once.
async fn series_at(api: &HttpApi, exprs: &[String], time: f64) -> Vec<Series> {
    let results = api.query_many(exprs, Some(time)).await;
    results
        .into_iter()
        .map(|result| {
            let result = result.unwrap_or_else(|e| panic!("{e}"));
            result
                .series
                .into_iter()
                .map(|(labels, value)| (Json::Object(labels).to_string(), value))
                .collect()
        })
        .collect()
}

/// Every account-level query (one whose series carry no `instance`) gives
/// over both replicas what one exporter gives: each series lies between the
/// two exporters' own values, where counting both would give their sum. The
/// session counts also match the list the fake API serves.
async fn replicas_are_not_counted_twice(both: &Replicas<'_>, account: &Account) {
    let all = dashboard_queries(".+");
    let only_a = dashboard_queries(&both.a.to_string());
    let only_b = dashboard_queries(&both.b.to_string());
    // One instant for every query, so that all of them read the same
    // samples: a second in the past, when every scrape begun before it has
    // been stored, and after both replicas have scraped the list as it is
    // now (the callers waited for that).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let time = e2e::unix_millis() as f64 / 1000.0 - 1.0;
    let exprs: Vec<String> = [&all, &only_a, &only_b]
        .into_iter()
        .flat_map(|queries| queries.iter().map(|(_, expr)| expr.clone()))
        .collect();
    let mut series = series_at(both.api, &exprs, time).await.into_iter();
    let merged: Vec<Series> = series.by_ref().take(all.len()).collect();
    let of_a: Vec<Series> = series.by_ref().take(all.len()).collect();
    let of_b: Vec<Series> = series.collect();
    let mut failures = String::new();
    let mut doubled_would_show = 0;
    for (((title, expr), merged), (a, b)) in all.iter().zip(&merged).zip(of_a.iter().zip(&of_b)) {
        if merged.keys().any(|labels| labels.contains("\"instance\"")) {
            continue; // a panel per instance
        }
        let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        if merged.keys().collect::<BTreeSet<_>>() != keys {
            let _ = writeln!(
                failures,
                "panel {title:?}: series differ\n  both: {merged:?}\n  a: {a:?}\n  b: {b:?}"
            );
            continue;
        }
        for (labels, value) in merged {
            let (va, vb) = (
                a.get(labels).copied().unwrap_or(0.0),
                b.get(labels).copied().unwrap_or(0.0),
            );
            let (low, high) = (va.min(vb), va.max(vb));
            let slack = 1e-9 * high.abs().max(1.0);
            if !(low - slack..=high + slack).contains(value) {
                let _ = writeln!(
                    failures,
                    "panel {title:?} {labels}: {value} over both replicas, {va} and {vb} for each\n  {expr}"
                );
            }
            if va > 0.0 && vb > 0.0 {
                doubled_would_show += 1;
            }
        }
    }
    assert!(failures.is_empty(), "replicas counted twice:\n{failures}");
    assert!(
        doubled_would_show >= 20,
        "too few non-zero account-level series ({doubled_would_show}) for double counting to show"
    );

    // The stats and the by-status panel say what the fake API lists.
    let counts = account.by_status();
    let live: f64 = counts
        .iter()
        .filter(|(status, _)| !FINAL_STATUSES.contains(&status.as_str()))
        .map(|(_, n)| n)
        .sum();
    let panel = |title: &str| {
        all.iter()
            .position(|(t, _)| t == title)
            .map(|i| &merged[i])
            .unwrap_or_else(|| panic!("no panel {title:?}"))
    };
    for (title, expected) in [
        ("Live sessions", live),
        ("Running", counts["running"]),
        ("Errored sessions", counts["error"]),
    ] {
        let values: Vec<f64> = panel(title).values().copied().collect();
        assert_eq!(values, [expected], "panel {title:?}");
    }
    let by_status: BTreeMap<String, f64> = panel("Sessions by status")
        .iter()
        .map(|(labels, value)| {
            let labels: Json = serde_json::from_str(labels).unwrap();
            (labels["status"].as_str().unwrap().to_owned(), *value)
        })
        .filter(|(_, value)| *value > 0.0)
        .collect();
    assert_eq!(by_status, counts, "panel \"Sessions by status\"");
}

/// The Service levels row, read through the recording rules and the
/// objectives of `rules.yml` (95% each, so a budget of 5%): every session
/// `ERRORED_AGENT` ended was an error, so its error burn rate is 20 and its
/// budget left 1 - 20; `SLOW_AGENT` ended every session without error
/// (budget left 100%, burn 0) and started every one about 9 minutes after
/// it was created, over the 60 s threshold (start burn 20, budget 1 - 20).
/// Each panel's first query, at one instant, once the rules have evaluated
/// the data.
async fn service_levels_read_the_rules(api: &HttpApi, deadline: Deadline) {
    const BURN: f64 = 1.0 / (1.0 - 0.95);
    let expected = [
        ("Error budget left by agent", ERRORED_AGENT, 1.0 - BURN),
        ("Error budget left by agent", SLOW_AGENT, 1.0),
        (
            "Error burn rate by agent, short windows",
            ERRORED_AGENT,
            BURN,
        ),
        ("Error burn rate by agent, short windows", SLOW_AGENT, 0.0),
        ("Start budget left by agent", SLOW_AGENT, 1.0 - BURN),
        ("Start burn rate by agent, short windows", SLOW_AGENT, BURN),
    ];
    let queries = dashboard_queries(".+");
    let first = |title: &str| {
        queries
            .iter()
            .find(|(t, _)| t == title)
            .map(|(_, expr)| expr.clone())
            .unwrap_or_else(|| panic!("no panel {title:?}"))
    };
    let exprs: Vec<String> = expected.iter().map(|(title, _, _)| first(title)).collect();
    eventually(
        "the Service levels row shows the scripted sessions",
        deadline,
        async || {
            let time = e2e::unix_millis() as f64 / 1000.0 - 1.0;
            let mut wrong = String::new();
            for ((title, agent, want), series) in
                expected.iter().zip(series_at(api, &exprs, time).await)
            {
                let got: Vec<f64> = series
                    .iter()
                    .filter(|(labels, _)| labels.contains(&format!(r#""agent_name":"{agent}""#)))
                    .map(|(_, value)| *value)
                    .collect();
                if got.len() != 1 || (got[0] - want).abs() > 1e-9 * want.abs().max(1.0) {
                    let _ = writeln!(
                        wrong,
                        "panel {title:?}, agent {agent}: {got:?}, expected {want}"
                    );
                }
            }
            if wrong.is_empty() { Ok(()) } else { Err(wrong) }
        },
    )
    .await;
}

/// The stuck demo session is 3h12m old: the age is in seconds.
async fn oldest_running_age_is_in_seconds(api: &HttpApi) {
    let promql =
        r#"max(last_over_time(agi_oldest_session_age_seconds{job="agi", status="running"}[1m]))"#;
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

/// `/api/v1/rules` has every group and rule of the shipped files (groups in
/// any order: Prometheus lists them by file name, rules in file order), each
/// evaluated with health ok and no error.
async fn every_rule_is_loaded_and_healthy(
    api: &HttpApi,
    rule_files: &[String],
    deadline: Deadline,
) {
    let mut expected: Vec<(String, Vec<String>)> = Vec::new();
    for file in rule_files {
        let shipped = format!("prometheus/{file}");
        expected.extend(e2e::rule_names(&e2e::repo_file(&shipped), &shipped));
    }
    expected.sort();
    eventually(
        "every rule is evaluated with health ok",
        deadline,
        async || {
            let data = api.api("rules", &[]).await?;
            let groups = data["groups"].as_array().cloned().unwrap_or_default();
            let mut loaded: Vec<(String, Vec<String>)> = groups
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
            loaded.sort();
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

/// Every selector in the dashboard queries, recording rules and alert
/// expressions matches a series, and every label they group or match on is
/// one those series carry: nothing refers to a name the exporter does not
/// emit or a recording rule does not record. The one exception is
/// `account`, a target label only an exporter probing several named
/// accounts gives: the rules keep it when it is there. (Read through
/// `last_over_time` so that one failed scrape, whose stale markers hide the
/// session families for a second, cannot fail it.)
async fn every_name_used_is_emitted(api: &HttpApi) {
    let mut exprs: Vec<(String, String)> = dashboard_queries(".+")
        .into_iter()
        .map(|(title, expr)| (format!("panel {title:?}"), expr))
        .collect();
    for file in ["prometheus/rules.yml", "prometheus/alerts.yml"] {
        exprs.extend(
            e2e::rule_exprs(&e2e::repo_file(file), file)
                .into_iter()
                .map(|(name, expr)| (format!("rule {name}"), expr)),
        );
    }
    let found = |selector: &str| format!("count(last_over_time({selector}[5m]))");
    let with_label = |selector: &str, label: &str| found(&e2e::with_label(selector, label));
    let names: Vec<(&String, &String, e2e::PromqlNames)> = exprs
        .iter()
        .map(|(source, expr)| (source, expr, e2e::promql_names(expr)))
        .collect();
    // Every query the checks below read, asked once and all at once.
    let mut queries = BTreeSet::new();
    for (source, expr, names) in &names {
        // An objective is a constant: it names nothing.
        if expr.trim().starts_with("vector(") && names.selectors.is_empty() {
            continue;
        }
        assert!(
            !names.selectors.is_empty(),
            "{source}: no selector found in {expr}"
        );
        for selector in &names.selectors {
            queries.insert(found(selector));
            for label in names.grouping_labels.iter().filter(|l| *l != "account") {
                queries.insert(with_label(selector, label));
            }
        }
    }
    let queries: Vec<String> = queries.into_iter().collect();
    let answers: BTreeMap<&String, Result<QueryResult, String>> = queries
        .iter()
        .zip(api.query_many(&queries, None).await)
        .collect();
    let has_series = |promql: &String| answers[promql].as_ref().is_ok_and(|r| !r.series.is_empty());

    let mut failures = String::new();
    let mut checked = BTreeSet::new();
    for (source, expr, names) in &names {
        for selector in &names.selectors {
            if !checked.insert(selector.clone()) {
                continue;
            }
            match &answers[&found(selector)] {
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
        for label in names.grouping_labels.iter().filter(|l| *l != "account") {
            if !names
                .selectors
                .iter()
                .any(|selector| has_series(&with_label(selector, label)))
            {
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

/// Active alerts, keyed by name and then by their labels.
type Active = BTreeMap<String, Vec<Json>>;

/// The session alerts an account calls for, as `(alert, agent_name)`: those
/// it must fire (`required`), and those it may (`allowed`: also the age
/// alerts of sessions that cross their threshold while the test runs).
struct ExpectedAlerts {
    required: BTreeSet<(String, String)>,
    allowed: BTreeSet<(String, String)>,
}

/// The age alerts from the ages of the sessions listed now (whichever
/// vocabulary the demo population speaks), and the alerts the scripted
/// sessions make: the slow starts and agi-0's errors.
fn expected_session_alerts(account: &Account) -> ExpectedAlerts {
    let now = e2e::unix_millis();
    let margin = RUN_DEADLINE.as_millis() as i64;
    let mut required = BTreeSet::new();
    let mut allowed = BTreeSet::new();
    for session in &account.sessions {
        let (Some(status), Some(agent), Some(created)) = (
            session["status"].as_str(),
            session["agent_name"].as_str(),
            session["created_at"].as_str().and_then(parse_timestamp),
        ) else {
            continue;
        };
        let age_ms = now - created;
        for (alert, alert_status, threshold) in AGE_ALERTS {
            if status != alert_status {
                continue;
            }
            let key = (alert.to_owned(), agent.to_owned());
            if age_ms > threshold * 1000 {
                required.insert(key.clone());
            }
            if age_ms > threshold * 1000 - margin {
                allowed.insert(key);
            }
        }
    }
    for scripted in [
        ("AGISessionStartSlow", SLOW_AGENT),
        ("AGISessionErrorRatioHigh", ERRORED_AGENT),
        ("AGISessionStuckInitializing", DOCS_AGENT),
    ] {
        let key = (scripted.0.to_owned(), scripted.1.to_owned());
        required.insert(key.clone());
        allowed.insert(key);
    }
    ExpectedAlerts { required, allowed }
}

/// The session alerts the account calls for fire, with `agent_name`: the
/// per-exporter ones on both exporters, the folded ones once without
/// `instance`; no other session alert fires, and the exporter and API
/// alerts stay quiet. Returns the active alerts.
async fn session_alerts_fire(
    api: &HttpApi,
    exporters: &[SocketAddr],
    account: &Account,
    deadline: Deadline,
) -> Active {
    let instances: BTreeSet<String> = exporters.iter().map(ToString::to_string).collect();
    let expected = expected_session_alerts(account);
    for (alert, _) in &expected.required {
        assert!(
            PER_EXPORTER_SESSION_ALERTS.contains(&alert.as_str())
                || FOLDED_SESSION_ALERTS.contains(&alert.as_str()),
            "{alert}: not a session alert this test knows"
        );
    }
    let mut quiet_but_active = BTreeMap::new();
    let active = eventually("the session alerts fire", deadline, async || {
        let (by_name, data) = active_alerts(api).await?;
        for name in QUIET {
            if let Some(alerts) = by_name.get(name) {
                quiet_but_active.insert(name, alerts.clone());
            }
        }
        let mut missing = Vec::new();
        for (alert, agent) in &expected.required {
            let firing: Vec<&Json> = by_name
                .get(alert)
                .into_iter()
                .flatten()
                .filter(|a| a["state"] == "firing" && a["labels"]["agent_name"] == agent.as_str())
                .collect();
            let on: BTreeSet<String> = firing
                .iter()
                .filter_map(|a| a["labels"]["instance"].as_str().map(str::to_owned))
                .collect();
            let done = if FOLDED_SESSION_ALERTS.contains(&alert.as_str()) {
                firing.len() == 1 && on.is_empty()
            } else {
                on == instances
            };
            if !done {
                missing.push(format!("{alert} {agent}"));
            }
        }
        if missing.is_empty() {
            Ok(by_name)
        } else {
            Err(format!(
                "not firing as expected yet: {missing:?}\nactive alerts: {data:#}"
            ))
        }
    })
    .await;

    if !quiet_but_active.is_empty() {
        // With `for:` at 3s, AGIExporterDown and AGIApiDown rightly fire on a
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
            "alerts active on healthy exporters and API ({failed} failed scrapes): {false_alarms:#?}"
        );
        eprintln!(
            "note: {failed} scrape(s) failed (machine under load?), so {:?} fired, rightly",
            quiet_but_active.keys()
        );
    }

    for name in PER_EXPORTER_SESSION_ALERTS
        .iter()
        .chain(&FOLDED_SESSION_ALERTS)
    {
        for alert in active.get(*name).into_iter().flatten() {
            let labels = &alert["labels"];
            assert_eq!(labels["job"], "agi", "{alert:#}");
            let agent = labels["agent_name"]
                .as_str()
                .unwrap_or_else(|| panic!("{name} must carry agent_name: {alert:#}"));
            assert!(
                expected
                    .allowed
                    .contains(&((*name).to_owned(), agent.to_owned())),
                "{name} fires for agent {agent}, which the sessions listed do not call for: {alert:#}"
            );
            assert_eq!(
                labels.get("instance").is_none(),
                FOLDED_SESSION_ALERTS.contains(name),
                "{name}: the error alerts fold replicas (no instance), the others are per exporter: {alert:#}"
            );
        }
    }
    active
}

/// The exporter's default `--sessions.top-oldest`: the live sessions that
/// have an `agi_session_age_seconds` series.
const TOP_OLDEST: usize = 5;

/// Each firing age alert names its agent's oldest session in that status
/// when that session is among the account's `TOP_OLDEST` oldest live
/// sessions, and otherwise says it is not among them, naming none.
fn age_alerts_name_their_session(active: &Active, account: &Account) {
    let mut live: Vec<(i64, &str, &str, &str)> = account
        .sessions
        .iter()
        .filter_map(|s| {
            let status = s["status"].as_str()?;
            let created = s["created_at"].as_str().and_then(parse_timestamp)?;
            (!FINAL_STATUSES.contains(&status)).then_some((
                created,
                s["session_id"].as_str()?,
                s["agent_name"].as_str()?,
                status,
            ))
        })
        .collect();
    live.sort();
    let named: Vec<&(i64, &str, &str, &str)> = live.iter().take(TOP_OLDEST).collect();
    let mut checked = 0;
    for (alert, status, _) in AGE_ALERTS {
        for firing in active
            .get(alert)
            .into_iter()
            .flatten()
            .filter(|a| a["state"] == "firing")
        {
            let agent = firing["labels"]["agent_name"].as_str().unwrap_or_default();
            let description = firing["annotations"]["description"]
                .as_str()
                .unwrap_or_default();
            let oldest = live
                .iter()
                .find(|(_, _, a, s)| *a == agent && *s == status)
                .unwrap_or_else(|| {
                    panic!("{alert} fires for {agent}, which has no {status} session")
                });
            if named.contains(&oldest) {
                assert!(
                    description.contains(&format!("It is session {}.", oldest.1)),
                    "{alert} must name session {}: {firing:#}",
                    oldest.1
                );
            } else {
                assert!(
                    description.contains("is not among them")
                        && !description.contains("It is session"),
                    "{alert}: session {} is not among the {TOP_OLDEST} oldest, so none may be named: {firing:#}",
                    oldest.1
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 0, "no age alert fired to check");
}

/// The stuck-running alert reaches the webhook with its agent, severity, a
/// description naming the session, and its runbook.
async fn stuck_running_reaches_the_webhook(webhook: &Webhook, body: &[u8], deadline: Deadline) {
    let (id, agent) = oldest_running_session(body);
    let notified = eventually(
        "AGISessionStuckRunning reaches the webhook",
        deadline,
        async || {
            let alerts = webhook.find(0, "AGISessionStuckRunning", "firing");
            alerts
                .first()
                .cloned()
                .ok_or_else(|| format!("not yet; received {:#?}", webhook.alerts_since(0)))
        },
    )
    .await;
    assert_eq!(notified.labels["agent_name"], agent, "{notified:#?}");
    assert_eq!(notified.labels["severity"], "warning", "{notified:#?}");
    let description = notified.annotations["description"]
        .as_str()
        .unwrap_or_default();
    assert!(
        description.contains(&format!("It is session {id}.")),
        "the description does not name the stuck session {id}: {notified:#?}"
    );
    assert_eq!(
        notified.annotations["runbook_url"],
        "https://github.com/agi-exporter/agi_exporter/blob/main/docs/alerts.md#runbook-agisessionstuckrunning",
        "{notified:#?}"
    );
}

/// Waits until `name` fires in Prometheus for both exporters.
async fn both_fire(api: &HttpApi, name: &str, deadline: Deadline) -> Vec<Json> {
    eventually(
        &format!("{name} fires for both exporters"),
        deadline,
        async || {
            let (by_name, data) = active_alerts(api).await?;
            let firing: Vec<Json> = by_name
                .get(name)
                .into_iter()
                .flatten()
                .filter(|a| a["state"] == "firing")
                .cloned()
                .collect();
            if firing.len() == 2 {
                Ok(firing)
            } else {
                Err(format!("{name} not firing twice yet: {data:#}"))
            }
        },
    )
    .await
}

/// `Ok` once the webhook has received `name` with `status` for `instances`
/// distinct instances from notification `since` on.
fn found(
    webhook: &Webhook,
    since: usize,
    name: &str,
    status: &str,
    instances: usize,
) -> Result<(), String> {
    let seen: BTreeSet<String> = webhook
        .find(since, name, status)
        .iter()
        .filter_map(|a| a.labels["instance"].as_str().map(str::to_owned))
        .collect();
    if seen.len() == instances {
        Ok(())
    } else {
        Err(format!(
            "{name} {status} for {seen:?} so far; received {:#?}",
            webhook.alerts_since(since)
        ))
    }
}

/// While the key is refused, AGIApiUnauthorized and AGIApiDown fire in
/// Prometheus (the latter naming the reason); Alertmanager notifies the
/// former and holds the latter as inhibited by it.
async fn refused_key_is_notified_once(
    api: &HttpApi,
    am: &HttpApi,
    webhook: &Webhook,
    since: usize,
    deadline: Deadline,
) {
    both_fire(api, "AGIApiUnauthorized", deadline).await;
    // Once refusals outnumber the failures of the outage before.
    eventually(
        "AGIApiDown names the failure reason",
        deadline,
        async || {
            let down = both_fire(api, "AGIApiDown", deadline).await;
            let named = down.iter().all(|alert| {
                alert["annotations"]["description"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("Most frequent failure reason in the last 5 minutes: unauthorized.")
            });
            if named {
                Ok(())
            } else {
                Err(format!("{down:#?}"))
            }
        },
    )
    .await;
    eventually(
        "AGIApiUnauthorized reaches the webhook",
        deadline,
        async || found(webhook, since, "AGIApiUnauthorized", "firing", 2),
    )
    .await;
    eventually(
        "Alertmanager holds AGIApiDown as inhibited by AGIApiUnauthorized",
        deadline,
        async || {
            let alerts = alertmanager::alerts_named(am, "AGIApiDown").await?;
            let inhibited = alerts
                .iter()
                .filter(|a| {
                    a["status"]["state"] == "suppressed"
                        && a["status"]["inhibitedBy"]
                            .as_array()
                            .is_some_and(|by| !by.is_empty())
                })
                .count();
            if inhibited == 2 {
                Ok(())
            } else {
                Err(format!("AGIApiDown in Alertmanager: {alerts:#?}"))
            }
        },
    )
    .await;
    let (by_name, _) = active_alerts(api).await.unwrap();
    assert!(
        !by_name.contains_key("AGIExporterDown"),
        "the exporters still answer, AGIExporterDown must not fire: {:#?}",
        by_name["AGIExporterDown"]
    );
}

/// The age alerts stay firing from the same moment through an API outage:
/// `last_over_time` bridges it, so they neither resolve nor fire again.
async fn session_alerts_keep_firing(api: &HttpApi, before: &Active) {
    let (during, _) = active_alerts(api).await.unwrap();
    for (name, _, _) in AGE_ALERTS {
        // Each firing alert by its labels and the moment it became active.
        let firing = |alerts: &Active| -> BTreeSet<(String, String)> {
            alerts
                .get(name)
                .into_iter()
                .flatten()
                .filter(|a| a["state"] == "firing")
                .map(|a| (a["labels"].to_string(), a["activeAt"].to_string()))
                .collect()
        };
        assert_eq!(
            firing(&during),
            firing(before),
            "{name} must keep firing, from the same moment, through an API outage"
        );
    }
}

/// The active (pending or firing) alerts by name, and Prometheus's answer.
async fn active_alerts(api: &HttpApi) -> Result<(Active, Json), String> {
    let data = api.api("alerts", &[]).await?;
    let mut by_name = Active::new();
    for alert in data["alerts"].as_array().into_iter().flatten() {
        let name = alert["labels"]["alertname"].as_str().unwrap_or_default();
        by_name
            .entry(name.to_owned())
            .or_default()
            .push(alert.clone());
    }
    Ok((by_name, data))
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
