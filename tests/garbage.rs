//! Property tests: no input makes the parser or the aggregation panic, and
//! whatever they accept adds up.
//!
//! Arbitrary bytes, arbitrary JSON values, and arbitrary session lists (with
//! fields of every type, in both key spellings, wrapped or bare) go through
//! the same parse-and-fold path a scrape uses.

use agi_exporter::aggregate::{Aggregator, DOCUMENTED_STATUSES, Limits, Snapshot, Transitions};
use agi_exporter::api::parse::parse_sessions;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

const LIMITS: Limits = Limits {
    agents_max: 3,
    top_oldest: 2,
};

/// Parses and folds like a scrape does; `Ok` carries the session count the
/// parser reported and the snapshot.
fn fold(body: &[u8], transitions: &mut Transitions) -> Result<(usize, Snapshot), String> {
    let mut aggregator = Aggregator::new(LIMITS, transitions);
    let count = parse_sessions(body, &mut aggregator).map_err(|e| e.to_string())?;
    let (snapshot, update) = aggregator.finish();
    transitions.commit(update);
    Ok((count, snapshot))
}

/// What every accepted body's snapshot must satisfy.
fn assert_consistent(count: usize, snapshot: &Snapshot) {
    assert_eq!(snapshot.sessions, count as u64);
    let by_status: u64 = snapshot.statuses.iter().map(|s| s.count).sum();
    assert_eq!(by_status, snapshot.sessions, "statuses add up");
    let by_agent: u64 = snapshot
        .agents
        .iter()
        .flat_map(|a| a.statuses.iter().map(|(_, n)| n))
        .sum();
    assert_eq!(by_agent, snapshot.sessions, "agents add up");
    for status in DOCUMENTED_STATUSES {
        assert!(
            snapshot.statuses.iter().any(|s| s.status == status),
            "{status} present"
        );
    }
    assert!(
        snapshot.agents.len() <= LIMITS.agents_max + 1,
        "agent guard"
    );
    assert!(
        snapshot.statuses.len() <= DOCUMENTED_STATUSES.len() + 20 + 2,
        "status guard"
    );
    assert!(snapshot.oldest_sessions.len() <= LIMITS.top_oldest);
    for field in snapshot.invalid_fields {
        assert!(field <= snapshot.sessions);
    }
    let entered: u64 = snapshot.transitions.iter().map(|(_, n)| n).sum();
    assert!(entered <= snapshot.sessions);
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A field value: usually a plausible string, sometimes anything at all.
fn field_value(plausible: &'static [&'static str]) -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        4 => prop::sample::select(plausible).prop_map(|s| Some(json!(s))),
        1 => ".{0,20}".prop_map(|s| Some(json!(s))),
        1 => any_json().prop_map(Some),
        1 => Just(None),
    ]
}

fn any_session() -> impl Strategy<Value = Value> {
    (
        field_value(&["a", "b", "c", "d", "e", "f"]),
        field_value(&["agi-0", "agi-1", "agi-2-claude", "agi-2-qwen", "agi-0-fast"]),
        field_value(&[
            "initializing",
            "ready",
            "running",
            "paused",
            "completed",
            "error",
            "terminated",
            "waiting_for_input",
        ]),
        field_value(&[
            "2025-10-05T18:04:34.281Z",
            "2025-10-05T18:04:34",
            "2025-10-05T20:04:34.123456789+02:00",
            "2099-01-01T00:00:00Z",
            "not a date",
        ]),
        any::<bool>(),
        prop::collection::btree_map("[a-z]{1,6}", any_json(), 0..3),
    )
        .prop_map(|(id, agent, status, created, camel, extra)| {
            let mut object: Map<String, Value> = extra.into_iter().collect();
            let keys = if camel {
                ["sessionId", "agentName", "status", "createdAt"]
            } else {
                ["session_id", "agent_name", "status", "created_at"]
            };
            for (key, value) in keys.into_iter().zip([id, agent, status, created]) {
                if let Some(value) = value {
                    object.insert(key.to_owned(), value);
                }
            }
            Value::Object(object)
        })
}

fn any_body() -> impl Strategy<Value = Value> {
    (
        prop::collection::vec(any_session(), 0..16),
        prop::sample::select(vec!["", "sessions", "data", "items"]),
    )
        .prop_map(|(sessions, wrapper)| {
            if wrapper.is_empty() {
                Value::Array(sessions)
            } else {
                json!({ wrapper: sessions, "total": 1 })
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok((count, snapshot)) = fold(&bytes, &mut Transitions::default()) {
            assert_consistent(count, &snapshot);
        }
    }

    #[test]
    fn arbitrary_json_never_panics(value in any_json()) {
        let body = serde_json::to_vec(&value).unwrap();
        if let Ok((count, snapshot)) = fold(&body, &mut Transitions::default()) {
            assert_consistent(count, &snapshot);
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
        let mut transitions = Transitions::default();
        for value in [&first, &second] {
            let body = serde_json::to_vec(value).unwrap();
            let expected = match value {
                Value::Array(list) => list.len(),
                other => other.as_object().and_then(|o| o.values().find_map(Value::as_array)).map_or(0, Vec::len),
            };
            let (count, snapshot) = fold(&body, &mut transitions).unwrap();
            prop_assert_eq!(count, expected);
            assert_consistent(count, &snapshot);
        }
    }

    #[test]
    fn truncated_session_lists_are_refused_without_panicking(value in any_body(), cut in 0.0f64..1.0) {
        let body = serde_json::to_vec(&value).unwrap();
        let end = ((body.len() as f64) * cut) as usize;
        if end < body.len() {
            prop_assert!(fold(&body[..end], &mut Transitions::default()).is_err());
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
        let result = fold(&body, &mut Transitions::default());
        assert_eq!(
            result.is_ok(),
            accepted,
            "{name}: {:?}",
            result.as_ref().err()
        );
        if let Ok((count, snapshot)) = result {
            assert_consistent(count, &snapshot);
        }
    }
}
