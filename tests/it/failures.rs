//! Every way the API can fail, as a user sees it: `/metrics` still answers
//! 200 with `agi_up 0`, the exporter's own families and none of the session
//! families; `agi_api_request_failures_total` counts exactly one failure
//! under the right reason; and one `warn` line names the reason.

use crate::support::*;
use std::time::Duration;

const REASONS: [&str; 8] = [
    "timeout",
    "connect",
    "unauthorized",
    "rate_limited",
    "http_status",
    "redirect",
    "too_large",
    "invalid_response",
];

/// A simulator that answers every request with `behaviour`.
async fn api_answering(behaviour: Behaviour) -> FakeApi {
    let api = fake_api(Population::Generated(3, Shape::Mixed)).await;
    api.set_behaviour(behaviour);
    api
}

/// Scrapes once and checks everything a failed fetch must show; returns the
/// warn line that names `reason`.
async fn assert_scrape_fails_with(exporter: &Exporter, reason: &str) -> String {
    let body = exporter.scrape().await;
    assert_eq!(
        expect_value(&body, "agi_up", &[]),
        0.0,
        "agi_up in:\n{body}"
    );
    let found = families(&body);
    for family in SESSION_FAMILIES {
        assert!(
            !found.contains(family),
            "{family} must not be exported when the fetch failed:\n{body}"
        );
    }
    for family in EXPORTER_FAMILIES {
        assert!(found.contains(family), "{family} missing from:\n{body}");
    }
    for other in REASONS {
        let expected = if other == reason { 1.0 } else { 0.0 };
        assert_eq!(
            expect_value(
                &body,
                "agi_api_request_failures_total",
                &[("reason", other)]
            ),
            expected,
            "agi_api_request_failures_total{{reason={other:?}}} after a {reason} failure:\n{body}"
        );
    }
    assert_eq!(
        expect_value(&body, "agi_api_requests_total", &[]),
        1.0,
        "{body}"
    );

    let line = exporter
        .logs()
        .wait_for(
            &["level=warn", &format!("reason={reason}")],
            Duration::from_secs(5),
        )
        .await;
    let warnings = exporter.logs().lines(&["level=warn"]);
    assert_eq!(
        warnings.len(),
        1,
        "exactly one warn line per failure, got:\n{}",
        warnings.join("\n")
    );
    line
}

/// Starts an exporter against `api` (with extra flags), scrapes once and
/// checks the failure; returns the warn line.
async fn scrape_fails_with(api: &FakeApi, extra: &[&str], reason: &str) -> String {
    let exporter = Exporter::for_api(&api.url(), extra).await;
    assert_scrape_fails_with(&exporter, reason).await
}

