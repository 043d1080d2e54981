//! The tolerant, streaming parser for `GET /v1/sessions` bodies.
//!
//! The documented answer is a bare JSON array of sessions; the public SDKs
//! also wrap it in an object under `sessions`, `data` or `items`, and write
//! keys in snake_case or camelCase. This parser accepts all of those, ignores
//! extra fields, and never fails a scrape over one session's missing or odd
//! field: such a field is reported as [`Field::Missing`] or
//! [`Field::Invalid`] and the aggregate decides what to do with it.
//!
//! Sessions are handed to a [`SessionSink`] one by one while the body is
//! being deserialized (a serde `DeserializeSeed`), so no `Vec` of sessions and
//! no `serde_json::Value` tree is ever built. Strings are borrowed from the
//! body whenever they contain no escapes.
//!
//! The body's UTF-8 is checked once, up front, so that serde_json can read it
//! as a `&str` and skip the check it would otherwise make on every string
//! it hands over: that check cost as much as the rest of the parsing. A body
//! that is not valid UTF-8 is read as bytes instead, where only the strings
//! actually used need to be valid, as before.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// One field of one session, as found in the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field<'a> {
    /// The key is absent, or its value is `null` or an empty string.
    Missing,
    /// The value is not a string (a number, a list, an object...).
    Invalid,
    /// A non-empty string.
    Value(Cow<'a, str>),
}

impl Field<'_> {
    /// The string, if there is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Field::Value(text) => Some(text),
            Field::Missing | Field::Invalid => None,
        }
    }
}

/// One session, borrowed from the body where possible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord<'a> {
    /// `session_id` / `sessionId`: an opaque string.
    pub session_id: Field<'a>,
    /// `agent_name` / `agentName`.
    pub agent_name: Field<'a>,
    /// `status`.
    pub status: Field<'a>,
    /// `created_at` / `createdAt`, still unparsed.
    pub created_at: Field<'a>,
}

/// Receives sessions as they are parsed.
pub trait SessionSink {
    /// Called once per session, in body order.
    fn session(&mut self, session: SessionRecord<'_>);
}

/// Why a body is not a session list. The message says where (line and
/// column) and what was expected; it never contains more than a short
/// excerpt of the body.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(serde_json::Error);

/// Parses a whole body, folding every session into `sink`.
///
/// On error the sink may already have seen some sessions; callers discard it.
pub fn parse_sessions<S: SessionSink>(body: &[u8], sink: &mut S) -> Result<usize, ParseError> {
    match std::str::from_utf8(body) {
        Ok(text) => parse_with(serde_json::Deserializer::from_str(text), sink),
        Err(_) => parse_with(serde_json::Deserializer::from_slice(body), sink),
    }
}

fn parse_with<'de, R, S>(
    mut deserializer: serde_json::Deserializer<R>,
    sink: &mut S,
) -> Result<usize, ParseError>
where
    R: serde_json::de::Read<'de>,
    S: SessionSink,
{
    let count = BodySeed { sink }
        .deserialize(&mut deserializer)
        .and_then(|count| deserializer.end().map(|()| count))
        .map_err(ParseError)?;
    Ok(count)
}

const EXPECTED_BODY: &str = "a list of sessions, or an object with a sessions, data or items list";

/// The whole body: a bare list, or an object wrapping one.
struct BodySeed<'s, S> {
    sink: &'s mut S,
}

impl<'de, S: SessionSink> DeserializeSeed<'de> for BodySeed<'_, S> {
    type Value = usize;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<usize, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, S: SessionSink> Visitor<'de> for BodySeed<'_, S> {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(EXPECTED_BODY)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<usize, A::Error> {
        ListSeed { sink: self.sink }.visit_seq(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<usize, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            let is_list_key = matches!(key.as_ref(), "sessions" | "data" | "items");
            if is_list_key && found.is_none() {
                found = Some(map.next_value_seed(ListSeed {
                    sink: &mut *self.sink,
                })?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        found.ok_or_else(|| de::Error::custom(format_args!("expected {EXPECTED_BODY}")))
    }
}

/// The list of sessions itself.
struct ListSeed<'s, S> {
    sink: &'s mut S,
}

impl<'de, S: SessionSink> DeserializeSeed<'de> for ListSeed<'_, S> {
    type Value = usize;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<usize, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, S: SessionSink> Visitor<'de> for ListSeed<'_, S> {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of sessions")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<usize, A::Error> {
        let mut count = 0;
        while let Some(session) = seq.next_element::<SessionFields<'de>>()? {
            self.sink.session(session.0);
            count += 1;
        }
        Ok(count)
    }
}

