//! The Prometheus text format, version 0.0.4: what every Prometheus reads,
//! and what the exporter answers unless the scraper prefers OpenMetrics.
//! It has no exemplars, units or end marker.

use super::{Family, Kind, Value, bound, escaped, labels, number};

/// Writes `families` to `out`.
pub(super) fn write(families: &[Family], out: &mut Vec<u8>) {
    for family in families {
        let name = family.name;
        out.extend_from_slice(b"# HELP ");
        out.extend_from_slice(name.as_bytes());
        out.push(b' ');
        escaped(out, &family.help, false);
        out.extend_from_slice(b"\n# TYPE ");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(match family.kind {
            Kind::Counter => b" counter\n",
            Kind::Gauge => b" gauge\n",
            Kind::Histogram => b" histogram\n",
        });
        for series in &family.series {
            match &series.value {
                Value::Number(value) | Value::Counter(value, _) => {
                    sample(out, name, "", &series.labels, None, *value);
                }
                Value::Histogram(histogram) => {
                    let bucket = format!("{name}_bucket");
                    for b in &histogram.buckets {
                        let le = bound(b.le);
                        let le = Some(("le", le.as_str()));
                        sample(out, &bucket, "", &series.labels, le, b.cumulative as f64);
                    }
                    let inf = Some(("le", "+Inf"));
                    let count = histogram.count as f64;
                    sample(out, &bucket, "", &series.labels, inf, count);
                    sample(out, name, "_sum", &series.labels, None, histogram.sum);
                    sample(out, name, "_count", &series.labels, None, count);
                }
            }
        }
    }
}

/// One line: `name{labels} value`.
fn sample(
    out: &mut Vec<u8>,
    name: &str,
    suffix: &str,
    series: &[(&'static str, String)],
    extra: Option<(&str, &str)>,
    value: f64,
) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(suffix.as_bytes());
    labels(out, series, extra);
    out.push(b' ');
    number(out, value);
    out.push(b'\n');
}
