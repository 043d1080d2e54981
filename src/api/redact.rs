//! Cutting the API key out of text before anyone can read it.
//!
//! Whatever comes from upstream or from the HTTP stack (an error body, a
//! `Location` header, an error chain, a label value) may carry the key back:
//! a careless API echoes the `Authorization` header, a proxy puts it in a
//! redirect, a JSON field re-serialises it with escapes. Every such text
//! passes through [`Redactor::redact`] before it becomes a log field, an
//! error message or a label, and only then is it shortened, so that cutting
//! cannot leave a piece of the key that redaction would have caught.
//!
//! What is cut, wherever it stands in the text, in any letter case:
//!
//! - the key as sent, and any run of [`MIN_RUN`] or more consecutive
//!   characters of it (a key cut short by a truncation upstream);
//! - the same after undoing JSON escapes (`\"`, `\\`, `\/`, `\u0041`),
//!   `\x41` escapes, HTML character references (`&#65;`, `&#x41;`, `&quot;`)
//!   and percent-encoding (`%2F`, `%2f`), up to two levels deep and mixed, so
//!   a key re-serialised into a JSON string or put in a URL query is caught;
//! - base64, standard and URL-safe, with and without padding, of the key and
//!   of `Bearer <key>`, and of the key at any alignment inside a longer
//!   base64 text, and the key in hexadecimal (and runs of [`MIN_RUN`]
//!   characters of all of those);
//! - where a text was cut short before it got here (an error body read only
//!   in part), a piece of the key at the cut, however short.
//!
//! Each redacted stretch becomes [`REDACTED`]. A key split on purpose into
//! pieces shorter than [`MIN_RUN`] cannot be told from ordinary text: only
//! an API that already holds the key can do that.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use foldhash::{HashSet, HashSetExt};

/// What a redacted stretch of text is replaced with.
pub const REDACTED: &str = "<redacted>";

/// Runs of this many characters of a secret form are redacted: long enough
/// that ordinary text does not match by chance, short enough that a key cut
/// in half is still caught.
pub const MIN_RUN: usize = 12;

/// How many levels of escaping are undone: a key JSON-escaped inside a
/// percent-encoded query, or escaped twice by a re-serialisation.
const DECODE_LEVELS: usize = 2;

/// The forms of one key to look for, in ASCII lower case (matching is
/// case-insensitive).
pub struct Redactor {
    /// Every window of [`MIN_RUN`] bytes of every form at least that long.
    runs: HashSet<[u8; MIN_RUN]>,
    /// Forms shorter than [`MIN_RUN`] (a short key), matched whole.
    short_forms: Vec<Vec<u8>>,
    /// The first bytes of every form, for a text cut inside one.
    starts: Vec<Vec<u8>>,
}

/// A piece of a form at the end of a cut text must be this long to be
/// redacted, so that a cut text ending in `s` is not taken for `sk-...`.
const MIN_CUT_PIECE: usize = 3;

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Redactor(<redacted>)")
    }
}

