//! The tolerant, streaming parser for `GET /v1/sessions` bodies.
//!
//! The documented answer is a bare JSON array of sessions; the public SDKs
//! also wrap it in an object under `sessions`, `data` or `items`, and write
//! keys in snake_case or camelCase. This parser accepts all of those, ignores
//! extra fields, and never fails a scrape over one session's missing or odd
//! field: such a field is reported as [`Field::Missing`] or
//! [`Field::Invalid`] and the aggregate decides what to do with it.
//!
//! Sessions are handed to a [`SessionSink`] one by one as they are read, so
//! no `Vec` of sessions and no `serde_json::Value` tree is ever built.
//! Strings are borrowed from the body whenever they contain no escapes.
//!
//! The body is read as it arrives: [`SessionStream`] takes it chunk by
//! chunk and hands each session over as soon as its last byte is in. It
//! keeps only the bytes of the step under way (the session, or the skipped
//! value of the wrapping object, that a chunk cut), so its memory is that of
//! one session, not of the body. How the body is cut never changes the
//! result: the same sessions, or the same error at the same line and
//! column, as from the whole body at once ([`parse_sessions`]).
//!
//! A session written as the one before it was (the same keys in the same
//! order, the same spacing) is read against that one's layout
//! ([`super::layout`]): a few wide compares instead of a key at a time,
//! with the same result. Any other session goes to the general reader,
//! which learns its layout for the next one.
//!
//! The JSON itself is read by [`super::json`]. Verdicts and fields are
//! exactly serde_json's when it reads the body with the serde model of the
//! contract (docs/metrics.md, "What the exporter accepts"): the body's keys and
//! each session's keys are read as text, the first `sessions`, `data` or
//! `items` key holds the list, the four fields are read as any value (so a
//! number there must be in range, and an object there has its keys read as
//! text), and everything else is skipped as serde's `IgnoredAny` skips it,
//! checking its syntax only. The property tests in `tests/it/garbage.rs` and
//! the differential fuzz target hold the parser to that model.
//!
//! The one difference from reading the body into a `serde_json::Value`: a
//! wrapping object with more than one list key, or the same key twice,
//! folds the first list and checks the others for syntax only, where a
//! `Value` keeps the last of a repeated key. (A `Value` also checks what is
//! skipped here: the UTF-8 and escapes of every string, the range of every
//! number, and nesting deeper than 128; the property tests encode both.)
//!
//! The reader costs less than what `serde_json::from_slice::<IgnoredAny>` costs
//! to skip the same bytes. serde's visitors cost more than that: the parser
//! was a serde `DeserializeSeed` until benchmarks showed its four fields per
//! session costing 1.6x the skim.

use std::borrow::Cow;

use super::json::{self, Buffers, Fault, Key, Lines, Reader, Text};
use super::layout::{self, Layout, Run};

/// One field of one session, as found in the body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Field<'a> {
    /// The key is absent, or its value is `null` or an empty string.
    #[default]
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
#[derive(Debug, Clone, PartialEq, Eq, Default)]
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
    fn session(&mut self, session: &SessionRecord<'_>);

    /// [`Self::session`], with the bytes the session was written as, from
    /// its `{` to its `}` (the spacing around it is not the session's):
    /// what a sink that recalls sessions ([`Self::recall`]) remembers them
    /// by.
    fn session_written(&mut self, session: &SessionRecord<'_>, written: &[u8]) {
        let _ = written;
        self.session(session);
    }

    /// Asked before each session is read, with the window's bytes from its
    /// `{` on, as many as the step may still take ([`MAX_STEP_BYTES`]). A
    /// sink that knows the session at their start, because it was written
    /// exactly as one it was handed before, may fold it again from what it
    /// kept, and so may the sessions right after it, each after a comma
    /// (and spacing) that the sink checks: it returns how many sessions it
    /// folded and how many bytes they take, from the first one's `{` to the
    /// last one's `}`. The parser then goes on after them without reading
    /// them (and without calling [`Self::session`]). The sink vouches for
    /// those bytes being those sessions: the very bytes of sessions the
    /// parser read whole, so the parser's verdict stands. `None`, the
    /// default, has the session read.
    fn recall(&mut self, ahead: &[u8]) -> Option<Recalled> {
        let _ = ahead;
        None
    }
}