/// A session object; its fields are borrowed from the body where possible.
struct SessionFields<'a>(SessionRecord<'a>);

impl<'de> de::Deserialize<'de> for SessionFields<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(SessionVisitor)
    }
}

struct SessionVisitor;

impl<'de> Visitor<'de> for SessionVisitor {
    type Value = SessionFields<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a session object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut session = SessionRecord {
            session_id: Field::Missing,
            agent_name: Field::Missing,
            status: Field::Missing,
            created_at: Field::Missing,
        };
        while let Some(key) = map.next_key::<Key>()? {
            let slot = match key {
                Key::SessionId => &mut session.session_id,
                Key::AgentName => &mut session.agent_name,
                Key::Status => &mut session.status,
                Key::CreatedAt => &mut session.created_at,
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            *slot = map.next_value::<FieldValue<'de>>()?.0;
        }
        Ok(SessionFields(session))
    }
}

/// A session's key, matched without allocating.
enum Key {
    SessionId,
    AgentName,
    Status,
    CreatedAt,
    Other,
}

impl<'de> de::Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_identifier(KeyVisitor)
    }
}

struct KeyVisitor;

impl Visitor<'_> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
        Ok(match key {
            "session_id" | "sessionId" => Key::SessionId,
            "agent_name" | "agentName" => Key::AgentName,
            "status" => Key::Status,
            "created_at" | "createdAt" => Key::CreatedAt,
            _ => Key::Other,
        })
    }
}

/// A field's value: a string, `null`, or anything else (which is consumed
/// and reported as invalid rather than failing the whole body).
struct FieldValue<'a>(Field<'a>);

impl<'de> de::Deserialize<'de> for FieldValue<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FieldVisitor).map(FieldValue)
    }
}

struct FieldVisitor;

impl<'de> Visitor<'de> for FieldVisitor {
    type Value = Field<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or null")
    }

    fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(if is_blank(text) {
            Field::Missing
        } else {
            Field::Value(Cow::Borrowed(text))
        })
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(if is_blank(text) {
            Field::Missing
        } else {
            Field::Value(Cow::Owned(text.to_owned()))
        })
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Field::Missing)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
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

