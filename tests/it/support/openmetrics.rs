//! A strict reader of OpenMetrics 1.0 text, for the tests: every
//! exposition the suite asks for in OpenMetrics goes through it. It holds
//! the exporter to the specification, not to what one scraper tolerates.

use std::collections::{BTreeMap, HashSet};

use super::tools::{PYTHON, tools_present};

/// Label names and values, in order.
type Labels = Vec<(String, String)>;

/// One sample as read: its name, labels, value and exemplar.
#[derive(Debug, Clone, PartialEq)]
pub struct OmSample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
    pub exemplar: Option<OmExemplar>,
}

/// An exemplar as read.
#[derive(Debug, Clone, PartialEq)]
pub struct OmExemplar {
    pub labels: Vec<(String, String)>,
    pub value: f64,
    pub timestamp: Option<f64>,
}

impl OmSample {
    pub fn label(&self, name: &str) -> Option<&str> {
        (self.labels.iter())
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Checks `text` against OpenMetrics 1.0 and returns its samples; panics
/// with the reason and the text when it is not valid. Checked: the `# EOF`
/// end and nothing after it, no blank or other comment lines, each family's
/// `HELP`, `TYPE` and `UNIT` at most once and before its samples, families
/// not split or repeated, a unit the family's name ends in, names and label
/// names of the allowed characters, escapes in help and label values,
/// counters named without `_total` whose samples are `_total` and not
/// negative, `info` samples of 1, histogram buckets in order, cumulative,
/// ending with `+Inf` equal to `_count`, no repeated series or label,
/// exemplars only on buckets and counters, within their bucket, and with
/// labels of at most 128 characters. The reference parser of
/// `prometheus_client` must accept it too. (`promtool check metrics` reads
/// only the text format 0.0.4, whose counters keep `_total` in their family
/// name: the tests give it the text format.)
pub fn parse_openmetrics(text: &str) -> Vec<OmSample> {
    let fail = |why: String| -> ! { panic!("invalid OpenMetrics: {why}\n{text}") };
    let Some(body) = text
        .strip_suffix("# EOF\n")
        .or_else(|| text.strip_suffix("# EOF"))
    else {
        fail("it does not end with # EOF".into());
    };
    let mut samples = Vec::new();
    let mut families: BTreeMap<String, String> = BTreeMap::new();
    let mut finished: HashSet<String> = HashSet::new();
    let mut current: Option<(String, String, HashSet<&str>)> = None;
    let mut series_seen = HashSet::new();
    for line in body.lines() {
        if line.is_empty() {
            fail("a blank line".into());
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (Some(what), Some(name)) = (parts.next(), parts.next()) else {
                fail(format!("bad descriptor {line:?}"));
            };
            let value = parts.next().unwrap_or_default();
            if !["HELP", "TYPE", "UNIT"].contains(&what) {
                fail(format!("a comment that is no descriptor: {line:?}"));
            }
            check_name(name).unwrap_or_else(|e| fail(e));
            let same = current
                .as_ref()
                .is_some_and(|(family, _, _)| family == name);
            if !same {
                if let Some((previous, _, _)) = current.take() {
                    finished.insert(previous);
                }
                if finished.contains(name) {
                    fail(format!("family {name} split or repeated"));
                }
                current = Some((name.to_owned(), "unknown".to_owned(), HashSet::new()));
            }
            let (family, kind, descriptors) = current.as_mut().unwrap();
            let what_static: &str = match what {
                "HELP" => "HELP",
                "TYPE" => "TYPE",
                _ => "UNIT",
            };
            if !descriptors.insert(what_static) {
                fail(format!("{what} of {name} twice"));
            }
            match what {
                "HELP" => {
                    check_escapes(value, false).unwrap_or_else(|e| fail(format!("{line:?}: {e}")))
                }
                "TYPE" => {
                    if ![
                        "counter",
                        "gauge",
                        "histogram",
                        "gaugehistogram",
                        "summary",
                        "info",
                        "stateset",
                        "unknown",
                    ]
                    .contains(&value)
                    {
                        fail(format!("unknown type {line:?}"));
                    }
                    *kind = value.to_owned();
                    if value == "counter" && family.ends_with("_total") {
                        fail(format!("counter family {family} named with _total"));
                    }
                    families.insert(family.clone(), value.to_owned());
                }
                _ => {
                    if value.is_empty() || !family.ends_with(&format!("_{value}")) {
                        fail(format!("unit {value:?} is not the end of {family}"));
                    }
                }
            }
            continue;
        }
        let Some((family, kind, _)) = &current else {
            fail(format!("a sample before any family: {line:?}"));
        };
        let sample = parse_line(line).unwrap_or_else(|e| fail(format!("{line:?}: {e}")));
        let suffix = sample.name.strip_prefix(family.as_str());
        let allowed: &[&str] = match kind.as_str() {
            "counter" => &["_total", "_created"],
            "histogram" => &["_bucket", "_count", "_sum", "_created"],
            "info" => &["_info"],
            _ => &[""],
        };
        if !suffix.is_some_and(|s| allowed.contains(&s)) {
            fail(format!("{line:?} is not a sample of {family} ({kind})"));
        }
        let suffix = suffix.unwrap_or_default();
        if (kind == "counter" || suffix == "_count" || suffix == "_bucket")
            && (sample.value.is_nan() || sample.value < 0.0)
        {
            fail(format!("negative or NaN count {line:?}"));
        }
        if kind == "info" && sample.value != 1.0 {
            fail(format!("info sample not 1: {line:?}"));
        }
        if let Some(exemplar) = &sample.exemplar {
            if !(suffix == "_bucket" || (kind == "counter" && suffix == "_total")) {
                fail(format!("exemplar on {line:?}"));
            }
            let chars: usize = exemplar
                .labels
                .iter()
                .map(|(n, v)| n.chars().count() + v.chars().count())
                .sum();
            if chars > 128 {
                fail(format!("exemplar labels of {chars} characters: {line:?}"));
            }
        }
        let mut key = sample.labels.clone();
        key.sort();
        if key.windows(2).any(|w| w[0].0 == w[1].0) {
            fail(format!("a label repeats in {line:?}"));
        }
        if !series_seen.insert((sample.name.clone(), key)) {
            fail(format!("duplicate series {line:?}"));
        }
        samples.push(sample);
    }
    check_histograms(&samples, &families).unwrap_or_else(|e| fail(e));
    reference_check(text);
    samples
}

/// Runs the reference parser of `prometheus_client` (PyPI) over `text`,
/// which must accept it whole. Without python3 or the module the check is
/// skipped with a message, unless `CI` is set.
fn reference_check(text: &str) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    if !tools_present(&[PYTHON]) {
        return;
    }
    let script = "import sys\nfrom prometheus_client.openmetrics.parser import text_string_to_metric_families as p\nlist(p(sys.stdin.read()))\n";
    let has_module = Command::new("python3")
        .args(["-c", "import prometheus_client"])
        .status()
        .is_ok_and(|status| status.success());
    if !has_module {
        let message = "python3 has no prometheus_client (pip install prometheus_client)";
        if std::env::var_os("CI").is_some_and(|ci| !ci.is_empty()) {
            panic!("{message}, and CI is set");
        }
        eprintln!("SKIP: {message}");
        return;
    }
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin.write_all(text.as_bytes()).expect("write to python3");
    drop(stdin);
    let output = child.wait_with_output().expect("python3 ends");
    assert!(
        output.status.success(),
        "the reference OpenMetrics parser refuses it: {}\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn check_histograms(
    samples: &[OmSample],
    families: &BTreeMap<String, String>,
) -> Result<(), String> {
    type Key = (String, Vec<(String, String)>);
    let mut buckets: BTreeMap<Key, Vec<(f64, f64, Option<f64>)>> = BTreeMap::new();
    let mut counts: BTreeMap<Key, f64> = BTreeMap::new();
    for sample in samples {
        for (family, _) in families.iter().filter(|(_, kind)| *kind == "histogram") {
            let Some(suffix) = sample.name.strip_prefix(family.as_str()) else {
                continue;
            };
            let mut rest: Vec<(String, String)> = sample
                .labels
                .iter()
                .filter(|(n, _)| n != "le")
                .cloned()
                .collect();
            rest.sort();
            let key = (family.clone(), rest);
            match suffix {
                "_bucket" => {
                    let le = sample
                        .label("le")
                        .ok_or(format!("bucket without le: {sample:?}"))?;
                    let le = parse_number(le).ok_or(format!("le {le:?} is no number"))?;
                    let exemplar = sample.exemplar.as_ref().map(|e| e.value);
                    buckets
                        .entry(key)
                        .or_default()
                        .push((le, sample.value, exemplar));
                }
                "_count" => {
                    counts.insert(key, sample.value);
                }
                _ => {}
            }
        }
    }
    for (key, list) in &buckets {
        if !list.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1) {
            return Err(format!(
                "buckets of {key:?} not in order or not cumulative: {list:?}"
            ));
        }
        let last = list.last().copied().unwrap_or_default();
        if last.0 != f64::INFINITY || counts.get(key) != Some(&last.1) {
            return Err(format!(
                "{key:?}: the +Inf bucket must be there and equal _count"
            ));
        }
        let mut floor = f64::NEG_INFINITY;
        for &(le, _, exemplar) in list {
            if let Some(value) = exemplar
                && !(value > floor && value <= le)
            {
                return Err(format!(
                    "{key:?}: exemplar {value} outside its bucket ({floor}, {le}]"
                ));
            }
            floor = le;
        }
    }
    Ok(())
}

fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':');
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
        Ok(())
    } else {
        Err(format!("bad metric name {name:?}"))
    }
}

