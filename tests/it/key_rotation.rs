//! Key rotation through `--api.key-file` (README, Flags and Security): the file
//! is read with its trailing newline trimmed, re-read when it changes so the
//! next request carries the new key, and a file that disappears or empties
//! keeps the last good key in use. Neither key ever shows in the log (even
//! at debug level), in `/metrics`, on the landing page or in `--help`.

use std::time::Duration;

use crate::support::process::run;
use crate::support::*;

const KEY_A: &str = "sk-rotation-AAAA-1111";
const KEY_B: &str = "sk-rotation-BBBB-2222";
const KEY_C: &str = "sk-rotation-CCCC-3333-longer";

/// An API that accepts any key (a scripted answer) and records the headers.
async fn any_key_api() -> FakeApi {
    let api = fake_api(Population::Empty).await;
    api.set_behaviour(Behaviour::json(format!("[{EXAMPLE_SESSION}]")));
    api
}

fn bearer_seen_by(api: &FakeApi) -> String {
    api.last_bearer().expect("an Authorization header")
}

async fn exporter_with_key_file(api: &FakeApi, key_file: &TempFile) -> Exporter {
    Exporter::start(
        &[
            "--api.url",
            &api.url(),
            "--api.key-file",
            key_file.path(),
            "--log.level",
            "debug",
        ],
        None,
    )
    .await
}

/// Scrapes once (up 1 required) and returns the bearer the API saw.
async fn scrape_and_read_bearer(exporter: &Exporter, api: &FakeApi) -> String {
    let body = exporter.scrape().await;
    assert_eq!(up(&body), 1.0, "{body}\n{}", exporter.logs().tail(10));
    bearer_seen_by(api)
}

/// Fails when `text` holds any of the keys in any form (see
/// `support::leaks`).
fn assert_no_rotated_key_in(what: &str, text: &str) {
    for key in [KEY_A, KEY_B, KEY_C] {
        assert_no_key_in(key, what, text);
    }
}

#[tokio::test]
async fn a_rewritten_key_file_is_used_from_the_next_scrape_on() {
    let api = any_key_api().await;
    let key_file = TempFile::with_contents("key", &format!("{KEY_A}\n"));
    let exporter = exporter_with_key_file(&api, &key_file).await;

    assert_eq!(
        scrape_and_read_bearer(&exporter, &api).await,
        format!("Bearer {KEY_A}"),
        "the trailing newline is trimmed"
    );

    std::fs::write(key_file.path(), format!("  {KEY_B}\r\n")).expect("rotate the key");
    assert_eq!(
        scrape_and_read_bearer(&exporter, &api).await,
        format!("Bearer {KEY_B}"),
        "the rotated key (same length, new mtime) must be used at once"
    );

    // The Kubernetes way: a new file renamed over the old one.
    let staged = TempFile::with_contents("key-staged", &format!("{KEY_C}\n"));
    std::fs::rename(staged.path(), key_file.path()).expect("rename over the key file");
    assert_eq!(
        scrape_and_read_bearer(&exporter, &api).await,
        format!("Bearer {KEY_C}"),
        "a key file replaced by rename must be picked up"
    );
    exporter.assert_healthy().await;
}

#[tokio::test]
async fn a_key_file_that_disappears_or_empties_keeps_the_last_key() {
    let api = any_key_api().await;
    let key_file = TempFile::with_contents("key", &format!("{KEY_A}\n"));
    let exporter = exporter_with_key_file(&api, &key_file).await;
    assert_eq!(
        scrape_and_read_bearer(&exporter, &api).await,
        format!("Bearer {KEY_A}")
    );

    std::fs::write(key_file.path(), "\n").expect("empty the key file");
    assert_eq!(
        scrape_and_read_bearer(&exporter, &api).await,
        format!("Bearer {KEY_A}"),
        "an emptied key file must not blank the key"
    );

    std::fs::remove_file(key_file.path()).expect("remove the key file");
    assert_eq!(
        scrape_and_read_bearer(&exporter, &api).await,
        format!("Bearer {KEY_A}"),
        "a removed key file must not lose the key"
    );
    let warning = exporter
        .logs()
        .wait_for(&["level=warn", key_file.path()], Duration::from_secs(5))
        .await;
    assert_no_rotated_key_in("the warning", &warning);

    std::fs::write(key_file.path(), format!("{KEY_B}\n")).expect("restore the key file");
    assert_eq!(
        scrape_and_read_bearer(&exporter, &api).await,
        format!("Bearer {KEY_B}"),
        "once the file is back, its key is used"
    );
    exporter.assert_healthy().await;
}

