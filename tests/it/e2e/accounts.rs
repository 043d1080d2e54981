//! End to end with many accounts: `agi_exporter` binaries with one
//! `--config.file` naming several accounts, each account a fake API of its
//! own with its own population, and real Prometheus servers running copies
//! of the shipped `prometheus/accounts.yml` and
//! `prometheus/accounts-sharded.yml` (addresses, intervals and the shard
//! number changed, the relabelling as shipped) with the shipped rules, all
//! on loopback.
//!
//! - One exporter: Prometheus discovers the accounts from `/accounts` and
//!   probes each through `/probe`; each account's numbers are its own, one
//!   account's refused key makes only its `agi_up` 0, and Alertmanager
//!   routes each account's alerts to its own receiver by `account`.
//! - Two replicas probing the same accounts: the recording rules' replica
//!   folds count each account once.
//! - Two replicas and two Prometheus shards: each account is scraped by one
//!   shard only, through that shard's replica only, so its counters come
//!   from one process.
//!
//! Needs `prometheus`, `promtool` (Debian package `prometheus`) and
//! `prometheus-alertmanager` on PATH; skipped with a message without them,
//! unless `CI` is set.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use agi_exporter::format_timestamp;
use serde_json::{Value as Json, json};

use super::alertmanager::{self, Notified, Webhook};
use super::support::{self as e2e, HttpApi, QueryResult, Shard};
use crate::accounts::ConfigDir;
use crate::support::process::{BinaryExporter, Process};
use crate::support::tools::{ALERTMANAGER, PROMETHEUS, PROMTOOL, tools_present};
use crate::support::{
    Behaviour, Deadline, FakeApi, Serving, TempDir, api_requests, assert_no_key_in, eventually,
};

/// How long each test may wait once its processes have started.
const RUN_DEADLINE: Duration = Duration::from_secs(60);

/// The one agent of every account: the same name everywhere, so that only
/// the `account` label tells the accounts' series apart.
const AGENT: &str = "agi-0";

/// The shipped configs the tests derive theirs from.
const ACCOUNTS_YML: &str = "prometheus/accounts.yml";
const SHARDED_YML: &str = "prometheus/accounts-sharded.yml";

/// An account's scripted sessions: `running` listed from the start; later,
/// `errors` new sessions in `error` and `ended.1` in the final status
/// `ended.0` join them.
struct Scripted {
    name: &'static str,
    key: &'static str,
    running: usize,
    errors: usize,
    ended: (&'static str, usize),
}

/// Three accounts whose numbers differ in every respect, so that a series
/// read from the wrong account shows.
const THREE: [Scripted; 3] = [
    Scripted {
        name: "prod",
        key: "sk-e2e-prod-7c1d0a",
        running: 9,
        errors: 3,
        ended: ("finished", 1),
    },
    Scripted {
        name: "staging",
        key: "sk-e2e-staging-2b8e4f",
        running: 12,
        errors: 1,
        ended: ("completed", 4),
    },
    Scripted {
        name: "team.a",
        key: "sk-e2e-team-a-95fa31",
        running: 1,
        errors: 2,
        ended: ("terminated", 6),
    },
];

/// Six accounts for two shards, and how Prometheus' `hashmod` (the MD5 of
/// the name, modulo 2) splits them: a name's shard never changes.
const SIX: [Scripted; 6] = [
    Scripted::listing("prod", "sk-e2e-shard-prod-11", 3),
    Scripted::listing("staging", "sk-e2e-shard-staging-22", 5),
    Scripted::listing("team-a", "sk-e2e-shard-team-a-33", 7),
    Scripted::listing("team-b", "sk-e2e-shard-team-b-44", 11),
    Scripted::listing("team-c", "sk-e2e-shard-team-c-55", 13),
    Scripted::listing("team-d", "sk-e2e-shard-team-d-66", 2),
];
const SHARD_OF: [(&str, u32); 6] = [
    ("prod", 1),
    ("staging", 0),
    ("team-a", 0),
    ("team-b", 1),
    ("team-c", 1),
    ("team-d", 0),
];

impl Scripted {
    /// An account that lists `running` sessions and nothing more.
    const fn listing(name: &'static str, key: &'static str, running: usize) -> Scripted {
        Scripted {
            name,
            key,
            running,
            errors: 0,
            ended: ("finished", 0),
        }
    }

