//! Reading expositions the way a strict scraper would: samples and their
//! labels, the families declared, the checks the text format requires that
//! `promtool check metrics` does not make, and `promtool` itself.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};

use super::tools::{PROMTOOL, tools_present};

/// One sample of a text exposition.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name (with `_bucket`, `_sum`... suffixes).
    pub name: String,
    /// Labels in the order written.
    pub labels: Vec<(String, String)>,
    /// Value.
    pub value: f64,
}

impl Sample {
    /// A label's value.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses the sample lines of a text exposition (enough for what the
/// exporter writes: no timestamps, simple escapes).
pub fn samples(exposition: &str) -> Vec<Sample> {
    exposition
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| parse_sample(line).unwrap_or_else(|| panic!("not a sample line: {line:?}")))
        .collect()
}

fn parse_sample(line: &str) -> Option<Sample> {
    let (series, value) = line.rsplit_once(' ')?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        other => other.parse().ok()?,
    };
    let Some((name, labels)) = series.split_once('{') else {
        return Some(Sample {
            name: series.to_owned(),
            labels: Vec::new(),
            value,
        });
    };
    let mut labels_text = labels.strip_suffix('}')?;
    let mut labels = Vec::new();
    while !labels_text.is_empty() {
        let (label, rest) = labels_text.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            let (i, c) = chars.next()?;
            match c {
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                '"' => break i,
                c => value.push(c),
            }
        };
        labels.push((label.trim_start_matches(',').to_owned(), value));
        labels_text = &rest[end + 1..];
        labels_text = labels_text.strip_prefix(',').unwrap_or(labels_text);
    }
    Some(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// The value of the sample `name` whose labels are exactly `labels`.
pub fn value(exposition: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples(exposition)
        .into_iter()
        .find(|s| {
            s.name == name
                && s.labels.len() == labels.len()
                && labels.iter().all(|(n, v)| s.label(n) == Some(v))
        })
        .map(|s| s.value)
}

/// Like [`value`], but the sample must be there.
pub fn expect_value(exposition: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    value(exposition, name, labels)
        .unwrap_or_else(|| panic!("no sample {name}{labels:?} in:\n{exposition}"))
}

/// The families declared by `# TYPE` lines.
pub fn families(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// Checks what the text format requires and `promtool check metrics` does
/// not: every sample belongs to the family its `# TYPE` line declared just
/// before it, no family is declared twice or split, no two samples have the
/// same name and label set, no sample repeats a label name, histogram
/// buckets are cumulative and end with `+Inf` equal to `_count`, and
/// counters are not negative. Panics with the offending lines.
pub fn assert_valid_exposition(exposition: &str) {
    use std::collections::{BTreeMap, HashSet};
    let fail = |why: String| -> ! { panic!("invalid exposition: {why}\n{exposition}") };
    let mut declared: BTreeMap<String, String> = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    let mut seen: HashSet<(String, Vec<(String, String)>)> = HashSet::new();
    // Per histogram series (labels without `le`): bucket values in order,
    // and the count.
    type Series = (String, Vec<(String, String)>);
    let mut buckets: BTreeMap<Series, Vec<(f64, f64)>> = BTreeMap::new();
    let mut counts: BTreeMap<Series, f64> = BTreeMap::new();
    for line in exposition.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            let (Some(name), Some(kind)) = (parts.next(), parts.next()) else {
                fail(format!("bad TYPE line {line:?}"));
            };
            if declared.insert(name.to_owned(), kind.to_owned()).is_some() {
                fail(format!("family {name} declared twice"));
            }
            current = Some((name.to_owned(), kind.to_owned()));
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let Some(sample) = parse_sample(line) else {
            fail(format!("not a sample line: {line:?}"));
        };
        let Some((family, kind)) = &current else {
            fail(format!("sample before any TYPE line: {line:?}"));
        };
        let suffix = sample.name.strip_prefix(family.as_str());
        let belongs = matches!(
            (kind.as_str(), suffix),
            ("histogram", Some("_bucket" | "_sum" | "_count"))
                | ("summary", Some("_sum" | "_count"))
                | (_, Some(""))
        );
        if !belongs {
            fail(format!("{line:?} is not part of family {family} ({kind})"));
        }
        let mut names: Vec<&str> = sample.labels.iter().map(|(n, _)| n.as_str()).collect();
        names.sort_unstable();
        if names.windows(2).any(|pair| pair[0] == pair[1]) {
            fail(format!("a label repeats in {line:?}"));
        }
        let mut labels = sample.labels.clone();
        labels.sort();
        if !seen.insert((sample.name.clone(), labels.clone())) {
            fail(format!("duplicate series {line:?}"));
        }
        if kind == "counter" && (sample.value.is_nan() || sample.value < 0.0) {
            fail(format!("negative or NaN counter {line:?}"));
        }
        if kind == "histogram" {
            let without_le: Vec<(String, String)> =
                labels.iter().filter(|(n, _)| n != "le").cloned().collect();
            let key = (family.clone(), without_le);
            match suffix {
                Some("_bucket") => {
                    let Some(le) = sample.label("le") else {
                        fail(format!("bucket without le: {line:?}"));
                    };
                    let le = if le == "+Inf" {
                        f64::INFINITY
                    } else {
                        le.parse().unwrap_or(f64::NAN)
                    };
                    buckets.entry(key).or_default().push((le, sample.value));
                }
                Some("_count") => {
                    counts.insert(key, sample.value);
                }
                _ => {}
            }
        }
    }
    for (series, list) in &buckets {
        if !list
            .windows(2)
            .all(|pair| pair[0].0 < pair[1].0 && pair[0].1 <= pair[1].1)
        {
            fail(format!(
                "buckets of {series:?} are not cumulative in order: {list:?}"
            ));
        }
        let last = list.last().copied().unwrap_or((0.0, 0.0));
        if last.0 != f64::INFINITY || counts.get(series) != Some(&last.1) {
            fail(format!("{series:?}: the +Inf bucket must equal _count"));
        }
    }
}

/// Asserts `actual` equals `expected`, printing a line diff when not.
pub fn assert_same_text(expected: &str, actual: &str, what: &str) {
    if expected != actual {
        panic!(
            "{what} differs from what was expected (- expected, + actual):\n{}",
            line_diff(expected, actual)
        );
    }
}

/// A minimal line diff (longest common subsequence), `-` for lines only in
/// `old`, `+` for lines only in `new`, two spaces for common lines near a
/// change.
pub fn line_diff(old: &str, new: &str) -> String {
    let old: Vec<&str> = old.lines().collect();
    let new: Vec<&str> = new.lines().collect();
    // lcs[i][j]: length of the LCS of old[i..] and new[j..].
    let mut lcs = vec![vec![0usize; new.len() + 1]; old.len() + 1];
    for i in (0..old.len()).rev() {
        for j in (0..new.len()).rev() {
            lcs[i][j] = if old[i] == new[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut ops: Vec<(char, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < new.len() {
        if i < old.len() && j < new.len() && old[i] == new[j] {
            ops.push((' ', old[i]));
            i += 1;
            j += 1;
        } else if i < old.len() && (j == new.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', old[i]));
            i += 1;
        } else {
            ops.push(('+', new[j]));
            j += 1;
        }
    }
    const CONTEXT: usize = 2;
    let changed: Vec<usize> = (0..ops.len()).filter(|&k| ops[k].0 != ' ').collect();
    let mut out = String::new();
    let mut last_shown: Option<usize> = None;
    for (k, (op, line)) in ops.iter().enumerate() {
        let near = changed.iter().any(|&c| c.abs_diff(k) <= CONTEXT);
        if !near {
            continue;
        }
        if last_shown.is_some_and(|last| k > last + 1) || (last_shown.is_none() && k > 0) {
            out.push_str("  ...\n");
        }
        out.push(*op);
        out.push(' ');
        out.push_str(line);
        out.push('\n');
        last_shown = Some(k);
    }
    if old.len() != new.len() || out.is_empty() {
        out.push_str(&format!(
            "({} expected lines, {} actual lines)\n",
            old.len(),
            new.len()
        ));
    }
    out
}

/// Runs `promtool check metrics` on an exposition. Without promtool the
/// check is skipped, except on CI where it must be installed.
pub fn promtool_check_metrics(exposition: &str) {
    if !tools_present(&[PROMTOOL]) {
        return;
    }
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot run promtool: {error}"));
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin
        .write_all(exposition.as_bytes())
        .expect("write to promtool");
    drop(stdin);
    let output = child.wait_with_output().expect("promtool runs");
    assert!(
        output.status.success(),
        "promtool check metrics failed ({}):\n{}{}\nexposition:\n{exposition}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