impl Redactor {
    /// Prepares the forms of `key`.
    pub fn new(key: &str) -> Self {
        let mut forms: Vec<Vec<u8>> = vec![key.as_bytes().to_vec()];
        let bearer = format!("Bearer {key}");
        for engine in [&STANDARD, &URL_SAFE] {
            for secret in [key.as_bytes(), bearer.as_bytes()] {
                forms.push(engine.encode(secret).into_bytes());
            }
            // The key inside a longer base64 text: after 0, 1 or 2 bytes of
            // something else, its encoding is one of three strings; keep the
            // characters that depend on the key alone.
            for offset in 0..3 {
                let mut shifted = vec![0u8; offset];
                shifted.extend_from_slice(key.as_bytes());
                let encoded = engine.encode(&shifted);
                let skip = (offset * 4).div_ceil(3);
                let keep = (shifted.len() * 4 / 3).saturating_sub(skip);
                if let Some(middle) = encoded.as_bytes().get(skip..skip + keep) {
                    forms.push(middle.to_vec());
                }
            }
        }
        for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
            forms.push(engine.encode(bearer.as_bytes()).into_bytes());
        }
        for secret in [key.as_bytes(), bearer.as_bytes()] {
            forms.push(
                secret
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
                    .into_bytes(),
            );
        }
        for form in &mut forms {
            form.make_ascii_lowercase();
        }
        let starts = forms
            .iter()
            .map(|form| form[..form.len().min(MIN_RUN)].to_vec())
            .collect();
        let mut runs = HashSet::new();
        let mut short_forms = Vec::new();
        for form in forms {
            if form.len() >= MIN_RUN {
                for window in form.windows(MIN_RUN) {
                    if let Ok(window) = <[u8; MIN_RUN]>::try_from(window) {
                        runs.insert(window);
                    }
                }
            } else if !form.is_empty() && !short_forms.contains(&form) {
                short_forms.push(form);
            }
        }
        Redactor {
            runs,
            short_forms,
            starts,
        }
    }

    /// The forms of every key of `redactors` at once: what one account's
    /// text is redacted with when the process holds several keys.
    pub(crate) fn union<'a>(redactors: impl IntoIterator<Item = &'a Redactor>) -> Self {
        let mut union = Redactor {
            runs: HashSet::new(),
            short_forms: Vec::new(),
            starts: Vec::new(),
        };
        for redactor in redactors {
            union.runs.extend(redactor.runs.iter().copied());
            for form in &redactor.short_forms {
                if !union.short_forms.contains(form) {
                    union.short_forms.push(form.clone());
                }
            }
            for start in &redactor.starts {
                if !union.starts.contains(start) {
                    union.starts.push(start.clone());
                }
            }
        }
        union
    }

    /// Upstream text made fit for a log line or an error message: redacted
    /// first, then with runs of whitespace folded to one space, then cut to
    /// `max_chars` characters (with `…` when something was cut). `cut` says
    /// that `raw` is the start of a longer text, so that a piece of the key
    /// where it ends is redacted too.
    pub(crate) fn excerpt(&self, raw: &str, cut: bool, max_chars: usize) -> UpstreamText {
        let redacted = self.redact_text(raw, cut);
        let folded = redacted.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut excerpt: String = folded.chars().take(max_chars).collect();
        if excerpt.len() < folded.len() {
            excerpt.push('…');
        }
        UpstreamText(excerpt)
    }

    /// `text` with every form of the key replaced by [`REDACTED`].
    pub fn redact(&self, text: &str) -> String {
        self.redact_text(text, false)
    }

    /// [`Self::redact`] for the start of a longer text: a piece of the key
    /// where it ends is redacted too.
    pub(crate) fn redact_start(&self, text: &str) -> String {
        self.redact_text(text, true)
    }

    fn redact_text(&self, text: &str, cut: bool) -> String {
        let bytes = text.as_bytes();
        let mut secret = vec![false; bytes.len()];
        let mut view = View::identity(bytes);
        for level in 0..=DECODE_LEVELS {
            self.mark(&view, &mut secret);
            if cut {
                self.mark_cut_piece(&view, &mut secret);
            }
            if level < DECODE_LEVELS {
                match view.decoded() {
                    Some(next) => view = next,
                    None => break,
                }
            }
        }
        if !secret.contains(&true) {
            return text.to_owned();
        }
        let mut out = String::with_capacity(text.len());
        let mut start = 0;
        while start < bytes.len() {
            let end = (start..bytes.len())
                .find(|&i| secret[i] != secret[start])
                .unwrap_or(bytes.len());
            if secret[start] {
                out.push_str(REDACTED);
            } else {
                // Marks cover whole encoded characters of the source, so a
                // kept stretch starts and ends on character boundaries; the
                // lossy conversion is only a guard.
                out.push_str(&String::from_utf8_lossy(&bytes[start..end]));
            }
            start = end;
        }
        out
    }

    /// Marks the end of `view` when it is the start of a form.
    fn mark_cut_piece(&self, view: &View, secret: &mut [bool]) {
        let decoded = &view.bytes;
        let longest = self
            .starts
            .iter()
            .filter_map(|start| {
                (MIN_CUT_PIECE..=start.len().min(decoded.len()))
                    .rev()
                    .find(|&n| decoded[decoded.len() - n..] == start[..n])
            })
            .max();
        if let Some(n) = longest {
            let (start, end) = (
                view.spans[decoded.len() - n].0,
                view.spans[decoded.len() - 1].1,
            );
            secret[start..end].iter_mut().for_each(|s| *s = true);
        }
    }

    /// Marks the source bytes of every secret stretch of `view`.
    fn mark(&self, view: &View, secret: &mut [bool]) {
        let decoded = &view.bytes;
        let mut cover = |from: usize, to: usize| {
            let (start, end) = (view.spans[from].0, view.spans[to - 1].1);
            secret[start..end].iter_mut().for_each(|s| *s = true);
        };
        for (i, window) in decoded.windows(MIN_RUN).enumerate() {
            if <[u8; MIN_RUN]>::try_from(window).is_ok_and(|w| self.runs.contains(&w)) {
                cover(i, i + MIN_RUN);
            }
        }
        for form in &self.short_forms {
            for (i, window) in decoded.windows(form.len()).enumerate() {
                if window == form.as_slice() {
                    cover(i, i + form.len());
                }
            }
        }
    }
}

