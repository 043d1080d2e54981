//! A JSON reader built for what the session parser does with it: read a
//! few short strings per object and skip everything else, checking the
//! grammar of all of it.
//!
//! It reads a window of the body: the whole body, or the part of it that
//! has arrived. At the end of a window that is not the end of the body it
//! stops with a fault that asks for more bytes ([`Fault::needs_more`]), and
//! the caller reads the same step again once they have come; everywhere
//! else it behaves exactly as if it had the whole body.
//!
//! It refuses what serde_json refuses and reads strings as serde_json reads
//! them (the session parser states the model, and `tests/it/garbage.rs`
//! compares the two on damaged bodies), and says where an error is by line
//! and column. It is not a serde `Deserializer`: the parser drives it
//! directly, which on a session list costs less than what
//! `serde_json::from_slice::<IgnoredAny>` costs to skip the same bytes.
//! What makes that possible:
//!
//! - keys the caller names are recognised in place when written plainly
//!   (`"status":`), without scanning them as strings first;
//! - strings are scanned sixteen bytes at a time for `"`, `\` and control
//!   characters, with vector compares and a byte mask on x86-64;
//! - UTF-8 is checked a few KiB at a time from the first string handed out
//!   on (with vector instructions, by `simdutf8`), so the strings after it
//!   are handed out as slices with no check each, and the bytes of
//!   sessions the caller does not read are never checked (as serde_json
//!   does not check the strings it skips);
//! - skipped values are walked in place with an explicit stack instead of
//!   recursion, so any depth is fine;
//! - nothing tracks lines and columns until an error needs them (the
//!   caller counts the lines of the bytes it has dropped, [`Lines`]).

/// How many bytes are checked to be UTF-8 at a time, from a string on: the
/// sessions read after it are nearly always among them.
const CHECKED_AHEAD: usize = 4096;

/// Why a body is not the JSON expected: what went wrong and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at line {line} column {column}")]
pub struct Error {
    message: &'static str,
    line: usize,
    column: usize,
}

/// An error as the reader and its caller raise it: what, and where as an
/// offset into the window, which [`Reader::locate`] turns into a line and
/// column.
#[derive(Debug)]
pub struct Fault {
    message: &'static str,
    offset: usize,
    /// The window ended before the body did: not an error yet.
    more: bool,
}

impl Fault {
    /// Whether the window ended where the body may go on: the step must be
    /// read again with more bytes.
    pub fn needs_more(&self) -> bool {
        self.more
    }
}

/// The lines of the bytes before a window, which are no longer held, so
/// that an error in the window can still say its line and column.
#[derive(Debug, Clone, Copy, Default)]
pub struct Lines {
    /// The body offset of the window's first byte.
    offset: usize,
    /// Newlines before it.
    newlines: usize,
    /// The body offset where the line it is on starts.
    line_start: usize,
}

impl Lines {
    /// The window now starts after `dropped`, which it started with.
    pub fn advance(&mut self, dropped: &[u8]) {
        let newlines = count_newlines(dropped);
        if newlines > 0 {
            self.newlines += newlines;
            if let Some(last) = memchr::memrchr(b'\n', dropped) {
                self.line_start = self.offset + last + 1;
            }
        }
        self.offset += dropped.len();
    }

    /// An error at the window's first byte.
    pub fn error_at_start(&self, message: &'static str) -> Error {
        Error {
            message,
            line: 1 + self.newlines,
            column: 1 + self.offset - self.line_start,
        }
    }
}

/// The allocations a reader keeps between windows.
#[derive(Debug, Default)]
pub struct Buffers {
    /// The unescaped copy of the last string that had escapes.
    scratch: Vec<u8>,
    /// The lists (`false`) and objects (`true`) open in the value being
    /// skipped.
    skipping: Vec<bool>,
}

/// The reading position in a window of the body.
pub struct Reader<'de> {
    bytes: &'de [u8],
    /// The bytes of the window from `text_at` on that were last checked to
    /// be UTF-8 ([`Self::checked`]): strings in them are sliced from them
    /// without a check each.
    text: &'de str,
    text_at: usize,
    /// Whether the body ends where the window does.
    complete: bool,
    pos: usize,
    buffers: Buffers,
}

/// Where a string's contents are in the body.
#[derive(Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
    escaped: bool,
}

