//! Finding where each session of a fetch was in the previous one.
//!
//! Lists come back in much the same order from one fetch to the next, so
//! the two are walked in step: in the steady state a session costs one
//! comparison with the next entries of the baseline, where a hash lookup
//! per session would miss the CPU caches on every one of them for a large
//! account. Sessions out of step (new ones, or moved) wait until the end,
//! when one pass over the baseline places them; when many are out of step
//! (a reordered list), a hash index of the baseline is built once instead.
//!
//! A session the previous fetch did not list is looked for among those the
//! fetch before it listed and it did not (the baseline's retired entries):
//! a session an answer left out once, and lists again, is followed as it
//! was rather than taken for a new one.

use foldhash::{HashMap, HashMapExt, HashSet};

use super::tracked::{SessionKey, Tracked};

/// How far ahead in the baseline a session is looked for before it counts
/// as out of step: covers a few sessions deleted between two fetches.
const LOOKAHEAD: usize = 8;

/// Out-of-step sessions tolerated before the baseline gets a hash index (a
/// list reordered or with a large gap, rather than a few new sessions).
pub(crate) const PENDING_BEFORE_INDEX: usize = 64;

/// Where a session of this fetch stands against the previous ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// The baseline entry at this index.
    Before(usize),
    /// The retired entry at this index: listed by the fetch before the
    /// baseline's, not by the baseline's.
    Returning(usize),
    /// Listed by neither.
    New,
    /// Its id was listed earlier in this fetch.
    Again,
}

/// The baseline entries a fetch has matched, and how it finds the others.
#[derive(Debug, Default)]
pub(crate) struct Matching {
    /// Where the next session is expected in the baseline.
    pub(crate) cursor: usize,
    /// Baseline entries matched so far.
    pub(crate) used: Marks,
    /// Retired entries matched so far (empty until one is).
    retired_used: Marks,
    /// Baseline entries by key, built once many sessions are out of step.
    index: Option<HashMap<SessionKey, usize>>,
    /// Retired entries by key, built when a session is looked for there.
    retired_index: Option<HashMap<SessionKey, usize>>,
    /// Keys not in the baseline or retired seen so far, so that a new
    /// session listed twice counts once.
    new_keys: HashSet<SessionKey>,
}

impl Matching {
    /// Matching against a baseline of `len` entries; `used` is a spare
    /// list to fill.
    pub(crate) fn new(len: usize, mut used: Marks) -> Self {
        used.reset(len);
        Matching {
            used,
            ..Matching::default()
        }
    }

    /// Where the session of `key` was, if that is known yet: `None` while
    /// it is out of step and no index is built, to be asked again at the
    /// end ([`Self::place_late`]).
    pub(crate) fn place(
        &mut self,
        key: SessionKey,
        baseline: &[Tracked],
        retired: &[Tracked],
    ) -> Option<Place> {
        let window = self.cursor..(self.cursor + 1 + LOOKAHEAD).min(baseline.len());
        let in_step = baseline[window.clone()]
            .iter()
            .position(|entry| entry.key == key)
            .map(|offset| window.start + offset);
        if let Some(j) = in_step {
            return Some(self.claim_before(j));
        }
        let index = self.index.as_ref()?;
        Some(match index.get(&key) {
            Some(&j) => self.claim_before(j),
            None => self.claim_elsewhere(key, retired),
        })
    }

    /// Whether every session is placed as it comes (the index is built).
    pub(crate) fn indexed(&self) -> bool {
        self.index.is_some()
    }

    /// Builds the baseline's index, once enough sessions wait out of step:
    /// from then on every session is placed as it comes.
    pub(crate) fn build_index(&mut self, baseline: &[Tracked]) {
        let mut index = HashMap::with_capacity(baseline.len());
        for (j, entry) in baseline.iter().enumerate() {
            index.entry(entry.key).or_insert(j);
        }
        self.index = Some(index);
    }

    /// Places `keys`, the sessions still waiting at the end, with one pass
    /// over the baseline.
    pub(crate) fn place_late(
        &mut self,
        keys: &[SessionKey],
        baseline: &[Tracked],
        retired: &[Tracked],
    ) -> Vec<Place> {
        let mut wanted: HashMap<SessionKey, Option<usize>> =
            keys.iter().map(|&key| (key, None)).collect();
        for (j, entry) in baseline.iter().enumerate() {
            if let Some(slot) = wanted.get_mut(&entry.key) {
                slot.get_or_insert(j);
            }
        }
        keys.iter()
            .map(|key| match wanted.get(key) {
                Some(Some(j)) => self.claim_before(*j),
                _ => self.claim_elsewhere(*key, retired),
            })
            .collect()
    }

    /// Baseline entry `j`, unless this fetch matched it already.
    fn claim_before(&mut self, j: usize) -> Place {
        if self.used.is_set(j) {
            return Place::Again;
        }
        self.used.set(j);
        self.cursor = j + 1;
        Place::Before(j)
    }

    /// A session not in the baseline: returning, new, or listed again.
    fn claim_elsewhere(&mut self, key: SessionKey, retired: &[Tracked]) -> Place {
        if !retired.is_empty() {
            let index = self.retired_index.get_or_insert_with(|| {
                (retired.iter().enumerate())
                    .map(|(i, entry)| (entry.key, i))
                    .collect()
            });
            if let Some(&i) = index.get(&key) {
                if self.retired_used.len() == 0 {
                    self.retired_used.reset(retired.len());
                }
                if self.retired_used.is_set(i) {
                    return Place::Again;
                }
                self.retired_used.set(i);
                return Place::Returning(i);
            }
        }
        if self.new_keys.insert(key) {
            Place::New
        } else {
            Place::Again
        }
    }
}

/// The entries of `listed` whose key an earlier entry has: as a fetch with
/// a baseline finds them as it goes, found here by sorting the entries'
/// positions by key (4 bytes each), rather than with a set of every key
/// (2 to 3 times that, at the first fetch of a large account).
pub(crate) fn repeats(listed: &[Tracked]) -> Vec<usize> {
    let Ok(count) = u32::try_from(listed.len()) else {
        return Vec::new();
    };
    let mut order: Vec<u32> = (0..count).collect();
    order.sort_unstable_by_key(|&i| (listed[i as usize].key, i));
    let mut repeats: Vec<usize> = order
        .windows(2)
        .filter(|pair| listed[pair[0] as usize].key == listed[pair[1] as usize].key)
        .map(|pair| pair[1] as usize)
        .collect();
    repeats.sort_unstable();
    repeats
}

/// Which entries of a list a fetch has matched, a bit each (a million
/// entries take 125 KB).
#[derive(Debug, Default)]
pub(crate) struct Marks {
    words: Vec<u64>,
    len: usize,
}

impl Marks {
    /// `len` entries, none marked; the room already held is reused.
    pub(crate) fn reset(&mut self, len: usize) {
        self.words.clear();
        self.words.resize(len.div_ceil(64), 0);
        self.len = len;
    }

    /// How many entries.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether entry `i` is marked.
    pub(crate) fn is_set(&self, i: usize) -> bool {
        self.words[i / 64] >> (i % 64) & 1 == 1
    }

    /// Marks entry `i`.
    pub(crate) fn set(&mut self, i: usize) {
        self.words[i / 64] |= 1 << (i % 64);
    }

    /// Each entry, marked or not, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = bool> + '_ {
        (0..self.len).map(|i| self.is_set(i))
    }

    /// Gives back the room of far fewer entries than it could hold.
    pub(crate) fn shrink(&mut self) {
        super::shrink_slack(&mut self.words);
    }
}