/// Where the session after one that ends at `end` of `ahead` starts, if a
/// comma and spacing lead to it: for a sink that recalls the sessions after
/// the first ([`SessionSink::recall`]).
#[inline]
pub(crate) fn next_session(ahead: &[u8], end: usize) -> Option<usize> {
    if ahead.get(end) != Some(&b',') {
        return None;
    }
    let start = end + 1;
    let spacing = ahead
        .get(start..)?
        .iter()
        .position(|&byte| !json::is_space(byte))?;
    (ahead[start + spacing] == b'{').then_some(start + spacing)
}

/// Sessions a sink recalled ([`SessionSink::recall`]): how many, one at
/// least, and the bytes they take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recalled {
    /// How many sessions.
    pub sessions: usize,
    /// From the first one's `{` to the last one's `}`.
    pub len: usize,
}

/// Why a body is not a session list. The message says what was expected and
/// where (line and column); it never quotes the body.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(json::Error);

/// Parses a whole body, folding every session into `sink`; returns how
/// many sessions it listed.
///
/// On error the sink may already have seen some sessions; callers discard it.
pub fn parse_sessions<S: SessionSink>(body: &[u8], sink: &mut S) -> Result<usize, ParseError> {
    let mut stream = SessionStream::new(sink);
    stream.feed(body)?;
    stream.finish()
}

/// Reads a body chunk by chunk as it arrives, folding each session into the
/// sink as soon as it is complete.
///
/// Feed it the chunks in order, then call [`Self::finish`]. Once the
/// stream has found that the body is not a session list, `feed` returns
/// the error and the stream refuses everything after it. A step cut by a
/// chunk is read again only once its bytes have doubled, so the error may
/// come a few chunks after the one that showed it, or at `finish`: always
/// the same error, at the same line and column.
pub struct SessionStream<'s, S> {
    sink: &'s mut S,
    state: State,
    /// The bytes of the step under way that the last chunk ended inside.
    pending: Vec<u8>,
    /// Don't read the step under way again before `pending` has this many
    /// bytes: each attempt that falls short doubles it, so that a step as
    /// large as the body costs its size twice over, not once per chunk.
    retry_at: usize,
    lines: Lines,
    buffers: Buffers,
    /// How the last session the general reader read was written, which
    /// the sessions after it are read against first (`super::layout`).
    layout: Layout<SessionKey>,
    /// That session's values, as it is read.
    runs: Vec<Run<SessionKey>>,
    sessions: usize,
    failed: Option<ParseError>,
}

/// Where the stream is in the body's grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the body's first token.
    Start,
    /// In the wrapping object, before a comma and a key (or its end);
    /// `found` once a list key's list has been read.
    WrapperKey { first: bool, found: bool },
    /// In the wrapping object, after the comma: a key.
    WrapperName { found: bool },
    /// After a key of the wrapping object: its colon; `list` when the key
    /// names the list to read.
    WrapperColon { list: bool, found: bool },
    /// After a list key of the wrapping object: its value must be a list.
    ListStart,
    /// In the wrapping object, at a value to skip.
    WrapperValue { found: bool },
    /// In the list: at `entry`.
    Item { entry: Entry, wrapped: bool },
    /// After the body: only whitespace may follow.
    End,
}

/// Where the stream is in the list of sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    /// Right after its `[`: a session or the list's end.
    Opening,
    /// After a session: a comma or the list's end.
    Comma,
    /// After a comma, or once the next session is found: a session.
    Session,
}