/// An object's key, as [`Reader::next_key`] finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key<T> {
    /// A key the caller named, with the value it gave.
    Known(T),
    /// Any other key.
    Other,
}

/// A string's contents.
pub enum Text<'de, 's> {
    /// A slice of the body: the string had no escapes.
    Borrowed(&'de str),
    /// Unescaped into the reader's scratch space.
    Copied(&'s str),
}

impl<'de> Reader<'de> {
    /// A reader at the start of a whole body.
    #[cfg(test)]
    pub fn new(bytes: &'de [u8]) -> Self {
        Reader::window(bytes, true, Buffers::default())
    }

    /// A reader at the start of a window of the body; `complete` when the
    /// body ends where the window does.
    pub fn window(bytes: &'de [u8], complete: bool, buffers: Buffers) -> Self {
        Reader {
            bytes,
            text: "",
            text_at: 0,
            complete,
            pos: 0,
            buffers,
        }
    }

    /// Gives back the allocations, for the next window.
    pub fn into_buffers(self) -> Buffers {
        self.buffers
    }

    /// The reading position, as an offset into the window.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// A fault at the reading position.
    pub fn fault(&self, message: &'static str) -> Fault {
        self.fault_at(self.pos, message)
    }

    fn fault_at(&self, offset: usize, message: &'static str) -> Fault {
        Fault {
            message,
            offset,
            more: false,
        }
    }

    /// The window ended: the end of the body, or a request for more of it.
    fn end_of_body(&mut self) -> Fault {
        self.pos = self.bytes.len();
        Fault {
            more: !self.complete,
            ..self.fault("unexpected end of the body")
        }
    }

    /// The fault with its line and column in the body, the window starting
    /// after the bytes `lines` counted.
    pub fn locate(&self, fault: Fault, lines: &Lines) -> Error {
        let before = &self.bytes[..fault.offset.min(self.bytes.len())];
        let newline = before.iter().rposition(|&byte| byte == b'\n');
        let line_start = newline.map_or(lines.line_start, |at| lines.offset + at + 1);
        Error {
            message: fault.message,
            line: 1 + lines.newlines + before.iter().filter(|&&byte| byte == b'\n').count(),
            column: 1 + lines.offset + before.len() - line_start,
        }
    }

    /// Only whitespace may remain.
    pub fn end(&mut self) -> Result<(), Fault> {
        match self.peek_token() {
            None => Ok(()),
            Some(_) => Err(self.fault("unexpected characters after the JSON value")),
        }
    }

    /// The next byte that is not whitespace, which is not consumed.
    #[inline]
    fn peek_token(&mut self) -> Option<u8> {
        while let Some(&byte) = self.bytes.get(self.pos) {
            if !is_space(byte) {
                return Some(byte);
            }
            self.pos += 1;
        }
        None
    }

    /// The next byte that is not whitespace, which is not consumed; the end
    /// of the body is an error.
    #[inline]
    pub fn next_token(&mut self) -> Result<u8, Fault> {
        match self.peek_token() {
            Some(byte) => Ok(byte),
            None => Err(self.end_of_body()),
        }
    }

    /// Consumes the `{` or `[` at the reading position, which opens the
    /// object or list that [`Self::next_key`] or [`Self::next_item`] walk.
    #[inline]
    pub fn open(&mut self) {
        self.pos += 1;
    }

    /// Moves to the next key of an open object and past its colon; `None`
    /// when the object ends (its `}` consumed). `first` is true for the
    /// object's first call.
    ///
    /// The caller names the keys it reads: a key listed in `names` comes as
    /// [`Key::Known`] with the value listed with it. Keys are compared after
    /// unescaping; one that does not decode to text matches no name.
    #[inline]
    pub fn next_key<T: Copy>(
        &mut self,
        first: bool,
        names: &[(&[u8], T)],
    ) -> Result<Option<Key<T>>, Fault> {
        if !self.next_entry(first, b'}')? {
            return Ok(None);
        }
        let key = self.key(names)?;
        self.colon()?;
        Ok(Some(key))
    }

    /// Reads the key at the reading position (after the spacing before
    /// it), as [`Self::next_key`] names it; the colon is left to read.
    #[inline]
    pub fn key<T: Copy>(&mut self, names: &[(&[u8], T)]) -> Result<Key<T>, Fault> {
        if self.next_token()? != b'"' {
            return Err(self.fault("expected a quoted key"));
        }
        // Fast path: the key is written plainly.
        let rest = &self.bytes[self.pos + 1..];
        let first_byte = rest.first().copied();
        for &(name, known) in names {
            // The first byte rules out most names at the cost of one compare.
            if name.first().copied() == first_byte
                && rest.starts_with(name)
                && rest.get(name.len()) == Some(&b'"')
            {
                self.pos += name.len() + 2;
                return Ok(Key::Known(known));
            }
        }
        let key = self.skip_string()?;
        // Escapes are ASCII and unescape to whole characters: the key is
        // UTF-8 when its bytes are, which most often needs no other check.
        let written_as_text = self.checked(key.start, key.end).is_some();
        let raw = &self.bytes[key.start..key.end];
        let unescaped = if key.escaped {
            self.buffers.scratch.clear();
            if let Err((at, message)) = unescape(raw, &mut self.buffers.scratch) {
                return Err(self.fault_at(key.start + at, message));
            }
            &self.buffers.scratch[..]
        } else {
            raw
        };
        // A key is read as text, as serde_json reads the keys of the objects
        // it deserializes (the body's and each session's): one that is not
        // UTF-8 refuses the body.
        if !written_as_text && std::str::from_utf8(unescaped).is_err() {
            return Err(self.fault_at(key.start, "invalid UTF-8 in a key"));
        }
        let known = names.iter().find(|(name, _)| *name == unescaped);
        Ok(known.map_or(Key::Other, |&(_, known)| Key::Known(known)))
    }

    /// Skips the object whose `{` is at the reading position, reading its
    /// keys as text (refusing one that is not) and skipping its values.
    pub fn skip_object_reading_keys(&mut self) -> Result<(), Fault> {
        self.open();
        let mut first = true;
        while self.next_key::<()>(first, &[])?.is_some() {
            first = false;
            self.skip_value()?;
        }
        Ok(())
    }

    /// Skips the number at the reading position, refusing one that
    /// serde_json refuses to read as a value: a magnitude too large for an
    /// `f64` (`1e999`). serde_json itself decides, on the number's bytes,
    /// so that the two agree to the last digit; numbers are rare where this
    /// is called (a field that should be a string).
    pub fn skip_number_in_range(&mut self) -> Result<(), Fault> {
        let start = self.pos;
        self.skip_number()?;
        match serde_json::from_slice::<serde_json::Number>(&self.bytes[start..self.pos]) {
            Ok(_) => Ok(()),
            Err(_) => Err(self.fault_at(start, "number out of range")),
        }
    }

    /// Moves to the next value of an open list, past the spacing before it;
    /// false when the list ends (its `]` consumed). `first` is true for the
    /// list's first call.
    #[inline]
    pub fn next_item(&mut self, first: bool) -> Result<bool, Fault> {
        let more = self.next_entry(first, b']')?;
        if more {
            // The value then starts at the reading position, whatever
            // spacing follows the comma.
            self.peek_token();
        }
        Ok(more)
    }

    /// Moves past the comma before the next entry of an open list or object
    /// (true), or past its `closing` bracket (false).
    #[inline]
    pub fn next_entry(&mut self, first: bool, closing: u8) -> Result<bool, Fault> {
        match self.next_token()? {
            byte if byte == closing => {
                self.pos += 1;
                Ok(false)
            }
            b',' if !first => {
                self.pos += 1;
                Ok(true)
            }
            _ if first => Ok(true),
            _ if closing == b'}' => Err(self.fault("expected `,` or `}`")),
            _ => Err(self.fault("expected `,` or `]`")),
        }
    }

    /// Moves past the colon after a key, and the spacing before it.
    pub fn colon(&mut self) -> Result<(), Fault> {
        if self.next_token()? == b':' {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.fault("expected `:`"))
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), Fault> {
        let rest = &self.bytes[self.pos..];
        if rest.starts_with(word) {
            self.pos += word.len();
            Ok(())
        } else if !self.complete && rest.len() < word.len() && word.starts_with(rest) {
            // The window ends inside what may be the word.
            Err(self.end_of_body())
        } else {
            Err(self.fault("expected a JSON value"))
        }
    }

    /// Skips the string whose opening quote is at the reading position;
    /// returns where its contents are.
    #[inline(always)]
    fn skip_string(&mut self) -> Result<Span, Fault> {
        self.pos += 1;
        let start = self.pos;
        let mut escaped = false;
        loop {
            self.pos = find_special(self.bytes, self.pos);
            match self.bytes.get(self.pos) {
                Some(b'"') => {
                    let end = self.pos;
                    self.pos += 1;
                    return Ok(Span {
                        start,
                        end,
                        escaped,
                    });
                }
                Some(b'\\') => {
                    self.skip_escape()?;
                    escaped = true;
                }
                Some(_) => return Err(self.fault("control character in a string")),
                None => return Err(self.end_of_body()),
            }
        }
    }

    /// Skips the escape sequence whose backslash is at the reading position.
    fn skip_escape(&mut self) -> Result<(), Fault> {
        match self.bytes.get(self.pos + 1) {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                self.pos += 2;
                Ok(())
            }
            Some(b'u') => match self.bytes.get(self.pos + 2..self.pos + 6) {
                Some(digits) if hex_value(digits).is_some() => {
                    self.pos += 6;
                    Ok(())
                }
                Some(_) => Err(self.fault("invalid \\u escape in a string")),
                None => Err(self.end_of_body()),
            },
            Some(_) => Err(self.fault("invalid escape in a string")),
            None => Err(self.end_of_body()),
        }
    }

    /// Reads the string whose opening quote is at the reading position.
    #[inline]
    pub fn string(&mut self) -> Result<Text<'de, '_>, Fault> {
        let span = self.skip_string()?;
        self.text(span)
    }

    /// A skipped string's contents, unescaped if need be.
    fn text(&mut self, span: Span) -> Result<Text<'de, '_>, Fault> {
        let Span {
            start,
            end,
            escaped,
        } = span;
        if !escaped {
            return match self.plain_text((start, end)) {
                Some(text) => Ok(Text::Borrowed(text)),
                None => Err(self.fault_at(start, "invalid UTF-8 in a string")),
            };
        }
        self.buffers.scratch.clear();
        if let Err((at, message)) = unescape(&self.bytes[start..end], &mut self.buffers.scratch) {
            return Err(self.fault_at(start + at, message));
        }
        match std::str::from_utf8(&self.buffers.scratch) {
            Ok(text) => Ok(Text::Copied(text)),
            Err(_) => Err(self.fault_at(start, "invalid UTF-8 in a string")),
        }
    }

    /// Moves the reading position back to `position`, where an attempt
    /// that did not fit began.
    pub fn rewind(&mut self, position: usize) {
        self.pos = position;
    }

    /// The window's bytes from the reading position on.
    pub fn ahead(&self) -> &'de [u8] {
        &self.bytes[self.pos.min(self.bytes.len())..]
    }

