//! The N oldest live sessions, for `agi_session_age_seconds`: which session
//! is stuck.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use foldhash::{HashMap, HashMapExt};

use super::labels::{MAX_LABEL_VALUE_BYTES, label_source, prefix};
use crate::api::timestamp::UnixMillis;

/// One of the oldest live sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopSession {
    /// When it was created.
    pub created_at: UnixMillis,
    /// Its id.
    pub session_id: String,
    /// Its agent (folded by the cardinality guard in a [`super::Snapshot`]).
    pub agent_name: String,
    /// Its status (folded by the cardinality guard in a [`super::Snapshot`]).
    pub status: String,
}

/// Oldest first, then by id (then the labels, so that the order agrees with
/// the derived equality).
impl Ord for TopSession {
    fn cmp(&self, other: &Self) -> Ordering {
        (
            self.created_at,
            &self.session_id,
            &self.agent_name,
            &self.status,
        )
            .cmp(&(
                other.created_at,
                &other.session_id,
                &other.agent_name,
                &other.status,
            ))
    }
}

impl PartialOrd for TopSession {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The `limit` oldest live sessions, one per id as its label will read: a
/// max-heap whose top is the youngest kept, so each new session costs one
/// comparison unless it is older.
///
/// An id listed again with an older `created_at` replaces its entry without
/// searching the heap: `kept` records which entry is current, the one it
/// replaces stays behind as stale and is dropped when it reaches the top,
/// and the heap is compacted once stale entries outnumber the limit. So a
/// list that repeats one id with ever older times costs `O(log limit)` per
/// listing, like any other.
#[derive(Debug)]
pub(crate) struct OldestSessions {
    limit: usize,
    heap: BinaryHeap<TopSession>,
    /// Each kept id, cut as labels are (so that an id listed twice, or two
    /// ids alike in their first 128 bytes, keep one entry: the oldest), to
    /// the `created_at` of its current entry.
    kept: HashMap<String, UnixMillis>,
    /// Entries of the heap that were replaced.
    stale: usize,
}

impl OldestSessions {
    pub(crate) fn new(limit: usize) -> Self {
        OldestSessions {
            limit,
            heap: BinaryHeap::with_capacity(limit + 1),
            kept: HashMap::with_capacity(limit + 1),
            stale: 0,
        }
    }

    /// Whether [`Self::offer`] may keep a session created at `created_at`
    /// (which it decides with the session's id): a session that may be
    /// kept is read, not recalled, for its id.
    pub(crate) fn may_keep(&mut self, created_at: UnixMillis) -> bool {
        if self.limit == 0 {
            return false;
        }
        if self.kept.len() < self.limit {
            return true;
        }
        self.drop_stale_top();
        self.heap
            .peek()
            .is_none_or(|youngest| created_at <= youngest.created_at)
    }

    /// Keeps this session if it is among the oldest.
    pub(crate) fn offer(
        &mut self,
        created_at: UnixMillis,
        session_id: &str,
        agent_name: &str,
        status: &str,
    ) {
        if self.limit == 0 {
            return;
        }
        let session_id = label_source(session_id);
        if self.kept.len() == self.limit {
            // Not older than the youngest kept: not kept, and not older than
            // its own entry if it has one.
            self.drop_stale_top();
            let youngest = self
                .heap
                .peek()
                .map(|s| (s.created_at, s.session_id.as_str()));
            if youngest.is_some_and(|youngest| (created_at, session_id) >= youngest) {
                return;
            }
        }
        let label_id = as_label(session_id);
        match self.kept.get_mut(label_id) {
            // The same id again: it replaces the entry kept only if older.
            Some(kept) if created_at < *kept => {
                *kept = created_at;
                self.stale += 1;
            }
            Some(_) => return,
            None => {
                if self.kept.len() == self.limit
                    && let Some(youngest) = self.heap.pop()
                {
                    self.kept.remove(as_label(&youngest.session_id));
                }
                self.kept.insert(label_id.to_owned(), created_at);
            }
        }
        self.heap.push(TopSession {
            created_at,
            session_id: session_id.to_owned(),
            agent_name: agent_name.to_owned(),
            status: status.to_owned(),
        });
        if self.stale > self.limit {
            let kept = &self.kept;
            self.heap.retain(|s| is_current(kept, s));
            self.stale = 0;
        }
    }

    /// Pops replaced entries off the top, so that the top is the youngest
    /// session kept.
    fn drop_stale_top(&mut self) {
        while self.stale > 0 && self.heap.peek().is_some_and(|s| !is_current(&self.kept, s)) {
            self.heap.pop();
            self.stale -= 1;
        }
    }

