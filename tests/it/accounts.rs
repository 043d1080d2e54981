//! Many accounts from `--config.file` (docs/configuration.md, "Many
//! accounts"): `/probe?account=NAME` fetches one account and nothing a
//! scraper sends can aim it elsewhere, `/accounts` lists them for
//! Prometheus' HTTP service discovery, each account stands alone (its
//! counters, its failures, its key, redacted from every other's text), the
//! file is re-read when it changes, and `/metrics` is the process's own.

use std::time::Duration;

use crate::support::process::{BinaryExporter, run};
use crate::support::*;

const PROD_KEY: &str = "sk-prod-4d1f9a2c7e";
const STAGING_KEY: &str = "sk-staging-83b7e0c15f";
const TEAM_KEY: &str = "sk-team-a-5c90f3e1d2";

/// A config file and the key files it names, in a directory of their own
/// (the end-to-end tests write theirs with it too).
pub(crate) struct ConfigDir {
    dir: TempDir,
}

impl ConfigDir {
    pub(crate) fn new(tag: &str) -> ConfigDir {
        ConfigDir {
            dir: TempDir::new(tag),
        }
    }

    /// Writes `accounts` as the config file: (name, url, key, extra lines),
    /// each key in a key file of its own; returns its path.
    pub(crate) fn write(&self, accounts: &[(&str, &str, &str, &str)]) -> String {
        let mut text = String::from("accounts:\n");
        for (name, url, key, extra) in accounts {
            let key_file = self
                .dir
                .write(&format!("{name}-{}.key", key.len()), &format!("{key}\n"));
            text.push_str(&format!(
                "  {name}:\n    url: {url}\n    key_file: {}\n{extra}",
                key_file.display()
            ));
        }
        self.write_text(&text)
    }

    fn write_text(&self, text: &str) -> String {
        // Written beside and renamed over, as a config manager does, so
        // that the exporter never reads half a file.
        let staged = self.dir.write("accounts.yml.new", text);
        let path = self.dir.file("accounts.yml");
        std::fs::rename(staged, &path).expect("the config file is renamed into place");
        path.display().to_string()
    }
}

async fn exporter(config: &str, extra: &[&str]) -> Exporter {
    let mut args = vec!["--config.file", config, "--log.level", "debug"];
    args.extend_from_slice(extra);
    Exporter::start(&args, None).await
}

async fn probe(exporter: &Exporter, account: &str) -> String {
    exporter
        .scrape_path(&format!("/probe?account={account}"))
        .await
}

fn sessions(exposition: &str) -> f64 {
    samples(exposition)
        .iter()
        .filter(|sample| sample.name == "agi_sessions")
        .map(|sample| sample.value)
        .sum()
}

fn requests(exposition: &str) -> f64 {
    expect_value(exposition, "agi_api_requests_total", &[])
}

