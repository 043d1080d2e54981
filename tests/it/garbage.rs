//! Property tests: no input makes the parser or the aggregation panic,
//! whatever they accept adds up, and the parser reads a body exactly as
//! serde_json does.
//!
//! Arbitrary bytes, arbitrary JSON values, and arbitrary session lists go
//! through the same parse-and-fold path a scrape uses: sessions in the
//! docs' four fields and in the SDKs' shape (URLs with tokens, free-text
//! goals written with any escape), with statuses of either vocabulary, one
//! shape and vocabulary to a body or a mix of them, fields of every type,
//! in both key spellings, wrapped or bare (`support::bodies`). The parser's
//! own JSON reader is held to serde_json's verdict on the same bodies,
//! damaged in a few places so that most of them are not JSON any more.

use std::borrow::Cow;
use std::sync::Arc;

use agi_exporter::{
    Aggregator, FetchTimes, Field, Limits, Redactor, SessionTracker, Snapshot, parse_sessions,
};
use proptest::prelude::*;
use proptest::sample::Index;
use serde::de::IgnoredAny;

use crate::support::bodies::{any_body, any_json, any_session, written_body};
use crate::support::contract::{assert_consistent, assert_lifecycle_consistent};
use crate::support::serde_model::{Sessions, has_several_list_keys, parsed, reference};
use serde_json::{Value, json};

const LIMITS: Limits = Limits {
    agents_max: 3,
    top_oldest: 2,
};

/// Parses and folds like a scrape does; `Ok` carries the session count the
/// parser reported and the snapshot. What the fetch adds to the lifecycle
/// totals is checked here.
pub(crate) fn fold(body: &[u8], tracker: &mut SessionTracker) -> Result<(usize, Snapshot), String> {
    let redactor = Arc::new(Redactor::new("the-key-of-this-test"));
    let times = FetchTimes {
        sent_at: 1_800_000_000_000,
        received_at: 1_800_000_000_000,
    };
    let before = tracker.lifecycle();
    let mut aggregator = Aggregator::new(LIMITS, tracker, &redactor, times);
    let count = parse_sessions(body, &mut aggregator).map_err(|e| e.to_string())?;
    let snapshot = aggregator.finish();
    assert_lifecycle_consistent(&before, &tracker.lifecycle(), count, LIMITS);
    Ok((count, snapshot))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok((count, snapshot)) = fold(&bytes, &mut SessionTracker::new(LIMITS.agents_max)) {
            assert_consistent(count, &snapshot, LIMITS);
        }
    }

    #[test]
    fn arbitrary_json_never_panics(value in any_json()) {
        let body = serde_json::to_vec(&value).unwrap();
        if let Ok((count, snapshot)) = fold(&body, &mut SessionTracker::new(LIMITS.agents_max)) {
            assert_consistent(count, &snapshot, LIMITS);
        }
    }

}

proptest! {
    // Whole session lists are costly to generate: fewer cases, still varied.
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn session_lists_of_any_shape_are_accepted_and_add_up(
        first in any_body(),
        second in any_body(),
    ) {
        let mut transitions = SessionTracker::new(LIMITS.agents_max);
        for value in [&first, &second] {
            let body = serde_json::to_vec(value).unwrap();
            let expected = match value {
                Value::Array(list) => list.len(),
                other => other.as_object().and_then(|o| o.values().find_map(Value::as_array)).map_or(0, Vec::len),
            };
            let (count, snapshot) = fold(&body, &mut transitions).unwrap();
            prop_assert_eq!(count, expected);
            assert_consistent(count, &snapshot, LIMITS);
        }
    }

    #[test]
    fn session_lists_written_alike_are_accepted_and_add_up(
        first in written_body(),
        second in written_body(),
    ) {
        let mut transitions = SessionTracker::new(LIMITS.agents_max);
        for body in [&first, &second] {
            let listed = serde_json::from_slice::<Vec<IgnoredAny>>(body).map(|list| list.len());
            let (count, snapshot) = fold(body, &mut transitions).unwrap();
            prop_assert_eq!(Ok(count), listed.map_err(|e| e.to_string()));
            assert_consistent(count, &snapshot, LIMITS);
        }
    }

    #[test]
    fn truncated_session_lists_are_refused_without_panicking(
        body in prop_oneof![any_body().prop_map(|value| serde_json::to_vec(&value).unwrap()), written_body()],
        cut in 0.0f64..1.0,
    ) {
        let end = ((body.len() as f64) * cut) as usize;
        if end < body.len() {
            prop_assert!(fold(&body[..end], &mut SessionTracker::new(LIMITS.agents_max)).is_err());
        }
    }
}

