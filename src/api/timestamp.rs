//! Timestamps as the API and its SDKs write them: parsing `created_at`,
//! formatting one (for the simulator), and the clock they are compared with.
//!
//! Accepted: RFC 3339 / ISO 8601 date-times with `T` (or `t`, or a space)
//! between date and time, 0 to 9 fractional digits, and an offset that is
//! `Z`, `+HH:MM`, `-HH:MM`, `+HHMM` or absent (read as UTC). A hand-written
//! parser rather than a date crate: it runs once per session on every scrape,
//! allocates nothing and needs nothing but this one format.

use std::time::SystemTime;

/// Milliseconds since the Unix epoch, UTC.
pub type UnixMillis = i64;

const SECOND: i64 = 1000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;

/// Milliseconds since the Unix epoch of `time` (negative before it, which
/// never happens on a sane clock but must not panic).
pub(crate) fn unix_millis(time: SystemTime) -> UnixMillis {
    match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(since) => i64::try_from(since.as_millis()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

/// The wall clock now, in [`UnixMillis`].
pub(crate) fn now() -> UnixMillis {
    unix_millis(SystemTime::now())
}

/// Formats milliseconds since the epoch as `2025-10-05T18:04:34.281Z`, the
/// form the API documents; [`parse_timestamp`] reads it back exactly.
pub fn format_timestamp(millis: UnixMillis) -> String {
    let days = millis.div_euclid(86_400_000);
    let in_day = millis.rem_euclid(86_400_000);
    // Howard Hinnant's civil_from_days, the inverse of days_from_civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        in_day / HOUR,
        in_day % HOUR / MINUTE,
        in_day % MINUTE / SECOND,
        in_day % SECOND
    )
}

/// Parses a timestamp, or returns `None` when it is not one of the accepted forms.
pub fn parse_timestamp(text: &str) -> Option<UnixMillis> {
    let b = text.as_bytes();
    if b.len() < 19 {
        return None;
    }
    let year = digits(b, 0, 4)?;
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    let hour = digits(b, 11, 2)?;
    let minute = digits(b, 14, 2)?;
    let second = digits(b, 17, 2)?;
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    // 60 allows a leap second; it simply counts as the next minute's first.
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }

    let mut pos = 19;
    let mut millis = 0;
    if b.get(pos) == Some(&b'.') {
        pos += 1;
        let start = pos;
        while pos < b.len() && b[pos].is_ascii_digit() {
            pos += 1;
        }
        let fraction = &b[start..pos];
        if fraction.is_empty() || fraction.len() > 9 {
            return None;
        }
        // Only milliseconds matter for ages; further digits are truncated.
        for i in 0..3 {
            millis = millis * 10 + fraction.get(i).map_or(0, |d| i64::from(d - b'0'));
        }
    }

    let offset_seconds = match &b[pos..] {
        [] | [b'Z'] | [b'z'] => 0,
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let (hours, minutes) = match rest {
                [h1, h2, b':', m1, m2] | [h1, h2, m1, m2] => {
                    (two_digits(*h1, *h2)?, two_digits(*m1, *m2)?)
                }
                _ => return None,
            };
            if hours > 23 || minutes > 59 {
                return None;
            }
            let seconds = hours * 3600 + minutes * 60;
            if *sign == b'+' { seconds } else { -seconds }
        }
        _ => return None,
    };

    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    Some(seconds * 1000 + millis)
}

/// Whether `text` has the shape of an accepted timestamp (digits and
/// separators in the right places, a plausible length) without computing
/// it: for sessions whose age is never shown, this catches `"yesterday"` or
/// a number for a fraction of a full parse.
pub fn looks_like_timestamp(text: &str) -> bool {
    // The first sixteen bytes at once: digits where `YYYY-MM-DDTHH:MM`
    // has them, the separators where it has them but the one between date
    // and time, which is checked on its own.
    const DIGIT: u128 =
        u128::from_le_bytes(*b"\xff\xff\xff\xff\0\xff\xff\0\xff\xff\0\xff\xff\0\xff\xff");
    const SEPARATOR: u128 = u128::from_le_bytes(*b"\0\0\0\0\xff\0\0\xff\0\0\0\0\0\xff\0\0");
    const SEPARATORS: u128 = u128::from_le_bytes(*b"\0\0\0\0-\0\0-\0\0\0\0\0:\0\0");
    const HIGH: u128 = u128::from_le_bytes([0xf0; 16]);
    const ZEROS: u128 = u128::from_le_bytes([b'0'; 16]);
    const SIXES: u128 = u128::from_le_bytes([6; 16]);
    let Some((head, rest)) = text.as_bytes().split_first_chunk::<16>() else {
        return false;
    };
    let Some(&[colon, tens, ones]) = rest.first_chunk::<3>() else {
        return false;
    };
    let word = u128::from_le_bytes(*head);
    // A byte is a digit when it is 0x30 to 0x3f and still 0x3_ plus 6;
    // digits stay below 0x46, so adding 6 carries into no other byte.
    let digits = word & DIGIT & HIGH == ZEROS & DIGIT
        && word.wrapping_add(SIXES & DIGIT) & DIGIT & HIGH == ZEROS & DIGIT;
    text.len() <= 35
        && digits
        && word & SEPARATOR == SEPARATORS
        && matches!(head[10], b'T' | b't' | b' ')
        && colon == b':'
        && tens.is_ascii_digit()
        && ones.is_ascii_digit()
}

fn digits(b: &[u8], start: usize, len: usize) -> Option<i64> {
    b.get(start..start + len)?.iter().try_fold(0i64, |acc, &d| {
        d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0'))
    })
}

