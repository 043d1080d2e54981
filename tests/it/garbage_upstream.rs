//! An upstream that serves garbage (README, What the exporter accepts; Failure model): whatever the
//! body, the scrape answers 200; a body that is not a session list gives
//! `agi_up 0` with reason `invalid_response`; a body that is valid JSON,
//! however odd, is exported; and the exporter never panics and stays
//! healthy.
use crate::support::bodies::{AGENT_NAMES, GOALS, SdkSession, Spacing, docs_members, session_text};
use crate::support::*;

const DEEP: usize = 100_000;
const EIGHT_MIB: usize = 8 * 1024 * 1024;

/// Bodies that are not a session list.
fn invalid_bodies() -> Vec<(&'static str, Vec<u8>)> {
    let truncated = format!("[{EXAMPLE_SESSION},{}", &EXAMPLE_SESSION[..40]);
    let mut invalid_utf8_status = br#"[{"session_id":"a","status":"run"#.to_vec();
    invalid_utf8_status.extend_from_slice(&[0xff, 0xfe, 0xc3]);
    invalid_utf8_status.extend_from_slice(br#"ning"}]"#);
    vec![
        ("an empty body", Vec::new()),
        ("whitespace only", b" \r\n\t ".to_vec()),
        ("null", b"null".to_vec()),
        ("a number", b"42".to_vec()),
        ("a string", br#""sessions""#.to_vec()),
        ("true", b"true".to_vec()),
        ("an empty object", b"{}".to_vec()),
        (
            "an object with a null list",
            br#"{"sessions":null}"#.to_vec(),
        ),
        ("a list of numbers", b"[1,2,3]".to_vec()),
        ("a list of nulls", b"[null,null]".to_vec()),
        (
            "arrays nested 100k deep",
            format!("{}{}", "[".repeat(DEEP), "]".repeat(DEEP)).into_bytes(),
        ),
        (
            "arrays nested 100k deep under sessions",
            format!(r#"{{"sessions":{}{}}}"#, "[".repeat(DEEP), "]".repeat(DEEP)).into_bytes(),
        ),
        (
            "objects nested 100k deep",
            format!("{}1{}", r#"{"a":"#.repeat(DEEP), "}".repeat(DEEP)).into_bytes(),
        ),
        ("100k unclosed brackets", "[".repeat(DEEP).into_bytes()),
        ("invalid UTF-8 in a status", invalid_utf8_status),
        (
            "invalid UTF-8 outside strings",
            vec![0xff, 0xfe, b'[', 0x80, b']'],
        ),
        ("NUL bytes", vec![0u8; 1024]),
        ("truncated JSON", truncated.into_bytes()),
        (
            "a list followed by garbage",
            format!("[{EXAMPLE_SESSION}] trailing").into_bytes(),
        ),
        (
            "an HTML error page",
            b"<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>".to_vec(),
        ),
    ]
}

async fn exporter_for(api: &FakeApi) -> Exporter {
    Exporter::for_api(&api.url(), &[]).await
}

fn serve(api: &FakeApi, body: Vec<u8>) {
    api.set_behaviour(Behaviour::json(body));
}

#[tokio::test]
async fn every_kind_of_garbage_is_an_invalid_response_and_the_exporter_stays_healthy() {
    let api = fake_api(Population::Empty).await;
    let exporter = exporter_for(&api).await;

    for (n, (what, body)) in invalid_bodies().into_iter().enumerate() {
        serve(&api, body);
        let reply = exporter.get("/metrics").await;
        assert_eq!(
            reply.status,
            200,
            "{what}: /metrics answered {}\n{}",
            reply.status,
            exporter.logs().tail(20)
        );
        let exposition = reply.text();
        assert_eq!(up(&exposition), 0.0, "{what}:\n{exposition}");
        assert_eq!(
            failures(&exposition, "invalid_response"),
            n as f64 + 1.0,
            "{what} must count as invalid_response:\n{exposition}\n{}",
            exporter.logs().tail(5)
        );
        assert!(
            !families(&exposition).contains("agi_sessions"),
            "{what}: no session families after a failed fetch"
        );
        exporter.assert_healthy().await;
    }

    let stderr = exporter.logs().text();
    assert!(!stderr.contains("panicked"), "{stderr}");

    // And it still works once the API makes sense again.
    serve(&api, format!("[{EXAMPLE_SESSION}]").into_bytes());
    assert_eq!(up(&exporter.scrape().await), 1.0);
}

#[tokio::test]
async fn an_8_mib_string_in_a_field_is_valid_and_stays_out_of_the_exposition() {
    let api = fake_api(Population::Empty).await;
    let exporter = exporter_for(&api).await;
    let huge = "x".repeat(EIGHT_MIB);
    let body = format!(
        r#"[{{"session_id":"{huge}","agent_name":"agi-0","status":"running","created_at":"2025-10-05T18:04:34.281Z"}}]"#
    );
    serve(&api, body.into_bytes());

    let exposition = exporter.scrape().await;

    assert_eq!(up(&exposition), 1.0, "{}", exporter.logs().tail(10));
    assert_eq!(
        expect_value(&exposition, "agi_sessions", &[("status", "running")]),
        1.0
    );
    assert!(
        exposition.len() < 64 * 1024,
        "an 8 MiB session_id must not be copied into a label ({} bytes of exposition)",
        exposition.len()
    );
    exporter.assert_healthy().await;
}

#[tokio::test]
async fn an_8_mib_agent_name_and_an_8_mib_unknown_field_are_survived() {
    let api = fake_api(Population::Empty).await;
    let exporter = exporter_for(&api).await;
    let huge = "y".repeat(EIGHT_MIB);
    let body = format!(
        r#"{{"note":"{huge}","sessions":[{{"session_id":"s1","agent_name":"{huge}","status":"running","created_at":"2025-10-05T18:04:34.281Z","{huge}":[{huge:?}]}}]}}"#
    );
    serve(&api, body.into_bytes());

    let exposition = exporter.scrape().await;

    assert_eq!(up(&exposition), 1.0, "{}", exporter.logs().tail(10));
    assert!(
        exposition.len() < 64 * 1024,
        "{} bytes of exposition",
        exposition.len()
    );
    exporter.assert_healthy().await;
}

#[tokio::test]
async fn deep_nesting_inside_a_session_field_is_survived() {
    let api = fake_api(Population::Empty).await;
    let exporter = exporter_for(&api).await;
    let nested = format!("{}{}", "[".repeat(DEEP), "]".repeat(DEEP));
    serve(
        &api,
        format!(
            r#"[{{"session_id":"s1","status":"ready","extra":{nested},"agent_name":{nested}}}]"#
        )
        .into_bytes(),
    );

    let exposition = exporter.scrape().await;

    assert_eq!(
        up(&exposition),
        1.0,
        "a deep value in one field is that field's problem, not the list's:\n{exposition}"
    );
    assert_eq!(
        expect_value(&exposition, "agi_sessions", &[("status", "ready")]),
        1.0
    );
    exporter.assert_healthy().await;
}

#[tokio::test]
async fn a_million_empty_sessions_are_counted_under_unknown() {
    let api = fake_api(Population::Empty).await;
    let exporter = exporter_for(&api).await;
    let mut body = String::from("[{}");
    body.push_str(&",{}".repeat(999_999));
    body.push(']');
    serve(&api, body.into_bytes());

    let exposition = exporter.scrape().await;

    assert_eq!(up(&exposition), 1.0, "{}", exporter.logs().tail(10));
    assert_eq!(
        expect_value(&exposition, "agi_sessions", &[("status", "unknown")]),
        1_000_000.0
    );
    exporter.assert_healthy().await;
}

#[tokio::test]
async fn hostile_label_values_are_escaped_into_a_valid_exposition() {
    let api = fake_api(Population::Empty).await;
    let exporter = exporter_for(&api).await;
    let body = r#"[
        {"session_id":"id \"quoted\" \\ back\nslash","agent_name":"agent\"}{x=\"1\"} 42\n# HELP","status":"run\nning","created_at":"2025-10-05T18:04:34.281Z"},
        {"session_id":"é😀\u0000\u001f","agent_name":"\\\\","status":"\\","created_at":"2025-10-05T18:04:34Z"},
        {"session_id":"s3","agent_name":"","status":"","created_at":"not a date"}
    ]"#;
    serve(&api, body.as_bytes().to_vec());

    let exposition = exporter.scrape().await;

    assert_eq!(up(&exposition), 1.0, "{exposition}");
    // The harness's parser panics on a line it cannot read.
    let parsed = samples(&exposition);
    assert!(
        parsed
            .iter()
            .any(|s| s.name == "agi_sessions" && s.label("status") == Some("run\nning")),
        "the status with a newline round-trips:\n{exposition}"
    );
    assert!(
        parsed.iter().any(|s| s.name == "agi_agent_sessions"
            && s.label("agent_name") == Some("agent\"}{x=\"1\"} 42\n# HELP")),
        "the agent name with quotes and braces round-trips:\n{exposition}"
    );
    promtool_check_metrics(&exposition);
    exporter.assert_healthy().await;
}

#[tokio::test]
async fn sessions_of_both_shapes_and_vocabularies_are_counted_by_their_status_alone() {
    // An API in transition: sessions in the SDKs' shape, with every kind
    // of goal (one reads like a forged session) and URLs with tokens, their
    // text escaped in several ways, beside sessions in the docs' shape.
    let sdk = GOALS.iter().enumerate().map(|(i, goal)| {
        let id = format!("sdk-{i}");
        let session = SdkSession {
            session_id: &id,
            agent_name: AGENT_NAMES[i % AGENT_NAMES.len()],
            status: SDK_STATUSES[i % SDK_STATUSES.len()],
            created_at: "2025-10-05T18:04:34.281Z",
            vnc_url: &format!("https://vnc.agi.example/session/{id}?token=tok-{i}"),
            agent_url: &format!("https://agent.agi.example/v1/{id}?token=tok-{i}"),
            environment_id: "env-0a1b2c3d",
            goal,
            agent_session_type: "managed-cdp",
        };
        session_text(&session.members(0x5555_5555 << i), Spacing::COMPACT)
    });
    let docs = DOCUMENTED_STATUSES.iter().enumerate().map(|(i, status)| {
        session_text(
            &docs_members(
                &format!("docs-{i}"),
                "agi-1",
                status,
                "2025-10-05T18:04:34Z",
            ),
            Spacing::COMPACT,
        )
    });
    let sessions: Vec<String> = sdk.chain(docs).collect();
    let body = format!("[{}]", sessions.join(","));
    let listed: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    let api = fake_api(Population::Empty).await;
    let exporter = exporter_for(&api).await;
    serve(&api, body.into_bytes());

    let exposition = exporter.scrape().await;

    assert_eq!(up(&exposition), 1.0, "{}", exporter.logs().tail(10));
    for status in KNOWN_STATUSES {
        let expected = listed.iter().filter(|s| s["status"] == status).count();
        assert_eq!(
            expect_value(&exposition, "agi_sessions", &[("status", status)]),
            expected as f64,
            "{status}:\n{exposition}"
        );
    }
    for text in ["forged", "token", "Chez", "env-0a1b2c3d", "managed-cdp"] {
        assert!(!exposition.contains(text), "{text} in:\n{exposition}");
    }
    promtool_check_metrics(&exposition);
    exporter.assert_healthy().await;
}