#[tokio::test]
async fn rotated_keys_never_show_in_logs_metrics_or_pages_even_at_debug_level() {
    // The simulator's own key check: KEY_A is refused, KEY_B accepted, and
    // its 401 body is the kind an API might echo a key into.
    let api = fake_api_with_key(Population::Generated(5, Shape::Mixed), KEY_B).await;
    let key_file = TempFile::with_contents("key", &format!("{KEY_A}\n"));
    let exporter = exporter_with_key_file(&api, &key_file).await;

    let refused = exporter.scrape().await;
    assert_eq!(failures(&refused, "unauthorized"), 1.0, "{refused}");
    assert_eq!(bearer_seen_by(&api), format!("Bearer {KEY_A}"));

    std::fs::write(key_file.path(), format!("{KEY_B}\n")).expect("rotate the key");
    let accepted = exporter.scrape().await;
    assert_eq!(up(&accepted), 1.0, "{accepted}");
    assert_eq!(bearer_seen_by(&api), format!("Bearer {KEY_B}"));

    api.set_behaviour(Behaviour::status(
        500,
        format!("{{\"detail\":\"bad key {KEY_B}\"}}"),
    ));
    let failed = exporter.scrape().await;
    let landing = exporter.get("/").await.text();

    assert!(
        exporter.logs().text().contains("level=debug"),
        "the test needs debug logging to prove anything"
    );
    assert_no_rotated_key_in("the log", &exporter.logs().text());
    assert_no_rotated_key_in("/metrics", &format!("{refused}{accepted}{failed}"));
    assert_no_rotated_key_in("the landing page", &landing);
}

#[tokio::test]
async fn help_never_shows_a_key_even_when_one_is_set() {
    let key_file = TempFile::with_contents("key", &format!("{KEY_B}\n"));
    let finished = run(
        &["--help"],
        &[
            ("AGI_API_KEY", KEY_A),
            ("AGI_API_KEY_FILE", key_file.path()),
        ],
    )
    .await;
    assert_eq!(finished.code(), Some(0), "{}", finished.stderr);
    assert!(
        finished.stdout.contains("--api.key-file"),
        "{}",
        finished.stdout
    );
    assert_no_rotated_key_in("--help", &format!("{}{}", finished.stdout, finished.stderr));
}

/// A file far too large to be a key: a log, say, named by mistake.
fn ten_mebibytes_of_key() -> String {
    format!("{}\n", "k".repeat(10 << 20))
}

#[tokio::test]
async fn a_key_file_larger_than_4_kib_is_refused_at_start() {
    let api = any_key_api().await;
    let key_file = TempFile::with_contents("huge-key", &ten_mebibytes_of_key());
    let finished = run(
        &["--api.url", &api.url(), "--api.key-file", key_file.path()],
        &[],
    )
    .await;
    assert_eq!(finished.code(), Some(2), "{}", finished.stderr);
    let lines: Vec<&str> = finished.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stderr: {}", finished.stderr);
    assert!(lines[0].contains("larger than 4 KiB"), "{}", lines[0]);
    assert!(
        !lines[0].contains("kkkk"),
        "never the contents: {}",
        lines[0]
    );
    assert_eq!(api.requests(), 0, "nothing was sent");
}

#[tokio::test]
async fn a_key_file_that_grows_too_large_or_unusable_keeps_the_last_good_key() {
    let api = any_key_api().await;
    let key_file = TempFile::with_contents("key", &format!("{KEY_A}\n"));
    let exporter = exporter_with_key_file(&api, &key_file).await;
    assert_eq!(
        scrape_and_read_bearer(&exporter, &api).await,
        format!("Bearer {KEY_A}")
    );
    for (bad, why) in [
        (ten_mebibytes_of_key(), "larger than 4 KiB"),
        (format!("{KEY_B} and more\n"), "HTTP header"),
        (format!("{KEY_B}\u{e9}\n"), "HTTP header"),
    ] {
        std::fs::write(key_file.path(), &bad).expect("spoil the key file");
        assert_eq!(
            scrape_and_read_bearer(&exporter, &api).await,
            format!("Bearer {KEY_A}"),
            "a key file that is {why:?} must not replace the last good key"
        );
        let warning = exporter
            .logs()
            .wait_for(&["level=warn", why], Duration::from_secs(5))
            .await;
        assert!(warning.contains(key_file.path()), "{warning}");
        assert!(!warning.contains("kkkk"), "never the contents: {warning}");
        assert_no_rotated_key_in("the warning", &warning);
    }
    // Once the file holds a usable key again, it is used; a file that then
    // disappears keeps that one, not the rejected contents.
    std::fs::write(key_file.path(), format!("{KEY_C}\n")).expect("repair the key file");
    assert_eq!(
        scrape_and_read_bearer(&exporter, &api).await,
        format!("Bearer {KEY_C}")
    );
    std::fs::write(key_file.path(), ten_mebibytes_of_key()).expect("spoil it again");
    std::fs::remove_file(key_file.path()).expect("remove the key file");
    assert_eq!(
        scrape_and_read_bearer(&exporter, &api).await,
        format!("Bearer {KEY_C}")
    );
}

/// A key with nothing in common with `KEY_A` (no run of 12 bytes), so that
/// redacting `KEY_A` leaves it whole.
const KEY_NEXT: &str = "next-Zq8Wm3Tx5Lp2Rv7Y";

/// Sessions of an agent whose name echoes `key`.
fn agent_named_after(key: &str) -> String {
    format!(
        r#"[{{"session_id":"s1","agent_name":"x-{key}","status":"running","created_at":"2025-10-05T18:04:34Z"}}]"#
    )
}

