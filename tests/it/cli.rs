//! The command line (README, Flags and Endpoints): `--version`, `--help`, exit code 2
//! with one clear line for bad flags or a missing key, `--once`, `--demo`
//! and `--api.key-file`.
use crate::support::process::*;
use crate::support::*;

/// Every flag the README's Flags and Endpoints section lists.
const FLAGS: [&str; 21] = [
    "--api.url",
    "--api.key-file",
    "--api.timeout",
    "--api.cache-ttl",
    "--api.max-response-bytes",
    "--api.allow-insecure-http",
    "--web.listen-address",
    "--web.telemetry-path",
    "--web.config.file",
    "--web.max-requests",
    "--web.timeout-offset",
    "--web.disable-exporter-metrics",
    "--agents.max",
    "--sessions.top-oldest",
    "--sessions.final-statuses",
    "--log.level",
    "--log.format",
    "--demo",
    "--once",
    "--version",
    "--help",
];

/// Asserts a `--once` run that fetched: exit code 0 and `agi_up 1`.
fn assert_up_and_exit_0(finished: &Finished) {
    assert_eq!(finished.code(), Some(0), "{finished:?}");
    assert_eq!(
        expect_value(&finished.stdout, "agi_up", &[]),
        1.0,
        "{finished:?}"
    );
}

/// Asserts a usage error: exit code 2, nothing on stdout, exactly one line
/// on stderr (no panic, no backtrace); returns that line.
fn assert_usage_error(finished: &Finished) -> &str {
    assert_eq!(finished.code(), Some(2), "{finished:?}");
    assert_eq!(finished.stdout, "", "{finished:?}");
    let lines: Vec<&str> = finished.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one line on stderr: {finished:?}");
    assert!(!finished.stderr.contains("panicked"), "{finished:?}");
    lines[0]
}

#[tokio::test]
async fn version_prints_the_version_and_exits_0() {
    let finished = run(&["--version"], &[]).await;
    assert_eq!(finished.code(), Some(0), "{finished:?}");
    assert!(
        finished.stdout.contains(env!("CARGO_PKG_VERSION")),
        "{finished:?}"
    );
    assert!(finished.stdout.contains("agi_exporter"), "{finished:?}");
}

#[tokio::test]
async fn help_exits_0_and_lists_every_flag_of_the_readme() {
    let finished = run(&["--help"], &[]).await;
    assert_eq!(finished.code(), Some(0), "{finished:?}");
    let help = &finished.stdout;
    for flag in FLAGS {
        assert!(help.contains(flag), "--help does not list {flag}:\n{help}");
    }
    assert!(
        help.contains("AGI_API_KEY"),
        "--help says where the key comes from:\n{help}"
    );
}

#[tokio::test]
async fn a_missing_key_exits_2_with_one_line() {
    let finished = run(&["--api.url", "http://127.0.0.1:9"], &[]).await;
    let line = assert_usage_error(&finished);
    assert!(line.contains("AGI_API_KEY"), "{line}");
}

#[tokio::test]
async fn a_bad_duration_exits_2_with_one_line_naming_the_flag() {
    let finished = run(&["--api.timeout", "soon"], &[("AGI_API_KEY", KEY)]).await;
    let line = assert_usage_error(&finished);
    assert!(line.contains("--api.timeout"), "{line}");
    assert!(line.contains("soon"), "{line}");
}

#[tokio::test]
async fn final_statuses_that_cannot_be_meant_exit_2_with_one_line_naming_the_flag() {
    for (list, reason) in [
        ("", "empty"),
        ("completed,running,error", "live status"),
        ("completed,finished", "must include \"error\""),
        ("error,error", "twice"),
    ] {
        let env = [("AGI_API_KEY", KEY), ("AGI_SESSIONS_FINAL_STATUSES", list)];
        let finished = run(&[], &env).await;
        let line = assert_usage_error(&finished);
        assert!(line.contains("--sessions.final-statuses"), "{line}");
        assert!(line.contains(reason), "{list:?}: {line}");
    }
}