    /// The window's bytes from `start` to the reading position.
    pub fn read_since(&self, start: usize) -> &'de [u8] {
        &self.bytes[start.min(self.pos)..self.pos]
    }

    /// Consumes the bytes at the reading position if they are exactly the
    /// literal of `len` bytes whose sixteen-byte pieces (each a value and a
    /// mask of the bytes it holds, little-endian) are `first` and then
    /// `more`; false, consuming nothing, when they differ or the window
    /// ends first.
    #[inline]
    pub fn eat(&mut self, first: (u128, u128), more: &[(u128, u128)], len: usize) -> bool {
        let matches = |at: usize, (want, mask): (u128, u128)| {
            let got = match self
                .bytes
                .get(at..)
                .and_then(|rest| rest.first_chunk::<16>())
            {
                Some(block) => u128::from_le_bytes(*block),
                None => match block_at(self.bytes, at, 0) {
                    // Bytes the window does not have must not be wanted.
                    Some((block, real)) if mask.checked_shr(8 * real as u32).unwrap_or(0) == 0 => {
                        u128::from_le_bytes(block)
                    }
                    _ => return false,
                },
            };
            (got ^ want) & mask == 0
        };
        let matched = matches(self.pos, first)
            && (more.iter())
                .enumerate()
                .all(|(index, &piece)| matches(self.pos + 16 * (index + 1), piece));
        if matched {
            self.pos += len;
        }
        matched
    }

    /// Skips the string at the reading position if there is one there that
    /// is short (up to 63 bytes), has no escape, and ends in the window:
    /// where its contents are. `None`, consuming nothing, otherwise, for
    /// [`Self::string`] to read (which reads it again, so only a short
    /// string is tried).
    #[inline]
    pub fn skip_plain_string(&mut self) -> Option<(usize, usize)> {
        if self.bytes.get(self.pos) != Some(&b'"') {
            return None;
        }
        let start = self.pos + 1;
        let mut at = start;
        for _ in 0..4 {
            let found = match self
                .bytes
                .get(at..)
                .and_then(|rest| rest.first_chunk::<16>())
            {
                Some(block) => first_special_of_16(block),
                None => return self.skip_plain_string_end(start, at),
            };
            if let Some(found) = found {
                return self.plain_string_ends(start, at + found);
            }
            at += 16;
        }
        None
    }

    /// The string from `start` ends at `end`, where a special byte is:
    /// consumed if that byte is its closing quote.
    #[inline]
    fn plain_string_ends(&mut self, start: usize, end: usize) -> Option<(usize, usize)> {
        if self.bytes.get(end) != Some(&b'"') {
            return None;
        }
        self.pos = end + 1;
        Some((start, end))
    }

    /// [`Self::skip_plain_string`] in the window's last sixteen bytes, at
    /// `at`: padded with plain bytes, so a special byte found is a real one,
    /// and none found means the window ends in the string.
    #[cold]
    fn skip_plain_string_end(&mut self, start: usize, at: usize) -> Option<(usize, usize)> {
        let found = first_special_of_16(&block_at(self.bytes, at, b' ')?.0)?;
        self.plain_string_ends(start, at + found)
    }

    /// The contents of a string without escapes as text: `None` if they
    /// are not UTF-8.
    #[inline]
    pub fn plain_text(&mut self, (start, end): (usize, usize)) -> Option<&'de str> {
        self.checked(start, end)
    }

    /// The window's bytes `start..end` (`start` just after a `"`) as text,
    /// if they are UTF-8: sliced from the bytes checked last, or else
    /// after checking the bytes from `start` on, [`CHECKED_AHEAD`] of them
    /// or to `end` if further, which the next strings are then likely in.
    #[inline]
    fn checked(&mut self, start: usize, end: usize) -> Option<&'de str> {
        if let Some(text) = (start.checked_sub(self.text_at))
            .and_then(|from| self.text.get(from..end - self.text_at))
        {
            return Some(text);
        }
        self.check_from(start, end);
        self.text.get(..end - start)
    }

    #[cold]
    fn check_from(&mut self, start: usize, end: usize) {
        let bytes = self.bytes;
        let upto = (start + CHECKED_AHEAD).max(end).min(bytes.len());
        let Some(ahead) = bytes.get(start..upto) else {
            return;
        };
        // Up to the first byte that is not UTF-8, or to a character cut by
        // the end of what is checked.
        self.text = simdutf8::compat::from_utf8(ahead).unwrap_or_else(|error| {
            std::str::from_utf8(&ahead[..error.valid_up_to()]).unwrap_or_default()
        });
        self.text_at = start;
    }

    /// Skips a number, checking its grammar.
    fn skip_number(&mut self) -> Result<(), Fault> {
        let bytes = self.bytes;
        if !self.complete {
            // A number that runs to the window's end may go on after it.
            let end = bytes[self.pos..]
                .iter()
                .position(|byte| !matches!(byte, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'));
            if end.is_none() {
                return Err(self.end_of_body());
            }
        }
        let digits_from = |mut pos: usize| {
            while let Some(b'0'..=b'9') = bytes.get(pos) {
                pos += 1;
            }
            pos
        };
        let mut pos = self.pos + usize::from(bytes.get(self.pos) == Some(&b'-'));
        pos = match bytes.get(pos) {
            Some(b'0') => pos + 1,
            Some(b'1'..=b'9') => digits_from(pos + 1),
            _ => return Err(self.fault_at(pos, "invalid number")),
        };
        if bytes.get(pos) == Some(&b'.') {
            pos += 1;
            if !matches!(bytes.get(pos), Some(b'0'..=b'9')) {
                return Err(self.fault_at(pos, "invalid number"));
            }
            pos = digits_from(pos);
        }
        if let Some(b'e' | b'E') = bytes.get(pos) {
            pos += 1;
            if let Some(b'+' | b'-') = bytes.get(pos) {
                pos += 1;
            }
            if !matches!(bytes.get(pos), Some(b'0'..=b'9')) {
                return Err(self.fault_at(pos, "invalid number"));
            }
            pos = digits_from(pos);
        }
        self.pos = pos;
        Ok(())
    }

    /// Skips one value of any kind, checking its grammar, without recursion.
    pub fn skip_value(&mut self) -> Result<(), Fault> {
        self.buffers.skipping.clear();
        loop {
            // A value starts here.
            match self.next_token()? {
                b'"' => {
                    self.skip_string()?;
                }
                b'-' | b'0'..=b'9' => {
                    self.skip_number()?;
                }
                b'n' => self.literal(b"null")?,
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'[' => {
                    self.pos += 1;
                    if self.peek_token() == Some(b']') {
                        self.pos += 1;
                    } else {
                        self.buffers.skipping.push(false);
                        continue;
                    }
                }
                b'{' => {
                    self.pos += 1;
                    if self.peek_token() == Some(b'}') {
                        self.pos += 1;
                    } else {
                        self.buffers.skipping.push(true);
                        self.skip_key()?;
                        continue;
                    }
                }
                _ => return Err(self.fault("expected a JSON value")),
            }
            // A value ended: close what it ends, up to where the next starts.
            loop {
                let Some(&in_object) = self.buffers.skipping.last() else {
                    return Ok(());
                };
                match self.next_token()? {
                    b',' => {
                        self.pos += 1;
                        if in_object {
                            self.skip_key()?;
                        }
                        break;
                    }
                    b']' if !in_object => {
                        self.pos += 1;
                        self.buffers.skipping.pop();
                    }
                    b'}' if in_object => {
                        self.pos += 1;
                        self.buffers.skipping.pop();
                    }
                    _ if in_object => return Err(self.fault("expected `,` or `}`")),
                    _ => return Err(self.fault("expected `,` or `]`")),
                }
            }
        }
    }

    /// Skips an object's key and the colon after it.
    fn skip_key(&mut self) -> Result<(), Fault> {
        if self.next_token()? != b'"' {
            return Err(self.fault("expected a quoted key"));
        }
        self.skip_string()?;
        self.colon()
    }
}

/// Up to sixteen bytes of `bytes` from `at` (the callers' fast paths take a
/// whole block themselves; this is for the window's last bytes), padded
/// with `pad`, and how many are the window's; `None` at or past its end.
#[cold]
fn block_at(bytes: &[u8], at: usize, pad: u8) -> Option<([u8; 16], usize)> {
    let rest = bytes.get(at..).filter(|rest| !rest.is_empty())?;
    let real = rest.len().min(16);
    let mut block = [pad; 16];
    block[..real].copy_from_slice(&rest[..real]);
    Some((block, real))
}

/// The index of the first byte at or after `from` that ends a run of plain
/// string bytes: `"`, `\` or a control character; the length if none does.
///
/// Sixteen bytes at a time, each block tested by [`first_special_of_16`];
/// the last, shorter block is padded with plain bytes.
#[inline]
fn find_special(bytes: &[u8], from: usize) -> usize {
    let rest = &bytes[from.min(bytes.len())..];
    let (blocks, tail) = rest.as_chunks::<16>();
    for (index, block) in blocks.iter().enumerate() {
        if let Some(at) = first_special_of_16(block) {
            return from + index * 16 + at;
        }
    }
    let mut last = [b' '; 16];
    last[..tail.len()].copy_from_slice(tail);
    let tail_from = from + blocks.len() * 16;
    first_special_of_16(&last).map_or(bytes.len(), |at| tail_from + at)
}

/// The index of the first `"`, `\` or control character in sixteen bytes:
/// vector compares and a byte mask, through `safe_arch` (SSE2, which every
/// x86-64 processor has).
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline]
fn first_special_of_16(block: &[u8; 16]) -> Option<usize> {
    use safe_arch::{
        bitor_m128i, cmp_eq_mask_i8_m128i, m128i, max_u8_m128i, move_mask_i8_m128i,
        set_splat_i8_m128i,
    };
    let splat = |byte: u8| set_splat_i8_m128i(i8::from_ne_bytes([byte]));
    let bytes = m128i::from(*block);
    let quote = cmp_eq_mask_i8_m128i(bytes, splat(b'"'));
    let backslash = cmp_eq_mask_i8_m128i(bytes, splat(b'\\'));
    // A byte is below 0x20 when the larger of it and 0x1f is 0x1f.
    let control = cmp_eq_mask_i8_m128i(max_u8_m128i(bytes, splat(0x1f)), splat(0x1f));
    let mask = move_mask_i8_m128i(bitor_m128i(bitor_m128i(quote, backslash), control));
    (mask != 0).then(|| mask.trailing_zeros() as usize)
}

