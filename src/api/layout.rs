//! Sessions written the way the one before them was, read with a few wide
//! compares.
//!
//! An API's serializer writes every session of a list the same way: the
//! same keys in the same order, the same punctuation and spacing; only the
//! values change. A [`Layout`] holds how one session that the general
//! reader read was written: the stretches of bytes between its values
//! (punctuation, spacing, keys), verbatim. The next session is read against
//! it: each stretch compared sixteen bytes at a time, each value read in
//! between by the general reader's own functions. At the first difference
//! (another key, other spacing, a value that does not read, the window's
//! end) the caller reads the session with the general reader instead, from
//! where it began, and learns its layout from it.
//!
//! This never changes a result. Between two values the general reader is
//! always in the same state (inside the session, just after a value), so
//! where a session's stretches are the learned one's bytes exactly it would
//! read the same keys the same way, and then each value with the very
//! functions a layout reads it with: it finds the same fields, with the
//! same values and the same verdict.

use super::json::Reader;

/// The longest stretch between two values that a layout keeps: a session
/// with a longer key, or more spacing, between two values is read by the
/// general reader.
const MAX_STRETCH: usize = 256;

/// The most values a layout follows: a session with more is read by the
/// general reader, which need not record more than one past this.
pub const MAX_VALUES: usize = 64;

/// One value of a learned session: the slot it was read for (`None`:
/// skipped), and where it starts and ends in the window.
#[derive(Debug, Clone, Copy)]
pub struct Run<T> {
    pub slot: Option<T>,
    pub start: usize,
    pub end: usize,
}

/// How a session was written: the literal stretches around its values.
/// Empty until one is learned, and then nothing matches it.
#[derive(Debug)]
pub struct Layout<T> {
    /// The bytes of every stretch after its first sixteen, in sixteen-byte
    /// pieces, each a value and a mask of the bytes it holds, little-endian,
    /// in order.
    pieces: Vec<(u128, u128)>,
    /// The stretch before the first value, then for each value its slot and
    /// the stretch after it: stretch `i` follows value `i - 1`.
    stretches: Vec<Stretch<T>>,
}

#[derive(Debug, Clone, Copy)]
struct Stretch<T> {
    /// The slot of the value before this stretch; `None` for the first
    /// stretch and for skipped values.
    slot: Option<T>,
    /// Its first sixteen bytes (most stretches have no more), value and mask.
    first: (u128, u128),
    /// How many of the layout's pieces the rest takes.
    more: usize,
    len: usize,
}

impl<T> Default for Layout<T> {
    fn default() -> Self {
        Layout {
            pieces: Vec::new(),
            stretches: Vec::new(),
        }
    }
}

impl<T: Copy> Layout<T> {
    /// Reads the session at the reading position if it is written as the
    /// learned one was. `value` reads each value in turn, for its slot or
    /// to skip it, as the general reader reads it, and says whether it
    /// could (false on an error, or at the window's end). False when the
    /// session is not written so, with the reader back where it began (and
    /// `value` maybe called for some values, which the caller discards).
    #[inline]
    pub fn read<'de>(
        &self,
        reader: &mut Reader<'de>,
        mut value: impl FnMut(&mut Reader<'de>, Option<T>) -> bool,
    ) -> bool {
        let start = reader.position();
        let read = self.read_from(reader, &mut value);
        if !read {
            reader.rewind(start);
        }
        read
    }

