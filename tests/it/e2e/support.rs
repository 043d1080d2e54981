//! What the end-to-end tests need beyond the shared harness: servers
//! started on a free port, the test copies of the shipped Prometheus files,
//! a small client for Prometheus's HTTP API, and a scanner that finds the
//! metric selectors and grouping labels of a PromQL expression.

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::Command;
use std::time::SystemTime;

use serde_json::Value as Json;
use serde_yaml_ng::Value as Yaml;

use crate::support::process::{Process, STARTUP_DEADLINE};
use crate::support::{Deadline, TempDir, eventually};

/// Starts a server that cannot be given port 0: `command(port)` on a port
/// that was free a moment ago, trying another one if it was taken in the
/// meantime, until `GET ready_path` answers 200.
pub async fn start_server(
    name: &str,
    ready_path: &str,
    mut command: impl FnMut(u16) -> Command,
) -> (Process, HttpApi) {
    for _attempt in 0..3 {
        let port = free_port();
        let mut process = Process::spawn(name, command(port));
        let api = HttpApi::new(port);
        let ready = eventually(&format!("{name} is ready"), STARTUP_DEADLINE, async || {
            if process.try_status().is_some() {
                return Ok(false);
            }
            match api.get(ready_path, &[]).await {
                Ok((200, _)) => Ok(true),
                Ok((code, body)) => Err(format!("{ready_path}: HTTP {code}: {body}")),
                Err(e) => Err(e),
            }
        })
        .await;
        if ready && process.try_status().is_none() {
            return (process, api);
        }
        let log = process.output();
        assert!(
            log.contains("address already in use"),
            "{name} exited:\n{log}"
        );
        eprintln!("port {port} was taken, trying another one");
    }
    panic!("{name} could not bind a port in 3 attempts");
}

/// A port that was free a moment ago on 127.0.0.1 (for `prometheus`, which
/// cannot be given port 0 and report it; the caller retries if it is taken).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .unwrap_or_else(|e| panic!("cannot bind 127.0.0.1:0: {e}"))
}

/// Reads a file of the repository, relative to its root.
pub fn repo_file(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("cannot read {}: {e}", full.display()))
}

fn parse_yaml(what: &str, text: &str) -> Yaml {
    serde_yaml_ng::from_str(text).unwrap_or_else(|e| panic!("{what} is not valid YAML: {e}"))
}

fn yaml_key<'a>(map: &'a mut Yaml, key: &str, what: &str) -> &'a mut Yaml {
    map.as_mapping_mut()
        .unwrap_or_else(|| panic!("{what} is not a mapping"))
        .entry(Yaml::from(key))
        .or_insert(Yaml::Null)
}

/// The example `prometheus/prometheus.yml` turned into a test config: every
/// interval and timeout 1s, only the `agi` job (name and metrics path kept)
/// scraping `targets`, alerts sent to `alertmanager` if given, and the same
/// `rule_files`. Returns the config and those rule files' paths (relative to
/// the config's directory).
pub fn test_prometheus_config(
    shipped: &str,
    targets: &[SocketAddr],
    alertmanager: Option<SocketAddr>,
) -> (String, Vec<String>) {
    let what = "prometheus/prometheus.yml";
    let (config, rule_files) = test_config(shipped, what, alertmanager, |agi| {
        *yaml_key(agi, "static_configs", "job agi") = static_configs(targets);
    });
    (write_yaml(&config, what), rule_files)
}

/// Shard `shard` of `shards` Prometheus servers.
#[derive(Debug, Clone, Copy)]
pub struct Shard {
    /// This server's number, from 0.
    pub shard: u32,
    /// How many there are.
    pub shards: u32,
}