/// Text that came from upstream or the HTTP stack, already redacted: the
/// only way to build one is [`Redactor::excerpt`], so an error message
/// cannot carry upstream text that skipped redaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamText(String);

impl UpstreamText {
    /// Whether there is nothing to show.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Display for UpstreamText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Text after some levels of unescaping: each byte with the stretch of the
/// original text it came from.
struct View {
    bytes: Vec<u8>,
    spans: Vec<(usize, usize)>,
}

impl View {
    fn identity(text: &[u8]) -> Self {
        View {
            bytes: text.to_ascii_lowercase(),
            spans: (0..text.len()).map(|i| (i, i + 1)).collect(),
        }
    }

    /// One more level: JSON escapes and percent-encoding undone; `None` when
    /// there is nothing to undo.
    fn decoded(&self) -> Option<View> {
        let b = &self.bytes;
        let mut out = View {
            bytes: Vec::with_capacity(b.len()),
            spans: Vec::with_capacity(b.len()),
        };
        let mut changed = false;
        let mut i = 0;
        while i < b.len() {
            let (decoded, length) = decode_one(&b[i..]);
            let span = (self.spans[i].0, self.spans[i + length - 1].1);
            changed |= length > 1;
            for byte in decoded.as_slice() {
                out.bytes.push(byte.to_ascii_lowercase());
                out.spans.push(span);
            }
            i += length;
        }
        changed.then_some(out)
    }
}

/// The bytes one escape at the start of `rest` stands for, and its length
/// (a plain byte stands for itself).
fn decode_one(rest: &[u8]) -> (Decoded, usize) {
    let hex = |digits: &[u8]| -> Option<u32> {
        let text = std::str::from_utf8(digits).ok()?;
        u32::from_str_radix(text, 16).ok()
    };
    match rest {
        [b'%', a, b, ..] if a.is_ascii_hexdigit() && b.is_ascii_hexdigit() => {
            let byte = hex(&rest[1..3]).map_or(b'%', |v| v as u8);
            (Decoded::byte(byte), 3)
        }
        [b'\\', b'u', digits @ ..] if digits.len() >= 4 => match hex(&digits[..4]) {
            Some(unit) if digits[..4].iter().all(u8::is_ascii_hexdigit) => {
                match char::from_u32(unit) {
                    Some(c) => (Decoded::char(c), 6),
                    // Half of a surrogate pair: the key is ASCII, so it is
                    // never part of one.
                    None => (Decoded::byte(b'?'), 6),
                }
            }
            _ => (Decoded::byte(b'\\'), 1),
        },
        [b'\\', b'x', a, b, ..] if a.is_ascii_hexdigit() && b.is_ascii_hexdigit() => {
            let byte = hex(&rest[2..4]).map_or(b'x', |v| v as u8);
            (Decoded::byte(byte), 4)
        }
        [b'&', ..] => match html_reference(rest) {
            Some((c, length)) => (Decoded::char(c), length),
            None => (Decoded::byte(b'&'), 1),
        },
        [b'\\', escaped, ..] => match escaped {
            b'"' | b'\\' | b'/' => (Decoded::byte(*escaped), 2),
            b'b' => (Decoded::byte(0x08), 2),
            b'f' => (Decoded::byte(0x0c), 2),
            b'n' => (Decoded::byte(b'\n'), 2),
            b'r' => (Decoded::byte(b'\r'), 2),
            b't' => (Decoded::byte(b'\t'), 2),
            _ => (Decoded::byte(b'\\'), 1),
        },
        [byte, ..] => (Decoded::byte(*byte), 1),
        [] => (Decoded::byte(0), 1),
    }
}

/// The character an HTML character reference at the start of `rest` stands
/// for (`&#65;`, `&#x41;`, or one of the five named in XML), and its length.
fn html_reference(rest: &[u8]) -> Option<(char, usize)> {
    let end = rest.iter().take(12).position(|&b| b == b';')?;
    let name = std::str::from_utf8(&rest[1..end]).ok()?;
    let c = match name {
        "quot" => '"',
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "apos" => '\'',
        _ => {
            let code = match name.strip_prefix('#')? {
                hex if hex.starts_with(['x', 'X']) => u32::from_str_radix(&hex[1..], 16).ok()?,
                decimal => decimal.parse().ok()?,
            };
            char::from_u32(code)?
        }
    };
    Some((c, end + 1))
}

/// Up to four bytes: one decoded character.
struct Decoded {
    bytes: [u8; 4],
    len: usize,
}

impl Decoded {
    fn byte(byte: u8) -> Self {
        Decoded {
            bytes: [byte, 0, 0, 0],
            len: 1,
        }
    }