fn assert_no_next_key_in(what: &str, text: &str) {
    assert_no_key_in(KEY_NEXT, what, text);
}

#[tokio::test]
async fn a_label_echoing_the_key_is_redacted_with_the_key_of_its_fetch_even_after_a_rotation() {
    let api = fake_api(Population::Empty).await;
    api.set_behaviour(Behaviour::json(agent_named_after(KEY_A)));
    let key_file = TempFile::with_contents("key", &format!("{KEY_A}\n"));
    let exporter = exporter_with_key_file(&api, &key_file).await;
    let before = exporter.scrape().await;
    assert!(
        before.contains("agi_session_transitions_total{agent_name=\"x-<redacted>\""),
        "{before}"
    );
    assert_no_rotated_key_in("/metrics", &before);
    // The key rotates and the API echoes the new one: the new value gets a
    // label of its own, redacted with the key of its fetch.
    std::fs::write(key_file.path(), format!("{KEY_NEXT}\n")).expect("rotate the key");
    api.set_behaviour(Behaviour::json(agent_named_after(KEY_NEXT)));
    let after = exporter.scrape().await;
    assert_eq!(up(&after), 1.0, "{after}");
    assert_no_next_key_in("/metrics after the key rotated", &after);
    assert_no_rotated_key_in("/metrics after the key rotated", &after);
}

#[tokio::test]
async fn a_new_key_ends_the_reuse_of_a_cached_result() {
    let api = fake_api(Population::Empty).await;
    api.set_behaviour(Behaviour::json(agent_named_after(KEY_NEXT)));
    let key_file = TempFile::with_contents("key", &format!("{KEY_A}\n"));
    let exporter = Exporter::start(
        &[
            "--api.url",
            &api.url(),
            "--api.key-file",
            key_file.path(),
            "--api.cache-ttl",
            "1h",
        ],
        None,
    )
    .await;
    let before = exporter.scrape().await;
    assert!(
        before.contains(&format!("agi_agent_sessions{{agent_name=\"x-{KEY_NEXT}\"")),
        "{before}"
    );
    assert_eq!(api.requests(), 1);

    std::fs::write(key_file.path(), format!("{KEY_NEXT}\n")).expect("rotate the key");
    let after = exporter.scrape().await;
    assert_eq!(up(&after), 1.0, "{after}");
    assert_eq!(
        api.requests(),
        2,
        "the cached result was made for the old key: a new request is needed"
    );
    assert_eq!(bearer_seen_by(&api), format!("Bearer {KEY_NEXT}"));
    // The families of the new fetch are made with the new key. (A
    // lifecycle label is made once, with the key of the fetch that first
    // saw its value: this one's, before the key was in use, keeps it.)
    let fetched: Vec<&str> = after
        .lines()
        .filter(|l| l.starts_with("agi_agent_sessions") || l.starts_with("agi_session_age_seconds"))
        .collect();
    assert!(!fetched.is_empty(), "{after}");
    assert_no_next_key_in(
        "the session families after the key changed under the cache",
        &fetched.join("\n"),
    );
}

/// A new session of `agent`, running, for the lists below.
fn running_session(id: &str, agent: &str) -> String {
    format!(
        r#"{{"session_id":"{id}","agent_name":"{agent}","status":"running","created_at":"2025-10-05T18:04:34Z"}}"#
    )
}

/// The value of the `running` transitions of `agent`, if it has a series.
fn running_transitions(exposition: &str, agent: &str) -> Option<f64> {
    samples(exposition)
        .into_iter()
        .find(|s| {
            s.name == "agi_session_transitions_total"
                && s.label("agent_name") == Some(agent)
                && s.label("status") == Some("running")
        })
        .map(|s| s.value)
}

#[tokio::test]
async fn what_an_earlier_key_redacted_stays_redacted_after_the_key_rotates() {
    let api = fake_api(Population::Empty).await;
    let echoed = format!("x-{KEY_A}");
    api.set_behaviour(Behaviour::json(format!(
        "[{}]",
        running_session("s1", &echoed)
    )));
    let key_file = TempFile::with_contents("key", &format!("{KEY_A}\n"));
    let exporter = exporter_with_key_file(&api, &key_file).await;
    let before = exporter.scrape().await;
    assert_eq!(up(&before), 1.0, "{before}");
    assert!(before.contains(r#"agent_name="x-<redacted>""#), "{before}");
    // The API no longer echoes the key, and the key is rotated: the sticky
    // label made while KEY_A was the key must not show it now.
    api.set_behaviour(Behaviour::json(format!("[{EXAMPLE_SESSION}]")));
    std::fs::write(key_file.path(), format!("{KEY_B}\n")).expect("rotate the key");
    let after = exporter.scrape().await;
    assert_eq!(up(&after), 1.0, "{after}");
    assert_eq!(bearer_seen_by(&api), format!("Bearer {KEY_B}"));
    assert_no_rotated_key_in("/metrics after the key rotated", &after);
    assert_eq!(running_transitions(&after, "x-<redacted>"), Some(0.0));
}
