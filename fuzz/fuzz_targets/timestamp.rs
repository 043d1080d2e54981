//! The `created_at` parser against the `time` crate's RFC 3339 parser, for
//! the forms both claim: where `time` reads a timestamp with `T`, `t` or a
//! space between date and time (`time` also takes any other byte there,
//! which RFC 3339 does not), 0 to 9 fractional digits and no leap second,
//! ours must read the same instant (to the millisecond, further digits
//! truncated). Whatever ours reads, its
//! quick shape check must accept too, and the formatter must read back as
//! the instant it wrote.

#![no_main]

use agi_exporter::{format_timestamp, looks_like_timestamp, parse_timestamp};
use libfuzzer_sys::fuzz_target;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Digits after the decimal point of the seconds, if any.
fn fraction_digits(text: &str) -> usize {
    text.get(19..)
        .and_then(|rest| rest.strip_prefix('.'))
        .map_or(0, |rest| {
            rest.bytes().take_while(u8::is_ascii_digit).count()
        })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let ours = parse_timestamp(text);
    if ours.is_some() {
        assert!(
            looks_like_timestamp(text),
            "parsed but not shaped like a timestamp: {text:?}"
        );
    }
    if let Ok(theirs) = OffsetDateTime::parse(text, &Rfc3339) {
        let leap_second = text.get(17..19) == Some("60");
        let separator = matches!(text.as_bytes().get(10), Some(b'T' | b't' | b' '));
        if separator && fraction_digits(text) <= 9 && !leap_second {
            let millis = theirs.unix_timestamp() * 1000 + i64::from(theirs.millisecond());
            assert_eq!(ours, Some(millis), "{text:?}");
        }
    }
    if let Some(millis) = ours {
        // Round trip through the demo's formatter, for years it can write.
        if (0..253_402_300_800_000).contains(&millis) {
            assert_eq!(parse_timestamp(&format_timestamp(millis)), Some(millis));
        }
    }
});
