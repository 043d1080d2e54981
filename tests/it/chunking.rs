//! Chunking never changes a result (README, Performance): the stream that
//! reads a body as it arrives gives, for any cut of the body into chunks
//! (one byte each included), exactly the sessions, the aggregate, or the
//! error with its line and column, that reading the whole body at once
//! gives. Bodies come valid, damaged, deeply nested and not UTF-8, with
//! sessions in both shapes (the SDKs' goals and URLs written with every
//! escape JSON allows) and both vocabularies.

use std::sync::Arc;

use agi_exporter::{
    Aggregator, FetchTimes, Redactor, SessionSink, SessionStream, SessionTracker, Snapshot,
    parse_sessions,
};
use proptest::prelude::*;

use crate::garbage::{damage, damaged, serialized};
use crate::support::bodies::{GOALS, SdkSession, Spacing, session_text};
use crate::support::bodies::{any_body, any_json, written_body};
use crate::support::serde_model::{Collect, reference};

/// Reads `body` in chunks of the sizes given (cycled; 0 is read as 1).
fn stream<S: SessionSink>(body: &[u8], sizes: &[usize], sink: &mut S) -> Result<usize, String> {
    let mut stream = SessionStream::new(sink);
    let mut rest = body;
    for size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (chunk, after) = rest.split_at((*size).clamp(1, rest.len()));
        stream.feed(chunk).map_err(|e| e.to_string())?;
        rest = after;
    }
    stream.finish().map_err(|e| e.to_string())
}

/// The sessions seen and the verdict, from the whole body and from each
/// chunking, must be the same; and so must the aggregate.
fn same_under_chunking(body: &[u8], sizes: &[usize]) -> Result<(), TestCaseError> {
    let mut whole = Collect::default();
    let whole_verdict = parse_sessions(body, &mut whole).map_err(|e| e.to_string());
    for sizes in [sizes, &[1][..]] {
        let mut chunked = Collect::default();
        let chunked_verdict = stream(body, sizes, &mut chunked);
        prop_assert_eq!(
            &chunked_verdict,
            &whole_verdict,
            "chunks {:?} of {}",
            sizes,
            String::from_utf8_lossy(body)
        );
        prop_assert_eq!(&chunked, &whole, "chunks {:?}", sizes);
    }
    if whole_verdict.is_ok() {
        prop_assert_eq!(aggregate(body, None), aggregate(body, Some(sizes)));
    }
    Ok(())
}

/// The snapshot of a first fetch of `body`, read whole or in chunks.
fn aggregate(body: &[u8], sizes: Option<&[usize]>) -> Option<Snapshot> {
    let redactor = Arc::new(Redactor::new("the-key-of-this-test"));
    let times = FetchTimes {
        sent_at: 1_800_000_000_000,
        received_at: 1_800_000_000_000,
    };
    let mut tracker = SessionTracker::new(3);
    let mut aggregator = Aggregator::new(
        agi_exporter::Limits {
            agents_max: 3,
            top_oldest: 2,
        },
        &mut tracker,
        &redactor,
        times,
    );
    let read = match sizes {
        None => parse_sessions(body, &mut aggregator).map_err(|e| e.to_string()),
        Some(sizes) => stream(body, sizes, &mut aggregator),
    };
    read.ok().map(|_| aggregator.finish())
}

fn chunk_sizes() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(prop_oneof![1..4usize, 1..40usize, 1..5000usize], 1..8)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn damaged_session_lists_read_the_same_in_any_chunks(
        value in any_body(),
        pretty in any::<bool>(),
        damage in damage(),
        sizes in chunk_sizes(),
    ) {
        same_under_chunking(&damaged(serialized(&value, pretty)?, &damage), &sizes)?;
    }

    #[test]
    fn damaged_sessions_written_alike_read_the_same_in_any_chunks(
        body in written_body(),
        damage in damage(),
        sizes in chunk_sizes(),
    ) {
        same_under_chunking(&damaged(body, &damage), &sizes)?;
    }

    #[test]
    fn damaged_extra_fields_read_the_same_in_any_chunks(
        value in any_json(),
        pretty in any::<bool>(),
        damage in damage(),
        sizes in chunk_sizes(),
    ) {
        let extra = damaged(serialized(&value, pretty)?, &damage);
        let body = [&br#"{"data":1,"sessions":[{"status":"ready","extra":"#[..], &extra, b"}]}"].concat();
        same_under_chunking(&body, &sizes)?;
    }

    #[test]
    fn deep_and_non_utf8_bodies_read_the_same_in_any_chunks(
        depth in 0..300usize,
        closed in any::<bool>(),
        bad in prop::collection::vec(prop::sample::select(vec![0xffu8, 0xc3, 0xe2, 0x82, 0xf0]), 0..3),
        in_field in any::<bool>(),
        sizes in chunk_sizes(),
    ) {
        let nested = format!("{}{}", "[".repeat(depth), if closed { "]".repeat(depth) } else { String::new() });
        let mut text = b"caf\xc3\xa9 ".to_vec();
        text.extend_from_slice(&bad);
        let (extra, status): (Vec<u8>, Vec<u8>) = if in_field {
            (b"0".to_vec(), text)
        } else {
            (text, b"running".to_vec())
        };
        let body = [
            &b"[{\"nested\":"[..], nested.as_bytes(), b",\"note\":\"", &extra,
            b"\",\"status\":\"", &status, b"\",\"agent_name\":\"agi-\xc3\xa9\"},{\"status\":\"paused\"}]",
        ].concat();
        same_under_chunking(&body, &sizes)?;
    }
}

