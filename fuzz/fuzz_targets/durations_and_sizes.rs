//! Flag values: `--api.timeout`-style durations and `--api.max-response-bytes`
//! sizes from arbitrary text never panic, and what they accept means what
//! it says: a size is its number times its unit, a duration is the sum of
//! its parts.

#![no_main]

use agi_exporter::{parse_duration, parse_size};
use libfuzzer_sys::fuzz_target;

/// Seconds per unit, as the flags document them.
fn unit_seconds(unit: &str) -> Option<f64> {
    Some(match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        "w" => 604_800.0,
        _ => return None,
    })
}

/// The duration a text means, summed independently of the parser.
fn meant(text: &str) -> Option<f64> {
    let text = text.trim();
    if text == "0" {
        return Some(0.0);
    }
    let mut total = 0.0;
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let (number, tail) = rest.split_at(digits);
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        total += number.parse::<f64>().ok()? * unit_seconds(unit)?;
        rest = tail;
    }
    Some(total)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(duration) = parse_duration(text) {
        let expected = meant(text).unwrap_or_else(|| panic!("accepted {text:?}"));
        let got = duration.as_secs_f64();
        assert!(
            (got - expected).abs() <= expected * 1e-9 + 1e-9,
            "{text:?}: {got} s, meant {expected} s"
        );
    }
    if let Ok(bytes) = parse_size(text) {
        assert!(bytes > 0, "{text:?}");
        let trimmed = text.trim();
        let digits = trimmed
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(trimmed.len());
        let number: u64 = trimmed[..digits]
            .parse()
            .unwrap_or_else(|_| panic!("{text:?}"));
        let unit = match trimmed[digits..].trim() {
            "" | "B" => 1,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            "KB" | "kB" => 1_000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            other => panic!("{text:?}: unit {other:?} accepted"),
        };
        assert_eq!(Some(bytes), number.checked_mul(unit), "{text:?}");
    }
});
