//! What `/metrics` shows for the API's documented example session list: the
//! whole exposition (time-dependent values normalised) against
//! `tests/it/expected/spec_example.prom`, the families of the README's
//! Metrics section, the zero-filled statuses, the oldest running age, the
//! transitions baseline, and `promtool check metrics`.
//!
//! To regenerate the expected file after an intended change, run
//! `AGI_UPDATE_EXPECTED=1 cargo test --test it exposition` and review the
//! diff.

use crate::support::*;
use std::time::{SystemTime, UNIX_EPOCH};

const EXPECTED_FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/it/expected/spec_example.prom"
);

/// The documented example's `created_at`, in Unix seconds.
const EXAMPLE_CREATED_AT: f64 = 1_759_687_474.281;

/// Samples whose value depends on the clock or on how fast this machine is.
fn is_time_dependent(name: &str) -> bool {
    name.starts_with("process_")
        || matches!(
            name,
            "agi_scrape_duration_seconds"
                | "agi_api_last_success_timestamp_seconds"
                | "agi_api_request_duration_seconds_bucket"
                | "agi_api_request_duration_seconds_sum"
        )
}

/// Ages: kept when 0 (no session in that status), replaced otherwise.
fn is_age(name: &str) -> bool {
    matches!(
        name,
        "agi_oldest_session_age_seconds"
            | "agi_agent_oldest_session_age_seconds"
            | "agi_session_age_seconds"
    )
}

/// Replaces what changes from run to run or build to build by placeholders,
/// so that the rest can be compared exactly.
fn normalise(exposition: &str) -> String {
    let mut out = String::new();
    for line in exposition.lines() {
        let line = replace_label_value(line, "version", "<version>");
        let line = replace_label_value(&line, "revision", "<revision>");
        let line = replace_label_value(&line, "rustc_version", "<rustc_version>");
        if line.starts_with('#') {
            out.push_str(&line);
        } else {
            let (series, value) = line.rsplit_once(' ').expect("a sample line");
            let name = series.split('{').next().unwrap_or(series);
            let value = if is_time_dependent(name) {
                "<value>"
            } else if is_age(name) && value != "0" {
                "<age>"
            } else {
                value
            };
            out.push_str(series);
            out.push(' ');
            out.push_str(value);
        }
        out.push('\n');
    }
    out
}