    #[inline]
    fn read_from<'de>(
        &self,
        reader: &mut Reader<'de>,
        value: &mut impl FnMut(&mut Reader<'de>, Option<T>) -> bool,
    ) -> bool {
        let Some((lead, values)) = self.stretches.split_first() else {
            return false;
        };
        let mut pieces = self.pieces.as_slice();
        let mut eat = |reader: &mut Reader<'de>, stretch: &Stretch<T>| {
            if stretch.more == 0 {
                return reader.eat(stretch.first, &[], stretch.len);
            }
            let Some((more, rest)) = pieces.split_at_checked(stretch.more) else {
                return false;
            };
            pieces = rest;
            reader.eat(stretch.first, more, stretch.len)
        };
        if !eat(reader, lead) {
            return false;
        }
        values
            .iter()
            .all(|stretch| value(reader, stretch.slot) && eat(reader, stretch))
    }

    /// Learns how the session in `bytes` (all of it, from where its read
    /// began, at `offset` in the window) was written, given its values'
    /// runs in order. Without a value, or with a stretch or values beyond
    /// the limits, the layout is left empty.
    pub fn learn(&mut self, bytes: &[u8], offset: usize, runs: &[Run<T>]) {
        self.clear();
        if runs.is_empty() || runs.len() > MAX_VALUES {
            return;
        }
        // The parser records the runs in order and within the session;
        // should they not be, nothing is learned.
        let mut from = 0;
        let mut slot = None;
        for run in runs {
            let stretch = run
                .start
                .checked_sub(offset)
                .and_then(|start| bytes.get(from..start));
            if !self.add(slot, stretch) {
                return self.clear();
            }
            slot = run.slot;
            from = run.end.saturating_sub(offset);
        }
        if !self.add(slot, bytes.get(from..)) {
            self.clear();
        }
    }

    fn clear(&mut self) {
        self.pieces.clear();
        self.stretches.clear();
    }

    /// Adds a stretch; false when there is none or it is too long.
    fn add(&mut self, slot: Option<T>, stretch: Option<&[u8]>) -> bool {
        let Some(stretch) = stretch.filter(|stretch| stretch.len() <= MAX_STRETCH) else {
            return false;
        };
        let piece = |bytes: &[u8]| {
            let mut value = [0; 16];
            value[..bytes.len()].copy_from_slice(bytes);
            let mut mask = [0; 16];
            mask[..bytes.len()].fill(0xff);
            (u128::from_le_bytes(value), u128::from_le_bytes(mask))
        };
        let (first, rest) = stretch.split_at(stretch.len().min(16));
        self.pieces.extend(rest.chunks(16).map(piece));
        self.stretches.push(Stretch {
            slot,
            first: piece(first),
            more: rest.len().div_ceil(16),
            len: stretch.len(),
        });
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::json::Text;

    /// The values a layout reads from `session` (followed by `after`),
    /// after learning `learned`, whose values are found by looking for the
    /// `:"` before each; values are read as plain strings.
    fn read_like(learned: &str, session: &str, after: &str) -> Option<Vec<(usize, String)>> {
        let mut layout = Layout::default();
        layout.learn(learned.as_bytes(), 0, &runs(learned));
        let session = format!("{session}{after}");
        let mut reader = Reader::new(session.as_bytes());
        let mut values = Vec::new();
        let read = layout.read(&mut reader, |reader, slot| match reader.string() {
            Ok(Text::Borrowed(text)) => {
                values.extend(slot.map(|slot| (slot, text.to_owned())));
                true
            }
            _ => false,
        });
        if !read {
            assert_eq!(
                reader.position(),
                0,
                "a session not read leaves the reader where it was"
            );
            return None;
        }
        Some(values)
    }

    /// The runs of the string values of a flat object (`:` before each),
    /// numbered in order.
    fn runs(session: &str) -> Vec<Run<usize>> {
        let mut runs = Vec::new();
        let mut at = 0;
        while let Some(found) = session[at..].find(":\"") {
            let start = at + found + 1;
            let end = start + 2 + session[start + 1..].find('"').unwrap_or_default();
            let slot = Some(runs.len());
            runs.push(Run { slot, start, end });
            at = end;
        }
        runs
    }

    const SESSION: &str = r#"{"id":"abc","agent":"a-1","status":"running"}"#;

    /// What follows a session in the window.
    const AFTER: &str = ",{\"id\":\"next\"}    ";

    #[test]
    fn reads_a_session_written_the_same_way_with_other_values() {
        let read = read_like(
            SESSION,
            r#"{"id":"x","agent":"","status":"completed-ish"}"#,
            AFTER,
        );
        let expected = [(0, "x"), (1, ""), (2, "completed-ish")];
        assert_eq!(
            read,
            Some(
                expected
                    .map(|(slot, text)| (slot, text.to_owned()))
                    .to_vec()
            )
        );
    }

    #[test]
    fn refuses_any_other_byte_outside_the_values() {
        // Every byte outside the values changed in turn, to every value.
        let padded = format!("{SESSION}{AFTER}");
        let runs = runs(SESSION);
        for at in 0..SESSION.len() {
            if runs.iter().any(|run| (run.start..run.end).contains(&at)) {
                continue;
            }
            for byte in 0..=255u8 {
                if byte == padded.as_bytes()[at] {
                    continue;
                }
                let mut session = padded.clone().into_bytes();
                session[at] = byte;
                let mut layout = Layout::default();
                layout.learn(SESSION.as_bytes(), 0, &runs);
                let mut reader = Reader::new(&session);
                assert!(
                    !layout.read(&mut reader, |reader, _| reader.string().is_ok()),
                    "byte {byte:#x} at {at} went unnoticed"
                );
            }
        }
    }

    #[test]
    fn refuses_a_value_that_does_not_read_and_a_window_that_ends_first() {
        for (session, after) in [
            (
                "{\"id\":\"a\tb\",\"agent\":\"a-1\",\"status\":\"running\"}",
                AFTER,
            ),
            (r#"{"id":7,"agent":"a-1","status":"running"}"#, AFTER),
            // The window ends in the last stretch, or in a value.
            (r#"{"id":"abc","agent":"a-1","status":"running""#, ""),
            (r#"{"id":"abc","agent":"a-1","status":"runn"#, ""),
        ] {
            assert_eq!(read_like(SESSION, session, after), None, "{session}");
        }
        // A session that ends where the window nearly does is read.
        for after in [AFTER, "]", ""] {
            assert!(read_like(SESSION, SESSION, after).is_some(), "{after:?}");
        }
    }

    #[test]
    fn learns_nothing_from_a_session_it_cannot_hold() {
        let mut layout: Layout<usize> = Layout::default();
        let mut reader = Reader::new(SESSION.as_bytes());
        layout.learn(SESSION.as_bytes(), 0, &[]);
        assert!(!layout.read(&mut reader, |_, _| true));
        let long = format!(r#"{{"{}":"abc"}}"#, "k".repeat(300));
        layout.learn(long.as_bytes(), 0, &runs(&long));
        let padded = format!("{long}{AFTER}");
        let mut reader = Reader::new(padded.as_bytes());
        assert!(!layout.read(&mut reader, |reader, _| reader.string().is_ok()));
        // Just within the limit, it is learned.
        let long = format!(r#"{{"{}":"abc"}}"#, "k".repeat(250));
        layout.learn(long.as_bytes(), 0, &runs(&long));
        let padded = format!("{long}{AFTER}");
        let mut reader = Reader::new(padded.as_bytes());
        assert!(layout.read(&mut reader, |reader, _| reader.string().is_ok()));
    }
}
