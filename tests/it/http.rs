//! The HTTP surface (README, Flags and Endpoints): routes, methods, HEAD, the landing
//! page, `--web.telemetry-path`, health endpoints and gzip.

use std::io::Read;

use crate::support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An exporter in front of the documented example.
async fn exporter_with_api() -> (FakeApi, Exporter) {
    let api = spec_example_api().await;
    let exporter = Exporter::for_api(&api.url(), &[]).await;
    (api, exporter)
}

#[tokio::test]
async fn unknown_paths_get_404() {
    let (api, exporter) = exporter_with_api().await;
    for path in ["/nope", "/metrics/extra", "/-/unknown", "/v1/sessions"] {
        assert_eq!(exporter.get(path).await.status, 404, "GET {path}");
    }
    assert_eq!(api.requests(), 0);
}

#[tokio::test]
async fn post_on_metrics_gets_405_with_an_allow_header() {
    let (api, exporter) = exporter_with_api().await;
    for request in [
        exporter
            .client()
            .post(format!("{}/metrics", exporter.url())),
        exporter.client().put(format!("{}/metrics", exporter.url())),
        exporter.client().delete(format!("{}/", exporter.url())),
    ] {
        let reply = exporter.send(request).await;
        assert_eq!(reply.status, 405);
        let allow = reply.header("allow").expect("an Allow header");
        assert!(allow.contains("GET") && allow.contains("HEAD"), "{allow}");
    }
    assert_eq!(api.requests(), 0, "a refused method must not call the API");
}

#[tokio::test]
async fn head_on_metrics_is_200_without_a_body_or_an_api_request() {
    let (api, exporter) = exporter_with_api().await;
    let reply = exporter
        .send(
            exporter
                .client()
                .head(format!("{}/metrics", exporter.url())),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert!(reply.body.is_empty());

    // On the wire: nothing follows the headers.
    let mut stream = tokio::net::TcpStream::connect(exporter.address())
        .await
        .expect("connect to the exporter");
    stream
        .write_all(b"HEAD /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .expect("send HEAD");
    let mut raw = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut raw),
    )
    .await
    .expect("the exporter closes the connection")
    .expect("read the answer");
    let raw = String::from_utf8_lossy(&raw);
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    let (_, body) = raw.split_once("\r\n\r\n").expect("a complete header");
    assert!(body.is_empty(), "HEAD answered with a body: {body:?}");

    assert_eq!(api.requests(), 0, "HEAD must not cost an API request");
}

#[tokio::test]
async fn landing_page_shows_name_version_and_a_link_to_the_metrics() {
    let (api, exporter) = exporter_with_api().await;
    let reply = exporter.get("/").await;
    assert_eq!(reply.status, 200);
    assert!(
        reply
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/html")),
        "{:?}",
        reply.headers
    );
    let page = reply.text();
    assert!(page.contains("AGI Exporter"), "{page}");
    assert!(page.contains(env!("CARGO_PKG_VERSION")), "{page}");
    assert!(page.contains(r#"href="/metrics""#), "{page}");
    assert!(!page.contains("DEMO"), "no demo banner outside demo mode");
    assert_eq!(api.requests(), 0, "the landing page does not call the API");
}

#[tokio::test]
async fn telemetry_path_moves_the_metrics_endpoint() {
    let api = spec_example_api().await;
    let exporter = Exporter::for_api(&api.url(), &["--web.telemetry-path", "/custom"]).await;
    let body = exporter.scrape_path("/custom").await;
    assert_eq!(expect_value(&body, "agi_up", &[]), 1.0, "{body}");
    assert_eq!(exporter.get("/metrics").await.status, 404);
    let page = exporter.get("/").await.text();
    assert!(page.contains(r#"href="/custom""#), "{page}");
}

#[tokio::test]
async fn health_and_readiness_answer_200_while_the_api_is_down() {
    let exporter = Exporter::for_api(&closed_port_url(), &[]).await;
    for path in ["/-/healthy", "/-/ready"] {
        let reply = exporter.get(path).await;
        assert_eq!(reply.status, 200, "GET {path}: {}", reply.text());
    }
    let body = exporter.scrape().await;
    assert_eq!(expect_value(&body, "agi_up", &[]), 0.0);
}

#[tokio::test]
async fn metrics_are_gzipped_when_the_scraper_accepts_gzip() {
    let (_api, exporter) = exporter_with_api().await;
    let reply = exporter
        .send(
            exporter
                .client()
                .get(format!("{}/metrics", exporter.url()))
                .header("accept-encoding", "gzip"),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-encoding"), Some("gzip"));
    assert!(
        reply
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/plain")),
        "{:?}",
        reply.headers
    );
    let mut body = String::new();
    flate2::read::GzDecoder::new(reply.body.as_slice())
        .read_to_string(&mut body)
        .expect("the body is valid gzip");
    assert_eq!(expect_value(&body, "agi_up", &[]), 1.0, "{body}");
    promtool_check_metrics(&body);
}

#[tokio::test]
async fn metrics_are_plain_text_without_accept_encoding() {
    let (_api, exporter) = exporter_with_api().await;
    let reply = exporter.get("/metrics").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-encoding"), None);
    let body = reply.text();
    assert!(body.starts_with("# HELP "), "{body}");
    assert_eq!(expect_value(&body, "agi_up", &[]), 1.0, "{body}");
}
