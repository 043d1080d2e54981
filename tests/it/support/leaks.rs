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
    let runs = Runs::of(secrets, run);
    let once = unescaped(text);
    let twice = unescaped(&once);
    for (i, view) in [text, &once, &twice].into_iter().enumerate() {
        if i > 0 && view == text {
            continue; // nothing to undo
        }
        let bytes = view.as_bytes();
        if let Some(found) = runs.first_in(bytes) {
            let piece = &bytes[found.clone()];
            let secret = secrets
                .iter()
                .find(|secret| secret.as_bytes().windows(piece.len()).any(|w| w == piece))
                .map_or("", String::as_str);
            let start = bytes[..found.start]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |n| n + 1);
            let end = bytes[found.end..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(bytes.len(), |n| found.end + n);
            panic!(
                "{:?} (part of {secret:?}) leaked into {source}: {}",
                String::from_utf8_lossy(piece),
                String::from_utf8_lossy(&bytes[start..end])
            );
        }
    }
}

/// Every run of a given length of some secrets, each packed into a number
/// and sorted, so that a text is searched in one pass (the tests are built
/// without optimisation, where a search per run took seconds on a large
/// log).
struct Runs {
    /// For each run length, the runs of that length.
    by_length: Vec<(usize, Vec<u128>)>,
}

impl Runs {
    /// The runs of `run` bytes of each secret (a shorter secret whole).
    fn of(secrets: &[String], run: usize) -> Runs {
        assert!(run <= 16, "a run packs into 16 bytes");
        let mut by_length: Vec<(usize, Vec<u128>)> = Vec::new();
        for secret in secrets {
            let length = run.min(secret.len());
            let packed = secret.as_bytes().windows(length).map(pack);
            match by_length.iter_mut().find(|(l, _)| *l == length) {
                Some((_, runs)) => runs.extend(packed),
                None => by_length.push((length, packed.collect())),
            }
        }
        for (_, runs) in &mut by_length {
            runs.sort_unstable();
        }
        Runs { by_length }
    }

    /// Where in `text` the first run is, if any.
    fn first_in(&self, text: &[u8]) -> Option<std::ops::Range<usize>> {
        self.by_length.iter().find_map(|(length, runs)| {
            text.windows(*length)
                .position(|window| runs.binary_search(&pack(window)).is_ok())
                .map(|at| at..at + length)
        })
    }
}

/// Up to 16 bytes as one number.
fn pack(bytes: &[u8]) -> u128 {
    let mut packed = [0u8; 16];
    packed[..bytes.len()].copy_from_slice(bytes);
    u128::from_le_bytes(packed)
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