    /// Its sessions at first, as the API lists them.
    fn first(&self) -> Vec<u8> {
        self.body(false)
    }

    /// Its sessions once the errors and the ended ones have joined.
    fn later(&self) -> Vec<u8> {
        self.body(true)
    }

    fn body(&self, later: bool) -> Vec<u8> {
        let created = format_timestamp(e2e::unix_millis() - 60_000);
        let mut statuses = vec![("running", self.running)];
        if later {
            statuses.extend([("error", self.errors), self.ended]);
        }
        let sessions: Vec<Json> = statuses
            .into_iter()
            .flat_map(|(status, count)| {
                let created = created.clone();
                (0..count).map(move |i| {
                    json!({"session_id": format!("{}-{status}-{i}", self.name),
                    "agent_name": AGENT, "status": status, "created_at": created})
                })
            })
            .collect();
        serde_json::to_vec(&sessions).unwrap()
    }

    /// Sessions listed at first.
    fn listed_first(&self) -> f64 {
        self.running as f64
    }

    /// Sessions listed later.
    fn listed_later(&self) -> f64 {
        (self.running + self.errors + self.ended.1) as f64
    }

    /// Sessions seen entering a final status, errors included.
    fn ends(&self) -> f64 {
        (self.errors + self.ended.1) as f64
    }
}

/// One fake API per account, serving its first list to its key, and the
/// exporters' config file naming them all.
struct Apis {
    apis: BTreeMap<&'static str, FakeApi>,
    config: String,
    _dir: ConfigDir,
}

impl Apis {
    async fn start(accounts: &[Scripted], tag: &str) -> Apis {
        let mut apis = BTreeMap::new();
        for account in accounts {
            let api = FakeApi::start(account.key, account.first().into()).await;
            apis.insert(account.name, api);
        }
        let dir = ConfigDir::new(tag);
        let urls: Vec<String> = accounts.iter().map(|a| apis[a.name].url()).collect();
        let entries: Vec<(&str, &str, &str, &str)> = accounts
            .iter()
            .zip(&urls)
            .map(|(a, url)| (a.name, url.as_str(), a.key, ""))
            .collect();
        let config = dir.write(&entries);
        Apis {
            apis,
            config,
            _dir: dir,
        }
    }

    /// An exporter (the binary) with the config file.
    async fn exporter(&self) -> BinaryExporter {
        let args = [
            "--config.file",
            &self.config,
            "--web.listen-address",
            "127.0.0.1:0",
        ];
        BinaryExporter::start(&args, &[]).await
    }

    /// Each account now lists its later sessions.
    fn publish_later(&self, accounts: &[Scripted]) {
        for account in accounts {
            self.apis[account.name].set_behaviour(Behaviour::json(account.later()));
        }
    }
}

/// The scrape URLs of each account's probe through each exporter, and of
/// each exporter's own `/metrics`.
fn scrape_urls<'a>(
    exporters: &[SocketAddr],
    accounts: impl IntoIterator<Item = &'a str> + Clone,
) -> BTreeSet<String> {
    let mut urls = BTreeSet::new();
    for exporter in exporters {
        urls.insert(format!("http://{exporter}/metrics"));
        for account in accounts.clone() {
            urls.insert(format!("http://{exporter}/probe?account={account}"));
        }
    }
    urls
}

/// Writes the test copy of `shipped` into `dir` and starts Prometheus on it.
async fn run_prometheus(
    dir: &TempDir,
    shipped: &str,
    exporters: &[SocketAddr],
    shard: Option<Shard>,
    alertmanager: Option<SocketAddr>,
) -> (Process, HttpApi) {
    let (config, rule_files) = e2e::test_accounts_config(
        &e2e::repo_file(shipped),
        shipped,
        exporters,
        shard,
        alertmanager,
    );
    e2e::write_prometheus_files(dir, &config, &rule_files);
    e2e::start_prometheus(dir).await
}