#[tokio::test]
async fn each_account_is_probed_on_its_own_and_listed_for_discovery() {
    let prod = fake_api_with_key(Population::Generated(50, Shape::Docs), PROD_KEY).await;
    let staging = fake_api_with_key(Population::Generated(30, Shape::Sdk), STAGING_KEY).await;
    let team = fake_api_with_key(Population::Generated(7, Shape::Mixed), TEAM_KEY).await;
    let dir = ConfigDir::new("accounts-probe");
    let config = dir.write(&[
        ("prod", &prod.url(), PROD_KEY, ""),
        ("staging", &staging.url(), STAGING_KEY, ""),
        ("team.a", &team.url(), TEAM_KEY, ""),
    ]);
    let exporter = exporter(&config, &[]).await;

    let discovered = exporter.get("/accounts").await;
    assert_eq!(discovered.status, 200);
    assert_eq!(discovered.header("content-type"), Some("application/json"));
    let groups: serde_json::Value = serde_json::from_slice(&discovered.body).unwrap();
    let expected: serde_json::Value = serde_json::json!([
        {"targets": ["prod"], "labels": {"account": "prod", "__param_account": "prod"}},
        {"targets": ["staging"], "labels": {"account": "staging", "__param_account": "staging"}},
        {"targets": ["team.a"], "labels": {"account": "team.a", "__param_account": "team.a"}},
    ]);
    assert_eq!(groups, expected);

    for (name, api, listed, key) in [
        ("prod", &prod, 50.0, PROD_KEY),
        ("staging", &staging, 30.0, STAGING_KEY),
        ("team.a", &team, 7.0, TEAM_KEY),
    ] {
        let exposition = probe(&exporter, name).await;
        assert_eq!(up(&exposition), 1.0, "{name}: {exposition}");
        assert_eq!(sessions(&exposition), listed, "{name}");
        assert_eq!(requests(&exposition), 1.0, "{name}");
        let process: Vec<_> = families(&exposition)
            .into_iter()
            .filter(|f| f.starts_with("process_") || f == "agi_exporter_build_info")
            .collect();
        assert!(process.is_empty(), "{name}: {process:?}");
        assert_eq!(api.requests(), 1, "{name}");
        assert_eq!(
            api.last_bearer().as_deref(),
            Some(format!("Bearer {key}").as_str())
        );
    }

    let own = exporter.scrape().await;
    let own_families = families(&own);
    assert!(own_families.contains("agi_exporter_build_info"), "{own}");
    assert!(
        own_families.contains("process_resident_memory_bytes"),
        "{own}"
    );
    assert!(
        own_families
            .iter()
            .all(|f| f == "agi_exporter_build_info" || f.starts_with("process_")),
        "{own}"
    );
    assert_eq!(prod.requests() + staging.requests() + team.requests(), 3);
}

#[tokio::test]
async fn a_probe_reads_only_the_account_name() {
    let prod = fake_api_with_key(Population::Generated(20, Shape::Docs), PROD_KEY).await;
    let elsewhere = fake_api(Population::Generated(5, Shape::Docs)).await;
    let dir = ConfigDir::new("accounts-query");
    let config = dir.write(&[
        ("prod", &prod.url(), PROD_KEY, ""),
        ("staging", &prod.url(), STAGING_KEY, ""),
    ]);
    let exporter = exporter(&config, &[]).await;
    let names = "the accounts are: prod, staging";

    let long = "p".repeat(10_000);
    for (query, problem) in [
        ("/probe", "missing account=NAME"),
        ("/probe?", "missing account=NAME"),
        ("/probe?target=prod", "missing account=NAME"),
        ("/probe?Account=prod", "missing account=NAME"),
        ("/probe?account=", "not an account name"),
        ("/probe?account=nope", "unknown account \"nope\""),
        ("/probe?account=PROD", "unknown account \"PROD\""),
        ("/probe?account=prod&account=staging", "more than once"),
        ("/probe?account=prod&account=prod", "more than once"),
        ("/probe?account=../prod", "not an account name"),
        ("/probe?account=prod%00", "not an account name"),
        ("/probe?account=prod%2Fx", "not an account name"),
        ("/probe?account=http://127.0.0.1:1/", "not an account name"),
        (&format!("/probe?account={long}"), "not an account name"),
    ] {
        let reply = exporter.get(query).await;
        assert_eq!(reply.status, 400, "{query}: {}", reply.text());
        let text = reply.text();
        assert!(
            text.contains(problem) && text.contains(names),
            "{query}: {text}"
        );
        assert_eq!(text.lines().count(), 1, "{query}: {text}");
        assert!(!text.contains(&long[..100]), "the long name is echoed");
    }
    assert_eq!(prod.requests(), 0, "a refused probe sends no request");

    // Whatever else the query says, the account's own URL and key are used.
    let plain = probe(&exporter, "prod").await;
    let aimed = format!(
        "/probe?account=prod&target={0}&url={0}&module=http&api_url={0}&key=sk-other-key-123&__address__={0}",
        elsewhere.url()
    );
    let with_extras = exporter.scrape_path(&aimed).await;
    assert_eq!(sessions(&with_extras), sessions(&plain));
    assert_eq!(up(&with_extras), 1.0);
    let encoded = exporter.scrape_path("/probe?%61ccount=%70rod").await;
    assert_eq!(sessions(&encoded), 20.0);
    assert_eq!(elsewhere.requests(), 0, "the exporter was aimed elsewhere");
    assert_eq!(prod.requests(), 3);
    assert_eq!(
        prod.last_bearer().as_deref(),
        Some(format!("Bearer {PROD_KEY}").as_str())
    );

    // A HEAD costs no request; other paths are not the probe.
    let head = exporter
        .send(
            exporter
                .client()
                .head(format!("{}/probe?account=prod", exporter.url())),
        )
        .await;
    assert_eq!(head.status, 200);
    assert_eq!(prod.requests(), 3);
    for path in [
        "/probe/",
        "//probe?account=prod",
        "/probe/prod",
        "/PROBE?account=prod",
        "/accounts/",
    ] {
        assert_eq!(exporter.get(path).await.status, 404, "{path}");
    }
    let post = exporter
        .send(
            exporter
                .client()
                .post(format!("{}/probe?account=prod", exporter.url())),
        )
        .await;
    assert_eq!(post.status, 405);
    assert_eq!(prod.requests(), 3);
}