#[test]
fn a_session_as_large_as_the_body_is_read_in_linear_time() {
    // One session with an 8 MiB extra field, in 1 KiB chunks: each attempt
    // that falls short waits for twice the bytes, so the field is read a
    // few times over, not once per chunk (8192 chunks).
    let body = format!(
        r#"[{{"status":"running","blob":"{}","agent_name":"agi-0"}}]"#,
        "x".repeat(8 << 20)
    );
    let mut sink = Collect::default();
    assert_eq!(stream(body.as_bytes(), &[1024], &mut sink), Ok(1));
    assert_eq!(sink.0.len(), 1);
}

#[test]
fn an_error_stops_the_stream_with_the_whole_body_s_line_and_column() {
    let body = b"[\n  {\"status\": \"running\"},\n  {\"status\": runn}\n]";
    let whole = parse_sessions(body, &mut Collect::default())
        .map_err(|e| e.to_string())
        .unwrap_err();
    assert_eq!(whole, "expected a JSON value at line 3 column 14");
    let mut sink = Collect::default();
    let mut stream = SessionStream::new(&mut sink);
    let mut errors = Vec::new();
    for chunk in body.chunks(3) {
        if let Err(error) = stream.feed(chunk) {
            errors.push(error.to_string());
        }
    }
    errors.extend(stream.finish().err().map(|e| e.to_string()));
    // Once found (by the last chunk at the latest, else at the end), the
    // error is the same, and every call after it gives it again.
    assert!(!errors.is_empty());
    assert!(errors.iter().all(|error| *error == whole), "{errors:?}");
    assert_eq!(sink.0.len(), 1, "the session before the error was read");
}

#[test]
fn chunks_cut_every_token_of_a_wrapped_body() {
    let body = serde_json::to_vec_pretty(&serde_json::json!({
        "total": 2, "meta": {"next": null, "tags": ["a", "b"], "ratio": -1.5e3, "ok": true},
        "items": [
            {"sessionId": "s1", "agentName": "agi-0", "status": "running", "createdAt": "2025-10-05T18:04:34Z"},
            {"session_id": "s\u{e9}2", "agent_name": "agi-1", "status": "error", "created_at": null, "n": 12345}
        ],
        "after": false
    }))
    .unwrap();
    let expected: Result<usize, String> = Ok(2);
    for size in 1..=body.len() {
        let mut sink = Collect::default();
        assert_eq!(
            stream(&body, &[size], &mut sink),
            expected,
            "chunks of {size}"
        );
    }
}

#[test]
fn chunks_cut_every_escape_of_sessions_in_the_sdks_shape() {
    // Goals with quotes, backslashes, JSON look-alikes and control
    // characters, and URLs, written with every kind of escape (letters
    // escaped too, in the last one).
    let styles = [
        0x5555_5555_5555_5555,
        0xa5a5_a5a5_a5a5_a5a1,
        0xffff_0000_ffff_0008,
    ];
    let sessions: Vec<String> = [GOALS[2], GOALS[4], GOALS[6]]
        .into_iter()
        .zip(styles)
        .map(|(goal, style)| {
            let session = SdkSession {
                session_id: "s-\u{e9}",
                agent_name: "agi-1",
                status: "waiting_for_input",
                created_at: "2026-11-30T10:00:00Z",
                vnc_url: "https://vnc.agi.example/session/s?token=tok-A1b2C3d4E5f6",
                agent_url: "https://agent.agi.example/v1/s?token=tok-A1b2\"}",
                environment_id: "env-0a1b2c3d",
                goal,
                agent_session_type: "desktop",
            };
            session_text(&session.members(style), Spacing::COMPACT)
        })
        .collect();
    let body = format!("[{}]", sessions.join(",")).into_bytes();
    let mut whole = Collect::default();
    assert_eq!(
        parse_sessions(&body, &mut whole).map_err(|e| e.to_string()),
        Ok(3)
    );
    assert_eq!(Some(&whole.0), reference(&body).as_ref());
    for size in 1..=body.len() {
        let mut chunked = Collect::default();
        assert_eq!(
            stream(&body, &[size], &mut chunked),
            Ok(3),
            "chunks of {size}"
        );
        assert_eq!(chunked, whole, "chunks of {size}");
    }
}

#[test]
fn a_session_over_32_mib_is_refused_the_same_whole_or_in_chunks() {
    let session = |blob: usize| {
        format!(
            "[{{\"status\":\"running\"}},\n {{\"status\":\"running\",\"blob\":\"{}\"}}]",
            "x".repeat(blob)
        )
    };
    let over = session(33 << 20);
    let whole = parse_sessions(over.as_bytes(), &mut Collect::default()).map_err(|e| e.to_string());
    assert_eq!(
        whole,
        Err(
            "a session, or a value of the wrapping object, larger than 32 MiB at line 2 column 2"
                .to_owned()
        )
    );
    for size in [4096, 1 << 20, 9 << 20] {
        assert_eq!(
            stream(over.as_bytes(), &[size], &mut Collect::default()),
            whole,
            "{size}"
        );
    }
    let under = session(31 << 20);
    assert_eq!(
        parse_sessions(under.as_bytes(), &mut Collect::default()).map_err(|e| e.to_string()),
        Ok(2)
    );
    assert_eq!(
        stream(under.as_bytes(), &[64 << 10], &mut Collect::default()),
        Ok(2)
    );
}