/// What one step did.
enum Step {
    /// Moved on; read the next step.
    Next,
    /// The body is complete; only whitespace may follow.
    Done,
}

impl<'s, S: SessionSink> SessionStream<'s, S> {
    /// A stream at the start of a body.
    pub fn new(sink: &'s mut S) -> Self {
        SessionStream {
            sink,
            state: State::Start,
            pending: Vec::new(),
            retry_at: 0,
            lines: Lines::default(),
            buffers: Buffers::default(),
            layout: Layout::default(),
            runs: Vec::new(),
            sessions: 0,
            failed: None,
        }
    }

    /// Reads the next chunk of the body.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), ParseError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        // Bytes of the chunk read so far.
        let mut at = 0;
        // The step under way started in an earlier chunk: add to its bytes,
        // a doubling slice at a time, until it completes.
        while !self.pending.is_empty() {
            if at == chunk.len() {
                return Ok(());
            }
            let take = (chunk.len() - at).min(self.pending.len().max(PENDING_STEP));
            let before = self.pending.len();
            self.pending.extend_from_slice(&chunk[at..at + take]);
            at += take;
            if self.pending.len() < self.retry_at && self.pending.len() <= MAX_STEP_BYTES {
                continue;
            }
            let pending = std::mem::take(&mut self.pending);
            let consumed = self.run(&pending, false)?;
            if consumed >= before {
                // The steps read ended in the bytes just added: go on in
                // the chunk itself, right after them.
                at = at - take + (consumed - before);
            } else {
                self.pending = pending[consumed..].to_vec();
            }
        }
        let rest = &chunk[at..];
        let consumed = self.run(rest, false)?;
        self.pending.extend_from_slice(&rest[consumed..]);
        Ok(())
    }

    /// The body has ended: reads what remains and returns how many sessions
    /// it listed, or why it is not a session list.
    pub fn finish(mut self) -> Result<usize, ParseError> {
        if let Some(error) = self.failed.take() {
            return Err(error);
        }
        let pending = std::mem::take(&mut self.pending);
        self.run(&pending, true)?;
        Ok(self.sessions)
    }

    /// Reads steps from `window` until it ends or the body does; returns
    /// how many of its bytes the completed steps took. The bytes taken are
    /// dropped (their lines counted); a step that falls short is read again
    /// once there are twice its bytes; an error ends the stream.
    fn run(&mut self, window: &[u8], complete: bool) -> Result<usize, ParseError> {
        let mut reader = Reader::window(window, complete, std::mem::take(&mut self.buffers));
        // The end of the last step read whole.
        let mut committed = 0;
        let read = loop {
            let step = match self.state {
                State::Item { wrapped, .. } => self.items(&mut reader, wrapped, &mut committed),
                _ => self.step(&mut reader),
            };
            // A step that read past MAX_STEP_BYTES is refused, whether it
            // ended there, failed there or asked for more: which of those
            // it did depends on how the body was cut, that it read so far
            // does not. The spacing before a step is not the step's: only
            // what follows it counts (so a body of spaces is no session).
            if reader.position() - committed > MAX_STEP_BYTES
                && reader.position() - after_spacing(window, committed) > MAX_STEP_BYTES
            {
                break Err(Err(committed));
            }
            match step {
                Ok(Step::Next) => committed = reader.position(),
                Ok(Step::Done) => break reader.end().map(|()| reader.position()).map_err(Ok),
                // The spacing before the step is taken now, so that a body
                // that keeps sending spaces is not held in memory.
                Err(fault) if fault.needs_more() => break Ok(after_spacing(window, committed)),
                Err(fault) => break Err(Ok(fault)),
            }
        };
        let read = read.map_err(|fault| match fault {
            Ok(fault) => ParseError(reader.locate(fault, &self.lines)),
            Err(start) => {
                // Where the session or value starts, after the comma.
                let first = window[start..]
                    .iter()
                    .position(|&byte| !json::is_space(byte) && byte != b',')
                    .map_or(start, |skip| start + skip);
                let mut lines = self.lines;
                lines.advance(&window[..first]);
                ParseError(lines.error_at_start(TOO_LARGE_STEP))
            }
        });
        self.buffers = reader.into_buffers();
        match read {
            Ok(consumed) => {
                self.lines.advance(&window[..consumed]);
                let left = window.len() - consumed;
                self.retry_at = if left == 0 { 0 } else { 2 * left };
                Ok(consumed)
            }
            Err(error) => {
                self.failed = Some(error.clone());
                Err(error)
            }
        }
    }

    /// Reads one step at the reader's position: the body's first token, a
    /// key or skipped value of the wrapping object, or one session. Nothing
    /// changes unless the step completes.
    fn step(&mut self, reader: &mut Reader<'_>) -> Result<Step, Fault> {
        const EXPECTED_BODY: &str =
            "expected a list of sessions, or an object with a sessions, data or items list";
        const LIST_KEYS: [(&[u8], ()); 3] = [(b"sessions", ()), (b"data", ()), (b"items", ())];
        let next = match self.state {
            State::Start => match reader.next_token()? {
                b'[' => {
                    reader.open();
                    State::Item {
                        entry: Entry::Opening,
                        wrapped: false,
                    }
                }
                b'{' => {
                    reader.open();
                    State::WrapperKey {
                        first: true,
                        found: false,
                    }
                }
                _ => return Err(reader.fault(EXPECTED_BODY)),
            },
            // The comma, the key and the colon are steps of their own, so
            // that the spacing between them is never part of a step.
            State::WrapperKey { first, found } => match reader.next_entry(first, b'}')? {
                false if found => State::End,
                false => return Err(reader.fault(EXPECTED_BODY)),
                true => State::WrapperName { found },
            },
            State::WrapperName { found } => State::WrapperColon {
                list: reader.key(&LIST_KEYS)? != Key::Other && !found,
                found,
            },
            State::WrapperColon { list, found } => {
                reader.colon()?;
                if list {
                    State::ListStart
                } else {
                    State::WrapperValue { found }
                }
            }
            State::WrapperValue { found } => {
                reader.skip_value()?;
                State::WrapperKey {
                    first: false,
                    found,
                }
            }
            State::ListStart => {
                if reader.next_token()? != b'[' {
                    return Err(reader.fault("expected a list of sessions"));
                }
                reader.open();
                State::Item {
                    entry: Entry::Opening,
                    wrapped: true,
                }
            }
            State::Item { wrapped, .. } => {
                let mut committed = reader.position();
                return self.items(reader, wrapped, &mut committed);
            }
            State::End => return Ok(Step::Done),
        };
        self.state = next;
        Ok(if next == State::End {
            Step::Done
        } else {
            Step::Next
        })
    }
}