/// A query's values by the values of `labels`; a series without one of
/// them, or two series with the same ones, is an error.
fn by_labels(result: &QueryResult, labels: &[&str]) -> Result<BTreeMap<String, f64>, String> {
    let mut values = BTreeMap::new();
    for (series, value) in &result.series {
        let key: Vec<&str> = labels
            .iter()
            .map(|label| series.get(*label).and_then(Json::as_str).unwrap_or(""))
            .collect();
        if key.contains(&"") {
            return Err(format!("a series without {labels:?}: {}", result.raw));
        }
        if values.insert(key.join("/"), *value).is_some() {
            return Err(format!("two series for {key:?}: {}", result.raw));
        }
    }
    Ok(values)
}

/// Waits until `promql`, by account, is exactly `expected`.
async fn per_account_is(api: &HttpApi, promql: &str, expected: &[(&str, f64)], deadline: Deadline) {
    let expected: BTreeMap<String, f64> = expected
        .iter()
        .map(|(account, value)| ((*account).to_owned(), *value))
        .collect();
    eventually(&format!("{promql} per account"), deadline, async || {
        let values = by_labels(&api.query(promql).await?, &["account"])?;
        if values == expected {
            Ok(())
        } else {
            Err(format!("{promql}: {values:?}, expected {expected:?}"))
        }
    })
    .await;
}

