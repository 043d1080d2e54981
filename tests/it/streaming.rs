//! The body is folded as it arrives (README, Performance): an upstream that
//! sends it a few bytes at a time, plain or gzip, gives the scrape exactly
//! what the same body sent whole gives. The exporter asks for gzip and reads
//! nothing else: a damaged, cut or unasked-for encoding is
//! `invalid_response`.

use agi_exporter::demo::{Population as Simulated, population_body};

use crate::support::*;

/// The lines of the families that count what a body lists (not the ages,
/// which move with the clock, nor the exporter's own families).
fn counts(exposition: &str) -> Vec<&str> {
    exposition
        .lines()
        .filter(|line| {
            [
                "agi_sessions{",
                "agi_agent_sessions{",
                "agi_invalid_session_fields_total{",
                "agi_up ",
            ]
            .iter()
            .any(|family| line.starts_with(family))
        })
        .collect()
}

async fn scrape_of(answer: Vec<u8>) -> String {
    let api = RawUpstream::start(RawAnswer::Send(answer)).await;
    let exporter = Exporter::for_api(&api.url(), &[]).await;
    exporter.scrape().await
}

#[tokio::test]
async fn a_body_in_tiny_chunks_plain_or_gzip_folds_as_the_whole_body() {
    let mut body = population_body(Simulated::Demo, 7).to_vec();
    // A session whose created_at cannot be read, and non-ASCII text that
    // the chunks cut inside its characters.
    body.pop();
    body.extend_from_slice(
        r#",{"session_id":"s-é","agent_name":"agent-ü-😀","status":"running","created_at":"soon"}]"#
            .as_bytes(),
    );
    let whole = scrape_of(chunked_response(&body, body.len())).await;
    assert_eq!(up(&whole), 1.0, "{whole}");
    let expected = counts(&whole);
    assert!(expected.len() > 40, "{whole}");
    assert!(whole.contains(r#"agent_name="agent-ü-😀""#), "{whole}");

    for size in [1, 2, 3, 7] {
        let plain = scrape_of(chunked_response(&body, size)).await;
        assert_eq!(counts(&plain), expected, "plain, chunks of {size} bytes");
        let zipped = scrape_of(chunked_response_with(
            &["content-encoding: gzip"],
            &gzip([&body]),
            size,
        ))
        .await;
        assert_eq!(counts(&zipped), expected, "gzip, chunks of {size} bytes");
    }
}

#[tokio::test]
async fn the_exporter_asks_for_gzip() {
    let api = fake_api(Population::Generated(3, Shape::Mixed)).await;
    let exporter = Exporter::for_api(&api.url(), &[]).await;
    assert_eq!(up(&exporter.scrape().await), 1.0);
    let headers = api.last_headers().expect("a request");
    assert_eq!(
        headers.get("accept-encoding").and_then(|v| v.to_str().ok()),
        Some("gzip")
    );
}

#[tokio::test]
async fn a_damaged_cut_or_unasked_for_encoding_is_an_invalid_response() {
    let body = session_list(500).into_bytes();
    let zipped = gzip([&body]);
    let mut corrupt = zipped.clone();
    let middle = corrupt.len() / 2;
    corrupt[middle] ^= 0x55;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "damaged gzip",
            chunked_response_with(&["content-encoding: gzip"], &corrupt, 100),
        ),
        (
            "gzip cut short",
            chunked_response_with(
                &["content-encoding: gzip"],
                &zipped[..zipped.len() - 8],
                100,
            ),
        ),
        (
            "plain text said to be gzip",
            chunked_response_with(&["content-encoding: gzip"], &body, 100),
        ),
        (
            "brotli, not asked for",
            chunked_response_with(&["content-encoding: br"], &zipped, 100),
        ),
    ];
    for (what, answer) in cases {
        let api = RawUpstream::start(RawAnswer::Send(answer)).await;
        let exporter = Exporter::for_api(&api.url(), &[]).await;
        let scraped = exporter.scrape().await;
        assert_eq!(up(&scraped), 0.0, "{what}: {scraped}");
        assert_eq!(
            failures(&scraped, "invalid_response"),
            1.0,
            "{what}: {scraped}\n{}",
            exporter.logs().tail(5)
        );
        exporter.assert_healthy().await;
    }
}