/// A shipped config for many accounts (`prometheus/accounts.yml`, or
/// `prometheus/accounts-sharded.yml` with `shard`) turned into a test
/// config, as [`test_prometheus_config`] does: the `agi` job's discovery URL
/// and `/metrics` target moved to each of `exporters` (one discovery URL
/// and one target per exporter, refreshed every second), and the shard
/// number and count set where the sharded file marks them. Its relabelling
/// is kept as shipped.
pub fn test_accounts_config(
    shipped: &str,
    what: &str,
    exporters: &[SocketAddr],
    shard: Option<Shard>,
    alertmanager: Option<SocketAddr>,
) -> (String, Vec<String>) {
    let (mut config, rule_files) = test_config(shipped, what, alertmanager, |agi| {
        let discovery = yaml_key(agi, "http_sd_configs", what);
        let [shipped_sd] = discovery
            .as_sequence()
            .map(Vec::as_slice)
            .unwrap_or_default()
        else {
            panic!("{what}: job agi must have one http_sd_configs entry");
        };
        let shipped_url = shipped_sd
            .get("url")
            .and_then(Yaml::as_str)
            .unwrap_or_else(|| panic!("{what}: http_sd_configs has no url"));
        let shipped_url = url::Url::parse(shipped_url)
            .unwrap_or_else(|e| panic!("{what}: bad discovery URL {shipped_url}: {e}"));
        assert_eq!(shipped_url.path(), "/accounts", "{what}: discovery URL");
        let per_exporter = exporters
            .iter()
            .map(|exporter| {
                let mut sd = shipped_sd.clone();
                let mut url = shipped_url.clone();
                url.set_host(Some(&exporter.ip().to_string())).unwrap();
                url.set_port(Some(exporter.port())).unwrap();
                *yaml_key(&mut sd, "url", what) = Yaml::from(url.as_str());
                *yaml_key(&mut sd, "refresh_interval", what) = Yaml::from("1s");
                sd
            })
            .collect();
        *discovery = Yaml::Sequence(per_exporter);

        let statics = yaml_key(agi, "static_configs", what);
        let [shipped_static] = statics.as_sequence().map(Vec::as_slice).unwrap_or_default() else {
            panic!("{what}: job agi must have one static_configs entry (the exporter's /metrics)");
        };
        let mut own = shipped_static.clone();
        *yaml_key(&mut own, "targets", what) = Yaml::Sequence(
            exporters
                .iter()
                .map(|e| Yaml::from(e.to_string()))
                .collect(),
        );
        *statics = Yaml::Sequence(vec![own]);

        if let Some(shard) = shard {
            set_shard(agi, what, shard);
        }
    });
    if let Some(shard) = shard {
        let global = yaml_key(&mut config, "global", what);
        let label = yaml_key(yaml_key(global, "external_labels", what), "shard", what);
        assert_eq!(label.as_str(), Some("0"), "{what}: external label shard");
        *label = Yaml::from(shard.shard.to_string());
    }
    (write_yaml(&config, what), rule_files)
}

/// Sets the shard count and number where `prometheus/accounts-sharded.yml`
/// (shard 0 of 2) marks them: the hashmod's modulus, the shard the
/// exporter's own target is given, and the kept shard.
fn set_shard(agi: &mut Yaml, what: &str, shard: Shard) {
    let rules = yaml_key(agi, "relabel_configs", what)
        .as_sequence_mut()
        .unwrap_or_else(|| panic!("{what}: relabel_configs is not a list"));
    let mut found = Vec::new();
    for rule in rules {
        let action = rule
            .get("action")
            .and_then(Yaml::as_str)
            .unwrap_or("replace")
            .to_owned();
        let on_shard = |key: &str| {
            let shard_label = Yaml::from("__tmp_shard");
            match rule.get(key) {
                Some(Yaml::Sequence(labels)) => labels.contains(&shard_label),
                Some(label) => *label == shard_label,
                None => false,
            }
        };
        let (key, shipped, value) = match action.as_str() {
            "hashmod" if on_shard("target_label") => (
                "modulus",
                Yaml::from(2u64),
                Yaml::from(u64::from(shard.shards)),
            ),
            "replace" if on_shard("target_label") => (
                "replacement",
                Yaml::from("0"),
                Yaml::from(shard.shard.to_string()),
            ),
            "keep" if on_shard("source_labels") => (
                "regex",
                Yaml::from("0"),
                Yaml::from(shard.shard.to_string()),
            ),
            _ => continue,
        };
        let field = yaml_key(rule, key, what);
        assert_eq!(*field, shipped, "{what}: {key} of the {action} rule");
        *field = value;
        found.push(action);
    }
    assert_eq!(
        found,
        ["hashmod", "replace", "keep"],
        "{what}: expected a hashmod into __tmp_shard, a replacement of it and a keep on it"
    );
}