fn two_digits(a: u8, b: u8) -> Option<i64> {
    digits(&[a, b], 0, 2)
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCUMENTED_EXAMPLE: UnixMillis = 1_759_687_474_281;

    #[test]
    fn formatted_timestamps_read_back_exactly() {
        for millis in [
            0,
            1_759_687_474_281,
            951_868_800_000,
            1_709_164_800_999,
            -1000,
        ] {
            let text = format_timestamp(millis);
            assert_eq!(parse_timestamp(&text), Some(millis), "{text}");
        }
        assert_eq!(
            format_timestamp(1_759_687_474_281),
            "2025-10-05T18:04:34.281Z"
        );
    }

    #[test]
    fn reads_the_documented_example() {
        assert_eq!(
            parse_timestamp("2025-10-05T18:04:34.281Z"),
            Some(DOCUMENTED_EXAMPLE)
        );
    }

    #[test]
    fn reads_every_offset_form() {
        for text in [
            "2025-10-05T18:04:34.281Z",
            "2025-10-05T18:04:34.281z",
            "2025-10-05T18:04:34.281",
            "2025-10-05T18:04:34.281+00:00",
            "2025-10-05T20:04:34.281+02:00",
            "2025-10-05T20:04:34.281+0200",
            "2025-10-05T13:34:34.281-04:30",
            "2025-10-05 18:04:34.281Z",
        ] {
            assert_eq!(parse_timestamp(text), Some(DOCUMENTED_EXAMPLE), "{text}");
        }
    }

    #[test]
    fn reads_zero_to_nine_fractional_digits() {
        let whole = DOCUMENTED_EXAMPLE - 281;
        assert_eq!(parse_timestamp("2025-10-05T18:04:34Z"), Some(whole));
        assert_eq!(parse_timestamp("2025-10-05T18:04:34.2Z"), Some(whole + 200));
        assert_eq!(
            parse_timestamp("2025-10-05T18:04:34.28Z"),
            Some(whole + 280)
        );
        assert_eq!(
            parse_timestamp("2025-10-05T18:04:34.281999Z"),
            Some(whole + 281)
        );
        assert_eq!(
            parse_timestamp("2025-10-05T18:04:34.281999999Z"),
            Some(whole + 281)
        );
        assert_eq!(parse_timestamp("2025-10-05T18:04:34.2819999999Z"), None);
        assert_eq!(parse_timestamp("2025-10-05T18:04:34.Z"), None);
    }

    #[test]
    fn knows_the_calendar() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_timestamp("2000-03-01T00:00:00Z"),
            Some(951_868_800_000)
        );
        assert_eq!(
            parse_timestamp("2024-02-29T00:00:00Z"),
            Some(1_709_164_800_000)
        );
        assert_eq!(parse_timestamp("2023-02-29T00:00:00Z"), None);
        assert_eq!(parse_timestamp("1969-12-31T23:59:59Z"), Some(-1000));
    }

    #[test]
    fn the_shape_check_is_the_byte_by_byte_rule_for_every_byte_in_every_place() {
        // The rule as it reads: digits and separators in their places.
        let by_byte = |b: &[u8]| {
            b.len() >= 19
                && b.len() <= 35
                && b.iter().take(19).enumerate().all(|(i, &byte)| match i {
                    4 | 7 => byte == b'-',
                    10 => matches!(byte, b'T' | b't' | b' '),
                    13 | 16 => byte == b':',
                    _ => byte.is_ascii_digit(),
                })
        };
        let valid = b"2025-10-05T18:04:34.281Z";
        for at in 0..valid.len() {
            for byte in 0..=255u8 {
                let mut bytes = valid.to_vec();
                bytes[at] = byte;
                if let Ok(text) = std::str::from_utf8(&bytes) {
                    assert_eq!(looks_like_timestamp(text), by_byte(&bytes), "{text:?}");
                }
            }
        }
        for length in 0..40 {
            let text: String = "2025-10-05T18:04:34.281999999+02:00:00:00"
                .chars()
                .take(length)
                .collect();
            assert_eq!(
                looks_like_timestamp(&text),
                by_byte(text.as_bytes()),
                "{text:?}"
            );
        }
    }

    #[test]
    fn the_shape_check_agrees_on_common_forms() {
        for text in [
            "2025-10-05T18:04:34.281Z",
            "2025-10-05T18:04:34",
            "2025-10-05 18:04:34.123456789+02:00",
        ] {
            assert!(looks_like_timestamp(text), "{text}");
        }
        for text in [
            "",
            "yesterday",
            "1759687474",
            "2025-10-05",
            "2025/10/05T18:04:34Z",
        ] {
            assert!(!looks_like_timestamp(text), "{text}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_timestamp() {
        for text in [
            "",
            "yesterday",
            "2025-10-05",
            "2025-13-05T18:04:34Z",
            "2025-10-32T18:04:34Z",
            "2025-10-05T24:00:00Z",
            "2025-10-05T18:60:00Z",
            "2025-10-05T18:04:34+25:00",
            "2025-10-05T18:04:34+02",
            "2025-10-05T18:04:34 UTC",
            "2025/10/05T18:04:34Z",
            "１９７０-01-01T00:00:00Z",
            "+2025-10-05T18:04:34Z",
            // Found by fuzzing: the `time` crate takes any byte between
            // date and time; RFC 3339 does not.
            "2024-03-29y18:04:34Z",
        ] {
            assert_eq!(parse_timestamp(text), None, "{text:?}");
        }
    }
}