fn check_escapes(text: &str, _in_label: bool) -> Result<(), String> {
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('\\' | 'n' | '"') => {}
                other => return Err(format!("bad escape \\{other:?}")),
            },
            '"' => return Err("an unescaped \"".into()),
            '\n' => return Err("a raw newline".into()),
            _ => {}
        }
    }
    Ok(())
}

fn parse_number(text: &str) -> Option<f64> {
    match text {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ if text.is_empty() || text.contains(['i', 'I', 'n', 'N', '_']) => None,
        _ => text.parse().ok(),
    }
}

/// `name{labels} value [timestamp] [# {labels} value [timestamp]]`.
fn parse_line(line: &str) -> Result<OmSample, String> {
    let end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..end];
    check_name(name)?;
    let mut rest = &line[end..];
    let labels = if rest.starts_with('{') {
        let (labels, after) = parse_labels(rest)?;
        rest = after;
        labels
    } else {
        Vec::new()
    };
    let rest = rest.strip_prefix(' ').ok_or("no space before the value")?;
    let (main, exemplar) = match rest.split_once(" # ") {
        Some((main, exemplar)) => (main, Some(exemplar)),
        None => (rest, None),
    };
    let mut parts = main.split(' ');
    let value = parse_number(parts.next().unwrap_or_default()).ok_or("bad value")?;
    if let Some(timestamp) = parts.next() {
        parse_number(timestamp).ok_or("bad timestamp")?;
    }
    if parts.next().is_some() {
        return Err("more after the timestamp".into());
    }
    let exemplar = match exemplar {
        None => None,
        Some(text) => {
            if !text.starts_with('{') {
                return Err("an exemplar without labels".into());
            }
            let (labels, after) = parse_labels(text)?;
            let after = after.strip_prefix(' ').ok_or("no exemplar value")?;
            let mut parts = after.split(' ');
            let value =
                parse_number(parts.next().unwrap_or_default()).ok_or("bad exemplar value")?;
            let timestamp = match parts.next() {
                Some(t) => Some(parse_number(t).ok_or("bad exemplar timestamp")?),
                None => None,
            };
            if parts.next().is_some() {
                return Err("more after the exemplar".into());
            }
            Some(OmExemplar {
                labels,
                value,
                timestamp,
            })
        }
    };
    Ok(OmSample {
        name: name.to_owned(),
        labels,
        value,
        exemplar,
    })
}

