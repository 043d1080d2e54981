//! A hostile API that sends the key back in every form it can, at every
//! failure reason, and the exporter at `--log.level debug`: nothing it logs
//! or serves may hold the key, a run of 12 of its characters, or one of its
//! encodings. The key holds `/`, `+`, `=`, `"` and `\`, the characters that
//! JSON, URLs and base64 write differently.
//!
//! The same holds for what a session carries beyond the four fields the
//! exporter reads: the SDKs' sessions hold the user's task (`goal`), URLs
//! whose query carries a token, an environment id. Sessions full of markers
//! in those fields, in lists the exporter takes and in lists it must refuse
//! (cut, broken or too large inside a goal or a token), leave no trace in
//! the exposition (labels included), in either log format at debug, or in
//! `--once`'s output and errors.
//!
//! The search (`support::leaks`) is written apart from the exporter's
//! redaction: it undoes the escaping its own log formats add, and
//! percent-encoding, then looks for every 12-character run of every form of
//! the key (every 7-character run of every marker).

use std::time::Duration;

use crate::support::bodies::{
    AGENT_NAMES, SDK_STATUSES, SESSION_TYPES, SdkSession, Spacing, json_string, session_text,
};
use crate::support::leaks::{self, assert_no_run_in, key_forms, percent, query_encoded};
use crate::support::process::*;
use crate::support::*;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

const KEY: &str = r#"sk-live/Ab+Cd=Ef"Gh\Ij-0123456789abcdef"#;

/// Every form of the key at once, and a run of it, in a text body.
fn all_forms_text() -> String {
    let mut forms = key_forms(KEY);
    forms.push(KEY[4..24].to_owned());
    forms.join(" | ")
}

/// Fails with the offending line when `text` holds a run of 12 characters
/// of any form of the key, as written or unescaped.
fn assert_no_key_in(source: &str, text: &str) {
    leaks::assert_no_key_in(KEY, source, text);
}

fn answer(status: u16, headers: &[(&str, &str)], body: impl Into<String>) -> Behaviour {
    Behaviour::Respond {
        status,
        headers: headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
        body: body.into().into(),
    }
}

async fn exporter_for(api_url: &str, level: &str) -> BinaryExporter {
    BinaryExporter::start(
        &[
            "--web.listen-address",
            "127.0.0.1:0",
            "--api.url",
            api_url,
            "--log.level",
            level,
            "--api.timeout",
            "1s",
            "--api.max-response-bytes",
            "2KiB",
        ],
        &[("AGI_API_KEY", KEY)],
    )
    .await
}

/// Scrapes once, expecting `reason`, and returns the exposition.
async fn scrape_failing_with(exporter: &BinaryExporter, reason: &str) -> String {
    let before = exporter.log_lines(&[&format!("reason={reason}")]).len();
    let body = exporter.scrape().await;
    assert_eq!(up(&body), 0.0, "{body}");
    let needle = format!("reason={reason}");
    eventually(
        &format!("a new line with {needle} is logged"),
        Duration::from_secs(5),
        async || match exporter.log_lines(&[&needle]).len() {
            logged if logged > before => Ok(()),
            _ => Err(exporter.stderr_tail(20)),
        },
    )
    .await;
    body
}

#[tokio::test]
async fn a_redirect_location_never_shows_the_key_at_the_default_log_level() {
    let api = fake_api(Population::Empty).await;
    let b = STANDARD.encode(format!("Bearer {KEY}"));
    let location = format!(
        "https://evil.example/collect?key={}&b={b}#{}",
        query_encoded(KEY),
        query_encoded(KEY)
    );
    api.set_behaviour(answer(302, &[("location", &location)], ""));
    let exporter = exporter_for(&api.url(), "info").await;
    scrape_failing_with(&exporter, "redirect").await;
    let line = exporter.log_lines(&["reason=redirect"]).join("\n");
    assert!(line.contains("https://evil.example/collect"), "{line}");
    assert!(!line.contains("key="), "the query is never logged: {line}");
    assert_no_key_in("the redirect warning", &exporter.stderr_text());
}

#[tokio::test]
async fn a_json_error_field_re_serialised_with_escapes_never_shows_the_key() {
    let api = fake_api(Population::Empty).await;
    let body = serde_json::json!({"message": {"auth": format!("Bearer {KEY}")}}).to_string();
    api.set_behaviour(answer(403, &[], body));
    let exporter = exporter_for(&api.url(), "info").await;
    scrape_failing_with(&exporter, "unauthorized").await;
    let line = exporter.log_lines(&["reason=unauthorized"]).join("\n");
    assert!(line.contains("auth"), "the message is still shown: {line}");
    assert_no_key_in("the unauthorized warning", &exporter.stderr_text());
}

