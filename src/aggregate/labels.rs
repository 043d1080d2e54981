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

/// Label values handed out for the life of the process.
#[derive(Debug, Clone)]
pub(crate) struct StickyLabels {
    /// How many values beyond the fixed ones may have a label of their own.
    limit: usize,
    /// The id of [`OTHER`], which follows the fixed labels.
    other: LabelId,
    /// Label text by id: the fixed labels, then [`OTHER`], then those given.
    labels: Vec<String>,
    /// The value each given label was made from, redacted with every key
    /// so far (but not cut), so that a new key can redact it again while no
    /// earlier key ever comes back: label texts then only ever merge, never
    /// split, and their counters never go down. With it, whether the value
    /// may have been cut, which its redacted text no longer shows.
    sources: Vec<(String, bool)>,
    /// Value (as kept by [`label_source`]) to its label, for the values
    /// given a label and for a bounded number of aliases.
    by_value: HashMap<String, LabelId>,
    /// Values remembered in `by_value` that share another value's label.
    aliases: usize,
    /// Label text to its id, so that values that redact alike share one.
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
            sources: Vec::new(),
            by_value: HashMap::new(),
            aliases: 0,
            by_label: HashMap::new(),
        };
        for name in fixed.iter().chain([&OTHER]) {
            let id = sticky.labels.len() as LabelId;
            sticky.labels.push((*name).to_owned());
            sticky.sources.push(((*name).to_owned(), false));
            sticky.by_value.insert((*name).to_owned(), id);
            sticky.by_label.insert((*name).to_owned(), id);
        }
        sticky
    }

    /// The label `source` counts under: the one its label text already has
    /// (values alike after the cut, or that redact alike, share it, for
    /// good), else one of its own while fewer than the limit have one, else
    /// [`OTHER`].
    pub(crate) fn id(&mut self, source: &str, redactor: &Redactor) -> LabelId {
        if let Some(&id) = self.by_value.get(source) {
            return id;
        }
        let may_be_cut = may_be_cut(source);
        let redacted = redacted(redactor, source, may_be_cut);
        let text = cut(&redacted);
        if let Some(&shared) = self.by_label.get(&text) {
            // Remembered by value while aliases are no more than labels, so
            // what is kept stays within twice the limit; beyond that, such a
            // value is redacted again each time it is seen.
            if self.aliases < self.labels.len() {
                self.by_value.insert(source.to_owned(), shared);
                self.aliases += 1;
            }
            return shared;
        }
        let given = self.labels.len() - (self.other as usize + 1);
        if given >= self.limit {
            return self.other;
        }
        let id = self.labels.len() as LabelId;
        self.by_label.insert(text.clone(), id);
        self.labels.push(text);
        self.sources.push((redacted, may_be_cut));
        self.by_value.insert(source.to_owned(), id);
        id
    }

    /// The id of the `index`-th fixed label.
    pub(crate) fn fixed(&self, index: usize) -> LabelId {
        debug_assert!(index < self.other as usize);
        index as LabelId
    }

    /// The id of [`OTHER`].
    #[cfg(test)]
    fn other(&self) -> LabelId {
        self.other
    }

    /// Redacts every given label again with a new key's redactor: a value
    /// that now holds the key loses it from its label, and what earlier keys
    /// redacted stays redacted. Labels that become equal keep their ids;
    /// their counts are added up where they are rendered.
    pub(crate) fn relabel(&mut self, redactor: &Redactor) {
        let given = self.other as usize + 1;
        self.by_label.retain(|_, id| (*id as usize) < given);
        for id in given..self.labels.len() {
            let (source, may_be_cut) = &mut self.sources[id];
            *source = redacted(redactor, source, *may_be_cut);
            let text = cut(source);
            self.by_label.entry(text.clone()).or_insert(id as LabelId);
            self.labels[id] = text;
        }
    }

    /// The text of a label.
    pub(crate) fn text(&self, id: LabelId) -> &str {
        &self.labels[id as usize]
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
    fn a_new_key_cut_at_the_end_of_a_long_value_is_redacted_when_it_becomes_the_key() {
        let (first, next) = ("sk-0123456789abcdefghij", "nx-ZYXWVUTSRQPONMLKJI");
        // Cut where the next key's first 8 bytes end; redacting the first
        // key shortens the text below a label's length.
        let value = format!("{first}{}{next}", "y".repeat(139 - first.len() - 8));
        let mut sticky = StickyLabels::new(&[], 5);
        let id = sticky.id(label_source(&value), &Redactor::new(first));
        assert!(sticky.text(id).ends_with("nx-ZYXWV"), "{}", sticky.text(id));
        sticky.relabel(&Redactor::new(next));
        assert!(!sticky.text(id).contains("nx-ZYXWV"), "{}", sticky.text(id));
        assert!(!sticky.text(id).contains(first), "{}", sticky.text(id));
    }

    #[test]
    fn the_largest_are_kept_ties_by_name() {
        let sizes = [(5, "big"), (1, "b-small"), (3, "medium"), (1, "a-small")];
        let kept = keep_largest(sizes.into_iter(), 3);
        assert_eq!(kept, Some(vec![true, false, true, true]));
        assert_eq!(keep_largest(sizes.into_iter(), 4), None);
    }

    #[test]
    fn sticky_labels_are_given_once_and_for_good_up_to_the_limit() {
        let redactor = redactor();
        let mut sticky = StickyLabels::new(&["running", "error"], 2);
        assert_eq!(sticky.text(sticky.other()), OTHER);
        let running = sticky.id("running", &redactor);
        assert_eq!(sticky.text(running), "running");
        let a = sticky.id("a", &redactor);
        let b = sticky.id("b", &redactor);
        assert_eq!(sticky.id("c", &redactor), sticky.other(), "over the limit");
        assert_eq!(sticky.id("a", &redactor), a, "kept for good");
        assert_eq!((sticky.text(a), sticky.text(b)), ("a", "b"));
        assert_eq!(sticky.id(OTHER, &redactor), sticky.other());
        assert_eq!(sticky.id("running", &redactor), running);
    }

    #[test]
    fn a_new_key_is_redacted_from_labels_given_before_it() {
        let mut sticky = StickyLabels::new(&[], 5);
        let id = sticky.id(
            "echo-sk-NEWKEY9876543210ZyXw",
            &Redactor::new("sk-OLD-0123456789"),
        );
        assert_eq!(sticky.text(id), "echo-sk-NEWKEY9876543210ZyXw");
        sticky.relabel(&Redactor::new("sk-NEWKEY9876543210ZyXw"));
        assert_eq!(sticky.text(id), "echo-<redacted>");
        assert_eq!(
            sticky.id("echo-sk-NEWKEY9876543210ZyXw", &Redactor::new("x")),
            id
        );
    }

    #[test]
    fn values_that_redact_alike_share_one_label() {
        let redactor = redactor();
        let mut sticky = StickyLabels::new(&[], 5);
        let one = sticky.id("x-sk-0123456789abcdefghij", &redactor);
        let two = sticky.id("x-sk-0123456789abcdefghij-again", &redactor);
        assert_ne!(one, two);
        let three = sticky.id("x-sk-0123456789abcdefghi", &redactor);
        assert_eq!(sticky.text(one), "x-<redacted>");
        assert_eq!(sticky.text(three), "x-<redacted>");
        assert_eq!(one, three, "the same label text is one label");
    }

    #[test]
    fn a_value_sharing_a_label_keeps_it_once_the_limit_is_reached() {
        let redactor = redactor();
        let stem = "p".repeat(MAX_LABEL_VALUE_BYTES);
        let mut sticky = StickyLabels::new(&[], 2);
        let first = sticky.id(&format!("{stem}1"), &redactor);
        let alike = sticky.id(&format!("{stem}2"), &redactor);
        assert_eq!(alike, first, "alike after the cut: one label");
        let q = sticky.id("q", &redactor);
        assert_ne!(q, sticky.other);
        // The limit is reached: the value that shared a label still has it,
        // a new one does not, nor do further values alike after the cut
        // once aliases are as many as labels.
        assert_eq!(sticky.id(&format!("{stem}2"), &redactor), first);
        assert_eq!(sticky.id("r", &redactor), sticky.other);
        for i in 3..100 {
            assert_eq!(sticky.id(&format!("{stem}{i}"), &redactor), first);
        }
        assert!(
            sticky.by_value.len() <= 2 * sticky.labels.len(),
            "{}",
            sticky.by_value.len()
        );
    }
}
