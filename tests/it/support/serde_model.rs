//! serde_json's reading of a session list, written with serde's own traits
//! and nothing of the parser: the reference the property tests and the
//! differential fuzz target hold the parser to; and the parser's reading of
//! the same body, in the same form.

use std::borrow::Cow;

use agi_exporter::{Field, SessionRecord, SessionSink, parse_sessions};
use serde::de::IgnoredAny;

/// The fields of the sessions of a body, owned.
pub type Sessions = Vec<[Field<'static>; 4]>;

/// What the parser makes of a body: the sessions, or `None` if it refuses it.
pub fn parsed(body: &[u8]) -> Option<Sessions> {
    let mut sink = Collect::default();
    parse_sessions(body, &mut sink).ok().map(|_| sink.0)
}

/// Collects owned copies of what the parser reports.
#[derive(Debug, Default, PartialEq)]
pub struct Collect(pub Sessions);

impl SessionSink for Collect {
    fn session(&mut self, session: &SessionRecord<'_>) {
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

/// What the parser must make of a body: serde_json's verdict and fields when
/// it reads the body with the serde model of the contract (README, "What
/// the exporter accepts"), written here with serde's own traits, apart from
/// the parser:
///
/// - the body is a list of sessions, or an object whose keys are read as
///   text and whose first `sessions`, `data` or `items` key holds the list;
///   every other value of that object is skipped (`IgnoredAny`);
/// - a session is an object whose keys are read as text; the values of the
///   four fields go through `deserialize_any` (a string is the field, `null`
///   or a blank string is missing, anything else is invalid, and an object
///   there has its keys read as text); every other value is skipped.
///
/// `None` when serde_json refuses the body.
pub fn reference(body: &[u8]) -> Option<Sessions> {
    use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
    use std::fmt;

    struct Body;
    impl<'de> Visitor<'de> for Body {
        type Value = Sessions;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a session list")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Sessions, A::Error> {
            List.visit_seq(seq)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Sessions, A::Error> {
            let mut found = None;
            while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                if matches!(key.as_ref(), "sessions" | "data" | "items") && found.is_none() {
                    found = Some(map.next_value_seed(List)?);
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            found.ok_or_else(|| de::Error::custom("no session list"))
        }
    }

    struct List;
    impl<'de> DeserializeSeed<'de> for List {
        type Value = Sessions;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Sessions, D::Error> {
            d.deserialize_seq(self)
        }
    }
    impl<'de> Visitor<'de> for List {
        type Value = Sessions;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of sessions")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Sessions, A::Error> {
            let mut sessions = Vec::new();
            while let Some(OneSession(fields)) = seq.next_element()? {
                sessions.push(fields);
            }
            Ok(sessions)
        }
    }

    struct OneSession([Field<'static>; 4]);
    impl<'de> de::Deserialize<'de> for OneSession {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_map(SessionVisitor)
        }
    }
    struct SessionVisitor;
    impl<'de> Visitor<'de> for SessionVisitor {
        type Value = OneSession;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a session object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OneSession, A::Error> {
            let mut fields = [const { Field::Missing }; 4];
            while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                let slot = match key.as_ref() {
                    "session_id" | "sessionId" => 0,
                    "agent_name" | "agentName" => 1,
                    "status" => 2,
                    "created_at" | "createdAt" => 3,
                    _ => {
                        map.next_value::<IgnoredAny>()?;
                        continue;
                    }
                };
                fields[slot] = map.next_value::<FieldValue>()?.0;
            }
            Ok(OneSession(fields))
        }
    }

    struct FieldValue(Field<'static>);
    impl<'de> de::Deserialize<'de> for FieldValue {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(FieldVisitor).map(FieldValue)
        }
    }
    struct FieldVisitor;
    impl<'de> Visitor<'de> for FieldVisitor {
        type Value = Field<'static>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("any value")
        }
        fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
            Ok(if text.trim().is_empty() {
                Field::Missing
            } else {
                Field::Value(Cow::Owned(text.to_owned()))
            })
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Field::Missing)
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok(Field::Invalid)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok(Field::Invalid)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok(Field::Invalid)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok(Field::Invalid)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(Field::Invalid)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(Field::Invalid)
        }
    }

    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let sessions = deserializer.deserialize_any(Body).ok()?;
    deserializer.end().ok()?;
    Some(sessions)
}

/// Whether the body is an object with more than one list key (or one key
/// twice) at its top level: where the contract folds the first list, and a
/// `Value` keeps the last of a repeated key.
pub fn has_several_list_keys(body: &[u8]) -> bool {
    use serde::de::{Deserializer, MapAccess, Visitor};
    struct Count;
    impl<'de> Visitor<'de> for Count {
        type Value = usize;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<usize, A::Error> {
            let mut count = 0;
            while let Some((key, _)) = map.next_entry::<Cow<'de, str>, IgnoredAny>()? {
                count += usize::from(matches!(key.as_ref(), "sessions" | "data" | "items"));
            }
            Ok(count)
        }
    }
    serde_json::Deserializer::from_slice(body)
        .deserialize_map(Count)
        .is_ok_and(|count| count > 1)
}