/// What the parser must make of a body serde_json reads as the `Value`
/// `value`, by the rules of the contract, stated apart from the parser:
/// `Some(None)` when it must refuse it, `None` when a `Value` cannot tell
/// (it does not keep the order of keys, which decides between two
/// spellings of a field or two wrapped lists).
fn expected(value: &Value) -> Option<Option<Sessions>> {
    let list = match value {
        Value::Array(list) => Some(list),
        Value::Object(object) => {
            let mut wrapped = ["sessions", "data", "items"]
                .into_iter()
                .filter_map(|key| object.get(key));
            match (wrapped.next(), wrapped.next()) {
                (Some(_), Some(_)) => return None,
                (Some(Value::Array(list)), None) => Some(list),
                _ => None,
            }
        }
        _ => None,
    };
    let Some(list) = list else {
        return Some(None);
    };
    let mut sessions = Vec::new();
    for session in list {
        let Value::Object(session) = session else {
            return Some(None);
        };
        let mut fields = [const { Field::Missing }; 4];
        for (field, names) in fields.iter_mut().zip([
            &["session_id", "sessionId"][..],
            &["agent_name", "agentName"],
            &["status"],
            &["created_at", "createdAt"],
        ]) {
            let mut values = names.iter().filter_map(|name| session.get(*name));
            *field = match (values.next(), values.next()) {
                (_, Some(_)) => return None,
                (None | Some(Value::Null), None) => Field::Missing,
                (Some(Value::String(text)), None) if text.trim().is_empty() => Field::Missing,
                (Some(Value::String(text)), None) => Field::Value(Cow::Owned(text.clone())),
                (Some(_), None) => Field::Invalid,
            };
        }
        sessions.push(fields);
    }
    Some(Some(sessions))
}

/// Holds the parser to serde_json on `body`: exactly the serde model's
/// verdict and fields; and, where serde_json reads the body into a `Value`,
/// the contract's reading of that `Value`, except for the one documented
/// difference (several list keys: the first list is folded).
fn agrees_with_serde_json(body: &[u8]) -> Result<(), TestCaseError> {
    let ours = parsed(body);
    prop_assert_eq!(&ours, &reference(body), "{}", String::from_utf8_lossy(body));
    match serde_json::from_slice::<Value>(body) {
        // The documented difference, and the only one: a `Value` keeps the
        // last of a repeated key, the parser folds the first list (checked
        // against the serde model above).
        Ok(_) if has_several_list_keys(body) => {}
        Ok(value) => {
            if let Some(expected) = expected(&value) {
                prop_assert_eq!(ours, expected, "{}", String::from_utf8_lossy(body));
            }
        }
        // Not JSON at all: refused.
        Err(_) if serde_json::from_slice::<IgnoredAny>(body).is_err() => {
            prop_assert!(ours.is_none(), "{}", String::from_utf8_lossy(body));
        }
        // JSON that a `Value` cannot hold (a skipped string that is not
        // UTF-8, a skipped number out of range, nesting past 128): checked
        // against the serde model above, which skips it as the parser does.
        Err(_) => {}
    }
    Ok(())
}

/// Up to three changes to a body: punctuation swapped for other punctuation
/// (where a change matters most), bytes removed, replaced or inserted, with
/// the bytes that matter to JSON (and two that are not UTF-8).
pub(crate) fn damage() -> impl Strategy<Value = Vec<(u8, Index, Index)>> {
    prop::collection::vec((0..5u8, any::<Index>(), any::<Index>()), 0..4)
}

/// Pieces that touch the rules beyond syntax: half a surrogate pair, an
/// escaped key, a number out of range, a second list key.
const FRAGMENTS: [&[u8]; 8] = [
    br"\ud800",
    br"\udc00",
    br"\u0061",
    b"1e999",
    b"-1e400",
    br#""sessions":"#,
    br#","data":[]"#,
    b"\xff",
];

pub(crate) fn damaged(mut body: Vec<u8>, damage: &[(u8, Index, Index)]) -> Vec<u8> {
    const BYTES: &[u8] = b"\"\\{}[],:0-+.eEtrufn/ \t\n\x00\x1f\xe9\xff";
    const PUNCTUATION: &[u8] = b"\"\\{}[],:";
    for (kind, at, byte) in damage {
        let punctuation: Vec<usize> = (0..body.len())
            .filter(|&i| PUNCTUATION.contains(&body[i]))
            .collect();
        let anywhere = at.index(body.len().max(1));
        match kind {
            0 if !punctuation.is_empty() => {
                body[*at.get(&punctuation)] = *byte.get(PUNCTUATION);
            }
            1 if !body.is_empty() => drop(body.remove(anywhere)),
            2 if !body.is_empty() => body[anywhere] = *byte.get(BYTES),
            3 => body.insert(anywhere.min(body.len()), *byte.get(BYTES)),
            _ => {
                let at = anywhere.min(body.len());
                body.splice(at..at, byte.get(&FRAGMENTS).iter().copied());
            }
        }
    }
    body
}