/// A shipped Prometheus config turned into a test config: every interval
/// and timeout 1s, only the `agi` job (its name, paths and relabelling
/// kept, its own interval and timeout dropped) changed by `adjust`, alerts
/// sent to `alertmanager` if given, and the same `rule_files`. Returns the
/// config and those rule files' paths (relative to the config's directory).
fn test_config(
    shipped: &str,
    what: &str,
    alertmanager: Option<SocketAddr>,
    adjust: impl FnOnce(&mut Yaml),
) -> (Yaml, Vec<String>) {
    let mut config = parse_yaml(what, shipped);
    let global = yaml_key(&mut config, "global", what);
    for key in ["scrape_interval", "scrape_timeout", "evaluation_interval"] {
        *yaml_key(global, key, "global") = Yaml::from("1s");
    }
    let rule_files: Vec<String> = config
        .get("rule_files")
        .and_then(Yaml::as_sequence)
        .map(|files| {
            files
                .iter()
                .filter_map(|f| f.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    assert!(!rule_files.is_empty(), "{what} loads no rule_files");
    let jobs = yaml_key(&mut config, "scrape_configs", what);
    let mut agi = jobs
        .as_sequence()
        .and_then(|jobs| {
            jobs.iter()
                .find(|job| job.get("job_name").and_then(Yaml::as_str) == Some("agi"))
        })
        .cloned()
        .unwrap_or_else(|| panic!("{what} has no job_name: agi"));
    for key in ["scrape_interval", "scrape_timeout"] {
        if let Some(job) = agi.as_mapping_mut() {
            job.remove(key);
        }
    }
    adjust(&mut agi);
    *jobs = Yaml::Sequence(vec![agi]);
    if let Some(alertmanager) = alertmanager {
        let mut alertmanagers = serde_yaml_ng::Mapping::new();
        alertmanagers.insert(
            Yaml::from("alertmanagers"),
            Yaml::Sequence(vec![Yaml::Mapping(
                [(
                    Yaml::from("static_configs"),
                    static_configs(&[alertmanager]),
                )]
                .into_iter()
                .collect(),
            )]),
        );
        *yaml_key(&mut config, "alerting", what) = Yaml::Mapping(alertmanagers);
    }
    (config, rule_files)
}

fn write_yaml(config: &Yaml, what: &str) -> String {
    serde_yaml_ng::to_string(config)
        .unwrap_or_else(|e| panic!("cannot write the test copy of {what}: {e}"))
}

/// `[{targets: [...]}]`.
fn static_configs(targets: &[SocketAddr]) -> Yaml {
    let targets = targets.iter().map(|t| Yaml::from(t.to_string())).collect();
    let mut static_config = serde_yaml_ng::Mapping::new();
    static_config.insert(Yaml::from("targets"), Yaml::Sequence(targets));
    Yaml::Sequence(vec![Yaml::Mapping(static_config)])
}

/// A rule file with every `for:` a hundred times shorter (5m becomes 3s)
/// and every group `interval:` 1s, so alerts fire within the test's seconds
/// of data, in the order the shipped durations give them (AGIApiUnauthorized,
/// 2m, before the AGIApiDown it inhibits, 5m). Range windows (`[5m]`, `[1h]`)
/// are kept: they work on shorter data.
pub fn test_rules(shipped: &str, what: &str) -> String {
    let mut rules = parse_yaml(what, shipped);
    let groups = yaml_key(&mut rules, "groups", what)
        .as_sequence_mut()
        .unwrap_or_else(|| panic!("{what}: groups is not a list"));
    for group in groups {
        let group = group
            .as_mapping_mut()
            .unwrap_or_else(|| panic!("{what}: a group is not a mapping"));
        if group.contains_key("interval") {
            group.insert(Yaml::from("interval"), Yaml::from("1s"));
        }
        let rules = group
            .get_mut("rules")
            .and_then(Yaml::as_sequence_mut)
            .unwrap_or_else(|| panic!("{what}: a group has no rules"));
        for rule in rules.iter_mut().filter_map(Yaml::as_mapping_mut) {
            if let Some(shipped) = rule.get("for").and_then(Yaml::as_str) {
                let seconds = prometheus_duration(shipped)
                    .unwrap_or_else(|| panic!("{what}: cannot read for: {shipped}"));
                let shortened = format!("{}ms", seconds * 10);
                rule.insert(Yaml::from("for"), Yaml::from(shortened));
            }
        }
    }
    serde_yaml_ng::to_string(&rules).unwrap_or_else(|e| panic!("cannot write {what}: {e}"))
}

/// A Prometheus duration of one unit (`90s`, `5m`, `1h`), in seconds.
fn prometheus_duration(text: &str) -> Option<u64> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return None,
    };
    Some(number * scale)
}

/// `(group name, [rule names])` of a rule file, in file order.
pub fn rule_names(rules: &str, what: &str) -> Vec<(String, Vec<String>)> {
    let rules = parse_yaml(what, rules);
    let name = |rule: &Yaml| {
        rule.get("alert")
            .or_else(|| rule.get("record"))
            .and_then(Yaml::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    rules
        .get("groups")
        .and_then(Yaml::as_sequence)
        .unwrap_or_else(|| panic!("{what}: no groups"))
        .iter()
        .map(|group| {
            let group_name = group
                .get("name")
                .and_then(Yaml::as_str)
                .unwrap_or_default()
                .to_owned();
            let rules = group
                .get("rules")
                .and_then(Yaml::as_sequence)
                .map(|rules| rules.iter().map(name).collect())
                .unwrap_or_default();
            (group_name, rules)
        })
        .collect()
}

/// Every rule's `(name, expr)` in a rule file: the alert's or the recorded
/// series' name.
pub fn rule_exprs(rules: &str, what: &str) -> Vec<(String, String)> {
    let rules = parse_yaml(what, rules);
    let mut out = Vec::new();
    for group in rules
        .get("groups")
        .and_then(Yaml::as_sequence)
        .into_iter()
        .flatten()
    {
        for rule in group
            .get("rules")
            .and_then(Yaml::as_sequence)
            .into_iter()
            .flatten()
        {
            if let (Some(name), Some(expr)) = (
                rule.get("alert")
                    .or_else(|| rule.get("record"))
                    .and_then(Yaml::as_str),
                rule.get("expr").and_then(Yaml::as_str),
            ) {
                out.push((name.to_owned(), expr.to_owned()));
            }
        }
    }
    out
}

/// Writes `config` into `dir` as `prometheus.yml` with the test copies of
/// its `rule_files` (see [`test_rules`]) beside it, and checks them with
/// `promtool check config`.
pub fn write_prometheus_files(dir: &TempDir, config: &str, rule_files: &[String]) {
    let config_path = dir.path().join("prometheus.yml");
    std::fs::write(&config_path, config).unwrap();
    for file in rule_files {
        let shipped = format!("prometheus/{file}");
        let rules = test_rules(&repo_file(&shipped), &shipped);
        std::fs::write(dir.path().join(file), rules).unwrap();
    }
    promtool(
        "check config rejects the test config",
        &["check".as_ref(), "config".as_ref(), config_path.as_os_str()],
    );
}

/// Runs `promtool args`, which must succeed; `what` says what its failure
/// means.
pub fn promtool(what: &str, args: &[&std::ffi::OsStr]) {
    let output = Command::new("promtool").args(args).output().unwrap();
    assert!(
        output.status.success(),
        "promtool {what}:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Starts `prometheus` with `dir`'s `prometheus.yml` (and its storage in
/// `dir`'s `data`) on a free port, and waits until it is ready.
pub async fn start_prometheus(dir: &TempDir) -> (Process, HttpApi) {
    let config = dir.path().join("prometheus.yml");
    let data = dir.path().join("data");
    start_server("prometheus", "/-/ready", |port| {
        let mut command = Command::new("prometheus");
        command
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--enable-feature=exemplar-storage");
        command
    })
    .await
}

/// Waits until Prometheus's active targets are exactly those scraping
/// `scrape_urls`, every one of job `agi` and up; returns them.
pub async fn targets_are_up(
    api: &HttpApi,
    scrape_urls: &BTreeSet<String>,
    deadline: Deadline,
) -> Vec<Json> {
    eventually("/api/v1/targets shows job agi up", deadline, async || {
        let data = api.api("targets", &[("state", "active")]).await?;
        let targets = data["activeTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let urls: BTreeSet<String> = targets
            .iter()
            .filter_map(|t| t["scrapeUrl"].as_str().map(str::to_owned))
            .collect();
        if urls != *scrape_urls {
            return Err(format!("active targets {urls:?}, expected {scrape_urls:?}"));
        }
        for target in &targets {
            assert_eq!(target["labels"]["job"], "agi", "{target}");
            if target["health"] != "up" {
                return Err(format!("target not up yet: {target}"));
            }
        }
        Ok(targets)
    })
    .await
}

/// Now, in Unix milliseconds.
pub fn unix_millis() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

/// A client for the HTTP API of one server on 127.0.0.1 (Prometheus,
/// Alertmanager, VictoriaMetrics).
#[derive(Debug, Clone)]
pub struct HttpApi {
    port: u16,
    base: String,
    client: reqwest::Client,
}

/// What an instant query returned.
#[derive(Debug, Clone)]
pub struct QueryResult {
    /// Each series' labels and value (a scalar result is one unlabelled series).
    pub series: Vec<(serde_json::Map<String, Json>, f64)>,
    /// The server's answer, for failure messages.
    pub raw: String,
}

impl HttpApi {
    /// A client for `http://127.0.0.1:port`.
    pub fn new(port: u16) -> Self {
        HttpApi {
            port,
            base: format!("http://127.0.0.1:{port}"),
            client: crate::support::http_client(),
        }
    }

    /// The server's address.
    pub fn address(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `GET path?params`: the status code and body, or why it failed.
    pub async fn get(&self, path: &str, params: &[(&str, &str)]) -> Result<(u16, String), String> {
        let url = url::Url::parse_with_params(&format!("{}{path}", self.base), params)
            .map_err(|e| format!("bad URL {path}: {e}"))?;
        let response = self
            .client
            .get(url.clone())
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        let status = response.status().as_u16();
        let body = response
            .text()
            .await
            .map_err(|e| format!("GET {url}: reading the body: {e}"))?;
        Ok((status, body))
    }

    /// `GET path?params` answered 200 with JSON: that JSON.
    pub async fn get_json(&self, path: &str, params: &[(&str, &str)]) -> Result<Json, String> {
        let (code, body) = self.get(path, params).await?;
        if code != 200 {
            return Err(format!("{path}: HTTP {code}: {body}"));
        }
        serde_json::from_str(&body).map_err(|e| format!("{path}: not JSON ({e}): {body}"))
    }

    /// `GET /api/v1/<endpoint>`: its `data` when `status` is `success`.
    pub async fn api(&self, endpoint: &str, params: &[(&str, &str)]) -> Result<Json, String> {
        let (code, body) = self.get(&format!("/api/v1/{endpoint}"), params).await?;
        let json: Json = serde_json::from_str(&body)
            .map_err(|e| format!("/api/v1/{endpoint}: HTTP {code}, not JSON ({e}): {body}"))?;
        if json["status"] != "success" {
            return Err(format!("/api/v1/{endpoint}: HTTP {code}: {body}"));
        }
        Ok(json["data"].clone())
    }

    /// An instant query, evaluated now.
    pub async fn query(&self, promql: &str) -> Result<QueryResult, String> {
        self.query_with(promql, &[]).await
    }

    /// An instant query, evaluated at `time` (Unix seconds), so that several
    /// queries read the same samples.
    pub async fn query_at(&self, promql: &str, time: f64) -> Result<QueryResult, String> {
        self.query_with(promql, &[("time", &format!("{time:.3}"))])
            .await
    }

    /// Instant queries of all of `exprs` at once, each evaluated at `time`
    /// (Unix seconds) if given, now if not: their results, in order.
    pub async fn query_many(
        &self,
        exprs: &[String],
        time: Option<f64>,
    ) -> Vec<Result<QueryResult, String>> {
        let mut queries = tokio::task::JoinSet::new();
        for (i, expr) in exprs.iter().enumerate() {
            let (api, expr) = (self.clone(), expr.clone());
            queries.spawn(async move {
                let result = match time {
                    Some(time) => api.query_at(&expr, time).await,
                    None => api.query(&expr).await,
                };
                (i, result)
            });
        }
        let mut results = vec![None; exprs.len()];
        while let Some(answered) = queries.join_next().await {
            let (i, result) = answered.unwrap_or_else(|e| panic!("a query task failed: {e}"));
            results[i] = Some(result);
        }
        results.into_iter().flatten().collect()
    }

    async fn query_with(
        &self,
        promql: &str,
        extra: &[(&str, &str)],
    ) -> Result<QueryResult, String> {
        let mut params = vec![("query", promql)];
        params.extend_from_slice(extra);
        let data = self
            .api("query", &params)
            .await
            .map_err(|e| format!("query {promql}\n  -> {e}"))?;
        let raw = data.to_string();
        let value = |pair: &Json| -> Result<f64, String> {
            pair.get(1)
                .and_then(Json::as_str)
                .and_then(|v| v.parse::<f64>().ok())
                .ok_or_else(|| format!("query {promql}\n  -> bad sample in {raw}"))
        };
        let series = match data["resultType"].as_str() {
            Some("vector") => data["result"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| {
                    Ok((
                        s["metric"].as_object().cloned().unwrap_or_default(),
                        value(&s["value"])?,
                    ))
                })
                .collect::<Result<_, String>>()?,
            Some("scalar") => vec![(serde_json::Map::new(), value(&data["result"])?)],
            other => {
                return Err(format!(
                    "query {promql}\n  -> unexpected resultType {other:?}: {raw}"
                ));
            }
        };
        Ok(QueryResult { series, raw })
    }
}

/// The vector selectors and grouping labels of a PromQL expression.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PromqlNames {
    /// Each selector as written: `metric` or `metric{matchers}`.
    pub selectors: Vec<String>,
    /// Labels named in `by`, `without`, `on`, `ignoring`, `group_left` and
    /// `group_right` clauses.
    pub grouping_labels: Vec<String>,
}

const GROUPING: [&str; 6] = [
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];
const KEYWORDS: [&str; 8] = [
    "and", "or", "unless", "bool", "offset", "inf", "nan", "atan2",
];

/// Finds the selectors and grouping labels of `expr` (enough PromQL for the
/// dashboard and the alert rules: strings, ranges, numbers and durations are
/// skipped; an identifier followed by `(` is a function).
pub fn promql_names(expr: &str) -> PromqlNames {
    let bytes = expr.as_bytes();
    let mut names = PromqlNames::default();
    let mut i = 0;
    let skip_space = |mut i: usize| {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    while i < bytes.len() {
        let c = bytes[i];
        if matches!(c, b'"' | b'\'' | b'`') {
            i = skip_string(bytes, i);
        } else if c == b'[' {
            i = expr[i..].find(']').map_or(bytes.len(), |end| i + end + 1);
        } else if c.is_ascii_digit()
            || (c == b'.' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'.') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == b'_' || c == b':' {
            let start = i;
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'_' | b':'))
            {
                i += 1;
            }
            let ident = &expr[start..i];
            let next = skip_space(i);
            let followed_by = bytes.get(next).copied();
            if GROUPING.contains(&ident) && followed_by == Some(b'(') {
                let end = expr[next..].find(')').map_or(bytes.len(), |e| next + e);
                names.grouping_labels.extend(
                    expr[next + 1..end]
                        .split(',')
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .map(str::to_owned),
                );
                i = end + 1;
            } else if followed_by == Some(b'(')
                || KEYWORDS.contains(&ident.to_ascii_lowercase().as_str())
                || ["by", "without"].iter().any(|g| {
                    expr[next..].starts_with(g)
                        && !expr[next + g.len()..]
                            .starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
                })
            {
                // A function, an aggregation (`sum(` or `sum by (`) or an
                // operator keyword.
            } else if followed_by == Some(b'{') {
                let end = matching_brace(bytes, next);
                names.selectors.push(format!("{ident}{}", &expr[next..end]));
                i = end;
            } else {
                names.selectors.push(ident.to_owned());
            }
        } else if c == b'{' {
            let end = matching_brace(bytes, i);
            names.selectors.push(expr[i..end].to_owned());
            i = end;
        } else {
            i += 1;
        }
    }
    names
}

/// The index after the string literal starting at `start`.
fn skip_string(bytes: &[u8], start: usize) -> usize {
    let quote = bytes[start];
    let mut i = start + 1;
    while i < bytes.len() {
        if bytes[i] == b'\\' && quote != b'`' {
            i += 2;
        } else if bytes[i] == quote {
            return i + 1;
        } else {
            i += 1;
        }
    }
    bytes.len()
}

/// The index after the `}` closing the `{` at `open`.
fn matching_brace(bytes: &[u8], open: usize) -> usize {
    let mut i = open + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'"' | b'\'' | b'`' => i = skip_string(bytes, i),
            b'}' => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// `selector` with one more matcher: `label!=""` (the series has `label`).
pub fn with_label(selector: &str, label: &str) -> String {
    match selector.find('{') {
        Some(open) => {
            let inner = selector[open + 1..].trim_end_matches('}').trim();
            let sep = if inner.is_empty() { "" } else { ", " };
            format!("{}{{{inner}{sep}{label}!=\"\"}}", &selector[..open])
        }
        None => format!("{selector}{{{label}!=\"\"}}"),
    }
}

#[test]
fn promql_names_finds_selectors_and_grouping_labels() {
    let names = promql_names(
        r#"histogram_quantile(0.9, sum by (le) (rate(agi_api_request_duration_seconds_bucket{job=~"agi", x="a}b"}[1m]))) > 0.5 and on (job) up{job="agi"} offset 5m"#,
    );
    assert_eq!(
        names,
        PromqlNames {
            selectors: vec![
                r#"agi_api_request_duration_seconds_bucket{job=~"agi", x="a}b"}"#.to_owned(),
                r#"up{job="agi"}"#.to_owned(),
            ],
            grouping_labels: vec!["le".to_owned(), "job".to_owned()],
        }
    );
    let names = promql_names("time() - (max(agi_api_last_success_timestamp_seconds) > 0)");
    assert_eq!(names.selectors, ["agi_api_last_success_timestamp_seconds"]);
    assert_eq!(with_label("agi_up", "job"), r#"agi_up{job!=""}"#);
    assert_eq!(
        with_label(r#"agi_sessions{status="error"}"#, "status"),
        r#"agi_sessions{status="error", status!=""}"#
    );
}