#[tokio::test]
async fn one_account_failing_changes_nothing_for_another() {
    let prod = fake_api_with_key(Population::Generated(40, Shape::Sdk), PROD_KEY).await;
    // A hostile API for staging: it refuses the key and echoes both keys.
    let staging = fake_api(Population::Empty).await;
    staging.set_behaviour(Behaviour::Respond {
        status: 401,
        headers: vec![(
            "location".to_owned(),
            format!("https://x.example/?k={PROD_KEY}"),
        )],
        body: format!(
            r#"{{"error":"bad key {STAGING_KEY}; did you mean {PROD_KEY}? {}"}}"#,
            crate::support::leaks::query_encoded(PROD_KEY)
        )
        .into(),
    });
    let team = fake_api(Population::Empty).await;
    team.set_behaviour(Behaviour::json(format!(r#"[{{"session_id":"{PROD_KEY}","agent_name":"{PROD_KEY}","status":"{STAGING_KEY}"}}, garbage"#)));
    let dir = ConfigDir::new("accounts-isolation");
    let config = dir.write(&[
        ("prod", &prod.url(), PROD_KEY, ""),
        ("staging", &staging.url(), STAGING_KEY, ""),
        ("team", &team.url(), TEAM_KEY, ""),
    ]);
    let exporter = exporter(&config, &[]).await;
    let mut served = String::new();
    for round in 1..=3 {
        let good = probe(&exporter, "prod").await;
        let refused = probe(&exporter, "staging").await;
        let garbled = probe(&exporter, "team").await;
        assert_eq!(up(&good), 1.0, "{good}");
        assert_eq!(sessions(&good), 40.0);
        assert_eq!(requests(&good), f64::from(round));
        assert_eq!(
            value(
                &good,
                "agi_api_request_failures_total",
                &[("reason", "unauthorized")]
            ),
            Some(0.0)
        );
        assert_eq!(up(&refused), 0.0);
        assert_eq!(
            value(
                &refused,
                "agi_api_request_failures_total",
                &[("reason", "unauthorized")]
            ),
            Some(f64::from(round))
        );
        assert_eq!(up(&garbled), 0.0);
        assert_eq!(
            value(
                &garbled,
                "agi_api_request_failures_total",
                &[("reason", "invalid_response")]
            ),
            Some(f64::from(round))
        );
        served.push_str(&(good + &refused + &garbled));
    }
    // The team API lists a session under another account's keys, whole:
    // when it is readable, no label shows them either.
    team.set_behaviour(Behaviour::json(format!(
        r#"[{{"session_id":"{PROD_KEY}","agent_name":"agent {STAGING_KEY}","status":"running","created_at":"2025-10-05T18:04:34Z"}}]"#
    )));
    let labelled = probe(&exporter, "team").await;
    assert_eq!(up(&labelled), 1.0, "{labelled}");
    served.push_str(&labelled);
    let log = exporter.logs().text();
    for key in [PROD_KEY, STAGING_KEY, TEAM_KEY] {
        assert_no_key_in(key, "the expositions", &served);
        assert_no_key_in(key, "the log", &log);
    }
    assert!(
        !lines_containing(&log, &["account=staging", "unauthorized"]).is_empty(),
        "{log}"
    );
    assert!(
        lines_containing(&log, &["account=prod", "API request failed"]).is_empty(),
        "{log}"
    );
}

#[tokio::test]
async fn the_config_file_is_followed_while_the_exporter_runs() {
    let a = fake_api_with_key(Population::Generated(10, Shape::Docs), PROD_KEY).await;
    let a_moved = fake_api_with_key(Population::Generated(12, Shape::Docs), PROD_KEY).await;
    let any_key = fake_api(Population::Empty).await;
    any_key.set_behaviour(Behaviour::json(format!("[{EXAMPLE_SESSION}]")));
    let c = fake_api_with_key(Population::Generated(3, Shape::Sdk), TEAM_KEY).await;
    let dir = ConfigDir::new("accounts-reload");
    let config = dir.write(&[
        ("a", &a.url(), PROD_KEY, ""),
        ("b", &any_key.url(), STAGING_KEY, ""),
        ("c", &c.url(), TEAM_KEY, ""),
    ]);
    let exporter = exporter(&config, &[]).await;
    for name in ["a", "b", "c"] {
        probe(&exporter, name).await;
        assert_eq!(requests(&probe(&exporter, name).await), 2.0, "{name}");
    }

    // b gets another key file and a timeout: it keeps its counters. a moves
    // to another URL: it starts anew. c goes, d comes.
    let rotated = "sk-staging-rotated-77aa11";
    dir.write(&[
        ("a", &a_moved.url(), PROD_KEY, ""),
        ("b", &any_key.url(), rotated, "    timeout: 7s\n"),
        ("d", &c.url(), TEAM_KEY, ""),
    ]);
    let reloaded = wait_for_line(
        "the exporter",
        &["reloaded the config file"],
        DEADLINE,
        || exporter.logs().text(),
    )
    .await;
    for part in [
        "added=d",
        "removed=c",
        "changed=b",
        "restarted=a",
        "accounts=3",
    ] {
        assert!(reloaded.contains(part), "{reloaded}");
    }
    let listed: serde_json::Value =
        serde_json::from_slice(&exporter.get("/accounts").await.body).unwrap();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|group| group["labels"]["account"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a", "b", "d"]);
    assert_eq!(exporter.get("/probe?account=c").await.status, 400);
    let b = probe(&exporter, "b").await;
    assert_eq!(requests(&b), 3.0, "b kept its counters: {b}");
    assert_eq!(
        any_key.last_bearer().as_deref(),
        Some(format!("Bearer {rotated}").as_str())
    );
    let moved = probe(&exporter, "a").await;
    assert_eq!(requests(&moved), 1.0, "a started anew: {moved}");
    assert_eq!(sessions(&moved), 12.0);
    assert_eq!(a_moved.requests(), 1);
    assert_eq!(requests(&probe(&exporter, "d").await), 1.0);

    // A broken file keeps the accounts as they were.
    for broken in [
        "accounts:\n  a: {key_env: }\n",
        "accounts: [",
        "accounts:\n  e: {key_file: /nonexistent/key}\n",
    ] {
        dir.write_text(broken);
        let before = exporter
            .logs()
            .text()
            .matches("keeping the previous accounts")
            .count();
        eventually("the broken file is refused", DEADLINE, async || {
            let now = exporter
                .logs()
                .text()
                .matches("keeping the previous accounts")
                .count();
            if now > before { Ok(()) } else { Err("not yet") }
        })
        .await;
        assert_eq!(exporter.get("/probe?account=e").await.status, 400);
        assert_eq!(up(&probe(&exporter, "d").await), 1.0);
    }
    let log = exporter.logs().text();
    assert_no_key_in(rotated, "the log", &log);
    assert_no_key_in(PROD_KEY, "the log", &log);
}

#[tokio::test]
async fn probes_keep_the_scrapers_timeout_and_the_request_limit() {
    let slow = fake_api_with_key(Population::Generated(5, Shape::Docs), PROD_KEY).await;
    slow.set_behaviour(Behaviour::Delay(Duration::from_secs(3)));
    let quick = fake_api_with_key(Population::Generated(5, Shape::Docs), STAGING_KEY).await;
    quick.set_behaviour(Behaviour::Delay(Duration::from_secs(3)));
    let dir = ConfigDir::new("accounts-limits");
    let config = dir.write(&[
        ("slow", &slow.url(), PROD_KEY, ""),
        (
            "impatient",
            &quick.url(),
            STAGING_KEY,
            "    timeout: 200ms\n",
        ),
    ]);
    let exporter = exporter(&config, &["--web.max-requests", "1"]).await;

    // The account's own timeout.
    let impatient = probe(&exporter, "impatient").await;
    assert_eq!(up(&impatient), 0.0);
    assert_eq!(
        value(
            &impatient,
            "agi_api_request_failures_total",
            &[("reason", "timeout")]
        ),
        Some(1.0)
    );

    // The scraper's: 1 s less the 0.5 s offset, well before the API's 3 s.
    let request = exporter
        .client()
        .get(format!("{}/probe?account=slow", exporter.url()))
        .header(SCRAPE_TIMEOUT_HEADER, "1");
    let reply = exporter.send(request).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        value(
            &reply.text(),
            "agi_api_request_failures_total",
            &[("reason", "timeout")]
        ),
        Some(1.0)
    );

    // One probe under way takes the one request slot.
    let request = exporter
        .client()
        .get(format!("{}/probe?account=slow", exporter.url()));
    let first = tokio::spawn(send(request));
    eventually("the first probe reaches the API", DEADLINE, async || {
        if slow.requests() >= 2 {
            Ok(())
        } else {
            Err("not yet")
        }
    })
    .await;
    let second = exporter.get("/probe?account=impatient").await;
    assert_eq!(second.status, 503, "{}", second.text());
    let metrics = exporter.get("/metrics").await;
    assert_eq!(metrics.status, 503);
    assert_eq!(
        exporter.get("/accounts").await.status,
        200,
        "discovery is not limited"
    );
    assert_eq!(first.await.unwrap().status, 200);
}

#[tokio::test]
async fn without_a_config_file_there_is_no_probe() {
    let api = fake_api(Population::Generated(5, Shape::Docs)).await;
    let exporter = Exporter::for_api(&api.url(), &[]).await;
    for path in ["/probe?account=x", "/accounts"] {
        let reply = exporter.get(path).await;
        assert_eq!(reply.status, 404, "{path}");
        assert!(
            reply.text().contains("need --config.file"),
            "{}",
            reply.text()
        );
    }
    assert_eq!(api.requests(), 0);
    assert_eq!(up(&exporter.scrape().await), 1.0);
}

#[tokio::test]
async fn discovery_and_probes_are_behind_the_web_config() {
    let api = fake_api_with_key(Population::Generated(5, Shape::Docs), PROD_KEY).await;
    let dir = ConfigDir::new("accounts-auth");
    let config = dir.write(&[("prod", &api.url(), PROD_KEY, "")]);
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let web = dir.dir.write(
        "web.yml",
        &format!("basic_auth_users:\n  prometheus: '{hash}'\n"),
    );
    let exporter = exporter(&config, &["--web.config.file", &web.display().to_string()]).await;
    for path in [
        "/accounts",
        "/probe?account=prod",
        "/probe?account=nope",
        "/metrics",
    ] {
        assert_eq!(exporter.get(path).await.status, 401, "{path}");
    }
    assert_eq!(api.requests(), 0);
    let request = exporter
        .client()
        .get(format!("{}/accounts", exporter.url()))
        .basic_auth("prometheus", Some("s3cret"));
    assert_eq!(exporter.send(request).await.status, 200);
}

#[tokio::test]
async fn the_binary_checks_the_file_at_start_and_reads_key_env() {
    let api = fake_api_with_key(Population::Generated(9, Shape::Sdk), PROD_KEY).await;
    let dir = ConfigDir::new("accounts-binary");
    let listen = ["--web.listen-address", "127.0.0.1:0"];
    for (text, flags, problem) in [
        (
            "accounts:\n  prod: {key_env: AGI_PROD_KEY, tiemout: 5s}\n",
            &[][..],
            "unknown field `tiemout`",
        ),
        (
            "accounts:\n  prod: {key_env: AGI_NOT_SET}\n",
            &[][..],
            "accounts.prod.key_env: the environment variable it names is not set",
        ),
        (
            "accounts:\n  prod: {key_env: AGI_PROD_KEY}\n",
            &["--demo"][..],
            "--demo and --config.file cannot go together",
        ),
        (
            "accounts:\n  prod: {key_env: AGI_PROD_KEY}\n",
            &["--once"][..],
            "--once fetches one account",
        ),
    ] {
        let config = dir.write_text(text);
        let mut args = vec!["--config.file", &config];
        args.extend_from_slice(&listen);
        args.extend_from_slice(flags);
        let finished = run(&args, &[("AGI_PROD_KEY", PROD_KEY)]).await;
        assert_eq!(finished.code(), Some(2), "{text}: {}", finished.stderr);
        assert_eq!(finished.stderr.lines().count(), 1, "{}", finished.stderr);
        assert!(finished.stderr.contains(problem), "{}", finished.stderr);
        assert_no_key_in(PROD_KEY, "stderr", &finished.stderr);
    }
    let config = dir.write_text(&format!(
        "accounts:\n  prod:\n    url: {}\n    key_env: AGI_PROD_KEY\n",
        api.url()
    ));
    let mut args = vec!["--config.file", &config];
    args.extend_from_slice(&listen);
    let exporter = BinaryExporter::start(&args, &[("AGI_PROD_KEY", PROD_KEY)]).await;
    let exposition = exporter.scrape_path("/probe?account=prod").await;
    assert_eq!(sessions(&exposition), 9.0);
    assert_eq!(
        api.last_bearer().as_deref(),
        Some(format!("Bearer {PROD_KEY}").as_str())
    );
}

#[tokio::test]
async fn every_accounts_key_is_redacted_before_that_account_is_ever_probed() {
    let prod = fake_api_with_key(Population::Generated(5, Shape::Docs), PROD_KEY).await;
    // Team's API and staging's echo prod's key, which neither holds.
    let team = fake_api_with_key(Population::Empty, TEAM_KEY).await;
    team.set_behaviour(Behaviour::json(format!(
        r#"[{{"session_id":"s-1","agent_name":"agent {PROD_KEY}","status":"running","created_at":"2026-11-05T18:04:34Z"}}]"#
    )));
    let staging = fake_api_with_key(Population::Empty, STAGING_KEY).await;
    staging.set_behaviour(Behaviour::status(
        401,
        format!(r#"{{"error":"try {PROD_KEY}"}}"#),
    ));
    let dir = ConfigDir::new("keyring-first");
    let config = dir.write(&[
        ("prod", &prod.url(), PROD_KEY, ""),
        ("team", &team.url(), TEAM_KEY, ""),
        ("staging", &staging.url(), STAGING_KEY, ""),
    ]);
    let exporter = exporter(&config, &[]).await;
    // Prod is never probed until the end.
    let team_first = probe(&exporter, "team").await;
    let staging_first = probe(&exporter, "staging").await;
    probe(&exporter, "prod").await;
    let team_after = probe(&exporter, "team").await;
    for (what, text) in [
        ("team's first probe", team_first),
        ("staging's first probe", staging_first),
        ("team's probe after prod's", team_after),
        ("the log", exporter.logs().text()),
    ] {
        assert_no_key_in(PROD_KEY, what, &text);
    }
}