#[tokio::test]
async fn the_key_at_the_end_of_a_long_error_body_is_not_cut_into_the_log() {
    // Chunks of 4 KiB: the first ends 20 characters into the key, where an
    // excerpt cut before redaction would end too.
    let body = format!("{}{KEY}", " ".repeat(4076));
    let answer = chunked_response(body.as_bytes(), 4096);
    let answer =
        String::from_utf8(answer)
            .unwrap()
            .replacen("200 OK", "500 Internal Server Error", 1);
    let api = RawUpstream::start(RawAnswer::Send(answer.into_bytes())).await;
    let exporter = exporter_for(&api.url(), "info").await;
    scrape_failing_with(&exporter, "http_status").await;
    assert_no_key_in("the http_status warning", &exporter.stderr_text());
}

#[tokio::test]
async fn percent_encoded_and_base64_forms_of_the_key_never_show() {
    let api = fake_api(Population::Empty).await;
    api.set_behaviour(answer(500, &[], all_forms_text()));
    let exporter = exporter_for(&api.url(), "info").await;
    scrape_failing_with(&exporter, "http_status").await;
    let line = exporter.log_lines(&["reason=http_status"]).join("\n");
    assert!(line.contains("<redacted>"), "{line}");
    assert_no_key_in("the http_status warning", &exporter.stderr_text());
}

#[tokio::test]
async fn every_failure_reason_echoing_every_form_of_the_key_leaks_nothing_at_debug() {
    let api = fake_api_with_key(Population::Generated(5, Shape::Mixed), KEY).await;
    let mut exporter = exporter_for(&api.url(), "debug").await;
    let mut served = Vec::new();

    let body = exporter.scrape().await;
    assert_eq!(up(&body), 1.0, "the key works: {body}");
    served.push(("/metrics after a success".to_owned(), body));

    let text = all_forms_text();
    let json = serde_json::json!({ "detail": text, "error": {"echo": text} }).to_string();
    let echo_headers = [
        ("x-echo", KEY),
        ("www-authenticate", &format!("Bearer realm=\"{KEY}\"")),
    ];
    let location = format!(
        "https://evil.example/{}?k={}",
        query_encoded(KEY),
        percent(KEY, false)
    );
    let with_location: Vec<(&str, &str)> = [("location", location.as_str())]
        .into_iter()
        .chain(echo_headers)
        .collect();
    let huge = format!("[{}]", text.repeat(200));
    for (behaviour, reason) in [
        (answer(401, &echo_headers, json.clone()), "unauthorized"),
        (answer(403, &echo_headers, text.clone()), "unauthorized"),
        (answer(500, &echo_headers, json.clone()), "http_status"),
        (answer(404, &echo_headers, text.clone()), "http_status"),
        (answer(302, &with_location, text.clone()), "redirect"),
        (answer(200, &echo_headers, huge), "too_large"),
        (
            answer(200, &echo_headers, format!("<html>{text}</html>")),
            "invalid_response",
        ),
        (
            answer(200, &echo_headers, format!("[{json}")),
            "invalid_response",
        ),
        (
            answer(429, &[("retry-after", "0"), ("x-echo", KEY)], json.clone()),
            "rate_limited",
        ),
    ] {
        api.set_behaviour(behaviour);
        let body = scrape_failing_with(&exporter, reason).await;
        served.push((format!("/metrics after {reason}"), body));
    }

    // Below HTTP: a connection that sends the key and hangs, or breaks.
    let head = format!(
        "HTTP/1.1 200 OK\r\nx-echo: {KEY}\r\n\r\n[{{\"status\":\"{}",
        query_encoded(KEY)
    );
    let hanging = RawUpstream::start(RawAnswer::SendAndHold(head.into_bytes())).await;
    let hanging_exporter = exporter_for(&hanging.url(), "debug").await;
    served.push((
        "/metrics after a timeout".to_owned(),
        scrape_failing_with(&hanging_exporter, "timeout").await,
    ));
    let broken = format!("HTTP/1.1 200 {KEY}\r\nx-echo: {text}\r\n\r\n");
    let breaking = RawUpstream::start(RawAnswer::Send(broken.into_bytes())).await;
    let breaking_exporter = exporter_for(&breaking.url(), "debug").await;
    let reply = breaking_exporter.get("/metrics").await;
    served.push(("/metrics after a broken answer".to_owned(), reply.text()));

    served.push((
        "the landing page".to_owned(),
        exporter.get("/").await.text(),
    ));
    for (source, text) in &served {
        assert_no_key_in(source, text);
    }
    for (name, process) in [
        ("the exporter", &mut exporter),
        ("the timed-out exporter", &mut { hanging_exporter }),
        ("the broken-answer exporter", &mut { breaking_exporter }),
    ] {
        process.sigterm();
        process.wait_for_exit(Duration::from_secs(10)).await;
        let log = process.stderr_text();
        assert!(
            log.contains("level=warn"),
            "{name} logged its failures:\n{log}"
        );
        assert_no_key_in(&format!("the log of {name}"), &log);
        assert_no_key_in(&format!("the stdout of {name}"), &process.stdout_text());
    }
}

