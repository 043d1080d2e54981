//! Following sessions from one successful fetch to the next: which are new,
//! which changed status, which are gone.
//!
//! The tracker keeps the previous successful fetch's sessions as a list of
//! small entries (a hash of the id and of the status), in list order, and
//! the status labels the transitions counter has given out. A fetch
//! matches each session it lists against that baseline as the session
//! arrives; only a successful fetch, at [`FetchTracking::finish`], replaces
//! the baseline, so a failed one changes nothing.
//!
//! Lists come back in much the same order from one fetch to the next, so
//! the two are walked in step: in the steady state each session costs one
//! comparison with the next baseline entry, where a hash lookup per session
//! would miss the CPU caches on every one of them for a large account.
//! Sessions out of step (new ones, or moved) wait until the end, when one
//! pass over the baseline places them; when many are out of step (a
//! reordered list), a hash index of the baseline is built once instead.

use std::hash::BuildHasher;

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

use super::labels::{LabelId, MAX_UNDOCUMENTED_STATUSES, StickyLabels};
use super::{StatusId, sort_statuses};
use crate::api::redact::Redactor;
use crate::status::DocumentedStatus;

/// How far ahead in the baseline a session is looked for before it counts as
/// out of step: covers a few sessions deleted between two fetches.
const LOOKAHEAD: usize = 8;

/// Out-of-step sessions tolerated before the baseline gets a hash index (a
/// list reordered or with a large gap, rather than a few new sessions).
const PENDING_BEFORE_INDEX: usize = 64;

/// What the exporter remembers of sessions between fetches.
#[derive(Debug)]
pub struct SessionTracker {
    /// Hashes session ids and status values; the quality variant, because
    /// two ids that collide would share a status. Seeded at random, so a
    /// hostile API cannot choose colliding ids.
    hasher: foldhash::quality::RandomState,
    /// The previous successful fetch's sessions, in list order, one entry
    /// per id. `None` before the first successful fetch.
    baseline: Option<Vec<Tracked>>,
    /// The transitions counter's status labels.
    statuses: StickyLabels,
}

impl Default for SessionTracker {
    fn default() -> Self {
        let documented = DocumentedStatus::ALL.map(DocumentedStatus::as_str);
        SessionTracker {
            hasher: foldhash::quality::RandomState::default(),
            baseline: None,
            statuses: StickyLabels::new(&documented, MAX_UNDOCUMENTED_STATUSES),
        }
    }
}

/// One session as a fetch saw it: a few bytes, whatever the API sent.
#[derive(Debug, Clone, Copy)]
struct Tracked {
    /// Hash of the session id.
    key: u64,
    /// Hash of the status value, to tell a change of status.
    status: u32,
    /// Listed again in the same fetch: left out of the next baseline.
    again: bool,
}

/// How a session of this fetch relates to the baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    /// The baseline entry at this index.
    Before(usize),
    /// Not in the baseline.
    New,
    /// Its id was listed earlier in this fetch.
    Again,
}

/// A session out of step with the baseline, placed at the end.
#[derive(Debug, Clone, Copy)]
struct Pending {
    /// Its entry in this fetch's list.
    entry: usize,
    status: StatusId,
}

impl SessionTracker {
    /// Starts following the sessions of one fetch.
    pub(crate) fn fetch(&mut self) -> FetchTracking<'_> {
        let previous = self.baseline.as_ref().map_or(0, Vec::len);
        FetchTracking {
            tracker: self,
            listed: Vec::with_capacity(previous),
            cursor: 0,
            used: vec![false; previous],
            index: None,
            pending: Vec::new(),
            new_keys: HashSet::new(),
            entered: Vec::new(),
        }
    }

    /// The hash a status value is compared by.
    pub(crate) fn status_hash(&self, status: &str) -> u32 {
        // The low half: a session whose status changes between two values
        // that agree in it (one chance in four billion) is not counted.
        self.hasher.hash_one(status) as u32
    }
}

/// One fetch's sessions, matched against the baseline as they arrive.
#[derive(Debug)]
pub(crate) struct FetchTracking<'t> {
    tracker: &'t mut SessionTracker,
    /// This fetch's sessions with an id, in list order: the next baseline.
    listed: Vec<Tracked>,
    /// Where the next session is expected in the baseline.
    cursor: usize,
    /// Baseline entries already matched.
    used: Vec<bool>,
    /// Baseline entry by key, built once many sessions are out of step.
    index: Option<HashMap<u64, usize>>,
    pending: Vec<Pending>,
    /// Keys not in the baseline seen so far, so that a new session listed
    /// twice counts once.
    new_keys: HashSet<u64>,
    /// Sessions that entered each status (by this fetch's status id).
    entered: Vec<u64>,
}

