//! The exposition: metric families as the exporter builds them, and the
//! two text formats they are written in, chosen by the scraper's `Accept`.
//!
//! The model is small on purpose: a family has a name, a help text, a type,
//! a unit when it has one, and its series; a series has labels and a value
//! (a number, or a histogram's buckets). Exemplars ride on histogram
//! buckets and counters. [`text`] writes the Prometheus text format 0.0.4,
//! which has no exemplars; [`openmetrics`] writes OpenMetrics 1.0 with
//! them.

mod negotiate;
mod openmetrics;
mod text;

pub(crate) use negotiate::{Format, accepts_gzip};

use crate::api::timestamp::UnixMillis;

/// A metric family.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Family {
    /// Its name as the text format writes it: a counter's ends in `_total`.
    pub(crate) name: &'static str,
    pub(crate) help: String,
    pub(crate) kind: Kind,
    /// The unit its name ends in (`seconds`, `bytes`), if any.
    pub(crate) unit: Option<&'static str>,
    pub(crate) series: Vec<Series>,
}

/// A family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// One series: its labels, in the order written, and its value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Series {
    pub(crate) labels: Vec<(&'static str, String)>,
    pub(crate) value: Value,
}

/// A series' value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// A gauge's value.
    Number(f64),
    /// A counter's total, and the latest event it counted, if known.
    Counter(f64, Option<Exemplar>),
    Histogram(Histogram),
}

/// A histogram's buckets (cumulative, without `+Inf`), count and sum.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Histogram {
    pub(crate) buckets: Vec<Bucket>,
    /// The latest observation above every bound.
    pub(crate) above: Option<Exemplar>,
    pub(crate) count: u64,
    pub(crate) sum: f64,
}

/// One bucket: its upper bound, the observations at or under it, and the
/// latest observation that fell in it (above the bound before).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Bucket {
    pub(crate) le: f64,
    pub(crate) cumulative: u64,
    pub(crate) exemplar: Option<Exemplar>,
}

/// The session behind a count: its id (already a label: redacted and cut),
/// the value observed, and when the fetch that saw it was answered.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Exemplar {
    pub(crate) session_id: String,
    pub(crate) value: f64,
    pub(crate) at: UnixMillis,
}

/// The longest session id an exemplar carries, in characters: OpenMetrics
/// holds an exemplar's label names and values to 128 characters together,
/// and `session_id` takes 10.
pub(crate) const MAX_EXEMPLAR_ID_CHARS: usize = 128 - "session_id".len();

impl Family {
    /// A family of `kind` with these series.
    pub(crate) fn new(
        name: &'static str,
        help: impl Into<String>,
        kind: Kind,
        series: Vec<Series>,
    ) -> Self {
        Family {
            name,
            help: help.into(),
            kind,
            unit: unit_of(name),
            series,
        }
    }
}

impl Series {
    pub(crate) fn new(labels: &[(&'static str, &str)], value: Value) -> Self {
        Series {
            labels: (labels.iter())
                .map(|&(name, value)| (name, value.to_owned()))
                .collect(),
            value,
        }
    }
}

/// The unit a family's name ends in, for OpenMetrics' `# UNIT`.
fn unit_of(name: &str) -> Option<&'static str> {
    let base = name.strip_suffix("_total").unwrap_or(name);
    ["seconds", "bytes"]
        .into_iter()
        .find(|unit| base.ends_with(&format!("_{unit}")))
}

/// `families` written in `format`, sorted by name; families without series
/// are left out.
pub(crate) fn render(mut families: Vec<Family>, format: Format) -> Vec<u8> {
    families.retain(|family| !family.series.is_empty());
    families.sort_by(|a, b| a.name.cmp(b.name));
    let mut out = Vec::with_capacity(16 * 1024);
    match format {
        Format::Text => text::write(&families, &mut out),
        Format::OpenMetrics => openmetrics::write(&families, &mut out),
    }
    out
}

/// Writes a number as both formats do: Rust's shortest form that reads
/// back the same, `+Inf`, `-Inf` and `NaN`.
fn number(out: &mut Vec<u8>, value: f64) {
    use std::io::Write;
    if value.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if value.is_infinite() {
        out.extend_from_slice(if value > 0.0 { b"+Inf" } else { b"-Inf" });
    } else {
        // Writing to a Vec cannot fail.
        let _ = write!(out, "{value}");
    }
}

/// Writes `text` with `\`, newline and, when `quote`, `"` escaped.
fn escaped(out: &mut Vec<u8>, text: &str, quote: bool) {
    for byte in text.bytes() {
        match byte {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'"' if quote => out.extend_from_slice(b"\\\""),
            _ => out.push(byte),
        }
    }
}

/// Writes `{name="value",...}`, with `extra` last; nothing when there are
/// no labels.
fn labels(out: &mut Vec<u8>, labels: &[(&'static str, String)], extra: Option<(&str, &str)>) {
    let extra = extra.iter().map(|&(name, value)| (name, value));
    let mut all = (labels.iter())
        .map(|(name, value)| (*name, value.as_str()))
        .chain(extra)
        .peekable();
    if all.peek().is_none() {
        return;
    }
    let mut separator = b'{';
    for (name, value) in all {
        out.push(separator);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"=\"");
        escaped(out, value, true);
        out.push(b'"');
        separator = b',';
    }
    out.push(b'}');
}

/// A bucket bound as the `le` label writes it.
fn bound(le: f64) -> String {
    let mut out = Vec::new();
    number(&mut out, le);
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_the_suffixes_of_seconds_and_bytes() {
        assert_eq!(unit_of("agi_session_duration_seconds"), Some("seconds"));
        assert_eq!(unit_of("process_cpu_seconds_total"), Some("seconds"));
        assert_eq!(unit_of("process_resident_memory_bytes"), Some("bytes"));
        assert_eq!(unit_of("agi_sessions"), None);
        assert_eq!(unit_of("agi_api_requests_total"), None);
    }

    #[test]
    fn numbers_read_back_the_same() {
        for (value, written) in [
            (1.0, "1"),
            (0.25, "0.25"),
            (1e21, "1000000000000000000000"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
        ] {
            let mut out = Vec::new();
            number(&mut out, value);
            assert_eq!(String::from_utf8(out).unwrap(), written);
        }
    }
}
