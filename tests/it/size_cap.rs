//! The response size cap (README, Failure model): the body is read in chunks and
//! abandoned past `--api.max-response-bytes` (reason `too_large`), whatever
//! `Content-Length` says or does not say, and counted after decompression,
//! so a small gzip body that inflates past the cap is refused too.

use crate::support::process::BinaryExporter;
use crate::support::*;

const CAP_FLAG: &str = "64KiB";
const CAP: usize = 64 * 1024;

/// A valid session list of exactly `len` bytes (padded with whitespace,
/// which JSON allows after the list).
fn session_list_of_len(len: usize) -> Vec<u8> {
    let session_bytes = EXAMPLE_SESSION.len() + 1;
    let mut body = session_list(len / session_bytes - 1).into_bytes();
    assert!(body.len() <= len, "the padding has room");
    body.resize(len, b' ');
    body
}

fn gzip_json(body: Vec<u8>) -> Behaviour {
    Behaviour::Respond {
        status: 200,
        headers: vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            ("content-encoding".to_owned(), "gzip".to_owned()),
        ],
        body: body.into(),
    }
}

async fn api_serving(behaviour: Behaviour) -> FakeApi {
    let api = fake_api(Population::Empty).await;
    api.set_behaviour(behaviour);
    api
}

async fn capped_exporter(api_url: &str) -> Exporter {
    Exporter::for_api(api_url, &["--api.max-response-bytes", CAP_FLAG]).await
}

async fn assert_too_large(exporter: &Exporter) {
    let body = exporter.scrape().await;
    assert_eq!(up(&body), 0.0, "{body}");
    assert_eq!(
        failures(&body, "too_large"),
        1.0,
        "{body}\n{}",
        exporter.logs().tail(10)
    );
    exporter.assert_healthy().await;
}

async fn assert_up(exporter: &Exporter) {
    let body = exporter.scrape().await;
    assert_eq!(up(&body), 1.0, "{body}\n{}", exporter.logs().tail(10));
    exporter.assert_healthy().await;
}

#[tokio::test]
async fn a_body_larger_than_the_cap_is_too_large() {
    let body = session_list(2_000);
    assert!(body.len() > 2 * CAP, "the premise: {} bytes", body.len());
    let api = api_serving(Behaviour::json(body)).await;
    let exporter = capped_exporter(&api.url()).await;
    assert_too_large(&exporter).await;
}

#[tokio::test]
async fn a_body_exactly_at_the_cap_is_accepted() {
    let api = api_serving(Behaviour::json(session_list_of_len(CAP))).await;
    let exporter = capped_exporter(&api.url()).await;
    assert_up(&exporter).await;
}

#[tokio::test]
async fn a_body_just_under_the_cap_is_accepted() {
    let api = api_serving(Behaviour::json(session_list_of_len(CAP - 1))).await;
    let exporter = capped_exporter(&api.url()).await;
    assert_up(&exporter).await;
}

#[tokio::test]
async fn a_body_one_byte_over_the_cap_is_too_large() {
    let api = api_serving(Behaviour::json(session_list_of_len(CAP + 1))).await;
    let exporter = capped_exporter(&api.url()).await;
    assert_too_large(&exporter).await;
}

#[tokio::test]
async fn a_chunked_body_without_content_length_is_capped_while_it_streams() {
    let body = session_list_of_len(CAP + 1);
    let api = RawUpstream::start(RawAnswer::Send(chunked_response(&body, 4096))).await;
    let exporter = capped_exporter(&api.url()).await;
    assert_too_large(&exporter).await;
}

#[tokio::test]
async fn a_chunked_body_at_the_cap_is_accepted() {
    let body = session_list_of_len(CAP);
    let api = RawUpstream::start(RawAnswer::Send(chunked_response(&body, 4096))).await;
    let exporter = capped_exporter(&api.url()).await;
    assert_up(&exporter).await;
}

#[tokio::test]
async fn a_small_gzip_body_that_inflates_past_the_cap_is_too_large() {
    let inflated = session_list_of_len(4 * CAP);
    let compressed = gzip([&inflated]);
    assert!(
        compressed.len() < 8 * 1024,
        "the premise: a few KiB on the wire ({} bytes)",
        compressed.len()
    );
    let api = api_serving(gzip_json(compressed)).await;
    let exporter = capped_exporter(&api.url()).await;
    assert_too_large(&exporter).await;
}

#[tokio::test]
async fn a_gzip_body_that_inflates_past_the_cap_and_then_breaks_is_too_large() {
    // Less than one of the buffers the inflater fills before handing them
    // on: the bytes inflated before the break still count.
    let compressed = gzip([session_list_of_len(3 * CAP)]);
    let cut = compressed[..compressed.len() - 8].to_vec();
    let mut damaged = compressed.clone();
    let crc = damaged.len() - 6;
    damaged[crc] ^= 0xff;
    for body in [cut, damaged] {
        let api = api_serving(gzip_json(body)).await;
        let exporter = capped_exporter(&api.url()).await;
        assert_too_large(&exporter).await;
    }
}

#[tokio::test]
async fn a_gzip_body_that_inflates_to_just_under_the_cap_is_accepted() {
    let api = api_serving(gzip_json(gzip([session_list_of_len(CAP - 1)]))).await;
    let exporter = capped_exporter(&api.url()).await;
    assert_up(&exporter).await;
}

#[tokio::test]
async fn a_gzip_bomb_is_abandoned_at_the_cap_without_inflating_it_all() {
    // 64 MiB of whitespace inside a list: about 64 KiB on the wire,
    // compressed from one reused buffer to keep the test fast.
    let megabyte = vec![b' '; 1024 * 1024];
    let list = [&b"["[..]]
        .into_iter()
        .chain(std::iter::repeat_n(&megabyte[..], 64))
        .chain([&b"]"[..]]);
    let compressed = gzip(list);
    assert!(compressed.len() < 1024 * 1024, "{} bytes", compressed.len());
    let api = api_serving(gzip_json(compressed)).await;
    // The real process, whose peak memory is its own alone.
    let exporter =
        BinaryExporter::for_api(&api.url(), &["--api.max-response-bytes", CAP_FLAG]).await;
    let before = exporter.peak_rss_bytes();

    let body = exporter.scrape().await;
    assert_eq!(failures(&body, "too_large"), 1.0, "{body}");

    // Inflating it all would need 64 MiB at once; the bound is half that.
    let after = exporter.peak_rss_bytes();
    assert!(
        after < before + 32 * 1024 * 1024,
        "peak RSS grew from {before} to {after} bytes (bound: +32 MiB): the 64 MiB bomb was inflated past the 64 KiB cap"
    );
}