    fn char(c: char) -> Self {
        let mut bytes = [0; 4];
        let len = c.encode_utf8(&mut bytes).len();
        Decoded { bytes, len }
    }

    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key with every character that escapes differently in JSON, URLs
    /// and base64.
    const KEY: &str = r#"sk-live/Ab+Cd=Ef"Gh\Ij-0123456789abcdef"#;

    fn redacted(text: &str) -> String {
        Redactor::new(KEY).redact(text)
    }

    fn assert_clean(text: &str) {
        let out = redacted(text);
        assert!(
            out.contains(REDACTED),
            "nothing redacted in {text:?}: {out:?}"
        );
        for window in KEY.as_bytes().windows(MIN_RUN) {
            let window = std::str::from_utf8(window).unwrap_or_default();
            assert!(!out.contains(window), "{window:?} left in {out:?}");
        }
    }

    fn percent(text: &str, upper: bool) -> String {
        text.bytes()
            .map(|b| {
                if upper {
                    format!("%{b:02X}")
                } else {
                    format!("%{b:02x}")
                }
            })
            .collect()
    }

    #[test]
    fn the_key_as_sent() {
        assert_eq!(redacted(&format!("bad key {KEY}!")), "bad key <redacted>!");
    }

    #[test]
    fn a_run_of_twelve_characters_of_the_key() {
        let piece = &KEY[5..25];
        assert_eq!(redacted(&format!("x{piece}y")), "x<redacted>y");
        // Eleven characters are not enough to be told from ordinary text.
        let short = &KEY[5..16];
        assert_eq!(redacted(short), short);
    }

    #[test]
    fn the_key_json_escaped_once_or_twice() {
        let once = serde_json::to_string(KEY).unwrap_or_default();
        assert_clean(&once);
        let twice = serde_json::to_string(&once).unwrap_or_default();
        assert_clean(&twice);
        let unicode: String = KEY
            .chars()
            .map(|c| format!("\\u{:04X}", c as u32))
            .collect();
        assert_clean(&unicode);
        assert_clean(&KEY.replace('/', "\\/"));
    }