/// The same, elsewhere: eight bytes at a time with bit tricks.
#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
#[inline]
fn first_special_of_16(block: &[u8; 16]) -> Option<usize> {
    first_special_of_16_portable(block)
}

/// [`first_special_of_16`] without vector instructions, kept built on every
/// target so that its tests run everywhere.
#[cfg_attr(
    all(target_arch = "x86_64", target_feature = "sse2"),
    allow(dead_code, reason = "tested on every target, used where SSE2 is not")
)]
#[inline]
fn first_special_of_16_portable(block: &[u8; 16]) -> Option<usize> {
    let (low, high) = block.split_at(8);
    first_special_of_8(low).or_else(|| Some(8 + first_special_of_8(high)?))
}

/// The index of the first `"`, `\` or control character in eight bytes.
#[cfg_attr(
    all(target_arch = "x86_64", target_feature = "sse2"),
    allow(dead_code, reason = "tested on every target, used where SSE2 is not")
)]
#[inline]
fn first_special_of_8(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    // High bit set in each byte of `word` that is below `limit` (< 0x80).
    // Bits above the lowest one may be spurious; the lowest is exact.
    let below = |word: u64, limit: u8| word.wrapping_sub(ONES * u64::from(limit)) & !word & HIGH;
    let equal = |word: u64, byte: u8| below(word ^ (ONES * u64::from(byte)), 1);
    let word = u64::from_le_bytes(bytes.try_into().ok()?);
    let special = equal(word, b'"') | equal(word, b'\\') | below(word, 0x20);
    (special != 0).then(|| (special.trailing_zeros() / 8) as usize)
}