#[tokio::test]
async fn a_final_status_of_the_users_own_ends_sessions() {
    let api = fake_api(Population::Empty).await;
    api.set_behaviour(Behaviour::json(
        r#"[{"session_id":"a","agent_name":"agi-0","status":"cancelled","created_at":"2025-10-05T18:04:34Z"},
            {"session_id":"b","agent_name":"agi-0","status":"finished","created_at":"2025-10-05T18:04:34Z"}]"#,
    ));
    let flags = [
        "--api.url",
        &api.url(),
        "--once",
        "--sessions.final-statuses",
        "finished,error,cancelled",
    ];
    let finished = run(&flags, &[("AGI_API_KEY", KEY)]).await;
    assert_up_and_exit_0(&finished);
    let out = &finished.stdout;
    let ages: Vec<&str> = out.lines().filter(|l| l.contains("age_seconds{")).collect();
    for status in ["cancelled", "finished"] {
        let status = format!("status=\"{status}\"");
        assert!(
            !ages.iter().any(|l| l.contains(&status)),
            "a final status has no age: {ages:?}"
        );
    }
    let cancelled = [
        ("agent_name", "agi-0"),
        ("status", "cancelled"),
        ("le", "+Inf"),
    ];
    assert_eq!(
        expect_value(out, "agi_session_duration_seconds_bucket", &cancelled),
        0.0
    );
    assert_eq!(
        expect_value(out, "agi_sessions", &[("status", "cancelled")]),
        1.0
    );
    // Not named final, `completed` is live: it has an age, at 0 when none.
    assert_eq!(
        expect_value(
            out,
            "agi_oldest_session_age_seconds",
            &[("status", "completed")]
        ),
        0.0
    );
}

#[tokio::test]
async fn an_unknown_flag_exits_2_with_one_line() {
    let finished = run(&["--api.key", "sk-on-the-command-line"], &[]).await;
    let line = assert_usage_error(&finished);
    assert!(line.contains("--api.key"), "{line}");
}

#[tokio::test]
async fn plain_http_to_another_host_is_refused_before_any_request() {
    let finished = run(
        &["--api.url", "http://example.com", "--once"],
        &[("AGI_API_KEY", KEY)],
    )
    .await;
    let line = assert_usage_error(&finished);
    assert!(line.contains("--api.allow-insecure-http"), "{line}");
}

#[tokio::test]
async fn once_prints_an_exposition_with_up_1_and_exits_0() {
    let api = spec_example_api().await;
    let finished = run(
        &["--api.url", &api.url(), "--once"],
        &[("AGI_API_KEY", KEY)],
    )
    .await;
    assert_up_and_exit_0(&finished);
    assert_eq!(
        expect_value(&finished.stdout, "agi_sessions", &[("status", "running")]),
        1.0
    );
    assert_eq!(api.requests(), 1);
    promtool_check_metrics(&finished.stdout);
}

#[tokio::test]
async fn once_against_a_failing_api_prints_up_0_and_exits_non_zero() {
    let api = fake_api(Population::Empty).await;
    api.set_behaviour(Behaviour::status(500, r#"{"message":"boom"}"#));
    let finished = run(
        &["--api.url", &api.url(), "--once"],
        &[("AGI_API_KEY", KEY)],
    )
    .await;
    assert_ne!(finished.code(), Some(0), "{finished:?}");
    assert!(finished.code().is_some(), "exits, not killed: {finished:?}");
    assert_eq!(
        expect_value(&finished.stdout, "agi_up", &[]),
        0.0,
        "{finished:?}"
    );
}

#[tokio::test]
async fn demo_once_exits_0_with_up_1() {
    let finished = run(&["--demo", "--once"], &[]).await;
    assert_up_and_exit_0(&finished);
}

#[tokio::test]
async fn an_api_timeout_beyond_what_the_clock_counts_is_no_timeout() {
    let finished = run(
        &["--demo", "--once", "--api.timeout", "10000000000000000000s"],
        &[],
    )
    .await;
    assert_up_and_exit_0(&finished);
}

#[tokio::test]
async fn the_key_can_come_from_a_key_file_with_a_trailing_newline() {
    let api = fake_api(Population::Generated(10, Shape::Mixed)).await;
    let key_file = TempFile::with_contents("key", &format!("{KEY}\n"));
    let finished = run(
        &[
            "--api.url",
            &api.url(),
            "--api.key-file",
            key_file.path(),
            "--once",
        ],
        &[],
    )
    .await;
    assert_up_and_exit_0(&finished);
    let headers = api.last_headers().expect("the API was called");
    assert_eq!(
        headers.get("authorization").and_then(|v| v.to_str().ok()),
        Some(format!("Bearer {KEY}").as_str())
    );
}

#[tokio::test]
async fn a_missing_key_file_exits_2_with_one_line() {
    let finished = run(
        &[
            "--api.url",
            "http://127.0.0.1:9",
            "--api.key-file",
            "/nonexistent/agi-exporter-test/key",
        ],
        &[],
    )
    .await;
    let line = assert_usage_error(&finished);
    assert!(
        line.contains("--api.key-file") || line.contains("key file"),
        "{line}"
    );
}