/// `(account, value)` for each scripted account.
fn each(accounts: &[Scripted], value: impl Fn(&Scripted) -> f64) -> Vec<(&'static str, f64)> {
    accounts.iter().map(|a| (a.name, value(a))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_reads_each_discovered_account_apart_and_alertmanager_routes_by_account() {
    if !tools_present(&[PROMETHEUS, PROMTOOL, ALERTMANAGER]) {
        return;
    }
    let apis = Apis::start(&THREE, "e2e-accounts").await;
    let exporter = apis.exporter().await;
    let dir = TempDir::new("e2e-accounts");
    let (prod_hook, staging_hook, other_hook) = (
        Webhook::start().await,
        Webhook::start().await,
        Webhook::start().await,
    );
    let (_alertmanager, am) = alertmanager::start_routed(
        &dir,
        &other_hook,
        &[
            (r#"account="prod""#, &prod_hook),
            (r#"account="staging""#, &staging_hook),
        ],
        serde_yaml_ng::Value::Sequence(Vec::new()),
    )
    .await;
    let address = exporter.address();
    let (prometheus, api) =
        run_prometheus(&dir, ACCOUNTS_YML, &[address], None, Some(am.address())).await;
    let deadline = Deadline::after(RUN_DEADLINE);

    // Discovered from /accounts: a probe per account through the exporter
    // that listed it, with the account's label, and the exporter's own
    // /metrics.
    let names = THREE.iter().map(|a| a.name);
    let targets = e2e::targets_are_up(&api, &scrape_urls(&[address], names), deadline).await;
    for target in &targets {
        let labels = &target["labels"];
        assert_eq!(labels["instance"], address.to_string(), "{target:#}");
        let url = target["scrapeUrl"].as_str().unwrap();
        match url.split_once("?account=") {
            Some((_, account)) => assert_eq!(labels["account"], account, "{target:#}"),
            None => assert!(labels.get("account").is_none(), "{target:#}"),
        }
    }

    // The first lists, read per account; the exporter's own families come
    // from /metrics only, without an account.
    per_account_is(&api, "agi_up", &each(&THREE, |_| 1.0), deadline).await;
    per_account_is(
        &api,
        "sum by (account) (agi_sessions)",
        &each(&THREE, Scripted::listed_first),
        deadline,
    )
    .await;
    for (promql, expected) in [
        ("count(agi_exporter_build_info)", Some(1.0)),
        ("count(agi_exporter_build_info{account!=\"\"})", None),
        ("count(process_resident_memory_bytes)", Some(1.0)),
        ("count({__name__=~\"process_.+\", account!=\"\"})", None),
    ] {
        let result = api.query(promql).await.unwrap();
        let value = result.series.first().map(|(_, v)| *v);
        assert_eq!(value, expected, "{promql}: {}", result.raw);
    }

    // Each account's errors and ended sessions are its own.
    apis.publish_later(&THREE);
    per_account_is(
        &api,
        "sum by (account) (agi_sessions)",
        &each(&THREE, Scripted::listed_later),
        deadline,
    )
    .await;
    per_account_is(
        &api,
        &format!(
            r#"sum by (account) (agi_session_transitions_total{{agent_name="{AGENT}", status="error"}})"#
        ),
        &each(&THREE, |a| a.errors as f64),
        deadline,
    )
    .await;
    per_account_is(
        &api,
        r#"sum by (account) (agi_session_transitions_total{status=~"completed|finished|error|terminated"})"#,
        &each(&THREE, Scripted::ends),
        deadline,
    )
    .await;

    // Staging's key is refused: only staging's agi_up falls, only staging
    // counts refusals, and the others keep their sessions.
    apis.apis["staging"].set_behaviour(Behaviour::status(401, r#"{"detail":"Invalid API key"}"#));
    per_account_is(
        &api,
        "agi_up",
        &[("prod", 1.0), ("staging", 0.0), ("team.a", 1.0)],
        deadline,
    )
    .await;
    let refused = r#"increase(agi_api_request_failures_total{reason="unauthorized"}[1m]) > 0"#;
    eventually("only staging counts refusals", deadline, async || {
        let result = api.query(refused).await?;
        let accounts: Vec<String> = by_labels(&result, &["account"])?.into_keys().collect();
        if accounts == ["staging"] {
            Ok(())
        } else {
            Err(format!("{refused}: {}", result.raw))
        }
    })
    .await;
    per_account_is(
        &api,
        "sum by (account) (agi_sessions)",
        &[
            ("prod", THREE[0].listed_later()),
            ("team.a", THREE[2].listed_later()),
        ],
        deadline,
    )
    .await;

    // Alertmanager routes each account's alerts to its own receiver:
    // staging's refused key to staging's, then prod's broken API to prod's.
    let unauthorized = eventually(
        "AGIApiUnauthorized for staging reaches staging's receiver",
        deadline,
        async || first_alert(&staging_hook, "AGIApiUnauthorized"),
    )
    .await;
    assert_eq!(
        unauthorized.labels["account"], "staging",
        "{unauthorized:#?}"
    );
    apis.apis["prod"].set_behaviour(Behaviour::status(503, r#"{"detail":"Unavailable"}"#));
    let down = eventually(
        "AGIApiDown for prod reaches prod's receiver",
        deadline,
        async || first_alert(&prod_hook, "AGIApiDown"),
    )
    .await;
    assert_eq!(down.labels["account"], "prod", "{down:#?}");
    for (hook, account) in [(&prod_hook, "prod"), (&staging_hook, "staging")] {
        for alert in hook.alerts_since(0) {
            assert_eq!(
                alert.labels["account"], account,
                "{account}'s receiver got another account's alert: {alert:#?}"
            );
        }
    }
    for alert in other_hook.alerts_since(0) {
        assert!(
            !["prod", "staging"].contains(&alert.labels["account"].as_str().unwrap_or("")),
            "an alert of a routed account reached the default receiver: {alert:#?}"
        );
    }

    drop(prometheus);
    for account in &THREE {
        assert_no_key_in(account.key, "the exporter's output", &exporter.output());
    }
}

/// The first alert named `name` that `hook` received firing.
fn first_alert(hook: &Webhook, name: &str) -> Result<Notified, String> {
    hook.find(0, name, "firing")
        .into_iter()
        .next()
        .ok_or_else(|| format!("received so far: {:#?}", hook.alerts_since(0)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_probing_the_same_accounts_are_counted_once_by_the_recording_rules() {
    if !tools_present(&[PROMETHEUS, PROMTOOL]) {
        return;
    }
    let apis = Apis::start(&THREE, "e2e-accounts-replicas").await;
    let (a, b) = (apis.exporter().await, apis.exporter().await);
    let replicas = [a.address(), b.address()];
    let dir = TempDir::new("e2e-accounts-replicas");
    let (prometheus, api) = run_prometheus(&dir, ACCOUNTS_YML, &replicas, None, None).await;
    let deadline = Deadline::after(RUN_DEADLINE);

    // Each account is probed through both replicas: two targets that differ
    // only in `instance`.
    let names = THREE.iter().map(|a| a.name);
    e2e::targets_are_up(&api, &scrape_urls(&replicas, names), deadline).await;
    per_account_is(
        &api,
        "count by (account) (agi_up == 1)",
        &each(&THREE, |_| 2.0),
        deadline,
    )
    .await;

    // Both replicas see the same sessions end.
    apis.publish_later(&THREE);
    let errors =
        format!(r#"agi_session_transitions_total{{agent_name="{AGENT}", status="error"}}"#);
    eventually(
        "both replicas count each account's errors",
        deadline,
        async || {
            let seen = by_labels(&api.query(&errors).await?, &["account", "instance"])?;
            let expected: BTreeMap<String, f64> = THREE
                .iter()
                .flat_map(|account| {
                    replicas
                        .iter()
                        .map(move |r| (format!("{}/{r}", account.name), account.errors as f64))
                })
                .collect();
            if seen == expected {
                Ok(())
            } else {
                Err(format!("{errors}: {seen:?}, expected {expected:?}"))
            }
        },
    )
    .await;

    // The 5m rates of rules.yml, evaluated as written: each account's is
    // the larger of the two replicas' own (the replicas saw the same
    // sessions, so one replica's rates are the larger for every status),
    // never their sum; in sessions, its own count (rate() extrapolates to
    // the end of the window by under a scrape interval, well under a half
    // here), where counting both replicas would give twice as many.
    let rules = e2e::rule_exprs(
        &e2e::repo_file("prometheus/rules.yml"),
        "prometheus/rules.yml",
    );
    let rule = |name: &str| {
        rules
            .iter()
            .find(|(record, _)| record == name)
            .map(|(_, expr)| expr.clone())
            .unwrap_or_else(|| panic!("prometheus/rules.yml records no {name}"))
    };
    for (record, sessions) in [
        (
            "job_agent_name:agi_session_errors:rate5m",
            each(&THREE, |a| a.errors as f64),
        ),
        (
            "job_agent_name:agi_session_ends:rate5m",
            each(&THREE, Scripted::ends),
        ),
    ] {
        let folded = rule(record);
        let selector = "agi_session_transitions_total{";
        assert!(folded.contains(selector), "{record}: {folded}");
        let one = |replica: &SocketAddr| {
            folded.replace(selector, &format!(r#"{selector}instance="{replica}", "#))
        };
        let exprs = [folded.clone(), one(&replicas[0]), one(&replicas[1])];
        eventually(
            &format!("{record} counts each account once"),
            deadline,
            async || {
                let time = e2e::unix_millis() as f64 / 1000.0 - 1.0;
                let mut results = Vec::new();
                for answer in api.query_many(&exprs, Some(time)).await {
                    let answer = answer?;
                    results.push(by_labels(&answer, &["job", "account", "agent_name"])?);
                }
                let mut problems = Vec::new();
                for (account, count) in &sessions {
                    let key = format!("agi/{account}/{AGENT}");
                    let [both, of_a, of_b] =
                        [0, 1, 2].map(|i| results[i].get(&key).copied().unwrap_or(0.0));
                    let larger = of_a.max(of_b);
                    let in_sessions = |rate: f64| rate * 300.0;
                    if (both - larger).abs() > 1e-9 * larger
                        || of_a.min(of_b) <= 0.0
                        || !(*count..count * 1.5).contains(&in_sessions(both))
                    {
                        problems.push(format!(
                            "{account}: {both} over both replicas ({} sessions, {count} listed), {of_a} and {of_b} for each",
                            in_sessions(both)
                        ));
                    }
                }
                let accounts: BTreeSet<&String> = results[0].keys().collect();
                if accounts.len() != THREE.len() {
                    problems.push(format!("series: {accounts:?}"));
                }
                if problems.is_empty() {
                    Ok(())
                } else {
                    Err(format!("{}\n  {folded}", problems.join("\n")))
                }
            },
        )
        .await;
    }

    // What the rules record: one series per account, without `instance`,
    // and its error ratio exactly the account's own.
    let ratios: Vec<(&str, f64)> = each(&THREE, |a| a.errors as f64 / a.ends());
    per_account_is(
        &api,
        "job_agent_name:agi_session_errors:ratio_rate5m",
        &ratios,
        deadline,
    )
    .await;
    let recorded = api
        .query("job_agent_name:agi_session_errors:rate5m")
        .await
        .unwrap();
    for (labels, _) in &recorded.series {
        let names: BTreeSet<&str> = labels.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            BTreeSet::from(["__name__", "job", "account", "agent_name"]),
            "{}",
            recorded.raw
        );
    }
    drop(prometheus);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_prometheus_shards_probe_each_account_through_one_replica_only() {
    if !tools_present(&[PROMETHEUS, PROMTOOL]) {
        return;
    }
    let apis = Apis::start(&SIX, "e2e-accounts-shards").await;
    let replicas = [apis.exporter().await, apis.exporter().await];
    let addresses = [replicas[0].address(), replicas[1].address()];
    let dirs = [
        TempDir::new("e2e-accounts-shard-0"),
        TempDir::new("e2e-accounts-shard-1"),
    ];
    let mut shards = Vec::new();
    for shard in 0..2 {
        let shard_of = Shard { shard, shards: 2 };
        let config = [addresses[shard as usize]];
        shards.push(
            run_prometheus(
                &dirs[shard as usize],
                SHARDED_YML,
                &config,
                Some(shard_of),
                None,
            )
            .await,
        );
    }
    let deadline = Deadline::after(RUN_DEADLINE);

    // Each shard probes its share of the accounts, all through its own
    // replica, and scrapes that replica's /metrics; together they cover
    // every account once.
    let share = |shard: u32| {
        SHARD_OF
            .iter()
            .filter(move |(_, s)| *s == shard)
            .map(|(a, _)| *a)
    };
    let mut owner = BTreeMap::new();
    for (shard, (_, api)) in shards.iter().enumerate() {
        let replica = addresses[shard];
        let targets =
            e2e::targets_are_up(api, &scrape_urls(&[replica], share(shard as u32)), deadline).await;
        for target in targets {
            assert_eq!(
                target["labels"]["instance"],
                replica.to_string(),
                "{target:#}"
            );
            if let Some(account) = target["labels"]["account"].as_str() {
                let before = owner.insert(account.to_owned(), shard);
                assert_eq!(before, None, "{account} is scraped by both shards");
            }
        }
    }
    let all: BTreeSet<&str> = SIX.iter().map(|a| a.name).collect();
    assert_eq!(
        owner.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        all
    );

    // Each shard holds its accounts' own numbers, each from its replica
    // only, after several probes.
    for (shard, (_, api)) in shards.iter().enumerate() {
        let mine: Vec<&Scripted> = SIX.iter().filter(|a| owner[a.name] == shard).collect();
        let expected: Vec<(&str, f64)> = mine.iter().map(|a| (a.name, a.listed_first())).collect();
        per_account_is(api, "sum by (account) (agi_sessions)", &expected, deadline).await;
        let replica = addresses[shard].to_string();
        eventually(
            &format!("shard {shard} has probed each of its accounts 3 times"),
            deadline,
            async || {
                let result = api.query("agi_api_requests_total").await?;
                let seen = by_labels(&result, &["account", "instance"])?;
                let enough = mine.iter().all(|a| {
                    seen.get(&format!("{}/{replica}", a.name))
                        .is_some_and(|n| *n >= 3.0)
                });
                if enough && seen.len() == mine.len() {
                    Ok(())
                } else {
                    Err(format!("agi_api_requests_total: {}", result.raw))
                }
            },
        )
        .await;
    }

    // With the shards stopped, each account's API has been fetched through
    // its replica only: that replica's count of requests is every request
    // the API received (a probe now adds one to both).
    drop(shards);
    for account in &SIX {
        let replica = &replicas[owner[account.name]];
        let api = &apis.apis[account.name];
        eventually(
            &format!("{} is fetched through one replica only", account.name),
            deadline,
            async || {
                let probe = replica
                    .scrape_path(&format!("/probe?account={}", account.name))
                    .await;
                let (through_replica, received) = (api_requests(&probe), api.requests() as f64);
                if through_replica == received && received >= 4.0 {
                    Ok(())
                } else {
                    Err(format!(
                        "{through_replica} requests through its replica, {received} received by its API"
                    ))
                }
            },
        )
        .await;
    }
}