    /// The sessions kept, oldest first.
    pub(crate) fn into_sorted_vec(self) -> Vec<TopSession> {
        let kept = self.kept;
        let mut sessions = self.heap.into_sorted_vec();
        sessions.retain(|s| is_current(&kept, s));
        sessions
    }
}

/// An id as its label reads.
fn as_label(id: &str) -> &str {
    prefix(id, MAX_LABEL_VALUE_BYTES)
}

/// Whether `session` is its id's current entry (an id's entries have
/// distinct times, since one replaces another only when older).
fn is_current(kept: &HashMap<String, UnixMillis>, session: &TopSession) -> bool {
    kept.get(as_label(&session.session_id)) == Some(&session.created_at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(oldest: OldestSessions) -> Vec<(UnixMillis, String)> {
        oldest
            .into_sorted_vec()
            .into_iter()
            .map(|s| (s.created_at, s.session_id))
            .collect()
    }

    #[test]
    fn keeps_the_oldest_oldest_first() {
        let mut oldest = OldestSessions::new(2);
        for (t, id) in [(5, "e"), (1, "a"), (4, "d"), (2, "b"), (3, "c")] {
            oldest.offer(t, id, "agi-0", "running");
        }
        assert_eq!(ids(oldest), [(1, "a".to_owned()), (2, "b".to_owned())]);
    }

    #[test]
    fn an_id_twice_keeps_its_oldest_entry_only() {
        let mut oldest = OldestSessions::new(3);
        for (t, id) in [(5, "x"), (1, "x"), (3, "y"), (2, "x")] {
            oldest.offer(t, id, "agi-0", "running");
        }
        assert_eq!(ids(oldest), [(1, "x".to_owned()), (3, "y".to_owned())]);
    }

    #[test]
    fn ids_alike_in_their_first_128_bytes_are_one() {
        let stem = "i".repeat(128);
        let mut oldest = OldestSessions::new(3);
        oldest.offer(2, &format!("{stem}-a"), "agi-0", "running");
        oldest.offer(1, &format!("{stem}-b"), "agi-0", "running");
        let kept = ids(oldest);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].0, 1);
    }

    #[test]
    fn an_id_repeated_with_ever_older_times_keeps_one_entry_and_the_heap_small() {
        let mut oldest = OldestSessions::new(3);
        oldest.offer(1_000_000, "young", "agi-0", "running");
        for t in (0..10_000).rev() {
            oldest.offer(t + 100, "dup", "agi-0", "running");
            assert!(
                oldest.heap.len() <= 2 * 3 + 1,
                "{} entries",
                oldest.heap.len()
            );
        }
        oldest.offer(50, "older", "agi-0", "running");
        oldest.offer(2_000_000, "youngest", "agi-0", "running");
        assert_eq!(
            ids(oldest),
            [
                (50, "older".to_owned()),
                (100, "dup".to_owned()),
                (1_000_000, "young".to_owned())
            ]
        );
    }

    #[test]
    fn a_replaced_entry_never_pushes_out_a_kept_one() {
        // Full with a, b, c; b is replaced twice; d is older than c only.
        let mut oldest = OldestSessions::new(3);
        for (t, id) in [
            (10, "a"),
            (30, "b"),
            (20, "c"),
            (25, "b"),
            (5, "b"),
            (15, "d"),
        ] {
            oldest.offer(t, id, "agi-0", "running");
        }
        assert_eq!(
            ids(oldest),
            [
                (5, "b".to_owned()),
                (10, "a".to_owned()),
                (15, "d".to_owned())
            ]
        );
    }

    proptest::proptest! {
        /// Whatever the order and the repeats, what is kept is the `limit`
        /// oldest ids, each at its oldest time.
        #[test]
        fn keeps_the_oldest_ids_at_their_oldest_times(
            limit in 0usize..6,
            offers in proptest::collection::vec((0i64..40, 0u8..10), 0..200),
        ) {
            let mut oldest = OldestSessions::new(limit);
            let mut model: std::collections::BTreeMap<String, i64> = Default::default();
            for (t, id) in &offers {
                let id = format!("s{id}");
                oldest.offer(*t, &id, "agi-0", "running");
                let min = model.entry(id).or_insert(*t);
                *min = (*min).min(*t);
            }
            let mut expected: Vec<(i64, String)> = model.into_iter().map(|(id, t)| (t, id)).collect();
            expected.sort();
            expected.truncate(limit);
            proptest::prop_assert!(oldest.heap.len() <= 2 * limit + 1);
            proptest::prop_assert_eq!(ids(oldest), expected);
        }
    }

    #[test]
    fn a_limit_of_zero_keeps_nothing() {
        let mut oldest = OldestSessions::new(0);
        oldest.offer(1, "a", "agi-0", "running");
        assert!(ids(oldest).is_empty());
    }
}
