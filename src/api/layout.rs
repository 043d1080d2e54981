//! Sessions written the way the one before them was, read with a few wide
//! compares.
//!
//! An API's serializer writes every session of a list the same way: the
//! same keys in the same order, the same punctuation and spacing; only the
//! values change. A [`Layout`] holds how one session that the general
//! reader read was written: the bytes around its string values, verbatim.
//! The next session is read against it, each stretch of those bytes
//! compared sixteen at a time and each value found by one scan to its
//! closing quote. At the first difference (another key, an escape, a value
//! that is not a string, the window's end) the caller reads the session
//! with the general reader instead, from where it began, and learns its
//! layout from it.
//!
//! This never changes a result. A session that matches has exactly the
//! learned session's bytes outside its string values, and plain runs of
//! string bytes (no quote, backslash or control character) inside them:
//! the same tokens, the same keys in the same order, each value a string
//! where the learned session had one. The general reader would find the
//! same fields with the same values, and the same verdict. A value is
//! handed out only from the window's UTF-8-checked text, where the general
//! reader would borrow it too.

use super::json::Reader;

/// The longest stretch between two values that a layout keeps: a session
/// with more bytes than this between two strings (a large value that is not
/// a string, which the stretch would have to match byte for byte) is not
/// worth learning.
const MAX_STRETCH: usize = 256;

/// The most values a layout follows.
const MAX_VALUES: usize = 64;

/// One string value of a learned session: for the slot `T`, or skipped
/// (`None`); where its contents start and end in the window.
pub type Run<T> = (Option<T>, usize, usize);

/// How a session was written: the literal stretches around its string
/// values. Empty until one is learned, and then nothing matches it.
#[derive(Debug)]
pub struct Layout<T> {
    /// The bytes of every stretch after its first sixteen, in sixteen-byte
    /// pieces, each a value and a mask of the bytes it holds, little-endian,
    /// in order.
    pieces: Vec<(u128, u128)>,
    /// The stretch before the first value, then each value's slot and the
    /// stretch after it.
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
    /// learned one was, handing each value read to `put` in order; false
    /// when it is not, with the reader back where it was (and `put` maybe
    /// called for some values, which the caller discards).
    #[inline]
    pub fn read<'de>(&self, reader: &mut Reader<'de>, mut put: impl FnMut(T, &'de str)) -> bool {
        let start = reader.position();
        let read = self.read_from(reader, &mut put);
        if !read {
            reader.rewind(start);
        }
        read
    }

    #[inline]
    fn read_from<'de>(&self, reader: &mut Reader<'de>, put: &mut impl FnMut(T, &'de str)) -> bool {
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
        for stretch in values {
            let Some(run) = reader.plain_run() else {
                return false;
            };
            if let Some(slot) = stretch.slot {
                let Some(text) = reader.plain_text(run) else {
                    return false;
                };
                put(slot, text);
            }
            if !eat(reader, stretch) {
                return false;
            }
        }
        true
    }

    /// Learns how the session in `bytes` (all of it, from where its read
    /// began, at `offset` in the window) was written, given its string
    /// values' runs in order; `learnable` is false when the session had a
    /// field read as something other than a string, which a layout cannot
    /// hold. Without a value, or with a stretch or values beyond the
    /// limits, the layout is left empty.
    pub fn learn(&mut self, bytes: &[u8], offset: usize, runs: &[Run<T>], learnable: bool) {
        self.pieces.clear();
        self.stretches.clear();
        if !learnable || runs.is_empty() || runs.len() > MAX_VALUES {
            return;
        }
        let mut from = 0;
        let mut slot = None;
        for &(next, start, end) in runs {
            let stretch = start
                .checked_sub(offset)
                .and_then(|start| bytes.get(from..start));
            if !self.add(slot, stretch) {
                return self.stretches.clear();
            }
            slot = next;
            from = end.saturating_sub(offset);
        }
        if !self.add(slot, bytes.get(from..)) {
            self.stretches.clear();
        }
    }

    /// Adds a stretch; false when there is none (runs out of order) or it
    /// is too long.
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

    /// The values a layout reads from `session` (followed by `after`),
    /// after learning `learned`, whose runs are found by looking for the
    /// `:"` before values.
    fn read_like(learned: &str, session: &str, after: &str) -> Option<Vec<(usize, String)>> {
        let mut layout = Layout::default();
        layout.learn(learned.as_bytes(), 0, &runs(learned), true);
        let session = format!("{session}{after}");
        let mut reader = Reader::new(session.as_bytes());
        let mut values = Vec::new();
        let read = layout.read(&mut reader, |slot, text| {
            values.push((slot, text.to_owned()))
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

    /// The runs of the values of a flat object of string values (`":"`
    /// before each, `"` after), numbered in order.
    fn runs(session: &str) -> Vec<Run<usize>> {
        let mut runs = Vec::new();
        let mut at = 0;
        while let Some(found) = session[at..].find(":\"") {
            let start = at + found + 2;
            let end = start + session[start..].find('"').unwrap_or_default();
            runs.push((Some(runs.len()), start, end));
            at = end + 1;
        }
        runs
    }

    const SESSION: &str = r#"{"id":"abc","agent":"a-1","status":"running"}"#;

    /// What follows a session in the window: the reader compares sixteen
    /// bytes at a time, and refuses a stretch that the window cuts.
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
        let base = SESSION;
        let padded = format!("{base}{AFTER}");
        let runs = runs(base);
        for at in 0..base.len() {
            if runs
                .iter()
                .any(|&(_, start, end)| (start..end).contains(&at))
            {
                continue;
            }
            for byte in 0..=255u8 {
                if byte == padded.as_bytes()[at] {
                    continue;
                }
                let mut session = padded.clone().into_bytes();
                session[at] = byte;
                let mut layout = Layout::default();
                layout.learn(base.as_bytes(), 0, &runs, true);
                let mut reader = Reader::new(&session);
                // Change a closing quote into a plain byte, and the value
                // runs on into the next stretch, which must then differ.
                assert!(
                    !layout.read(&mut reader, |_, _| ()),
                    "byte {byte:#x} at {at} went unnoticed"
                );
            }
        }
    }

    #[test]
    fn refuses_escapes_control_characters_and_a_short_window() {
        for (session, after) in [
            (r#"{"id":"a\"b","agent":"a-1","status":"running"}"#, AFTER),
            (
                "{\"id\":\"a\tb\",\"agent\":\"a-1\",\"status\":\"running\"}",
                AFTER,
            ),
            (
                r#"{"id":"a\u0062","agent":"a-1","status":"running"}"#,
                AFTER,
            ),
            (SESSION, "]"),
        ] {
            assert_eq!(read_like(SESSION, session, after), None, "{session}");
        }
        assert!(read_like(SESSION, SESSION, AFTER).is_some());
    }

    #[test]
    fn learns_nothing_from_a_session_it_cannot_hold() {
        let mut layout: Layout<usize> = Layout::default();
        let mut reader = Reader::new(SESSION.as_bytes());
        layout.learn(SESSION.as_bytes(), 0, &runs(SESSION), false);
        assert!(!layout.read(&mut reader, |_, _| ()));
        layout.learn(SESSION.as_bytes(), 0, &[], true);
        assert!(!layout.read(&mut reader, |_, _| ()));
        let long = format!(r#"{{"n":{},"id":"abc"}}"#, "1".repeat(300));
        layout.learn(long.as_bytes(), 0, &runs(&long), true);
        let padded = format!("{long}{AFTER}");
        let mut reader = Reader::new(padded.as_bytes());
        assert!(!layout.read(&mut reader, |_, _| ()));
    }
}