impl<S: SessionSink> SessionStream<'_, S> {
    /// Reads the sessions of the list, one step each, in one loop (this is
    /// nearly all of a body), until the list ends; `committed` follows the
    /// end of each session read, and of each comma, where a step that falls
    /// short starts again. The comma between two sessions is a step of its
    /// own, so that the spacing after it is never part of a session.
    fn items(
        &mut self,
        reader: &mut Reader<'_>,
        wrapped: bool,
        committed: &mut usize,
    ) -> Result<Step, Fault> {
        let State::Item { mut entry, .. } = self.state else {
            return Ok(Step::Next);
        };
        loop {
            if entry == Entry::Session {
                reader.next_token()?;
            } else {
                if !reader.next_item(entry == Entry::Opening)? {
                    self.state = if wrapped {
                        State::WrapperKey {
                            first: false,
                            found: true,
                        }
                    } else {
                        State::End
                    };
                    return Ok(if wrapped { Step::Next } else { Step::Done });
                }
                entry = Entry::Session;
                self.state = State::Item { entry, wrapped };
                *committed = reader.position();
            }
            let start = reader.position();
            let (read, listed) = match self.recall(reader) {
                Some(recalled) => {
                    reader.rewind(start + recalled.len);
                    (None, recalled.sessions)
                }
                None => (Some(self.read_session(reader)?), 1),
            };
            // Refused by the caller, as a step too large: the session
            // alone counts, recalled or read, not the spacing before it.
            if reader.position() - start > MAX_STEP_BYTES {
                return Ok(Step::Next);
            }
            if let Some(record) = read {
                self.sink.session_written(&record, reader.read_since(start));
            }
            self.sessions = self.sessions.saturating_add(listed);
            entry = Entry::Comma;
            self.state = State::Item { entry, wrapped };
            *committed = reader.position();
        }
    }

    /// The sessions from the reading position on that the sink recalls
    /// (`SessionSink::recall`), which it has then folded. It is shown no
    /// more bytes than a step may take, so each session it recalls is one
    /// the cap allows, as reading it finds.
    #[inline]
    fn recall(&mut self, reader: &Reader<'_>) -> Option<Recalled> {
        let ahead = reader.ahead();
        if ahead.first() != Some(&b'{') {
            return None;
        }
        let ahead = &ahead[..ahead.len().min(MAX_STEP_BYTES)];
        let recalled = self.sink.recall(ahead)?;
        // A sink's word for bytes beyond those shown is not taken.
        (recalled.sessions > 0 && recalled.len <= ahead.len()).then_some(recalled)
    }

    /// Reads the session at the reading position.
    #[inline]
    fn read_session<'de>(&mut self, reader: &mut Reader<'de>) -> Result<SessionRecord<'de>, Fault> {
        let mut record = SessionRecord::default();
        let start = reader.position();
        {
            let written_as_before = self.layout.read(reader, |reader, slot| {
                // A plain string first, as nearly every value is; then any
                // value, as the general reader reads it.
                let plain = reader.skip_plain_string();
                match (slot, plain) {
                    (Some(key), Some(span)) => reader
                        .plain_text(span)
                        .map(|text| *record.field_mut(key) = plain_field(text))
                        .is_some(),
                    (Some(key), None) => field(reader)
                        .map(|value| *record.field_mut(key) = value)
                        .is_ok(),
                    // Skipped: its UTF-8 is not checked, as the general
                    // reader does not check it.
                    (None, Some(_)) => true,
                    (None, None) => reader.skip_value().is_ok(),
                }
            });
            if !written_as_before {
                record = SessionRecord::default();
                self.runs.clear();
                session(reader, &mut record, &mut self.runs)?;
                self.layout
                    .learn(reader.read_since(start), start, &self.runs);
            }
        }
        Ok(record)
    }
}

