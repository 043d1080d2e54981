//! Redirects (README, Failure model; Security): a 3xx answer is never followed, is
//! counted under reason `redirect`, and the key never reaches any origin
//! other than `--api.url`, not even the one the API points to.
use crate::support::*;

fn redirect(status: u16, location: &str) -> Behaviour {
    Behaviour::Respond {
        status,
        headers: vec![("location".to_owned(), location.to_owned())],
        body: "".into(),
    }
}

/// A second origin on another port, which must never hear from the exporter.
async fn elsewhere() -> FakeApi {
    fake_api(Population::Generated(3, Shape::Mixed)).await
}

fn assert_never_contacted(other: &FakeApi) {
    assert_eq!(
        other.requests(),
        0,
        "the redirect target was called (it would have received the key)"
    );
    assert!(
        other.last_headers().is_none(),
        "the redirect target saw a request: {:?}",
        other.last_headers()
    );
}

#[tokio::test]
async fn every_redirect_status_to_another_origin_is_reported_and_not_followed() {
    let other = elsewhere().await;
    let api = fake_api(Population::Generated(3, Shape::Mixed)).await;
    let exporter = Exporter::for_api(&api.url(), &[]).await;
    let target = format!("{}/v1/sessions", other.url());

    for (n, status) in [301u16, 302, 303, 307, 308].into_iter().enumerate() {
        api.set_behaviour(redirect(status, &target));
        let body = exporter.scrape().await;
        let scrapes = n as f64 + 1.0;
        assert_eq!(up(&body), 0.0, "HTTP {status}:\n{body}");
        assert_eq!(
            failures(&body, "redirect"),
            scrapes,
            "HTTP {status} counts as a redirect:\n{body}"
        );
        assert_eq!(api.requests(), n as u64 + 1, "one request per scrape");
        assert_never_contacted(&other);
    }
    let seen = api.last_headers().expect("the API was called");
    assert_eq!(
        seen.get("authorization").and_then(|v| v.to_str().ok()),
        Some(format!("Bearer {KEY}").as_str()),
        "the key went to --api.url, as it should (else this test proves nothing)"
    );

    let warnings = exporter.logs().lines(&["level=warn", "reason=redirect"]);
    assert_eq!(warnings.len(), 5, "{}", warnings.join("\n"));
    assert_no_key_in(KEY, "the redirect warnings", &warnings.join("\n"));
    exporter.assert_healthy().await;
}

#[tokio::test]
async fn a_relative_redirect_on_the_same_origin_is_not_followed_either() {
    let api = fake_api(Population::Generated(3, Shape::Mixed)).await;
    api.set_behaviour(redirect(302, "/v1/sessions?page=2"));
    let exporter = Exporter::for_api(&api.url(), &[]).await;

    let body = exporter.scrape().await;

    assert_eq!(up(&body), 0.0, "{body}");
    assert_eq!(failures(&body, "redirect"), 1.0, "{body}");
    assert_eq!(api.requests(), 1, "the redirect was followed");
}

#[tokio::test]
async fn a_redirect_without_a_location_is_still_a_redirect() {
    let api = fake_api(Population::Generated(3, Shape::Mixed)).await;
    api.set_behaviour(Behaviour::status(302, ""));
    let exporter = Exporter::for_api(&api.url(), &[]).await;

    let body = exporter.scrape().await;

    assert_eq!(failures(&body, "redirect"), 1.0, "{body}");
    exporter.assert_healthy().await;
}
