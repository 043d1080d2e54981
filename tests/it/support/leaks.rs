//! The one search for a secret in what the exporter wrote or served: every
//! test that checks for a leak uses it.
//!
//! It is written apart from the exporter's redaction. It looks for the key
//! in every form a careless or hostile API might send it back in (as sent,
//! JSON-escaped, percent-encoded, base64 standard and URL-safe with and
//! without padding, of the key and of `Bearer <key>`), and for any run of
//! 12 characters of any of those forms, in the text as written and after
//! undoing (twice) the escaping a log format or a URL adds.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

/// How many characters of a form of the key in a row count as a leak.
pub const KEY_RUN: usize = 12;

/// Every form of `key` the search looks for.
pub fn key_forms(key: &str) -> Vec<String> {
    let bearer = format!("Bearer {key}");
    let mut forms = vec![
        key.to_owned(),
        serde_json::to_string(key).expect("a string is JSON"),
        percent(key, true),
        percent(key, false),
        query_encoded(key),
    ];
    for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
        forms.push(engine.encode(key));
        forms.push(engine.encode(&bearer));
    }
    forms
}

/// Every byte of `text` percent-encoded, in upper or lower case hex.
pub fn percent(text: &str, upper: bool) -> String {
    text.bytes()
        .map(|b| match upper {
            true => format!("%{b:02X}"),
            false => format!("%{b:02x}"),
        })
        .collect()
}

/// Only the characters a URL query must encode (of those a key holds), in
/// mixed case.
pub fn query_encoded(text: &str) -> String {
    text.replace('/', "%2f")
        .replace('+', "%2B")
        .replace('=', "%3d")
        .replace('"', "%22")
        .replace('\\', "%5C")
}

/// Fails with the offending line when `text`, which came from `source`,
/// holds [`KEY_RUN`] characters in a row of any form of `key` (see
/// [`key_forms`]), as written or unescaped.
pub fn assert_no_key_in(key: &str, source: &str, text: &str) {
    assert_no_run_in(source, text, &key_forms(key), KEY_RUN);
}

/// Fails with the offending line when `text`, which came from `source`,
/// holds `run` characters in a row of any of `secrets` (a shorter secret
/// whole), as written or after undoing escapes once or twice.
pub fn assert_no_run_in(source: &str, text: &str, secrets: &[String], run: usize) {
    let once = unescaped(text);
    let twice = unescaped(&once);
    for view in [text, &once, &twice] {
        for secret in secrets {
            for piece in secret.as_bytes().windows(run.min(secret.len())) {
                let piece = String::from_utf8_lossy(piece);
                if let Some(line) = view.lines().find(|line| line.contains(piece.as_ref())) {
                    panic!("{piece:?} (part of {secret:?}) leaked into {source}: {line}");
                }
            }
        }
    }
}

/// `text` with the escapes of JSON strings (`\"`, `\\`, `\/`) and URLs
/// (`%XX`, either case) undone.
pub fn unescaped(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i..] {
            [b'\\', next @ (b'"' | b'\\' | b'/'), ..] => {
                out.push(next);
                i += 2;
            }
            [b'%', high, low, ..] if high.is_ascii_hexdigit() && low.is_ascii_hexdigit() => {
                out.push(hex_digit(high) * 16 + hex_digit(low));
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

fn hex_digit(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        _ => digit.to_ascii_lowercase() - b'a' + 10,
    }
}

#[test]
fn the_search_finds_the_key_in_every_form_and_any_12_characters_of_it() {
    let key = r#"sk-live/Ab+Cd=Ef"Gh\Ij-0123456789abcdef"#;
    let found =
        |text: &str| std::panic::catch_unwind(|| assert_no_key_in(key, "a test", text)).is_err();
    for form in key_forms(key) {
        assert!(found(&format!("level=warn body={form} end")), "{form}");
    }
    assert!(found(&format!("…{}…", &key[10..22])), "a run of 12");
    assert!(found(&format!(
        r#"{{"echo":"{}"}}"#,
        serde_json::to_string(key).unwrap()
    )));
    assert!(found(&format!("a={}", percent(&percent(key, false), true))));
    assert!(
        !found(&format!("…{}…", &key[10..21])),
        "a run of 11 is no leak"
    );
    assert!(!found(
        "level=warn msg=\"API request failed\" reason=unauthorized"
    ));
}