pub(crate) fn serialized(value: &Value, pretty: bool) -> Result<Vec<u8>, TestCaseError> {
    let body = if pretty {
        serde_json::to_vec_pretty(value)
    } else {
        serde_json::to_vec(value)
    };
    body.map_err(|error| TestCaseError::fail(error.to_string()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn damaged_session_lists_are_read_as_serde_json_reads_them(
        value in any_body(),
        pretty in any::<bool>(),
        damage in damage(),
    ) {
        agrees_with_serde_json(&damaged(serialized(&value, pretty)?, &damage))?;
    }

    #[test]
    fn damaged_sessions_written_alike_are_read_as_serde_json_reads_them(
        body in written_body(),
        damage in damage(),
    ) {
        agrees_with_serde_json(&damaged(body, &damage))?;
    }

    #[test]
    fn damaged_extra_fields_are_skipped_as_serde_json_skips_them(
        value in any_json(),
        pretty in any::<bool>(),
        damage in damage(),
    ) {
        let extra = damaged(serialized(&value, pretty)?, &damage);
        let body = [&br#"[{"status":"ready","extra":"#[..], &extra, b"}]"].concat();
        agrees_with_serde_json(&body)?;
    }
}

/// An object with several list keys, written by hand (a `Value` cannot hold
/// a repeated key), in the order given.
fn several_lists(lists: &[(&str, Value)]) -> Vec<u8> {
    let entries: Vec<String> = lists
        .iter()
        .map(|(key, list)| format!("\"{key}\":{list}"))
        .collect();
    format!("{{{}}}", entries.join(",")).into_bytes()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// The one documented difference from reading the body into a
    /// serde_json `Value`: with several list keys, or one key twice, the
    /// first list is folded and the others are only checked for syntax.
    #[test]
    fn several_list_keys_fold_the_first_list(
        keys in prop::collection::vec(prop::sample::select(vec!["sessions", "data", "items"]), 2..4),
        lists in prop::collection::vec(prop::collection::vec(any_session(), 0..4), 4),
        last_not_a_list in any::<bool>(),
    ) {
        let mut entries: Vec<(&str, Value)> = keys
            .iter()
            .zip(&lists)
            .map(|(key, list)| (*key, Value::Array(list.clone())))
            .collect();
        if last_not_a_list {
            let last = entries.len() - 1;
            entries[last].1 = json!({"not": "a list"});
        }
        let body = several_lists(&entries);
        let first = serde_json::to_vec(&entries[0].1).unwrap();
        prop_assert_eq!(parsed(&body), parsed(&first), "{}", String::from_utf8_lossy(&body));
        agrees_with_serde_json(&body)?;
        // Where the same key comes twice, a `Value` keeps the last list.
        if let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(&body) {
            let key = entries[0].0;
            let last = entries.iter().rev().find(|(k, _)| *k == key).map(|(_, v)| v);
            // As read back by serde_json (floats need not round-trip).
            let last = last.and_then(|v| serde_json::from_str::<Value>(&v.to_string()).ok());
            prop_assert_eq!(object.get(key), last.as_ref());
        }
    }
}

#[test]
fn pathological_bodies_are_refused_or_survived() {
    let huge_string = format!(r#"[{{"status":"{}"}}]"#, "x".repeat(8 << 20));
    let deep = format!("{}{}", "[".repeat(50_000), "]".repeat(50_000));
    let mut invalid_utf8 = br#"[{"status":""#.to_vec();
    invalid_utf8.extend_from_slice(&[0xff, 0xfe, 0x80]);
    invalid_utf8.extend_from_slice(br#""}]"#);
    let cases: Vec<(&str, Vec<u8>, bool)> = vec![
        ("empty", Vec::new(), false),
        ("null", b"null".to_vec(), false),
        ("number", b"12345".to_vec(), false),
        ("deeply nested", deep.into_bytes(), false),
        ("invalid UTF-8", invalid_utf8, false),
        ("truncated", br#"[{"status":"running","#.to_vec(), false),
        ("huge string", huge_string.into_bytes(), true),
        ("NUL bytes", b"\0\0\0".to_vec(), false),
    ];
    for (name, body, accepted) in cases {
        let result = fold(&body, &mut SessionTracker::new(LIMITS.agents_max));
        assert_eq!(
            result.is_ok(),
            accepted,
            "{name}: {:?}",
            result.as_ref().err()
        );
        if let Ok((count, snapshot)) = result {
            assert_consistent(count, &snapshot, LIMITS);
        }
    }
}
