//! Label values from the API, bounded in length and in number.
//!
//! A value becomes a label in two steps: what is kept of it while folding
//! ([`label_source`], a little longer than a label), then, once per distinct
//! value kept, its label ([`label`]: redacted, then cut to
//! [`MAX_LABEL_VALUE_BYTES`]). Redacting before cutting means a cut never
//! keeps a piece of the key that redaction would have caught.
//!
//! Two guards bound the number of values. The session families describe one
//! fetch, so [`keep_largest`] picks the values with most sessions each time.
//! Counters and histograms must never go down, so [`StickyLabels`] gives a
//! value its own label the first time it is seen while fewer than the limit
//! have one, and keeps it for the life of the process; later values count
//! under [`OTHER`].

use std::cmp::Reverse;

use foldhash::{HashMap, HashMapExt};

use crate::api::redact::{MIN_RUN, Redactor};
use crate::exposition::MAX_EXEMPLAR_ID_CHARS;
use crate::status::KnownStatus;

/// The label value for a missing status or agent name.
pub(crate) const UNKNOWN: &str = "unknown";

/// The label value that values over a cardinality limit become.
pub(crate) const OTHER: &str = "other";

/// At most this many undocumented status values per scrape (and, for the
/// counters, for the life of the process).
pub(crate) const MAX_UNDOCUMENTED_STATUSES: usize = 20;

/// Label values longer than this are cut (at a character boundary), so a
/// hostile or broken API cannot make one series name megabytes long.
pub(crate) const MAX_LABEL_VALUE_BYTES: usize = 128;

/// What is kept of a value from the API to make its label: a few bytes more
/// than a label holds, so that redaction still sees a run of [`MIN_RUN`]
/// characters of the key that starts just before the cut.
pub(crate) fn label_source(text: &str) -> &str {
    prefix(text, MAX_LABEL_VALUE_BYTES + MIN_RUN - 1)
}

/// The label of a value kept by [`label_source`]: redacted, then cut.
pub(crate) fn label(redactor: &Redactor, source: &str) -> String {
    cut(&redacted(redactor, source, may_be_cut(source)))
}

/// A session id kept by [`label_source`] as an exemplar carries it: its
/// label, cut so that the exemplar's labels stay within OpenMetrics' 128
/// characters.
pub(crate) fn exemplar_id(redactor: &Redactor, source: &str) -> String {
    let mut id = label(redactor, source);
    if let Some((end, _)) = id.char_indices().nth(MAX_EXEMPLAR_ID_CHARS) {
        id.truncate(end);
    }
    id
}

/// A redacted value cut to a label's length.
fn cut(redacted: &str) -> String {
    prefix(redacted, MAX_LABEL_VALUE_BYTES).to_owned()
}

/// Whether `label_source` may have cut the value `source` was kept from.
fn may_be_cut(source: &str) -> bool {
    source.len() > MAX_LABEL_VALUE_BYTES
}

/// A value kept by [`label_source`], redacted but not yet cut. A value that
/// may have been cut by `label_source` (`cut`) has a piece of the key where
/// it ends redacted too: redaction can shorten what comes before it, and so bring
/// that end within the label. The exporter's own values (the documented
/// statuses, `unknown`, `other`) are kept as they are, so that even a key
/// of a few letters cannot change them.
fn redacted(redactor: &Redactor, source: &str, cut: bool) -> String {
    if KnownStatus::parse(source).is_some() || source == UNKNOWN || source == OTHER {
        source.to_owned()
    } else if cut {
        redactor.redact_start(source)
    } else {
        redactor.redact(source)
    }
}