/// Whether a string value counts as missing: empty or only whitespace.
#[inline]
fn is_blank(text: &str) -> bool {
    // Nearly every value starts with a visible ASCII character, which settles
    // it without the (much slower) Unicode-aware trim.
    match text.as_bytes().first() {
        None => true,
        Some(first) if first.is_ascii_graphic() => false,
        Some(_) => text.trim().is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Collects owned copies of what the parser reports.
    #[derive(Default)]
    struct Collect(Vec<[Option<String>; 4]>, Vec<[bool; 4]>);

    impl SessionSink for Collect {
        fn session(&mut self, s: SessionRecord<'_>) {
            let fields = [&s.session_id, &s.agent_name, &s.status, &s.created_at];
            self.0.push(fields.map(|f| f.as_str().map(str::to_owned)));
            self.1.push(fields.map(|f| *f == Field::Invalid));
        }
    }

    fn parse(body: &str) -> Result<Collect, String> {
        let mut sink = Collect::default();
        parse_sessions(body.as_bytes(), &mut sink).map_err(|e| e.to_string())?;
        Ok(sink)
    }

    fn strings(fields: [&str; 4]) -> [Option<String>; 4] {
        fields.map(|f| Some(f.to_owned()))
    }

    const SPEC_EXAMPLE: &str = r#"{"session_id":"f6a7b0e6-7f46-4a0d-9a47-92b7f0a4d2d3","agent_name":"agi-0","status":"running","created_at":"2025-10-05T18:04:34.281Z"}"#;
    const EXAMPLE_FIELDS: [&str; 4] = [
        "f6a7b0e6-7f46-4a0d-9a47-92b7f0a4d2d3",
        "agi-0",
        "running",
        "2025-10-05T18:04:34.281Z",
    ];

    #[test]
    fn reads_a_bare_list() -> Result<(), String> {
        let parsed = parse(&format!("[{SPEC_EXAMPLE}]"))?;
        assert_eq!(parsed.0, vec![strings(EXAMPLE_FIELDS)]);
        Ok(())
    }

    #[test]
    fn reads_a_list_wrapped_under_sessions_data_or_items() -> Result<(), String> {
        for key in ["sessions", "data", "items"] {
            let body = format!(r#"{{"total":1,"{key}":[{SPEC_EXAMPLE}],"next":null}}"#);
            assert_eq!(parse(&body)?.0, vec![strings(EXAMPLE_FIELDS)], "{key}");
        }
        Ok(())
    }

    #[test]
    fn reads_only_the_first_wrapped_list() -> Result<(), String> {
        let body = format!(r#"{{"sessions":[{SPEC_EXAMPLE}],"data":[{SPEC_EXAMPLE}]}}"#);
        assert_eq!(parse(&body)?.0.len(), 1);
        Ok(())
    }

    #[test]
    fn reads_camel_case_keys() -> Result<(), String> {
        let body = r#"[{"sessionId":"f6a7b0e6-7f46-4a0d-9a47-92b7f0a4d2d3","agentName":"agi-0","status":"running","createdAt":"2025-10-05T18:04:34.281Z"}]"#;
        assert_eq!(parse(body)?.0, vec![strings(EXAMPLE_FIELDS)]);
        Ok(())
    }

    #[test]
    fn ignores_extra_fields_of_any_shape() -> Result<(), String> {
        let body = r#"[{"status":"ready","task":{"goal":"x","steps":[1,2,{"a":null}]},"cost":1.5,"tags":[]}]"#;
        let parsed = parse(body)?;
        assert_eq!(parsed.0, vec![[None, None, Some("ready".to_owned()), None]]);
        Ok(())
    }

    #[test]
    fn null_missing_and_empty_fields_are_missing_not_errors() -> Result<(), String> {
        let body = r#"[{"session_id":null,"agent_name":"","status":null},{}]"#;
        let parsed = parse(body)?;
        assert_eq!(
            parsed.0,
            vec![[None, None, None, None], [None, None, None, None]]
        );
        assert_eq!(parsed.1, vec![[false; 4], [false; 4]]);
        Ok(())
    }

    #[test]
    fn non_string_fields_are_invalid_not_errors() -> Result<(), String> {
        let body = r#"[{"session_id":42,"agent_name":["agi-0"],"status":{"name":"running"},"created_at":1759687474}]"#;
        let parsed = parse(body)?;
        assert_eq!(parsed.0, vec![[None, None, None, None]]);
        assert_eq!(parsed.1, vec![[true; 4]]);
        Ok(())
    }

    #[test]
    fn escaped_strings_are_unescaped() -> Result<(), String> {
        let body = r#"[{"agent_name":"agi-\u0030","status":"run\"ning"}]"#;
        let parsed = parse(body)?;
        assert_eq!(parsed.0[0][1].as_deref(), Some("agi-0"));
        assert_eq!(parsed.0[0][2].as_deref(), Some("run\"ning"));
        Ok(())
    }

    #[test]
    fn refuses_bodies_that_are_not_session_lists() {
        for body in [
            "",
            "null",
            "42",
            r#""sessions""#,
            "{}",
            r#"{"results":[]}"#,
            r#"{"sessions":{"a":1}}"#,
            r#"{"sessions":null}"#,
            "[1,2]",
            "[null]",
            "[[]]",
            r#"[{"status":"running"}"#,
            r#"[{"status":"running"}] trailing"#,
            "<html>Bad gateway</html>",
        ] {
            assert!(parse(body).is_err(), "{body:?} should be refused");
        }
    }

    #[test]
    fn survives_deep_nesting_anywhere() -> Result<(), String> {
        let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        // Skipped values are walked without recursion: valid, and ignored.
        let in_extra = format!(r#"[{{"status":"ready","extra":{nested}}}]"#);
        assert_eq!(parse(&in_extra)?.0.len(), 1);
        let in_field = format!(r#"[{{"status":{nested}}}]"#);
        assert_eq!(parse(&in_field)?.1, vec![[false, false, true, false]]);
        // Where values are read, serde_json's recursion limit refuses it.
        assert!(parse(&nested).is_err());
        let in_list = format!("[{nested}]");
        assert!(parse(&in_list).is_err());
        Ok(())
    }

    #[test]
    fn invalid_utf8_is_refused_only_in_the_fields_read() {
        let mut in_extra = br#"[{"status":"ready","note":"caf"#.to_vec();
        in_extra.extend_from_slice(b"\xe9\"}]");
        let mut sink = Collect::default();
        assert!(parse_sessions(&in_extra, &mut sink).is_ok());
        assert_eq!(sink.0, vec![[None, None, Some("ready".to_owned()), None]]);

        let mut in_status = br#"[{"status":"caf"#.to_vec();
        in_status.extend_from_slice(b"\xe9\"}]");
        assert!(parse_sessions(&in_status, &mut Collect::default()).is_err());
    }

    #[test]
    fn an_empty_list_is_a_valid_answer() -> Result<(), String> {
        assert!(parse("[]")?.0.is_empty());
        assert!(parse(r#"{"data":[]}"#)?.0.is_empty());
        assert!(parse(" \n[ ]\n")?.0.is_empty());
        Ok(())
    }
}
