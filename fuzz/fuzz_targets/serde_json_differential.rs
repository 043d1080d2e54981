//! The parser against serde_json on arbitrary bytes: the same verdict and
//! the same four fields per session as serde_json reading the body with the
//! contract's serde model (`tests/it/support/serde_model.rs`, shared with the
//! property tests).

#![no_main]

use std::borrow::Cow;

use agi_exporter::{Field, SessionRecord, SessionSink, parse_sessions};
use libfuzzer_sys::fuzz_target;

#[path = "../../tests/it/support/serde_model.rs"]
#[allow(dead_code)]
mod serde_model;

#[derive(Default)]
struct Collect(serde_model::Sessions);

impl SessionSink for Collect {
    fn session(&mut self, session: SessionRecord<'_>) {
        let owned = |field: &Field<'_>| match field {
            Field::Value(text) => Field::Value(Cow::Owned(text.to_string())),
            Field::Missing => Field::Missing,
            Field::Invalid => Field::Invalid,
        };
        self.0.push(
            [
                &session.session_id,
                &session.agent_name,
                &session.status,
                &session.created_at,
            ]
            .map(owned),
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let mut sink = Collect::default();
    let ours = parse_sessions(data, &mut sink).ok().map(|_| sink.0);
    let reference = serde_model::reference(data);
    assert_eq!(
        ours,
        reference,
        "the parser and serde_json disagree on {:?}",
        String::from_utf8_lossy(data)
    );
});