/// Where the spacing at `from` in `window` ends: where the step starting
/// there begins.
fn after_spacing(window: &[u8], from: usize) -> usize {
    let spacing = window[from..]
        .iter()
        .take_while(|&&byte| json::is_space(byte));
    from + spacing.count()
}

/// The first slice a step under way grows by; later ones double.
const PENDING_STEP: usize = 4096;

/// The largest step the stream holds: one session, or one value of the
/// wrapping object beside the list, is never larger in a real answer, and
/// this is all the memory a body can make the parser hold, whatever its size.
pub const MAX_STEP_BYTES: usize = 32 << 20;

const TOO_LARGE_STEP: &str = "a session, or a value of the wrapping object, larger than 32 MiB";

/// A session's fields, by key.
#[derive(Debug, Clone, Copy)]
enum SessionKey {
    SessionId,
    AgentName,
    Status,
    CreatedAt,
}

/// The keys of a session's fields in both spellings, in the order they
/// usually come (the reader tries them in this order).
const SESSION_KEYS: [(&[u8], SessionKey); 7] = [
    (b"session_id", SessionKey::SessionId),
    (b"agent_name", SessionKey::AgentName),
    (b"status", SessionKey::Status),
    (b"created_at", SessionKey::CreatedAt),
    (b"sessionId", SessionKey::SessionId),
    (b"agentName", SessionKey::AgentName),
    (b"createdAt", SessionKey::CreatedAt),
];