impl FetchTracking<'_> {
    /// The hash a status value is compared by.
    pub(crate) fn status_hash(&self, status: &str) -> u32 {
        self.tracker.status_hash(status)
    }

    /// Follows one session with an id.
    pub(crate) fn session(&mut self, session_id: &str, status: StatusId, status_hash: u32) {
        let key = self.tracker.hasher.hash_one(session_id);
        let entry = self.listed.len();
        self.listed.push(Tracked {
            key,
            status: status_hash,
            again: false,
        });
        match self.place(key) {
            Some(seen) => self.resolve(entry, status, seen),
            None => {
                self.pending.push(Pending { entry, status });
                if self.pending.len() >= PENDING_BEFORE_INDEX {
                    self.build_index();
                }
            }
        }
    }

    /// Where `key` stands in the baseline, or `None` when that is decided
    /// at the end.
    fn place(&mut self, key: u64) -> Option<Seen> {
        let Some(previous) = self.tracker.baseline.as_deref() else {
            return Some(Seen::New);
        };
        let window = self.cursor..(self.cursor + 1 + LOOKAHEAD).min(previous.len());
        let in_step = previous
            .get(window.clone())
            .and_then(|entries| entries.iter().position(|p| p.key == key))
            .map(|offset| window.start + offset)
            .filter(|&j| !self.used[j]);
        if let Some(j) = in_step {
            return Some(Seen::Before(j));
        }
        let index = self.index.as_ref()?;
        Some(match index.get(&key) {
            Some(&j) => Seen::Before(j),
            None => Seen::New,
        })
    }

    /// Builds the baseline's index and places the sessions waiting for it.
    fn build_index(&mut self) {
        let previous = self.tracker.baseline.as_deref().unwrap_or(&[]);
        let mut index = HashMap::with_capacity(previous.len());
        for (j, entry) in previous.iter().enumerate() {
            index.entry(entry.key).or_insert(j);
        }
        self.index = Some(index);
        for pending in std::mem::take(&mut self.pending) {
            let key = self.listed[pending.entry].key;
            if let Some(seen) = self.place(key) {
                self.resolve(pending.entry, pending.status, seen);
            }
        }
    }

    /// Records what a placed session means: a transition when it is new or
    /// changed status, nothing when it is listed again.
    fn resolve(&mut self, entry: usize, status: StatusId, seen: Seen) {
        let key = self.listed[entry].key;
        let seen = match seen {
            Seen::Before(j) if self.used[j] => Seen::Again,
            Seen::New if !self.new_keys.insert(key) => Seen::Again,
            seen => seen,
        };
        let previous = self.tracker.baseline.as_deref();
        let entered = match seen {
            Seen::Before(j) => {
                self.used[j] = true;
                self.cursor = j + 1;
                previous.is_some_and(|p| p[j].status != self.listed[entry].status)
            }
            // The first fetch only records the baseline.
            Seen::New => previous.is_some(),
            Seen::Again => {
                self.listed[entry].again = true;
                false
            }
        };
        if entered {
            if self.entered.len() <= status {
                self.entered.resize(status + 1, 0);
            }
            self.entered[status] += 1;
        }
    }

    /// Places the sessions still out of step (one pass over the baseline),
    /// makes this fetch the baseline, and returns the transitions under the
    /// counter's labels. `statuses` gives each status id's value.
    pub(crate) fn finish(mut self, statuses: &[&str], redactor: &Redactor) -> Vec<(String, u64)> {
        if !self.pending.is_empty() {
            let previous = self.tracker.baseline.as_deref().unwrap_or(&[]);
            let mut wanted: HashMap<u64, Option<usize>> = self
                .pending
                .iter()
                .map(|p| (self.listed[p.entry].key, None))
                .collect();
            for (j, entry) in previous.iter().enumerate() {
                if let Some(slot) = wanted.get_mut(&entry.key) {
                    slot.get_or_insert(j);
                }
            }
            for pending in std::mem::take(&mut self.pending) {
                let seen = match wanted.get(&self.listed[pending.entry].key) {
                    Some(Some(j)) => Seen::Before(*j),
                    _ => Seen::New,
                };
                self.resolve(pending.entry, pending.status, seen);
            }
        }
        let tracker = self.tracker;
        let mut counts: Vec<(LabelId, u64)> = Vec::new();
        for (status, &n) in self.entered.iter().enumerate().filter(|(_, n)| **n > 0) {
            let label = tracker.statuses.id(statuses[status], redactor);
            match counts.iter_mut().find(|(id, _)| *id == label) {
                Some((_, count)) => *count += n,
                None => counts.push((label, n)),
            }
        }
        self.listed.retain(|entry| !entry.again);
        tracker.baseline = Some(self.listed);
        let mut counts: Vec<(String, u64)> = counts
            .into_iter()
            .map(|(label, n)| (tracker.statuses.text(label).to_owned(), n))
            .collect();
        sort_statuses(&mut counts, |(status, _)| status);
        counts
    }
}