#[tokio::test]
async fn scrape_reports_unauthorized_on_401_and_says_to_check_the_key() {
    let api = api_answering(Behaviour::status(401, r#"{"detail":"Invalid API key"}"#)).await;
    let line = scrape_fails_with(&api, &[], "unauthorized").await;
    assert!(line.contains("AGI_API_KEY"), "{line}");
    assert!(line.contains("--api.key-file"), "{line}");
}

#[tokio::test]
async fn scrape_reports_unauthorized_on_403_and_says_to_check_the_key() {
    let api = api_answering(Behaviour::status(403, "Forbidden")).await;
    let line = scrape_fails_with(&api, &[], "unauthorized").await;
    assert!(line.contains("AGI_API_KEY"), "{line}");
}

#[tokio::test]
async fn scrape_reports_unauthorized_when_the_key_is_wrong() {
    // The simulator's own key check, not a scripted answer.
    let api = fake_api_with_key(Population::Generated(3, Shape::Mixed), "another-key").await;
    let line = scrape_fails_with(&api, &[], "unauthorized").await;
    assert!(line.contains("AGI_API_KEY"), "{line}");
}

#[tokio::test]
async fn scrape_reports_rate_limited_on_429() {
    let api = api_answering(Behaviour::status(429, r#"{"error":"slow down"}"#)).await;
    scrape_fails_with(&api, &[], "rate_limited").await;
}

#[tokio::test]
async fn after_a_429_no_request_is_sent_until_retry_after() {
    let api = api_answering(Behaviour::Respond {
        status: 429,
        headers: vec![("retry-after".to_owned(), "120".to_owned())],
        body: "slow down".into(),
    })
    .await;
    let exporter = Exporter::for_api(&api.url(), &[]).await;
    assert_scrape_fails_with(&exporter, "rate_limited").await;
    api.set_behaviour(Behaviour::Serve);
    let body = exporter.scrape().await;
    assert_eq!(expect_value(&body, "agi_up", &[]), 0.0, "{body}");
    assert_eq!(
        api.requests(),
        1,
        "no request before Retry-After has passed"
    );
    assert_eq!(expect_value(&body, "agi_api_requests_total", &[]), 1.0);
}

#[tokio::test]
async fn scrape_reports_http_status_on_500_with_a_json_message() {
    let api = api_answering(Behaviour::status(
        500,
        r#"{"message":"database unavailable"}"#,
    ))
    .await;
    let line = scrape_fails_with(&api, &[], "http_status").await;
    assert!(line.contains("500"), "{line}");
    assert!(line.contains("database unavailable"), "{line}");
}

#[tokio::test]
async fn scrape_reports_http_status_on_500_with_a_text_body() {
    let api = api_answering(Behaviour::status(500, "Internal Server Error\n")).await;
    let line = scrape_fails_with(&api, &[], "http_status").await;
    assert!(line.contains("Internal Server Error"), "{line}");
}

#[tokio::test]
async fn scrape_reports_redirect_and_never_follows_it() {
    let elsewhere = fake_api(Population::Generated(3, Shape::Mixed)).await;
    let api = api_answering(Behaviour::Respond {
        status: 302,
        headers: vec![(
            "location".to_owned(),
            format!("{}/v1/sessions", elsewhere.url()),
        )],
        body: "".into(),
    })
    .await;
    let line = scrape_fails_with(&api, &[], "redirect").await;
    assert!(line.contains(&elsewhere.url()), "{line}");
    assert_eq!(api.requests(), 1);
    assert_eq!(
        elsewhere.requests(),
        0,
        "the redirect target must never be called (it would get the key)"
    );
    assert!(elsewhere.last_headers().is_none());
}

#[tokio::test]
async fn scrape_reports_too_large_past_max_response_bytes() {
    let sessions: Vec<String> = (0..20).map(|_| EXAMPLE_SESSION.to_owned()).collect();
    let body = format!("[{}]", sessions.join(","));
    assert!(body.len() > 2048);
    let api = api_answering(Behaviour::json(body)).await;
    scrape_fails_with(&api, &["--api.max-response-bytes", "1KiB"], "too_large").await;
}

#[tokio::test]
async fn scrape_reports_invalid_response_for_an_html_page() {
    let api = api_answering(Behaviour::Respond {
        status: 200,
        headers: vec![("content-type".to_owned(), "text/html".to_owned())],
        body: "<html><body><h1>502 Bad Gateway</h1></body></html>".into(),
    })
    .await;
    scrape_fails_with(&api, &[], "invalid_response").await;
}

#[tokio::test]
async fn scrape_reports_invalid_response_for_truncated_json() {
    let truncated = format!("[{EXAMPLE_SESSION},{}", &EXAMPLE_SESSION[..40]);
    let api = api_answering(Behaviour::json(truncated)).await;
    scrape_fails_with(&api, &[], "invalid_response").await;
}

#[tokio::test]
async fn scrape_reports_invalid_response_for_an_object_without_a_session_list() {
    let api = api_answering(Behaviour::json(r#"{"results":[]}"#)).await;
    scrape_fails_with(&api, &[], "invalid_response").await;
}

#[tokio::test]
async fn scrape_reports_up_0_when_api_times_out() {
    let api = api_answering(Behaviour::Delay(Duration::from_secs(5))).await;
    let exporter = Exporter::for_api(&api.url(), &["--api.timeout", "500ms"]).await;
    let started = std::time::Instant::now();
    assert_scrape_fails_with(&exporter, "timeout").await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the scrape must give up at --api.timeout, not wait for the API ({:?})",
        started.elapsed()
    );
}

#[tokio::test]
async fn scrape_reports_connect_when_nothing_listens() {
    let exporter = Exporter::for_api(&closed_port_url(), &[]).await;
    assert_scrape_fails_with(&exporter, "connect").await;
}

#[tokio::test]
async fn the_api_recovering_brings_agi_up_back_to_1() {
    let api = api_answering(Behaviour::status(503, "maintenance")).await;
    let exporter = Exporter::for_api(&api.url(), &[]).await;
    assert_scrape_fails_with(&exporter, "http_status").await;
    api.set_behaviour(Behaviour::json(format!("[{EXAMPLE_SESSION}]")));
    let body = exporter.scrape().await;
    assert_eq!(expect_value(&body, "agi_up", &[]), 1.0, "{body}");
    assert_eq!(
        expect_value(
            &body,
            "agi_api_request_failures_total",
            &[("reason", "http_status")]
        ),
        1.0,
        "the failure counter keeps its count"
    );
    assert!(families(&body).contains("agi_sessions"));
}