impl<'a> SessionRecord<'a> {
    fn field_mut(&mut self, key: SessionKey) -> &mut Field<'a> {
        match key {
            SessionKey::SessionId => &mut self.session_id,
            SessionKey::AgentName => &mut self.agent_name,
            SessionKey::Status => &mut self.status,
            SessionKey::CreatedAt => &mut self.created_at,
        }
    }
}

/// A session object, read into `session` (whose fields are all missing);
/// its fields are borrowed from the body where possible. Filled in place
/// rather than returned: a returned record is copied out of this call's
/// frame, and that copy's loads stall on the stores just made (9% of the
/// parse). Where its values are goes into `runs`, for its layout.
fn session<'de>(
    reader: &mut Reader<'de>,
    session: &mut SessionRecord<'de>,
    runs: &mut Vec<Run<SessionKey>>,
) -> Result<(), Fault> {
    if reader.next_token()? != b'{' {
        return Err(reader.fault("expected a session object"));
    }
    reader.open();
    let mut first = true;
    while let Some(key) = reader.next_key(first, &SESSION_KEYS)? {
        first = false;
        let slot = match key {
            Key::Known(key) => Some(key),
            Key::Other => None,
        };
        // To the value's first byte, past the spacing after the colon.
        reader.next_token()?;
        let start = reader.position();
        match slot {
            Some(key) => *session.field_mut(key) = field(reader)?,
            None => reader.skip_value()?,
        }
        let end = reader.position();
        // Enough to know the layout is too long to learn: a session of
        // millions of tiny fields must not make this list larger than it.
        if runs.len() <= layout::MAX_VALUES {
            runs.push(Run { slot, start, end });
        }
    }
    Ok(())
}

/// A field's value: a string, `null`, or anything else (which is skipped
/// and reported as invalid rather than failing the whole body).
///
/// A value that is not a string is read as serde_json reads any value it is
/// asked to describe: a number must be in range, and an object's keys must
/// be text; what they hold is only checked for syntax.
fn field<'de>(reader: &mut Reader<'de>) -> Result<Field<'de>, Fault> {
    match reader.next_token()? {
        b'"' => Ok(match reader.string()? {
            Text::Borrowed(text) => plain_field(text),
            Text::Copied(text) if is_blank(text) => Field::Missing,
            Text::Copied(text) => Field::Value(Cow::Owned(text.to_owned())),
        }),
        // The only value that starts with `n` is `null`.
        b'n' => {
            reader.skip_value()?;
            Ok(Field::Missing)
        }
        b'-' | b'0'..=b'9' => {
            reader.skip_number_in_range()?;
            Ok(Field::Invalid)
        }
        b'{' => {
            reader.skip_object_reading_keys()?;
            Ok(Field::Invalid)
        }
        _ => {
            reader.skip_value()?;
            Ok(Field::Invalid)
        }
    }
}