fn replace_label_value(line: &str, label: &str, placeholder: &str) -> String {
    // Preceded by `{` or `,`, so that `version` does not match `rustc_version`.
    let Some(start) = ['{', ','].iter().find_map(|before| {
        let marker = format!(r#"{before}{label}=""#);
        line.find(&marker).map(|i| i + marker.len())
    }) else {
        return line.to_owned();
    };
    let Some(length) = line[start..].find('"') else {
        return line.to_owned();
    };
    format!("{}{placeholder}{}", &line[..start], &line[start + length..])
}

async fn scrape_of_the_spec_example() -> String {
    let api = spec_example_api().await;
    let exporter = Exporter::for_api(&api.url(), &[]).await;
    exporter.scrape().await
}

#[tokio::test]
async fn spec_example_exposition_matches_the_expected_file() {
    let actual = normalise(&scrape_of_the_spec_example().await);
    if std::env::var_os("AGI_UPDATE_EXPECTED").is_some() {
        std::fs::write(EXPECTED_FILE, &actual).expect("write the expected file");
    }
    let expected = std::fs::read_to_string(EXPECTED_FILE).expect("read the expected file");
    assert_same_text(
        &expected,
        &actual,
        "the exposition of the documented example",
    );
}

#[tokio::test]
async fn every_family_of_the_spec_is_present() {
    let body = scrape_of_the_spec_example().await;
    let found = families(&body);
    let spec_families = EXPORTER_FAMILIES
        .iter()
        .chain(SESSION_FAMILIES.iter())
        .chain(["agi_label_values_truncated"].iter());
    for family in spec_families {
        assert!(found.contains(*family), "{family} missing from:\n{body}");
    }
    for family in [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
    ] {
        assert!(found.contains(family), "{family} missing from:\n{body}");
    }
    assert_eq!(expect_value(&body, "agi_up", &[]), 1.0);
    assert!(
        body.lines()
            .filter(|l| l.starts_with("# HELP "))
            .all(|l| l.split_whitespace().count() > 3),
        "every family has HELP text:\n{body}"
    );
}

#[tokio::test]
async fn the_nine_known_statuses_are_zero_filled() {
    let body = scrape_of_the_spec_example().await;
    for status in KNOWN_STATUSES {
        let expected = if status == "running" { 1.0 } else { 0.0 };
        assert_eq!(
            expect_value(&body, "agi_sessions", &[("status", status)]),
            expected,
            "agi_sessions{{status={status:?}}}"
        );
        assert_eq!(
            expect_value(
                &body,
                "agi_agent_sessions",
                &[("agent_name", "agi-0"), ("status", status)]
            ),
            expected,
            "agi_agent_sessions{{agent_name=\"agi-0\",status={status:?}}}"
        );
        assert_eq!(
            expect_value(
                &body,
                "agi_session_transitions_total",
                &[("agent_name", "agi-0"), ("status", status)]
            ),
            0.0
        );
        assert_eq!(
            expect_value(&body, "agi_sessions_removed_total", &[("status", status)]),
            0.0
        );
    }
    for status in KNOWN_LIVE_STATUSES {
        let age = expect_value(
            &body,
            "agi_oldest_session_age_seconds",
            &[("status", status)],
        );
        assert_eq!(age > 0.0, status == "running", "{status}: {age}");
        let agent = &[("agent_name", "agi-0"), ("status", status)];
        let agent_age = expect_value(&body, "agi_agent_oldest_session_age_seconds", agent);
        assert_eq!(agent_age, age, "{status}");
    }
    for status in ["completed", "finished", "error", "terminated"] {
        let status = format!("status=\"{status}\"");
        let aged = body
            .lines()
            .filter(|l| l.contains("age_seconds") && l.contains(&status));
        assert_eq!(aged.count(), 0, "a final status has no age:\n{body}");
    }
}

#[tokio::test]
async fn oldest_running_session_age_is_now_minus_created_at() {
    let body = scrape_of_the_spec_example().await;
    let age = expect_value(
        &body,
        "agi_oldest_session_age_seconds",
        &[("status", "running")],
    );
    assert!(age > 0.0, "age {age}");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a sane clock")
        .as_secs_f64();
    assert!(
        (now - EXAMPLE_CREATED_AT - age).abs() < 60.0,
        "age {age}, expected about {}",
        now - EXAMPLE_CREATED_AT
    );
    let session_age = expect_value(
        &body,
        "agi_session_age_seconds",
        &[
            ("session_id", "f6a7b0e6-7f46-4a0d-9a47-92b7f0a4d2d3"),
            ("agent_name", "agi-0"),
            ("status", "running"),
        ],
    );
    assert!((session_age - age).abs() < 1e-9, "{session_age} vs {age}");
}

#[tokio::test]
async fn first_scrape_is_a_baseline_and_a_status_change_counts_once() {
    let api = spec_example_api().await;
    let exporter = Exporter::for_api(&api.url(), &[]).await;
    let first = exporter.scrape().await;
    for status in KNOWN_STATUSES {
        assert_eq!(
            expect_value(
                &first,
                "agi_session_transitions_total",
                &[("agent_name", "agi-0"), ("status", status)]
            ),
            0.0,
            "the first scrape only records a baseline ({status})"
        );
    }

    api.set_behaviour(Behaviour::json(format!(
        "[{}]",
        EXAMPLE_SESSION.replace(r#""status":"running""#, r#""status":"error""#)
    )));
    let second = exporter.scrape().await;
    for status in KNOWN_STATUSES {
        let expected = if status == "error" { 1.0 } else { 0.0 };
        assert_eq!(
            expect_value(
                &second,
                "agi_session_transitions_total",
                &[("agent_name", "agi-0"), ("status", status)]
            ),
            expected,
            "transitions into {status} after running -> error"
        );
    }
    assert_eq!(
        expect_value(&second, "agi_sessions", &[("status", "error")]),
        1.0
    );
    assert_eq!(
        expect_value(&second, "agi_sessions", &[("status", "running")]),
        0.0
    );
}

#[tokio::test]
async fn promtool_accepts_the_exposition() {
    let body = scrape_of_the_spec_example().await;
    promtool_check_metrics(&body);
}

/// Asserts the exposition is whole (every family that always has series,
/// up to the last one, `process_*`) and says `agi_up 1`. A family with no
/// series (`agi_agent_sessions` without sessions, `agi_session_age_seconds`
/// without live sessions) may be left out, but must not cut the rest off.
fn assert_whole_and_up(body: &str) {
    let found = families(body);
    for family in EXPORTER_FAMILIES.iter().chain(
        [
            "agi_sessions",
            "agi_oldest_session_age_seconds",
            "agi_label_values_truncated",
            "process_start_time_seconds",
        ]
        .iter(),
    ) {
        assert!(found.contains(*family), "{family} missing from:\n{body}");
    }
    assert_eq!(expect_value(body, "agi_up", &[]), 1.0, "{body}");
    promtool_check_metrics(body);
}

#[tokio::test]
async fn an_account_without_sessions_is_up_with_every_status_at_zero() {
    let api = fake_api(Population::Empty).await;
    let exporter = Exporter::for_api(&api.url(), &[]).await;
    let body = exporter.scrape().await;
    assert_whole_and_up(&body);
    for status in KNOWN_STATUSES {
        assert_eq!(
            expect_value(&body, "agi_sessions", &[("status", status)]),
            0.0
        );
    }
    assert!(
        exporter.logs().lines(&["level=error"]).is_empty(),
        "{}",
        exporter.logs().text()
    );
}

#[tokio::test]
async fn an_account_with_only_finished_sessions_is_up() {
    let api = fake_api(Population::Empty).await;
    api.set_behaviour(Behaviour::json(format!(
        "[{}]",
        EXAMPLE_SESSION.replace(r#""status":"running""#, r#""status":"completed""#)
    )));
    let exporter = Exporter::for_api(&api.url(), &[]).await;
    let body = exporter.scrape().await;
    assert_whole_and_up(&body);
    assert_eq!(
        expect_value(&body, "agi_sessions", &[("status", "completed")]),
        1.0
    );
    assert_eq!(
        expect_value(
            &body,
            "agi_agent_sessions",
            &[("agent_name", "agi-0"), ("status", "completed")]
        ),
        1.0
    );
}

#[tokio::test]
async fn top_oldest_0_disables_the_session_ages_but_nothing_else() {
    let api = spec_example_api().await;
    let exporter = Exporter::for_api(&api.url(), &["--sessions.top-oldest", "0"]).await;
    let body = exporter.scrape().await;
    assert_whole_and_up(&body);
    assert!(
        !body.contains("agi_session_age_seconds{"),
        "no session ages with --sessions.top-oldest 0:\n{body}"
    );
}

#[tokio::test]
async fn an_sdk_account_has_ages_for_its_live_sessions_only() {
    let api = fake_api(Population::Empty).await;
    let sessions: Vec<String> = SDK_STATUSES
        .iter()
        .map(|status| {
            format!(
                r#"{{"session_id":"s-{status}","agent_name":"agi-0","status":"{status}","created_at":"2025-10-05T18:04:34Z","goal":"Find \"flights\" for {status}","vnc_url":"https://vnc.example.test/s?token=t0k3n","agent_session_type":"managed-cdp"}}"#
            )
        })
        .collect();
    api.set_behaviour(Behaviour::json(format!("[{}]", sessions.join(","))));
    let exporter = Exporter::for_api(&api.url(), &[]).await;
    let body = exporter.scrape().await;
    for status in SDK_STATUSES {
        assert_eq!(
            expect_value(&body, "agi_sessions", &[("status", status)]),
            1.0
        );
        let live = !matches!(status, "finished" | "error");
        let aged = body.lines().any(|l| {
            l.starts_with("agi_oldest_session_age_seconds{") && l.contains(&format!("\"{status}\""))
        });
        assert_eq!(aged, live, "{status}:\n{body}");
    }
    let oldest: Vec<Sample> = samples(&body)
        .into_iter()
        .filter(|s| s.name == "agi_session_age_seconds")
        .collect();
    let statuses: Vec<&str> = oldest.iter().filter_map(|s| s.label("status")).collect();
    assert_eq!(statuses.len(), 4, "{statuses:?}");
    assert!(!statuses.contains(&"finished") && !statuses.contains(&"error"));
}
