//! The N oldest live sessions, for `agi_session_age_seconds`: which session
//! is stuck.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use foldhash::{HashSet, HashSetExt};

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
#[derive(Debug)]
pub(crate) struct OldestSessions {
    limit: usize,
    heap: BinaryHeap<TopSession>,
    /// The ids in the heap, cut as labels are, so that an id listed twice
    /// (or two ids alike in their first 128 bytes) keep one entry: the
    /// oldest.
    ids: HashSet<String>,
}

impl OldestSessions {
    pub(crate) fn new(limit: usize) -> Self {
        OldestSessions {
            limit,
            heap: BinaryHeap::with_capacity(limit + 1),
            ids: HashSet::with_capacity(limit + 1),
        }
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
        if self.heap.len() == self.limit {
            let youngest = self
                .heap
                .peek()
                .map(|s| (s.created_at, s.session_id.as_str()));
            if youngest.is_some_and(|youngest| (created_at, session_id) >= youngest) {
                return;
            }
        }
        let as_label = |id: &str| prefix(id, MAX_LABEL_VALUE_BYTES).to_owned();
        let label_id = as_label(session_id);
        if self.ids.contains(&label_id) {
            // Rare (the same id twice): this one replaces the one kept only
            // if it is older.
            let older = self
                .heap
                .iter()
                .any(|s| as_label(&s.session_id) == label_id && created_at < s.created_at);
            if !older {
                return;
            }
            self.heap.retain(|s| as_label(&s.session_id) != label_id);
        } else if self.heap.len() == self.limit
            && let Some(youngest) = self.heap.pop()
        {
            self.ids.remove(&as_label(&youngest.session_id));
        }
        self.ids.insert(label_id);
        self.heap.push(TopSession {
            created_at,
            session_id: session_id.to_owned(),
            agent_name: agent_name.to_owned(),
            status: status.to_owned(),
        });
    }

    /// The sessions kept, oldest first.
    pub(crate) fn into_sorted_vec(self) -> Vec<TopSession> {
        self.heap.into_sorted_vec()
    }
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
    fn a_limit_of_zero_keeps_nothing() {
        let mut oldest = OldestSessions::new(0);
        oldest.offer(1, "a", "agi-0", "running");
        assert!(ids(oldest).is_empty());
    }
}
