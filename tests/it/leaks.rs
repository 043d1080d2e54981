//! A hostile API that sends the key back in every form it can, at every
//! failure reason, and the exporter at `--log.level debug`: nothing it logs
//! or serves may hold the key, a run of 12 of its characters, or one of its
//! encodings. The key holds `/`, `+`, `=`, `"` and `\`, the characters that
//! JSON, URLs and base64 write differently.
//!
//! The search below is written apart from the exporter's redaction: it
//! undoes the escaping its own log formats add, and percent-encoding, then
//! looks for every 12-character run of every form of the key.

use std::time::Duration;

use crate::support::process::*;
use crate::support::*;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

const KEY: &str = r#"sk-live/Ab+Cd=Ef"Gh\Ij-0123456789abcdef"#;

/// Every form of the key a careless or hostile API might send back.
fn forms() -> Vec<String> {
    let bearer = format!("Bearer {KEY}");
    let mut forms = vec![
        KEY.to_owned(),
        serde_json::to_string(KEY).unwrap(),
        percent(KEY, true),
        percent(KEY, false),
        query_encoded(KEY),
        KEY[4..24].to_owned(),
    ];
    for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
        forms.push(engine.encode(KEY));
        forms.push(engine.encode(&bearer));
    }
    forms
}

fn percent(text: &str, upper: bool) -> String {
    text.bytes()
        .map(|b| match upper {
            true => format!("%{b:02X}"),
            false => format!("%{b:02x}"),
        })
        .collect()
}

/// Only the characters a URL query must encode, in mixed case.
fn query_encoded(text: &str) -> String {
    text.replace('/', "%2f")
        .replace('+', "%2B")
        .replace('=', "%3d")
        .replace('"', "%22")
        .replace('\\', "%5C")
}

/// Every form at once, in a text body.
fn all_forms_text() -> String {
    forms().join(" | ")
}

/// Undoes what a log format or a URL may have done to a leaked key.
fn unescaped(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i..] {
            [b'\\', next @ (b'"' | b'\\' | b'/'), ..] => {
                out.push(next);
                i += 2;
            }
            [b'%', a, b, ..] if a.is_ascii_hexdigit() && b.is_ascii_hexdigit() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            }
            _ => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Fails with the offending line when `text` holds a run of 12 characters
/// of any form of the key, as written or after unescaping (twice).
fn assert_no_key_in(source: &str, text: &str) {
    let once = unescaped(text);
    let twice = unescaped(&once);
    for view in [text, &once, &twice] {
        for form in forms() {
            for run in form.as_bytes().windows(12) {
                let run = std::str::from_utf8(run).unwrap();
                if let Some(line) = view.lines().find(|line| line.contains(run)) {
                    panic!("{run:?} (part of {form:?}) leaked into {source}: {line}");
                }
            }
        }
    }
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
    wait_until(Duration::from_secs(5), reason, || {
        exporter.log_lines(&[&format!("reason={reason}")]).len() > before
    })
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