/// Whether `byte` is whitespace in JSON.
#[inline]
pub fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\n' | b'\r' | b'\t')
}

/// How many `\n` bytes `bytes` holds: none unless a vector search finds
/// one, else counted from there in byte-wide lanes that the compiler turns
/// into vector compares (255 bytes at most per lane sum, so none
/// overflows).
fn count_newlines(bytes: &[u8]) -> usize {
    // Most bodies have no newline at all: finding none is several times
    // cheaper than counting.
    let Some(first) = memchr::memchr(b'\n', bytes) else {
        return 0;
    };
    bytes[first..]
        .chunks(255)
        .map(|block| {
            let in_block = block.iter().fold(0u8, |count, &byte| {
                count.wrapping_add(u8::from(byte == b'\n'))
            });
            usize::from(in_block)
        })
        .sum()
}

/// The value of four hex digits.
fn hex_value(digits: &[u8]) -> Option<u16> {
    digits.iter().try_fold(0u16, |value, &digit| {
        let digit = char::from(digit).to_digit(16)?;
        Some(value << 4 | digit as u16)
    })
}

/// Appends the unescaped contents of a string whose escapes are already
/// known to be well formed; fails, with the offset of the escape, on a `\u`
/// escape that is half of a surrogate pair (not a character).
fn unescape(raw: &[u8], out: &mut Vec<u8>) -> Result<(), (usize, &'static str)> {
    let lone = "lone surrogate in a \\u escape";
    let mut pos = 0;
    while let Some(found) = raw[pos..].iter().position(|&byte| byte == b'\\') {
        out.extend_from_slice(&raw[pos..pos + found]);
        let escape = pos + found;
        let unit = |at: usize| raw.get(at..at + 4).and_then(hex_value);
        let (decoded, length) = match raw.get(escape + 1) {
            Some(b'b') => ('\u{8}', 2),
            Some(b'f') => ('\u{c}', 2),
            Some(b'n') => ('\n', 2),
            Some(b'r') => ('\r', 2),
            Some(b't') => ('\t', 2),
            Some(b'u') => {
                let first = unit(escape + 2).ok_or((escape, lone))?;
                let second = if raw.get(escape + 6..escape + 8) == Some(b"\\u") {
                    unit(escape + 8)
                } else {
                    None
                };
                match (first, second) {
                    (0xD800..=0xDBFF, Some(low @ 0xDC00..=0xDFFF)) => {
                        let code = 0x1_0000
                            + ((u32::from(first) - 0xD800) << 10)
                            + (u32::from(low) - 0xDC00);
                        (char::from_u32(code).ok_or((escape, lone))?, 12)
                    }
                    _ => (char::from_u32(u32::from(first)).ok_or((escape, lone))?, 6),
                }
            }
            // `"`, `\` and `/` stand for themselves.
            Some(&other) => (char::from(other), 2),
            None => return Err((escape, "invalid escape in a string")),
        };
        let mut buffer = [0; 4];
        out.extend_from_slice(decoded.encode_utf8(&mut buffer).as_bytes());
        pos = escape + length;
    }
    out.extend_from_slice(&raw[pos..]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_special_byte_in_every_position() {
        for special in [b'"', b'\\', b'\n', 0x00, 0x1f] {
            for at in 0..20 {
                let mut bytes = vec![b'a'; 20];
                bytes[at] = special;
                assert_eq!(find_special(&bytes, 0), at, "{special:#x} at {at}");
                if at > 3 {
                    assert_eq!(find_special(&bytes, 3), at);
                }
            }
        }
        // Bytes next to the special ones, and non-ASCII, are plain.
        let plain = "!#[]^_` \u{7f}é€😀 ~".as_bytes();
        assert_eq!(find_special(plain, 0), plain.len());
        assert_eq!(find_special(b"", 0), 0);
        assert_eq!(find_special(b"ab", 2), 2);
    }

    #[test]
    fn both_block_tests_agree_on_every_byte_in_every_position() {
        for byte in 0..=255u8 {
            for at in 0..16 {
                let mut block = [b'a'; 16];
                block[at] = byte;
                let special = byte == b'"' || byte == b'\\' || byte < 0x20;
                let expected = special.then_some(at);
                assert_eq!(first_special_of_16(&block), expected, "{byte:#x} at {at}");
                assert_eq!(
                    first_special_of_16_portable(&block),
                    expected,
                    "{byte:#x} at {at}"
                );
                // The first of two is found.
                block[15] = b'"';
                let expected = Some(if special { at } else { 15 });
                assert_eq!(first_special_of_16(&block), expected, "{byte:#x} at {at}");
                assert_eq!(
                    first_special_of_16_portable(&block),
                    expected,
                    "{byte:#x} at {at}"
                );
            }
        }
    }

    #[test]
    fn counts_newlines_in_blocks_of_any_length() {
        for length in [0usize, 1, 254, 255, 256, 1000] {
            let bytes: Vec<u8> = (0..length)
                .map(|i| if i % 3 == 0 { b'\n' } else { b'x' })
                .collect();
            assert_eq!(count_newlines(&bytes), length.div_ceil(3), "{length}");
        }
        assert_eq!(count_newlines(&[b'\n'; 600]), 600);
    }

    #[test]
    fn unescapes_every_escape_and_surrogate_pairs() {
        let mut out = Vec::new();
        let raw = br#"a\"\\\/\b\f\n\r\t\u00e9\u20AC\ud83d\ude00z"#;
        assert_eq!(unescape(raw, &mut out), Ok(()));
        assert_eq!(
            String::from_utf8(out).as_deref(),
            Ok("a\"\\/\u{8}\u{c}\n\r\té€😀z")
        );
    }

    #[test]
    fn refuses_lone_surrogates() {
        for raw in [&br"\ud83d"[..], br"\ud83dx", br"\ude00", br"\ud83d\u0041"] {
            assert!(unescape(raw, &mut Vec::new()).is_err(), "{raw:?}");
        }
    }

    #[test]
    fn errors_say_line_and_column() {
        let mut reader = Reader::new(b"[\n  1,\n  x]");
        let fault = reader
            .skip_value()
            .err()
            .map(|fault| reader.locate(fault, &Lines::default()));
        assert_eq!(
            fault.map(|error| error.to_string()).as_deref(),
            Some("expected a JSON value at line 3 column 3")
        );
    }
}
