//! OpenMetrics 1.0 text: what Prometheus asks for first when it scrapes,
//! and the one format that carries exemplars. Against the 0.0.4 text: a
//! counter family is named without `_total` (its sample keeps it), a family
//! with a unit says so, `"` is escaped in help too, exemplars follow their
//! sample after ` # `, and the exposition ends with `# EOF`. No `_created`
//! series: Prometheus 2 would store each as a series of its own.

use std::io::Write;

use super::{Exemplar, Family, Kind, Value, bound, escaped, labels, number};

/// Writes `families` to `out`, then `# EOF`.
pub(super) fn write(families: &[Family], out: &mut Vec<u8>) {
    for family in families {
        let name = family.name;
        let (base, kind): (&str, &[u8]) = match family.kind {
            Kind::Counter => (name.strip_suffix("_total").unwrap_or(name), b"counter"),
            Kind::Gauge => (name, b"gauge"),
            Kind::Histogram => (name, b"histogram"),
        };
        descriptor(out, b"HELP", base);
        escaped(out, &family.help, true);
        out.push(b'\n');
        descriptor(out, b"TYPE", base);
        out.extend_from_slice(kind);
        out.push(b'\n');
        if let Some(unit) = family.unit {
            descriptor(out, b"UNIT", base);
            out.extend_from_slice(unit.as_bytes());
            out.push(b'\n');
        }
        for series in &family.series {
            match &series.value {
                Value::Number(value) => {
                    sample(out, name, &series.labels, None, *value, None);
                }
                Value::Counter(value, exemplar) => {
                    sample(out, name, &series.labels, None, *value, exemplar.as_ref());
                }
                Value::Histogram(histogram) => {
                    let bucket = format!("{base}_bucket");
                    for b in &histogram.buckets {
                        let le = bound(b.le);
                        let le = Some(("le", le.as_str()));
                        let (n, exemplar) = (b.cumulative as f64, b.exemplar.as_ref());
                        sample(out, &bucket, &series.labels, le, n, exemplar);
                    }
                    let (inf, count) = (Some(("le", "+Inf")), histogram.count as f64);
                    let above = histogram.above.as_ref();
                    sample(out, &bucket, &series.labels, inf, count, above);
                    let sum = format!("{base}_sum");
                    sample(out, &sum, &series.labels, None, histogram.sum, None);
                    let total = format!("{base}_count");
                    sample(out, &total, &series.labels, None, count, None);
                }
            }
        }
    }
    out.extend_from_slice(b"# EOF\n");
}

/// `# KIND name `.
fn descriptor(out: &mut Vec<u8>, what: &[u8], name: &str) {
    out.extend_from_slice(b"# ");
    out.extend_from_slice(what);
    out.push(b' ');
    out.extend_from_slice(name.as_bytes());
    out.push(b' ');
}

/// One line: `name{labels} value`, and ` # {session_id="..."} value
/// timestamp` when there is an exemplar.
fn sample(
    out: &mut Vec<u8>,
    name: &str,
    series: &[(&'static str, String)],
    extra: Option<(&str, &str)>,
    value: f64,
    exemplar: Option<&Exemplar>,
) {
    out.extend_from_slice(name.as_bytes());
    labels(out, series, extra);
    out.push(b' ');
    number(out, value);
    if let Some(exemplar) = exemplar {
        out.extend_from_slice(b" # {session_id=\"");
        escaped(out, &exemplar.session_id, true);
        out.extend_from_slice(b"\"} ");
        number(out, exemplar.value);
        out.push(b' ');
        seconds(out, exemplar.at);
    }
    out.push(b'\n');
}

/// A Unix time in milliseconds, written in seconds.
fn seconds(out: &mut Vec<u8>, at: i64) {
    // Writing to a Vec cannot fail.
    let _ = if at >= 0 {
        write!(out, "{}.{:03}", at / 1000, at % 1000)
    } else {
        write!(out, "{}", at as f64 / 1000.0)
    };
}

#[cfg(test)]
mod tests {
    use super::super::{Bucket, Format, Histogram, Series, render};
    use super::*;

    fn histogram() -> Family {
        let exemplar = |id: &str, value| {
            Some(Exemplar {
                session_id: id.to_owned(),
                value,
                at: 1_796_083_200_123,
            })
        };
        Family::new(
            "agi_session_duration_seconds",
            "Time \"to\" finish.",
            Kind::Histogram,
            vec![Series::new(
                &[("agent_name", "agi-1")],
                Value::Histogram(Histogram {
                    buckets: vec![
                        Bucket {
                            le: 60.0,
                            cumulative: 1,
                            exemplar: exemplar("s-1", 42.5),
                        },
                        Bucket {
                            le: 120.0,
                            cumulative: 1,
                            exemplar: None,
                        },
                    ],
                    above: exemplar("s-\"2\"", 7200.0),
                    count: 2,
                    sum: 7242.5,
                }),
            )],
        )
    }

    #[test]
    fn a_histogram_carries_its_exemplars_and_unit_and_the_text_ends_in_eof() {
        let counter = Family::new(
            "agi_session_transitions_total",
            "Entries.",
            Kind::Counter,
            vec![Series::new(
                &[("status", "error")],
                Value::Counter(
                    3.0,
                    Some(Exemplar {
                        session_id: "s-9".into(),
                        value: 1.0,
                        at: 5,
                    }),
                ),
            )],
        );
        let text =
            String::from_utf8(render(vec![histogram(), counter], Format::OpenMetrics)).unwrap();
        assert_eq!(
            text,
            "# HELP agi_session_duration_seconds Time \\\"to\\\" finish.\n\
             # TYPE agi_session_duration_seconds histogram\n\
             # UNIT agi_session_duration_seconds seconds\n\
             agi_session_duration_seconds_bucket{agent_name=\"agi-1\",le=\"60\"} 1 # {session_id=\"s-1\"} 42.5 1796083200.123\n\
             agi_session_duration_seconds_bucket{agent_name=\"agi-1\",le=\"120\"} 1\n\
             agi_session_duration_seconds_bucket{agent_name=\"agi-1\",le=\"+Inf\"} 2 # {session_id=\"s-\\\"2\\\"\"} 7200 1796083200.123\n\
             agi_session_duration_seconds_sum{agent_name=\"agi-1\"} 7242.5\n\
             agi_session_duration_seconds_count{agent_name=\"agi-1\"} 2\n\
             # HELP agi_session_transitions Entries.\n\
             # TYPE agi_session_transitions counter\n\
             agi_session_transitions_total{status=\"error\"} 3 # {session_id=\"s-9\"} 1 0.005\n\
             # EOF\n"
        );
    }

    #[test]
    fn the_text_format_has_no_exemplars() {
        let text = String::from_utf8(render(vec![histogram()], Format::Text)).unwrap();
        assert!(
            !text.contains('#') || text.lines().all(|l| !l.contains(" # ")),
            "{text}"
        );
        assert!(
            text.contains(
                "agi_session_duration_seconds_bucket{agent_name=\"agi-1\",le=\"+Inf\"} 2\n"
            )
        );
        assert!(text.starts_with("# HELP agi_session_duration_seconds Time \"to\" finish.\n"));
    }
}