/// Markers for what a session holds beyond the four fields the exporter
/// reads: its goal, the tokens in its two URLs, its environment, a session
/// type the SDKs do not list, and the key of a member no one documents.
/// None is part of anything the exporter prints by itself.
const SESSION_MARKERS: [&str; 6] = [
    "Zq7goalMk",
    "Zq7vncTok",
    "Zq7agtTok",
    "Zq7envMk",
    "Zq7typeMk",
    "Zq7keyMk",
];

/// An agent name that must show, in the exposition: the search finds what
/// does leak.
const SHOWN_AGENT: &str = "agi-Zq7shown";

fn session_markers() -> Vec<String> {
    SESSION_MARKERS.map(str::to_owned).to_vec()
}

/// Fails with the offending line when `text` holds any 7 characters in a
/// row of a marker, as written or unescaped.
fn assert_no_session_field_in(source: &str, text: &str) {
    assert_no_run_in(source, text, &session_markers(), 7);
}

/// Session `i` in the SDKs' shape, in status `status`, every field but the
/// four the exporter reads full of markers, its text escaped as `style`
/// says: a goal that holds quotes, a backslash, a newline, non-ASCII text
/// and what reads like the end of the session and a forged next one; URLs
/// whose query carries a token; an extra member.
fn marked_session(i: usize, status: &str, style: u64) -> String {
    let id = format!("5d1e{i:04}-7f46-4a0d-9a47-92b7f0a4d2d3");
    let goal = format!(
        r#"Zq7goalMk {i}: reply "}},{{"agent_name":"Zq7goalMk","status":"Zq7goalMk"}}]" then Zq7goalMk; C:\Zq7goalMk"#
    ) + "\nLéa Zq7goalMk 😀 {Zq7goalMk} [Zq7goalMk], Zq7goalMk: Zq7goalMk";
    let vnc_url = format!("https://vnc.agi.example/session/{id}?token=Zq7vncTok{i}&pw=Zq7vncTok");
    let agent_url = format!("https://agent.agi.example/v1/{id}/agent?token=Zq7agtTok{i}");
    let environment_id = format!("env-Zq7envMk-{i}");
    let mut members = SdkSession {
        session_id: &id,
        agent_name: if i == 0 {
            SHOWN_AGENT
        } else {
            AGENT_NAMES[i % 3]
        },
        status,
        created_at: &format!("2026-01-{:02}T{:02}:00:00Z", 1 + i % 28, i % 24),
        vnc_url: &vnc_url,
        agent_url: &agent_url,
        environment_id: &environment_id,
        goal: &goal,
        agent_session_type: if i.is_multiple_of(4) {
            "Zq7typeMk"
        } else {
            SESSION_TYPES[i % 3]
        },
    }
    .members(style);
    members.push(("Zq7keyMk".to_owned(), json_string("Zq7keyMk", style)));
    session_text(&members, Spacing::COMPACT)
}

/// A list of 24 marked sessions, each in the SDK status `shift` places on
/// from the one before.
fn marked_list(shift: usize, style: u64) -> String {
    let sessions: Vec<String> = (0..24)
        .map(|i| marked_session(i, SDK_STATUSES[(i + shift) % SDK_STATUSES.len()], style))
        .collect();
    format!("[{}]", sessions.join(","))
}