/// The field of a string value without escapes.
#[inline]
fn plain_field(text: &str) -> Field<'_> {
    if is_blank(text) {
        Field::Missing
    } else {
        Field::Value(Cow::Borrowed(text))
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
        fn session(&mut self, s: &SessionRecord<'_>) {
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

    const DOCUMENTED_EXAMPLE: &str = r#"{"session_id":"f6a7b0e6-7f46-4a0d-9a47-92b7f0a4d2d3","agent_name":"agi-0","status":"running","created_at":"2025-10-05T18:04:34.281Z"}"#;
    const EXAMPLE_FIELDS: [&str; 4] = [
        "f6a7b0e6-7f46-4a0d-9a47-92b7f0a4d2d3",
        "agi-0",
        "running",
        "2025-10-05T18:04:34.281Z",
    ];

    /// Claims every session as recalled, with the length and count given.
    struct Claims(usize, usize);

    impl SessionSink for Claims {
        fn session(&mut self, _: &SessionRecord<'_>) {}

        fn recall(&mut self, ahead: &[u8]) -> Option<Recalled> {
            let _ = ahead;
            Some(Recalled {
                sessions: self.0,
                len: self.1,
            })
        }
    }

    #[test]
    fn a_sink_is_not_taken_at_its_word_beyond_the_bytes_it_was_shown() {
        // No sessions, bytes beyond those shown, or as many sessions as a
        // count holds: read, refused, counted without overflowing.
        let body = b"[{},{}]";
        for (claim, listed) in [((0, 2), 2), ((1, 100), 2), ((usize::MAX, 2), usize::MAX)] {
            let mut sink = Claims(claim.0, claim.1);
            assert_eq!(
                parse_sessions(body, &mut sink).ok(),
                Some(listed),
                "{claim:?}"
            );
        }
    }

    #[test]
    fn reads_a_bare_list() -> Result<(), String> {
        let parsed = parse(&format!("[{DOCUMENTED_EXAMPLE}]"))?;
        assert_eq!(parsed.0, vec![strings(EXAMPLE_FIELDS)]);
        Ok(())
    }

    #[test]
    fn reads_a_list_wrapped_under_sessions_data_or_items() -> Result<(), String> {
        for key in ["sessions", "data", "items"] {
            let body = format!(r#"{{"total":1,"{key}":[{DOCUMENTED_EXAMPLE}],"next":null}}"#);
            assert_eq!(parse(&body)?.0, vec![strings(EXAMPLE_FIELDS)], "{key}");
        }
        Ok(())
    }

    #[test]
    fn reads_only_the_first_wrapped_list() -> Result<(), String> {
        let body =
            format!(r#"{{"sessions":[{DOCUMENTED_EXAMPLE}],"data":[{DOCUMENTED_EXAMPLE}]}}"#);
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
    fn keys_are_read_however_they_are_written() -> Result<(), String> {
        // Escaped, spaced out, or neither: the same four keys.
        let body = "[{\"session_\\u0069d\" : \"a\",\n \"agentName\"\t:\"agi-0\", \"st\\u0061tus\":\"ready\",\"createdAt\":\"2025-10-05T18:04:34Z\"}]";
        let parsed = parse(body)?;
        assert_eq!(
            parsed.0,
            vec![strings(["a", "agi-0", "ready", "2025-10-05T18:04:34Z"])]
        );
        // A key that is not text, or whose escape is half a character,
        // refuses the body, as serde_json refuses it, in a session and in
        // the wrapping object; in a skipped value it is only skipped.
        let mut not_text = br#"[{"status":"ready","st"#.to_vec();
        not_text.extend_from_slice(b"\xffatus\":\"x\"}]");
        assert!(parse_sessions(&not_text, &mut Collect::default()).is_err());
        for body in [
            r#"[{"status":"ready","\ud800":1}]"#,
            r#"{"\udc00":1,"data":[]}"#,
            r#"[{"status":{"\ud800":1}}]"#,
        ] {
            assert!(parse(body).is_err(), "{body}");
        }
        let mut skipped = br#"[{"status":"ready","extra":{"\ud800":1,"x":{"a"#.to_vec();
        skipped.extend_from_slice(b"\xff\":2}}}]");
        let mut sink = Collect::default();
        assert!(parse_sessions(&skipped, &mut sink).is_ok());
        assert_eq!(sink.0, vec![[None, None, Some("ready".to_owned()), None]]);
        Ok(())
    }

    #[test]
    fn a_number_in_a_field_is_invalid_unless_serde_json_finds_it_out_of_range() -> Result<(), String>
    {
        let parsed = parse(
            r#"[{"status":1e308,"agent_name":-0.5e-999,"session_id":123456789012345678901234567890}]"#,
        )?;
        assert_eq!(parsed.1, vec![[true, true, true, false]]);
        for body in [r#"[{"status":1e309}]"#, r#"[{"status":-2e308}]"#] {
            assert!(parse(body).is_err(), "{body}");
        }
        // Where nothing reads it, a number is only checked for its syntax.
        assert!(parse(r#"[{"status":"ready","cost":1e999}]"#).is_ok());
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
        // Where a session must be, a list is refused at once.
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
    fn a_session_of_many_fields_records_no_more_runs_than_a_layout_can_hold() {
        let fields: Vec<String> = (0..5000).map(|i| format!("\"k{i}\":{i}")).collect();
        let body = format!("[{{{},\"status\":\"ready\"}}]", fields.join(","));
        let mut sink = Collect::default();
        let mut stream = SessionStream::new(&mut sink);
        assert!(stream.feed(body.as_bytes()).is_ok());
        assert!(
            stream.runs.len() <= layout::MAX_VALUES + 1,
            "{}",
            stream.runs.len()
        );
        assert!(matches!(stream.finish(), Ok(1)));
        assert_eq!(sink.0.len(), 1);
    }

    /// Feeds `body` in chunks of `size` and finishes; also returns the most
    /// bytes the stream held between two chunks.
    fn chunked(body: &[u8], size: usize) -> (Result<usize, String>, usize) {
        let mut sink = Collect::default();
        let mut stream = SessionStream::new(&mut sink);
        let mut held = 0;
        for chunk in body.chunks(size) {
            if let Err(error) = stream.feed(chunk) {
                return (Err(error.to_string()), held);
            }
            held = held.max(stream.pending.len());
        }
        (stream.finish().map_err(|e| e.to_string()), held)
    }

    #[test]
    fn spacing_between_steps_is_no_session_however_long_and_is_not_held() {
        let space = " \n\t\r".repeat((MAX_STEP_BYTES + 4096) / 4);
        let bodies = [
            // As serde_json reads them: an empty list, two sessions, and a
            // wrapped list beside another value.
            (format!("[{space}]"), 0),
            (format!("[{{}}{space},{space}{{}}]"), 2),
            (format!("{{\"data\":{space}[]{space},\"x\":1}}"), 0),
            (format!("{{\"data\"{space}:[],{space}\"x\"{space}:1}}"), 0),
            (format!("{{\"x\":1,{space}\"items\":[{{}}]}}"), 1),
        ];
        for (body, sessions) in &bodies {
            assert_eq!(parse(body).map(|s| s.0.len()), Ok(*sessions));
            let size = 1 << 20;
            let (verdict, held) = chunked(body.as_bytes(), size);
            assert_eq!(verdict, Ok(*sessions), "chunks of {size}");
            assert!(held < 2 * size, "held {held} bytes in chunks of {size}");
        }
        // A trailing comma is still refused, wherever the spacing is.
        for body in [format!("[{{}},{}]", &space[..4096]), "[ ,{}]".to_owned()] {
            assert!(parse(&body).is_err());
            assert!(chunked(body.as_bytes(), 1000).0.is_err());
        }
    }

    #[test]
    fn spacing_inside_a_session_is_the_sessions_and_counts_toward_the_cap() {
        let body = format!("[{{{}}}]", " ".repeat(MAX_STEP_BYTES + 1));
        let refused = parse(&body).err().unwrap_or_default();
        assert!(refused.contains("larger than 32 MiB"), "{refused}");
        assert_eq!(chunked(body.as_bytes(), 1 << 20).0, Err(refused));
    }

    #[test]
    fn an_empty_list_is_a_valid_answer() -> Result<(), String> {
        assert!(parse("[]")?.0.is_empty());
        assert!(parse(r#"{"data":[]}"#)?.0.is_empty());
        assert!(parse(" \n[ ]\n")?.0.is_empty());
        Ok(())
    }
}