/// The longest prefix of `text` of at most `max` bytes that ends on a
/// character boundary.
pub(crate) fn prefix(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Which of `sizes` (by index) keep their own label when at most `limit`
/// may: the largest, ties broken by `name`. `None` when all are kept.
pub(crate) fn keep_largest<'a>(
    sizes: impl ExactSizeIterator<Item = (u64, &'a str)>,
    limit: usize,
) -> Option<Vec<bool>> {
    if sizes.len() <= limit {
        return None;
    }
    let mut ranked: Vec<(usize, u64, &str)> = sizes
        .enumerate()
        .map(|(index, (size, name))| (index, size, name))
        .collect();
    ranked.sort_by_key(|&(_, size, name)| (Reverse(size), name));
    let mut kept = vec![false; ranked.len()];
    for &(index, _, _) in &ranked[..limit] {
        kept[index] = true;
    }
    Some(kept)
}

/// Index of a label in a [`StickyLabels`].
pub(crate) type LabelId = u32;

/// Label values handed out for the life of the process. A label's text is
/// made once, when its value is first seen: redacted with the key of that
/// fetch, then cut. (An API can only echo a key it was sent: a label made
/// before a key was in use cannot hold it.)
#[derive(Debug)]
pub(crate) struct StickyLabels {
    /// How many values beyond the fixed ones may have a label of their own.
    limit: usize,
    /// The id of [`OTHER`], which follows the fixed labels.
    other: LabelId,
    /// Label text by id: the fixed labels, then [`OTHER`], then those given.
    labels: Vec<String>,
    /// Value (as kept by [`label_source`]) to its label, for the values
    /// given a label and for a bounded number of aliases.
    by_value: HashMap<String, LabelId>,
    /// Values remembered in `by_value` that share another value's label.
    aliases: usize,
    /// Label text to its id, so that values that redact alike share one.
    by_label: HashMap<String, LabelId>,
}

/// The labels one fetch gives out, until it commits
/// ([`StickyLabels::apply`]): a fetch given up gives out none.
#[derive(Debug, Default)]
pub(crate) struct NewLabels {
    labels: Vec<String>,
    by_value: HashMap<String, LabelId>,
    aliases: usize,
    by_label: HashMap<String, LabelId>,
}

impl StickyLabels {
    /// Labels that always exist (`fixed`, then [`OTHER`]) and room for
    /// `limit` more.
    pub(crate) fn new(fixed: &[&str], limit: usize) -> Self {
        let mut sticky = StickyLabels {
            limit,
            other: fixed.len() as LabelId,
            labels: Vec::new(),
            by_value: HashMap::new(),
            aliases: 0,
            by_label: HashMap::new(),
        };
        for name in fixed.iter().chain([&OTHER]) {
            let id = sticky.labels.len() as LabelId;
            sticky.labels.push((*name).to_owned());
            sticky.by_value.insert((*name).to_owned(), id);
            sticky.by_label.insert((*name).to_owned(), id);
        }
        sticky
    }

    /// The label `source` counts under, as a fetch that gives out `new`
    /// sees them: the one its label text already has (values alike after
    /// the cut, or that redact alike, share it, for good), else one of its
    /// own while fewer than the limit have one (added to `new`), else
    /// [`OTHER`].
    pub(crate) fn id(&self, new: &mut NewLabels, source: &str, redactor: &Redactor) -> LabelId {
        if let Some(&id) = self
            .by_value
            .get(source)
            .or_else(|| new.by_value.get(source))
        {
            return id;
        }
        let text = label(redactor, source);
        if let Some(&shared) = self.by_label.get(&text).or_else(|| new.by_label.get(&text)) {
            // Remembered by value while aliases are no more than labels, so
            // what is kept stays within twice the limit; beyond that, such a
            // value is redacted again each time it is seen.
            if self.aliases + new.aliases < self.labels.len() + new.labels.len() {
                new.by_value.insert(source.to_owned(), shared);
                new.aliases += 1;
            }
            return shared;
        }
        let given = self.labels.len() + new.labels.len() - (self.other as usize + 1);
        if given >= self.limit {
            return self.other;
        }
        let id = (self.labels.len() + new.labels.len()) as LabelId;
        new.by_label.insert(text.clone(), id);
        new.labels.push(text);
        new.by_value.insert(source.to_owned(), id);
        id
    }

    /// Makes the labels a fetch gave out these labels'.
    pub(crate) fn apply(&mut self, new: NewLabels) {
        self.labels.extend(new.labels);
        self.by_value.extend(new.by_value);
        self.by_label.extend(new.by_label);
        self.aliases += new.aliases;
    }

    /// The id of the `index`-th fixed label.
    pub(crate) fn fixed(&self, index: usize) -> LabelId {
        debug_assert!(index < self.other as usize);
        index as LabelId
    }

    /// The id of [`OTHER`].
    #[cfg(test)]
    pub(crate) fn other(&self) -> LabelId {
        self.other
    }

    /// The text of a label, given out or about to be (`new`).
    #[cfg(test)]
    pub(crate) fn text<'a>(&'a self, new: &'a NewLabels, id: LabelId) -> &'a str {
        let id = id as usize;
        match self.labels.get(id) {
            Some(text) => text,
            None => new
                .labels
                .get(id - self.labels.len())
                .map_or(OTHER, String::as_str),
        }
    }

    /// The label texts given out, by id.
    pub(crate) fn texts(&self) -> &[String] {
        &self.labels
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor() -> Redactor {
        Redactor::new("sk-0123456789abcdefghij")
    }

    #[test]
    fn sources_keep_room_for_redaction_and_labels_are_cut_after_it() {
        let key = "sk-0123456789abcdefghij";
        // The key starts 8 bytes before the cut: cutting first would keep
        // 8 of its characters, too few for redaction to see.
        let value = format!("{}{key}", "x".repeat(120));
        let source = label_source(&value);
        assert_eq!(source.len(), MAX_LABEL_VALUE_BYTES + MIN_RUN - 1);
        let label = label(&redactor(), source);
        assert_eq!(label, format!("{}<redacted>", "x".repeat(120))[..128]);
        assert_eq!(prefix("é".repeat(100).as_str(), 127).len(), 126);
    }

    #[test]
    fn a_piece_of_the_key_at_the_cut_stays_out_when_redaction_shortens_the_value() {
        let key = "sk-0123456789abcdefghij";
        // The key, then the key again just where the source is cut, so that
        // the source ends in its first 8 bytes; redacting the first one
        // shortens the value enough to bring those 8 into the label.
        let value = format!("{key}{}{key}", "y".repeat(139 - key.len() - 8));
        let source = label_source(&value);
        assert!(source.ends_with("sk-01234"), "{source}");
        let label = label(&redactor(), source);
        assert!(!label.contains("sk-01234"), "{label}");
        assert!(label.starts_with("<redacted>yyy"), "{label}");
    }

    #[test]
    fn the_largest_are_kept_ties_by_name() {
        let sizes = [(5, "big"), (1, "b-small"), (3, "medium"), (1, "a-small")];
        let kept = keep_largest(sizes.into_iter(), 3);
        assert_eq!(kept, Some(vec![true, false, true, true]));
        assert_eq!(keep_largest(sizes.into_iter(), 4), None);
    }

    /// Gives out the labels of `values` as one fetch, committed.
    fn fetch(sticky: &mut StickyLabels, values: &[&str], redactor: &Redactor) -> Vec<LabelId> {
        let mut new = NewLabels::default();
        let ids = values
            .iter()
            .map(|v| sticky.id(&mut new, v, redactor))
            .collect();
        sticky.apply(new);
        ids
    }

    fn text(sticky: &StickyLabels, id: LabelId) -> &str {
        &sticky.texts()[id as usize]
    }

    #[test]
    fn sticky_labels_are_given_once_and_for_good_up_to_the_limit() {
        let redactor = redactor();
        let mut sticky = StickyLabels::new(&["running", "error"], 2);
        assert_eq!(text(&sticky, sticky.other()), OTHER);
        let [running, a, b, c] = fetch(&mut sticky, &["running", "a", "b", "c"], &redactor)[..]
        else {
            panic!("four ids")
        };
        assert_eq!(text(&sticky, running), "running");
        assert_eq!(c, sticky.other(), "over the limit");
        assert_eq!(
            fetch(&mut sticky, &["a", OTHER, "running"], &redactor),
            [a, sticky.other(), running]
        );
        assert_eq!((text(&sticky, a), text(&sticky, b)), ("a", "b"));
    }

    #[test]
    fn a_fetch_gives_out_labels_only_once_it_commits() {
        let redactor = redactor();
        let mut sticky = StickyLabels::new(&[], 2);
        let mut given_up = NewLabels::default();
        let a = sticky.id(&mut given_up, "a", &redactor);
        assert_eq!(sticky.text(&given_up, a), "a");
        assert_eq!(
            sticky.id(&mut given_up, "a", &redactor),
            a,
            "the same within the fetch"
        );
        drop(given_up);
        // The next fetch starts from what was committed: b gets the id a
        // had, and both fit in the limit.
        let ids = fetch(&mut sticky, &["b", "a", "c"], &redactor);
        assert_eq!(ids, [a, a + 1, sticky.other()]);
    }

    #[test]
    fn values_that_redact_alike_share_one_label() {
        let redactor = redactor();
        let mut sticky = StickyLabels::new(&[], 5);
        let ids = fetch(
            &mut sticky,
            &[
                "x-sk-0123456789abcdefghij",
                "x-sk-0123456789abcdefghij-again",
                "x-sk-0123456789abcdefghi",
            ],
            &redactor,
        );
        assert_ne!(ids[0], ids[1]);
        assert_eq!(text(&sticky, ids[0]), "x-<redacted>");
        assert_eq!(ids[0], ids[2], "the same label text is one label");
    }

    #[test]
    fn a_value_sharing_a_label_keeps_it_once_the_limit_is_reached() {
        let redactor = redactor();
        let stem = "p".repeat(MAX_LABEL_VALUE_BYTES);
        let mut sticky = StickyLabels::new(&[], 2);
        let [first, alike, q, r] = fetch(
            &mut sticky,
            &[&format!("{stem}1"), &format!("{stem}2"), "q", "r"],
            &redactor,
        )[..] else {
            panic!("four ids")
        };
        assert_eq!(alike, first, "alike after the cut: one label");
        assert_ne!(q, sticky.other());
        assert_eq!(r, sticky.other());
        let later: Vec<String> = (2..100).map(|i| format!("{stem}{i}")).collect();
        let later: Vec<&str> = later.iter().map(String::as_str).collect();
        assert!(
            fetch(&mut sticky, &later, &redactor)
                .iter()
                .all(|&id| id == first)
        );
        assert!(
            sticky.by_value.len() <= 2 * sticky.labels.len(),
            "{}",
            sticky.by_value.len()
        );
    }
}