/// `{a="x",b="y"}` at the start of `text`; the labels and what follows.
fn parse_labels(text: &str) -> Result<(Labels, &str), String> {
    let mut rest = text.strip_prefix('{').ok_or("no {")?;
    let mut labels = Vec::new();
    if let Some(after) = rest.strip_prefix('}') {
        return Ok((labels, after));
    }
    loop {
        let (name, after) = rest.split_once("=\"").ok_or("no =\"")?;
        let mut chars = name.chars();
        if !(chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_'))
        {
            return Err(format!("bad label name {name:?}"));
        }
        let mut value = String::new();
        let mut iter = after.char_indices();
        let end = loop {
            let (i, c) = iter.next().ok_or("an unterminated label value")?;
            match c {
                '\\' => match iter.next().map(|(_, c)| c) {
                    Some('n') => value.push('\n'),
                    Some(c @ ('\\' | '"')) => value.push(c),
                    other => return Err(format!("bad escape \\{other:?}")),
                },
                '"' => break i,
                '\n' => return Err("a raw newline in a label value".into()),
                c => value.push(c),
            }
        };
        labels.push((name.to_owned(), value));
        rest = &after[end + 1..];
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((labels, after));
        }
        rest = rest.strip_prefix(',').ok_or("no , between labels")?;
    }
}
