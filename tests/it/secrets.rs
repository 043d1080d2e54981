//! The API key never leaks (README, Security). The exporter runs at
//! `--log.level debug` through a successful scrape, a 401 and a 500 whose
//! bodies echo the key, and a timeout; then everything a user or an
//! attacker could read (logs, every `/metrics` body, the landing page,
//! `--help`, `--once` output) is searched for the key in every form
//! (`support::leaks`). To prove the search
//! can fail, the test also checks that the key really reached the API.

use crate::support::process::*;
use crate::support::*;
use std::time::Duration;

const SECRET_KEY: &str = "sk-test-SECRET-9f8e7d";

/// Echoes the key back, as a careless API might in an error message.
fn echoing(status: u16) -> Behaviour {
    Behaviour::status(
        status,
        format!("{{\"detail\":\"invalid key {SECRET_KEY}\"}}"),
    )
}

/// How a field shows in a log line of this format.
fn field(format: &str, name: &str, value: &str) -> String {
    match format {
        "json" => format!(r#""{name}":"{value}""#),
        _ => format!("{name}={value}"),
    }
}

/// Everything collected, by where it came from.
#[derive(Default)]
struct Outputs(Vec<(String, String)>);

impl Outputs {
    fn add(&mut self, source: impl Into<String>, text: impl Into<String>) {
        self.0.push((source.into(), text.into()));
    }

    /// Fails when any of them holds the key in any form, or any 12
    /// characters of it in a row (see `support::leaks`).
    fn assert_no_key(&self) {
        for (source, text) in &self.0 {
            assert_no_key_in(SECRET_KEY, source, text);
        }
    }
}

fn assert_key_reached_the_api(api: &FakeApi) {
    let headers = api.last_headers().expect("the API was called");
    assert_eq!(
        headers.get("authorization").and_then(|v| v.to_str().ok()),
        Some(format!("Bearer {SECRET_KEY}").as_str()),
        "the exporter must send the key, or this test proves nothing"
    );
}

async fn the_key_appears_nowhere(format: &str) {
    let api = fake_api_with_key(Population::Generated(50, Shape::Sdk), SECRET_KEY).await;
    let env = [("AGI_API_KEY", SECRET_KEY)];
    let api_url = api.url();
    // Every run: this API, and the most talkative logs.
    let flags = [
        "--api.url",
        &api_url,
        "--log.level",
        "debug",
        "--log.format",
        format,
    ];
    let mut outputs = Outputs::default();
    let mut exporter = BinaryExporter::start(
        &[
            &[
                "--web.listen-address",
                "127.0.0.1:0",
                "--api.timeout",
                "500ms",
            ][..],
            &flags,
        ]
        .concat(),
        &env,
    )
    .await;

    let body = exporter.scrape().await;
    assert_eq!(expect_value(&body, "agi_up", &[]), 1.0, "{body}");
    outputs.add("/metrics after a success", body);
    assert_key_reached_the_api(&api);

    for (behaviour, reason) in [
        (echoing(401), "unauthorized"),
        (echoing(500), "http_status"),
        (Behaviour::Delay(Duration::from_secs(2)), "timeout"),
    ] {
        api.set_behaviour(behaviour);
        let body = exporter.scrape().await;
        assert_eq!(expect_value(&body, "agi_up", &[]), 0.0, "{body}");
        exporter
            .wait_for_log_line(&[&field(format, "reason", reason)], Duration::from_secs(5))
            .await;
        outputs.add(format!("/metrics after {reason}"), body);
    }
    api.set_behaviour(Behaviour::Serve);
    outputs.add("the landing page", exporter.get("/").await.text());

    exporter.sigterm();
    exporter
        .wait_for_exit(Duration::from_secs(10))
        .await
        .expect("the exporter stops on SIGTERM");
    let log = exporter.stderr_text();
    assert!(
        log.contains("fetched the session list"),
        "expected the debug log to show per-scrape detail:\n{log}"
    );
    outputs.add(format!("the {format} log"), log);
    outputs.add("the exporter's stdout", exporter.stdout_text());

    let help = run(&["--help"], &env).await;
    outputs.add("--help", help.stdout);
    outputs.add("--help's stderr", help.stderr);

    for behaviour in [echoing(401), Behaviour::Serve] {
        api.set_behaviour(behaviour);
        let once = run(&[&["--once"][..], &flags].concat(), &env).await;
        outputs.add("--once's stdout", once.stdout);
        outputs.add("--once's log", once.stderr);
    }

    // Any run of 12 of its characters counts: "SECRET-9f8e7d" alone, say.
    outputs.assert_no_key();
    assert_key_reached_the_api(&api);
}

#[tokio::test]
async fn the_key_appears_nowhere_with_logfmt_logs() {
    the_key_appears_nowhere("logfmt").await;
}

#[tokio::test]
async fn the_key_appears_nowhere_with_json_logs() {
    the_key_appears_nowhere("json").await;
}

#[tokio::test]
async fn a_key_file_does_not_leak_either() {
    let api = fake_api_with_key(Population::Generated(50, Shape::Sdk), SECRET_KEY).await;
    let key_file = TempFile::with_contents("secret", &format!("  {SECRET_KEY}\n"));
    api.set_behaviour(echoing(403));
    let once = run(
        &[
            "--api.url",
            &api.url(),
            "--api.key-file",
            key_file.path(),
            "--once",
            "--log.level",
            "debug",
        ],
        &[],
    )
    .await;
    assert_ne!(once.code(), Some(0));
    let mut outputs = Outputs::default();
    outputs.add("--once's stdout", once.stdout);
    outputs.add("--once's log", once.stderr);
    outputs.assert_no_key();
    assert_key_reached_the_api(&api);
}