/// Bodies the exporter must refuse, each with the reason it refuses them
/// for, that hold markers where they are cut or broken; and two it may
/// take or refuse.
fn refused_marked_bodies() -> Vec<(&'static str, Vec<u8>, Option<&'static str>)> {
    let list = marked_list(0, 0);
    // The second session's goal, and its first marker.
    let goal = list.find(r#""goal":"Zq7goalMk 1:"#).unwrap() + 8;
    let cut_in_goal = list[..goal + 40].to_owned();
    let token = list.find("Zq7vncTok2").unwrap();
    let cut_in_token = list[..token + 5].to_owned();
    let bad_escape = list.replacen("Zq7goalMk 1:", r"Zq7goalMk \q Zq7goalMk 1:", 1);
    let raw_newline = list.replacen(r"\n", "\n", 1);
    assert_ne!(raw_newline, list);
    let unterminated = format!(
        r#"[{},{{"session_id":"s-x","goal":"Zq7goalMk {{Zq7goalMk}}, ]Zq7goalMk"#,
        marked_session(30, "running", 0)
    );
    // Over the cap of 64 KiB, inside the goal of the third session.
    let huge_goal = list.replacen(
        "Zq7goalMk 2:",
        &format!("{}Zq7goalMk 2:", "Zq7goalMk \\\" ".repeat(8000)),
        1,
    );
    let mut not_utf8 = list.clone().into_bytes();
    let at = list.find("Zq7goalMk 3:").unwrap() + 10;
    not_utf8.splice(at..at, [0xff, 0xfe]);
    let lone_surrogate = list.replacen("Zq7goalMk 4:", r"Zq7goalMk \ud800 4:", 1);
    vec![
        (
            "a body cut in a goal",
            cut_in_goal.into_bytes(),
            Some("invalid_response"),
        ),
        (
            "a body cut in a token",
            cut_in_token.into_bytes(),
            Some("invalid_response"),
        ),
        (
            "an invalid escape in a goal",
            bad_escape.into_bytes(),
            Some("invalid_response"),
        ),
        (
            "a raw newline in a goal",
            raw_newline.into_bytes(),
            Some("invalid_response"),
        ),
        (
            "an unterminated goal",
            unterminated.into_bytes(),
            Some("invalid_response"),
        ),
        (
            "a body too large inside a goal",
            huge_goal.into_bytes(),
            Some("too_large"),
        ),
        (
            "a goal quoted in an HTML page",
            format!("<html><p>{}</p></html>", &list[..2000]).into_bytes(),
            Some("invalid_response"),
        ),
        ("a goal that is not UTF-8", not_utf8, None),
        (
            "a lone surrogate in a goal",
            lone_surrogate.into_bytes(),
            None,
        ),
    ]
}

/// Serves each body in turn to an exporter at `--log.level debug` in
/// `format`, and then once to `--once`: what it printed.
async fn outputs_for_marked_bodies(format: &str) -> Vec<(String, String)> {
    let api = fake_api(Population::Empty).await;
    let api_url = api.url();
    let flags = [
        "--api.url",
        &api_url,
        "--log.level",
        "debug",
        "--log.format",
        format,
        "--api.timeout",
        "2s",
        "--api.max-response-bytes",
        "64KiB",
    ];
    let env = [("AGI_API_KEY", KEY)];
    let mut exporter = BinaryExporter::start(
        &[&["--web.listen-address", "127.0.0.1:0"][..], &flags].concat(),
        &env,
    )
    .await;
    let mut outputs = Vec::new();
    let accepted = [
        ("a list of marked sessions", marked_list(0, 0)),
        ("the list with every session moved on", marked_list(1, 0)),
        (
            "the list wrapped, with other escapes",
            format!(
                r#"{{"Zq7keyMk":"Zq7goalMk","sessions":{},"next":"Zq7vncTok"}}"#,
                marked_list(2, 0x5555_5555_5555_5555)
            ),
        ),
        (
            "the list with letters escaped",
            marked_list(3, 0xf0f0_f0f0_f0f0_f0f0),
        ),
    ];
    for (what, body) in accepted {
        api.set_behaviour(Behaviour::json(body));
        let exposition = exporter.scrape().await;
        assert_eq!(up(&exposition), 1.0, "{what}: {exposition}");
        assert_eq!(
            expect_value(
                &exposition,
                "agi_sessions",
                &[("status", "waiting_for_input")]
            ),
            4.0,
            "{what}: the forged sessions in goals are not counted:\n{exposition}"
        );
        outputs.push((format!("/metrics after {what}"), exposition));
    }
    let shown = &outputs[0].1;
    assert!(
        samples(shown)
            .iter()
            .any(|s| s.label("agent_name") == Some(SHOWN_AGENT)),
        "an agent name is a label, and the search would see it:\n{shown}"
    );
    let mut failed = 0.0;
    for (what, body, reason) in refused_marked_bodies() {
        api.set_behaviour(Behaviour::json(body));
        let exposition = exporter.scrape().await;
        if let Some(reason) = reason {
            failed += 1.0;
            assert_eq!(up(&exposition), 0.0, "{what}: {exposition}");
            assert_eq!(
                failures(&exposition, "invalid_response") + failures(&exposition, "too_large"),
                failed,
                "{what}: refused as {reason}:\n{exposition}"
            );
            assert!(failures(&exposition, reason) >= 1.0, "{what}: {exposition}");
        } else if up(&exposition) == 0.0 {
            failed += 1.0;
        }
        outputs.push((format!("/metrics after {what}"), exposition));
    }
    outputs.push((
        "the landing page".to_owned(),
        exporter.get("/").await.text(),
    ));
    exporter.sigterm();
    exporter
        .wait_for_exit(Duration::from_secs(10))
        .await
        .expect("the exporter stops on SIGTERM");
    let log = exporter.stderr_text();
    assert!(
        log.contains("fetched the session list") && log.contains("invalid_response"),
        "the debug log shows every scrape and every refusal:\n{log}"
    );
    outputs.push((format!("the {format} log"), log));
    outputs.push(("the exporter's stdout".to_owned(), exporter.stdout_text()));

    for (what, body, _) in refused_marked_bodies().into_iter().take(6) {
        api.set_behaviour(Behaviour::json(body));
        let once = run(&[&["--once"][..], &flags].concat(), &env).await;
        assert_eq!(once.code(), Some(1), "--once after {what}: {}", once.stderr);
        outputs.push((format!("--once's stdout after {what}"), once.stdout));
        outputs.push((format!("--once's log after {what}"), once.stderr));
    }
    outputs
}

#[tokio::test]
async fn nothing_of_a_session_s_other_fields_shows_in_logfmt_logs_labels_or_errors() {
    for (source, text) in outputs_for_marked_bodies("logfmt").await {
        assert_no_session_field_in(&source, &text);
    }
}

#[tokio::test]
async fn nothing_of_a_session_s_other_fields_shows_in_json_logs_labels_or_errors() {
    for (source, text) in outputs_for_marked_bodies("json").await {
        assert_no_session_field_in(&source, &text);
    }
}

#[tokio::test]
async fn error_bodies_that_quote_a_session_s_other_fields_never_reach_the_exposition() {
    // The log line of a failed request shows the API's own message (README,
    // Failure model), so a message that quotes a goal or a URL shows there;
    // what the exporter serves never does.
    let session = marked_session(1, "running", 0);
    let goal = r#"Zq7goalMk: book "Chez Léa" at 7, token=Zq7vncTok"#;
    let api = fake_api(Population::Empty).await;
    let exporter = exporter_for(&api.url(), "debug").await;
    for (status, body, reason) in [
        (
            401,
            serde_json::json!({ "message": goal }).to_string(),
            "unauthorized",
        ),
        (
            422,
            format!(
                r#"{{"detail":[{{"loc":["query","goal"],"msg":"invalid","input":{session}}}]}}"#
            ),
            "http_status",
        ),
        (500, format!(r#"{{"error":{session}}}"#), "http_status"),
        (404, format!("no such session: {session}"), "http_status"),
        (
            429,
            serde_json::json!({ "message": goal }).to_string(),
            "rate_limited",
        ),
        // A session's URL however the API writes it: JSON-escaped in a
        // text body, percent-encoded, or with the token as user info.
        (
            500,
            r#"upstream failed on {"vnc_url":"https:\/\/vnc.agi.example\/s\/1?token=Zq7vncTok1"}"#
                .to_owned(),
            "http_status",
        ),
        (
            502,
            "bad gateway https%3A%2F%2Fvnc.agi.example%2Fs%3Ftoken%3DZq7vncTok1".to_owned(),
            "http_status",
        ),
        (
            503,
            serde_json::json!({ "message": "see https://user:Zq7agtTok@agent.agi.example/s now" })
                .to_string(),
            "http_status",
        ),
    ] {
        let headers: &[(&str, &str)] = if status == 429 {
            &[("retry-after", "0")]
        } else {
            &[]
        };
        api.set_behaviour(answer(status, headers, body));
        let exposition = scrape_failing_with(&exporter, reason).await;
        assert_no_session_field_in(&format!("/metrics after HTTP {status}"), &exposition);
    }
    // The API's own words are logged (the goal it quoted in a message),
    // its structured details are not, and no URL keeps its query (the
    // session's own tokens, as the 404's text quotes its URLs).
    let log = exporter.stderr_text();
    assert!(
        log.contains("Zq7goalMk"),
        "the API's message is logged:\n{log}"
    );
    assert!(log.contains("details not shown"), "{log}");
    assert!(
        log.contains("https://vnc.agi.example/session/"),
        "the URL is shown, its query is not:\n{log}"
    );
    for marker in ["Zq7vncTok1", "Zq7agtTok"] {
        assert!(!log.contains(marker), "{marker} in the log:\n{log}");
    }
}