    #[test]
    fn the_key_percent_encoded_in_any_case_and_mixed() {
        assert_clean(&percent(KEY, true));
        assert_clean(&percent(KEY, false));
        let query = KEY
            .replace('/', "%2f")
            .replace('+', "%2B")
            .replace('=', "%3d")
            .replace('"', "%22")
            .replace('\\', "%5C");
        assert_clean(&format!("https://h/?key={query}&x=1"));
        // JSON-escaped, then percent-encoded.
        assert_clean(&percent(
            &serde_json::to_string(KEY).unwrap_or_default(),
            true,
        ));
    }

    #[test]
    fn base64_of_the_key_and_of_the_bearer_header_in_every_alphabet() {
        let bearer = format!("Bearer {KEY}");
        for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
            for secret in [KEY, bearer.as_str()] {
                let encoded = engine.encode(secret);
                let out = redacted(&format!("b={encoded};"));
                assert_eq!(out, "b=<redacted>;", "{encoded}");
            }
        }
        // The key inside a longer base64 text, at each alignment.
        for prefix in ["u:", "us:", "use:"] {
            let encoded = STANDARD.encode(format!("{prefix}{KEY}"));
            let out = redacted(&encoded);
            assert!(out.len() < 20, "{encoded} -> {out}");
        }
    }

    #[test]
    fn the_key_in_any_case_in_hex_and_html_references() {
        assert_clean(&KEY.to_ascii_uppercase());
        assert_clean(&KEY.to_ascii_lowercase());
        let hex: String = KEY.bytes().map(|b| format!("{b:02X}")).collect();
        assert_clean(&hex);
        let decimal: String = KEY.bytes().map(|b| format!("&#{b};")).collect();
        assert_clean(&decimal);
        let entities: String = KEY.bytes().map(|b| format!("&#x{b:x};")).collect();
        assert_clean(&entities);
        assert_clean(&KEY.replace('"', "&quot;"));
        let escaped: String = KEY.bytes().map(|b| format!("\\x{b:02x}")).collect();
        assert_clean(&escaped);
        assert_clean(&STANDARD.encode(KEY).to_ascii_lowercase());
    }

    #[test]
    fn a_cut_text_loses_the_piece_of_the_key_it_ends_with() {
        let redactor = Redactor::new(KEY);
        let cut = format!("bad key {}", &KEY[..11]);
        assert_eq!(
            redactor.excerpt(&cut, true, 200).to_string(),
            "bad key <redacted>"
        );
        // Not cut: eleven characters are ordinary text.
        assert_eq!(redactor.excerpt(&cut, false, 200).to_string(), cut);
        // Nor is a cut text ending in a letter or two the key starts with.
        assert_eq!(redactor.excerpt("sks", true, 200).to_string(), "sks");
    }

    #[test]
    fn a_short_key_is_redacted_whole() {
        let redactor = Redactor::new("k3y");
        assert_eq!(redactor.redact("a k3y b"), "a <redacted> b");
        assert_eq!(redactor.redact("%6B%33y"), REDACTED);
    }

    #[test]
    fn text_without_the_key_is_untouched() {
        for text in ["", "HTTP 500: internal error", "é€😀 \\ % %zz \\u12", "\\"] {
            assert_eq!(redacted(text), text);
        }
    }

    #[test]
    fn excerpts_are_redacted_before_they_are_cut() {
        // The key at the very end of a long body: cutting first would keep
        // its first characters.
        let body = format!("{}{KEY}", " ".repeat(4076));
        let excerpt = Redactor::new(KEY).excerpt(&body, false, 200).to_string();
        assert_eq!(excerpt, REDACTED);
        let long = format!("{} {KEY}", "x".repeat(300));
        let excerpt = Redactor::new(KEY).excerpt(&long, false, 200).to_string();
        assert_eq!(excerpt.chars().count(), 201);
        assert!(excerpt.ends_with('…') && !excerpt.contains("sk-live"));
    }

    #[test]
    fn debug_never_shows_the_key() {
        assert!(!format!("{:?}", Redactor::new(KEY)).contains("sk-live"));
    }
}
