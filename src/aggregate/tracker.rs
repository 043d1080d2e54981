//! Following sessions from one successful fetch to the next: which are new,
//! which changed status, which are gone, and how long they took to start
//! and to finish.
//!
//! The tracker keeps the previous successful fetch's sessions as a list of
//! small entries ([`Tracked`]: a hash of the id, of the status and of the
//! bytes the session was written as, its pair of agent and status, the
//! status's label, and what was seen of the session so far), in list order,
//! with the labels the lifecycle counters have given out and their totals.
//! A fetch matches each session it lists against that baseline as the
//! session arrives. [`FetchTracking::finish`] adds the fetch to a copy of
//! the totals, and only a fetch known to have succeeded applies that
//! [`Commit`], replacing the baseline: a failed one changes nothing, even
//! one given up once its body was folded.
//!
//! Lists come back in much the same order from one fetch to the next, so
//! the two are walked in step: in the steady state each session costs one
//! comparison with the next baseline entry, where a hash lookup per session
//! would miss the CPU caches on every one of them for a large account.
//! Sessions out of step (new ones, or moved) wait until the end, when one
//! pass over the baseline places them; when many are out of step (a
//! reordered list), a hash index of the baseline is built once instead.
//!
//! The observation rule of the histograms (README, Metrics): a session is
//! observed only when this exporter saw the change happen, that is when an
//! earlier successful fetch listed it in a status before the one observed
//! (`initializing` or `ready` before `running`; a live status before a
//! final one), or when it was created after the previous successful fetch
//! was sent. Each session is observed at most once per histogram, with the
//! time from its `created_at` to this fetch.

use std::hash::BuildHasher;
use std::sync::Arc;

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

use super::labels::{LabelId, MAX_UNDOCUMENTED_STATUSES, StickyLabels};
use super::lifecycle::{Lifecycle, Totals};
use super::memo::{self, Seed};
use super::oldest::OldestSessions;
use super::{AgentId, InvalidFields, StatusId, min_option};
use crate::api::parse::{Recalled, next_session};
use crate::api::redact::Redactor;
use crate::api::timestamp::{UnixMillis, parse_timestamp};
use crate::status::{Stage, StatusModel};

/// Marks every listing of a key after its first as a repeat, as a fetch
/// with a baseline does as it goes: by sorting the entries' positions by
/// key (4 bytes each), rather than with a set of every key (2 to 3 times
/// that, at the first fetch of a large account).
fn mark_repeats(listed: &mut [Tracked]) {
    let Ok(count) = u32::try_from(listed.len()) else {
        return;
    };
    let mut order: Vec<u32> = (0..count).collect();
    order.sort_unstable_by_key(|&i| (listed[i as usize].key(), i));
    for pair in order.windows(2) {
        let (first, next) = (pair[0] as usize, pair[1] as usize);
        if listed[first].key() == listed[next].key() {
            listed[next].seen = Seen::AGAIN;
        }
    }
}

/// Gives back the room of a list that holds far fewer items than it could.
fn shrink_slack<T>(list: &mut Vec<T>) {
    if list.capacity() > 2 * list.len() + 1024 {
        list.shrink_to_fit();
    }
}

/// Drops the entries listed again in the same fetch, and the ages of the
/// dropped ones; the others' ages follow their entries.
fn drop_repeats(listed: &mut Vec<Tracked>, ages: &mut Vec<Age>) {
    if !listed.iter().any(|entry| entry.seen & Seen::AGAIN != 0) {
        return;
    }
    let (mut kept, mut ages_kept, mut next_age) = (0, 0, 0);
    for index in 0..listed.len() {
        let entry = listed[index];
        let repeat = entry.seen & Seen::AGAIN != 0;
        if let Some(age) = ages.get(next_age).filter(|age| age.entry as usize == index) {
            next_age += 1;
            if !repeat && let Some(age) = Age::new(kept, age.created_at()) {
                ages[ages_kept] = age;
                ages_kept += 1;
            }
        }
        if !repeat {
            listed[kept] = entry;
            kept += 1;
        }
    }
    listed.truncate(kept);
    ages.truncate(ages_kept);
}

/// How far ahead in the baseline a session is looked for before it counts as
/// out of step: covers a few sessions deleted between two fetches.
const LOOKAHEAD: usize = 8;

/// Out-of-step sessions tolerated before the baseline gets a hash index (a
/// list reordered or with a large gap, rather than a few new sessions).
const PENDING_BEFORE_INDEX: usize = 64;

/// What the exporter remembers between fetches. Its size is bounded by the
/// number of sessions last listed (a [`Tracked`] each, and the ages of a
/// quarter of them at most), by the label limits, and by [`MAX_PAIRS`]
/// pairs of texts cut as labels' sources are; never by anything else an
/// API sent earlier.
#[derive(Debug)]
pub struct SessionTracker {
    /// Hashes session ids and status values; the quality variant, because
    /// two ids that collide would share a status. Seeded at random, so a
    /// hostile API cannot choose colliding ids.
    hasher: foldhash::quality::RandomState,
    /// The secret words of the hash sessions are recalled by.
    seed: Seed,
    /// Which statuses end a session.
    statuses: StatusModel,
    /// The previous successful fetch. `None` before the first one.
    baseline: Option<Baseline>,
    learned: Learned,
    /// The lists of the fetch before the baseline's, kept for the next
    /// fetch to fill: a large account's lists are then allocated once, not
    /// at every fetch (which fragments the allocator's memory).
    spare: Spare,
}

/// The lifecycle labels given out and their totals: what a fetch adds to,
/// on a copy until it is committed ([`Commit`]).
#[derive(Debug, Clone)]
struct Learned {
    /// The lifecycle counters' status labels: the documented statuses, then
    /// the first 20 others seen.
    statuses: StickyLabels,
    /// Their agent labels: the first `--agents.max` seen.
    agents: StickyLabels,
    totals: Totals,
    /// The redactor the labels were last redacted with.
    redactor: Option<Arc<Redactor>>,
}

impl Learned {
    /// Redacts the labels again when `redactor` is a new key's; returns the
    /// totals under the new labels then, `None` when the key is the one
    /// they were made with.
    fn rekey(&mut self, redactor: &Arc<Redactor>) -> Option<Lifecycle> {
        if self
            .redactor
            .as_ref()
            .is_some_and(|last| Arc::ptr_eq(last, redactor))
        {
            return None;
        }
        let first = self.redactor.is_none();
        self.statuses.relabel(redactor);
        self.agents.relabel(redactor);
        self.redactor = Some(Arc::clone(redactor));
        (!first).then(|| self.lifecycle())
    }

    /// The totals by label text.
    fn lifecycle(&self) -> Lifecycle {
        self.totals.by_text(&self.agents, &self.statuses)
    }
}

/// Labels and totals a commit replaced, to be dropped: with a large
/// `--agents.max` that frees a few megabytes.
#[derive(Debug)]
pub(crate) struct Retired(#[allow(dead_code, reason = "held only to be dropped")] Learned);

/// What one fetch changes in the tracker, held apart until the fetch is
/// known to have succeeded: a fetch given up after its body was folded
/// (its deadline passed as the fold ended) then leaves the tracker exactly
/// as it was. Applied by [`SessionTracker::commit`]; dropping it discards
/// the fetch.
#[derive(Debug)]
pub(crate) struct Commit {
    learned: Learned,
    baseline: Baseline,
    /// The fetch's other lists, to keep as spares.
    unpaired: Vec<(u32, u32)>,
    used: Vec<bool>,
}

/// A fetch's lists, empty, with the room a previous fetch gave them.
#[derive(Debug, Default)]
struct Spare {
    listed: Vec<Tracked>,
    ages: Vec<Age>,
    unpaired: Vec<(u32, u32)>,
    used: Vec<bool>,
}

impl SessionTracker {
    /// A tracker that has seen nothing, whose agent labels are bounded by
    /// `agents_max`, with the default final statuses.
    pub fn new(agents_max: usize) -> Self {
        SessionTracker::with_statuses(agents_max, StatusModel::default())
    }

    /// A tracker that has seen nothing, whose agent labels are bounded by
    /// `agents_max`, for which `statuses` says which statuses end a session.
    pub fn with_statuses(agents_max: usize, statuses: StatusModel) -> Self {
        let labels = StickyLabels::new(&statuses.fixed(), MAX_UNDOCUMENTED_STATUSES);
        let hasher = foldhash::quality::RandomState::default();
        SessionTracker {
            seed: Seed::from(&hasher),
            hasher,
            baseline: None,
            learned: Learned {
                totals: Totals::new(&statuses, &labels),
                statuses: labels,
                agents: StickyLabels::new(&[], agents_max),
                redactor: None,
            },
            spare: Spare::default(),
            statuses,
        }
    }

    /// Which statuses end a session.
    pub(crate) fn statuses(&self) -> &StatusModel {
        &self.statuses
    }

    /// Starts following the sessions of one fetch.
    pub(crate) fn fetch(&mut self, times: FetchTimes) -> FetchTracking<'_> {
        let previous = self.baseline.as_ref().map_or(0, |b| b.sessions.len());
        let pairs = self.baseline.as_ref().map_or(&[][..], |b| &b.pairs);
        let recalled = (pairs.iter())
            .map(|pair| Tally {
                live: pair.stage.is_live(),
                ..Tally::default()
            })
            .collect();
        let Spare {
            mut listed,
            mut ages,
            mut unpaired,
            mut used,
        } = std::mem::take(&mut self.spare);
        listed.clear();
        listed.reserve(previous);
        ages.clear();
        unpaired.clear();
        used.clear();
        used.resize(previous, false);
        FetchTracking {
            tracker: self,
            times,
            listed,
            unpaired,
            ages,
            age_at: 0,
            misses: 0,
            hashed: None,
            tried: 0,
            hits: 0,
            cursor: 0,
            recalled,
            recalled_unusable: InvalidFields::default(),
            used,
            index: None,
            pending: Vec::new(),
            new_keys: HashSet::new(),
            entered: HashMap::new(),
            new_sessions: HashMap::new(),
            starts: Vec::new(),
            ends: Vec::new(),
        }
    }

    /// Redacts the labels given so far again when `redactor` is a new
    /// key's, so that none of them shows it; returns the totals under the
    /// new labels then, `None` when the key is the one they were made with.
    pub(crate) fn rekey(&mut self, redactor: &Arc<Redactor>) -> Option<Lifecycle> {
        self.learned.rekey(redactor)
    }

    /// Makes a finished fetch's changes the tracker's: its sessions become
    /// the baseline, and its labels and totals the ones kept. Returns the
    /// labels and totals replaced, for the caller to drop where freeing
    /// them holds nothing up.
    pub(crate) fn commit(&mut self, commit: Commit) -> Retired {
        let Commit {
            learned,
            baseline,
            unpaired,
            used,
        } = commit;
        let (listed, ages) = match self.baseline.replace(baseline) {
            Some(previous) => (previous.sessions, previous.ages),
            None => Default::default(),
        };
        self.spare = Spare {
            listed,
            ages,
            unpaired,
            used,
        };
        Retired(std::mem::replace(&mut self.learned, learned))
    }

    /// Drops a finished fetch's changes, keeping its lists as the spares
    /// the next fetch fills.
    pub(crate) fn discard(&mut self, commit: Commit) {
        self.spare = Spare {
            listed: commit.baseline.sessions,
            ages: commit.baseline.ages,
            unpaired: commit.unpaired,
            used: commit.used,
        };
    }

    /// The hash a status value is compared by.
    pub(crate) fn status_hash(&self, status: &str) -> u32 {
        // The low half: a session whose status changes between two values
        // that agree in it (one chance in four billion) is not counted.
        self.hasher.hash_one(status) as u32
    }

    /// The hash by which a session written exactly as one of the previous
    /// fetch is recalled, of `written`, its bytes from its `{` to its `}`.
    #[inline]
    fn memo(&self, written: &[u8]) -> u32 {
        // The low half, never 0. The length is in the hash, and a session
        // is compared with up to nine entries of the baseline: a changed
        // one agrees with one of them by chance about twice in a billion,
        // and is then taken for it.
        (memo::hash(written, self.seed) as u32).max(1)
    }
}

/// What a session read is recalled by in the next fetch: the hash of the
/// bytes it was written as ([`SessionTracker::memo`], 0 for none), and how
/// many they are.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Memo {
    hash: u32,
    len: u32,
}

/// The previous successful fetch.
#[derive(Debug)]
struct Baseline {
    /// Its sessions, in list order, one entry per id.
    sessions: Vec<Tracked>,
    /// When its request was sent: a session created later is new.
    sent_at: UnixMillis,
    /// Its table of pairs, which its sessions' [`Tracked::pair`] index.
    pairs: Vec<KeptPair>,
    /// The creation times of its live sessions, as far as kept, by entry.
    ages: Vec<Age>,
    /// Its fetch tried to recall many sessions and recalled few: they
    /// change from one fetch to the next. The next fetch hashes only one
    /// session in [`CHURNING_SAMPLE`] of those it reads, which is enough to
    /// tell when they stop changing, and saves hashing the rest.
    churning: bool,
}

/// Whether a fetch that tried to recall `tried` sessions and recalled
/// `hits` of them recalls enough for hashing the sessions it reads to pay:
/// one in eight.
fn recalls_enough(tried: u32, hits: u32) -> bool {
    u64::from(hits) * 8 >= u64::from(tried).max(1)
}

/// Lengths of the baseline's entries a session is hashed as, at most, when
/// recalling it is tried: the entry in step's and one more cover a session
/// deleted since, whatever its length.
const LENGTHS_TRIED: usize = 2;

/// Sessions a fetch must have tried to recall to be found churning.
const CHURNING_TRIES: u32 = 256;
/// One session in this many is hashed after a churning fetch.
const CHURNING_SAMPLE: usize = 16;

/// A live session's creation time, which recalling it needs (its age),
/// kept beside the list for a quarter of its sessions at most: 12 bytes.
#[derive(Debug, Clone, Copy)]
struct Age {
    /// Its entry in the list.
    entry: u32,
    /// `created_at`, low word first.
    created_at: [u32; 2],
}

impl Age {
    fn new(entry: usize, created_at: UnixMillis) -> Option<Self> {
        let entry = u32::try_from(entry).ok()?;
        let bits = created_at as u64;
        Some(Age {
            entry,
            created_at: [bits as u32, (bits >> 32) as u32],
        })
    }

    fn created_at(&self) -> UnixMillis {
        (u64::from(self.created_at[0]) | u64::from(self.created_at[1]) << 32) as UnixMillis
    }
}

/// After this many sessions in a row hashed in vain (each changed since the
/// previous fetch), a fetch tries to recall only one session in [`PROBE`],
/// until one is recalled: a body where every session changes costs little
/// more than reading it.
const MISSES_IN_A_ROW: u32 = 64;
const PROBE: u32 = 64;

/// One list keeps the creation times of one live session in this many
/// (plus a few): a list of live sessions only costs a quarter of its
/// sessions' ages more, and the rest are read, not recalled.
const MOST_AGES_PER: usize = 4;

/// When a fetch happened, by the exporter's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchTimes {
    /// The request was sent.
    pub sent_at: UnixMillis,
    /// The answer was in: what was listed was true by then, so the time
    /// from `created_at` to this is an upper bound of a session's times.
    pub received_at: UnixMillis,
}

/// One session as a fetch saw it: 20 bytes, whatever the API sent (the
/// id's hash is two words, so that nothing is padded).
#[derive(Debug, Clone, Copy)]
struct Tracked {
    /// Hash of the session id, low word first.
    key: [u32; 2],
    /// Hash of the bytes it was written as ([`SessionTracker::memo`]): the
    /// next fetch recalls it when the bytes as long where the next session
    /// starts hash the same. 0 for none, and always for a session without
    /// a pair, which cannot be recalled.
    memo: u32,
    /// With a pair: how many bytes it was written as (its status's hash is
    /// its pair's, [`KeptPair::status_hash`]). Without a pair: the hash of
    /// its status value. Either tells a change of status
    /// ([`Self::status_hash`]).
    len_or_status: u32,
    /// Its agent and status in its fetch's table of pairs ([`KeptPair`]),
    /// or [`NO_PAIR`].
    pair: PairRef,
    /// The label of its status, for the removal counter; until the end of
    /// its fetch, [`Self::BASELINE_PAIR`] for a session recalled.
    label: u8,
    /// What was seen of it, and which of its fields were unusable: [`Seen`]
    /// bits.
    seen: u8,
}

impl Tracked {
    /// The mark of a session recalled, whose pair is still the previous
    /// fetch's: no label is as large (there are 27 at most).
    const BASELINE_PAIR: u8 = u8::MAX;

    fn new(key: u64, memo: Memo, status_hash: u32, pair: PairRef, unusable: u8) -> Self {
        let (memo, len_or_status) = match pair {
            NO_PAIR => (0, status_hash),
            _ => (memo.hash, memo.len),
        };
        Tracked {
            key: [key as u32, (key >> 32) as u32],
            memo,
            len_or_status,
            pair,
            label: 0,
            seen: unusable & Seen::UNUSABLE,
        }
    }

    /// The hash of its status value, `pairs` being its fetch's table.
    fn status_hash(&self, pairs: &[KeptPair]) -> u32 {
        match pairs.get(usize::from(self.pair)) {
            Some(pair) => pair.status_hash,
            None => self.len_or_status,
        }
    }

    /// How many bytes it was written as, if it has a memo.
    fn len(&self) -> Option<usize> {
        (self.memo != 0).then_some(self.len_or_status as usize)
    }

    fn key(&self) -> u64 {
        u64::from(self.key[0]) | u64::from(self.key[1]) << 32
    }
}

/// A pair of an agent and a status in one fetch's table of them.
pub(crate) type PairRef = u16;

/// No pair: the fetch's table was full.
pub(crate) const NO_PAIR: PairRef = PairRef::MAX;

/// The pairs a fetch's table holds at most: far more than an account has
/// (agents times statuses), few enough that the texts kept from one fetch
/// to the next stay small.
pub(crate) const MAX_PAIRS: usize = 4096;

/// One pair of the previous fetch's table, for the sessions recalled from
/// it: the agent and status as kept for their labels.
#[derive(Debug, Clone)]
pub(crate) struct KeptPair {
    pub(crate) agent: String,
    pub(crate) status: String,
    /// The status's stage.
    pub(crate) stage: Stage,
    /// The status's hash ([`SessionTracker::status_hash`]).
    pub(crate) status_hash: u32,
}

/// What was seen of a session so far, as bits of [`Tracked::seen`].
struct Seen;

impl Seen {
    /// Listed as `initializing` or `ready`.
    const STARTING: u8 = 1;
    /// Listed in a live status.
    const LIVE: u8 = 2;
    /// It has started: listed as `running` (observed or not), waiting for
    /// input or paused.
    const STARTED: u8 = 4;
    /// Its first listing in a final status is past (observed or not).
    const ENDED: u8 = 8;
    /// Its status was missing or not a string.
    const NO_STATUS: u8 = 16;
    /// Its agent name was missing or not a string.
    const NO_AGENT: u8 = 32;
    /// Its `created_at` was missing or not a timestamp.
    const NO_CREATED_AT: u8 = 64;
    /// The bits of the fields: those of the listing, not of what was seen.
    const UNUSABLE: u8 = Self::NO_STATUS | Self::NO_AGENT | Self::NO_CREATED_AT;
    /// Listed again in the same fetch: left out of the next baseline.
    const AGAIN: u8 = 128;
}

/// How a session of this fetch relates to the baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// The baseline entry at this index.
    Before(usize),
    /// Not in the baseline.
    New,
    /// Its id was listed earlier in this fetch.
    Again,
}

/// One session with an id, as the aggregator hands it over.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Listed<'a> {
    pub(crate) id: &'a str,
    pub(crate) status: StatusId,
    pub(crate) status_hash: u32,
    pub(crate) stage: Stage,
    pub(crate) agent: AgentId,
    /// `created_at` as listed, parsed only if an observation needs it.
    pub(crate) created_at: Option<&'a str>,
    /// Its agent and status in this fetch's table of pairs.
    pub(crate) pair: PairRef,
    /// Its `created_at` when its status is live and the time readable:
    /// what recalling it would need.
    pub(crate) age: Option<UnixMillis>,
    /// What the next fetch recalls it by.
    pub(crate) memo: Memo,
    /// Which of its fields were unusable.
    pub(crate) unusable: Unusable,
}

impl Listed<'_> {
    fn placed(&self) -> Placed {
        Placed {
            stage: self.stage,
            agent: self.agent,
            status: self.status,
            status_hash: self.status_hash,
        }
    }
}

/// Which of a session's fields were missing or unreadable, as the invalid
/// fields counter counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Unusable {
    pub(crate) status: bool,
    pub(crate) agent: bool,
    pub(crate) created_at: bool,
}

/// One session's unusable fields, as counts.
impl From<Unusable> for InvalidFields {
    fn from(unusable: Unusable) -> Self {
        InvalidFields {
            status: u64::from(unusable.status),
            agent_name: u64::from(unusable.agent),
            created_at: u64::from(unusable.created_at),
        }
    }
}

impl Unusable {
    fn bits(self) -> u8 {
        (if self.status { Seen::NO_STATUS } else { 0 })
            | (if self.agent { Seen::NO_AGENT } else { 0 })
            | (if self.created_at {
                Seen::NO_CREATED_AT
            } else {
                0
            })
    }

    fn of(seen: u8) -> Self {
        Unusable {
            status: seen & Seen::NO_STATUS != 0,
            agent: seen & Seen::NO_AGENT != 0,
            created_at: seen & Seen::NO_CREATED_AT != 0,
        }
    }
}

/// What the sessions a fetch recalled from one pair of the previous
/// fetch's table come to, counted at its end ([`FetchTracking::recalled`]).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Tally {
    /// Whether the pair's status is live: the sessions' ages count.
    live: bool,
    pub(crate) count: u64,
    /// The oldest `created_at` among them, if live.
    pub(crate) oldest: Option<UnixMillis>,
}

/// The creation time `ages` (a baseline's) kept for its entry `j`, looked
/// for at `at`, where the previous one found leaves it, or else searched.
#[inline]
fn age_in(ages: &[Age], at: &mut usize, j: usize) -> Option<UnixMillis> {
    let entry = u32::try_from(j).ok()?;
    let found = match ages.get(*at) {
        Some(age) if age.entry == entry => *at,
        _ => ages.binary_search_by_key(&entry, |age| age.entry).ok()?,
    };
    *at = found + 1;
    Some(ages[found].created_at())
}

/// Keeps `age`, the creation time of the live session just listed as
/// `entry`, while `ages` has room, a quarter of the longer of `listed` and
/// the baseline (`previous` entries) at most.
#[inline]
fn keep_age(
    ages: &mut Vec<Age>,
    listed: &mut [Tracked],
    previous: usize,
    entry: usize,
    age: Option<UnixMillis>,
) {
    if let Some(created_at) = age {
        let room = ages.len() < previous.max(entry) / MOST_AGES_PER + 64;
        match Age::new(entry, created_at).filter(|_| room) {
            Some(age) => ages.push(age),
            // Recalling a live session takes its age, not kept for this
            // one: the next fetch reads it, without hashing it in vain.
            None => listed[entry].memo = 0,
        }
    }
}

/// A session out of step with the baseline, placed later.
#[derive(Debug, Clone, Copy)]
struct Pending {
    /// Its entry in this fetch's list.
    entry: usize,
    placed: Placed,
    created_at: Option<UnixMillis>,
}

/// What placing a session read needs of it besides its time.
#[derive(Debug, Clone, Copy)]
struct Placed {
    stage: Stage,
    agent: AgentId,
    status: StatusId,
    status_hash: u32,
}

/// What one fetch saw change, by label text, for the tests and the log.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Changes {
    /// Sessions that entered each status, by agent and status (empty on the
    /// first fetch, which only records the baseline).
    pub transitions: Vec<((String, String), u64)>,
    /// Sessions gone since the previous fetch, by the status they had.
    pub removed: Vec<(String, u64)>,
    /// Sessions the previous fetch did not list, by agent.
    pub seen: Vec<(String, u64)>,
    /// Start latencies observed, by agent, in seconds.
    pub start_latency: Vec<(String, f64)>,
    /// Durations observed, by agent and final status, in seconds.
    pub duration: Vec<((String, String), f64)>,
}

/// One fetch's sessions, matched against the baseline as they arrive.
#[derive(Debug)]
pub(crate) struct FetchTracking<'t> {
    tracker: &'t mut SessionTracker,
    times: FetchTimes,
    /// This fetch's sessions with an id, in list order: the next baseline.
    listed: Vec<Tracked>,
    /// The entry and status id of each that has no pair ([`NO_PAIR`]),
    /// whose label is known at the end (the others' comes with their pair).
    unpaired: Vec<(u32, u32)>,
    /// The creation times of its live sessions, for a quarter of the
    /// longer of its list and the baseline's at most ([`MOST_AGES_PER`]).
    ages: Vec<Age>,
    /// Where the baseline's next age is looked for.
    age_at: usize,
    /// Sessions hashed and not recalled since the last one recalled.
    misses: u32,
    /// The last of those, if it was the session last tried: where its
    /// bytes start in the window, how many were hashed and their hash, for
    /// when it is read next.
    hashed: Option<(usize, usize, u32)>,
    /// Sessions that had a memo to be recalled by (hashed, or passed over
    /// while the sessions keep changing), and those found written as
    /// before.
    tried: u32,
    hits: u32,
    /// Where the next session is expected in the baseline.
    cursor: usize,
    /// What the sessions recalled come to, by the baseline's pair they
    /// have, and the fields of theirs that were unusable.
    recalled: Vec<Tally>,
    recalled_unusable: InvalidFields,
    /// Baseline entries already matched.
    used: Vec<bool>,
    /// Baseline entry by key, built once many sessions are out of step.
    index: Option<HashMap<u64, usize>>,
    pending: Vec<Pending>,
    /// Keys not in the baseline seen so far, so that a new session listed
    /// twice counts once. Not kept on the first fetch, where every key is
    /// new and nothing is counted: its repeats are dropped at its end.
    new_keys: HashSet<u64>,
    /// Sessions that entered a status, by agent and status id.
    entered: HashMap<(AgentId, StatusId), u64>,
    /// Sessions the baseline did not list, by agent.
    new_sessions: HashMap<AgentId, u64>,
    /// Start latencies observed, by agent id, in seconds.
    starts: Vec<(AgentId, f64)>,
    /// Durations observed, by agent id and final status, in seconds.
    ends: Vec<(AgentId, usize, f64)>,
}

impl<'t> FetchTracking<'t> {
    /// The hash a status value is compared by.
    pub(crate) fn status_hash(&self, status: &str) -> u32 {
        self.tracker.status_hash(status)
    }

    /// [`SessionTracker::memo`], for a session read; 0 for most of them
    /// when the previous fetch found its sessions changing
    /// ([`Baseline::churning`]), until this one recalls them.
    pub(crate) fn memo(&mut self, written: &[u8]) -> Memo {
        let Ok(len) = u32::try_from(written.len()) else {
            return Memo::default();
        };
        // Hashed already, when recalling it was tried with its length.
        if let Some((at, hashed, hash)) = self.hashed.take()
            && at == written.as_ptr().addr()
            && hashed == written.len()
        {
            return Memo { hash, len };
        }
        let churning = self.tracker.baseline.as_ref().is_some_and(|b| b.churning)
            && !recalls_enough(self.tried, self.hits);
        if churning && !self.listed.len().is_multiple_of(CHURNING_SAMPLE) {
            return Memo { hash: 0, len };
        }
        Memo {
            hash: self.tracker.memo(written),
            len,
        }
    }

    /// Follows one session with an id.
    pub(crate) fn session(&mut self, session: Listed<'_>) {
        let key = self.tracker.hasher.hash_one(session.id);
        let entry = self.listed.len();
        self.listed.push(Tracked::new(
            key,
            session.memo,
            session.status_hash,
            session.pair,
            session.unusable.bits(),
        ));
        self.follow(entry, session.pair, session.status, session.age);
        match self.place(key) {
            Some(place) => {
                let created_at = || session.created_at.and_then(parse_timestamp);
                self.resolve(entry, place, session.placed(), created_at);
            }
            None => {
                // Parsed now: the listing is gone once this call returns.
                let observable = matches!(session.stage, Stage::Running | Stage::Final(_));
                self.pending.push(Pending {
                    entry,
                    placed: session.placed(),
                    created_at: session
                        .created_at
                        .filter(|_| observable)
                        .and_then(parse_timestamp),
                });
                if self.pending.len() >= PENDING_BEFORE_INDEX {
                    self.build_index();
                }
            }
        }
    }

    /// The sessions at the start of `ahead` (the body from the first one's
    /// `{` on) that are written exactly as sessions of the baseline in step
    /// with this fetch were, which this fetch has not listed yet: the same
    /// id, agent, status and `created_at`, so nothing is to be observed of
    /// them (the fetch that listed one marked it as seen in that status, as
    /// [`Self::resolve`] marks every session it places). The first is
    /// looked for a few entries ahead ([`Self::match_ahead`]); each after
    /// it must follow a comma (and spacing) and be the next entry. They
    /// are followed without being read, and counted by the baseline's pair
    /// they have ([`Self::recalled`]) until the end of the fetch tells what
    /// that pair is in this one. A live session that `oldest` may keep
    /// ([`OldestSessions::keep_bound`]) is not recalled, for its id, nor
    /// those after it. The bound is asked for once a first session is
    /// found (not for sessions that are read) and once per run, as only a
    /// session read changes it.
    #[inline]
    pub(crate) fn recall(&mut self, ahead: &[u8], oldest: &mut OldestSessions) -> Option<Recalled> {
        let mut j = self.recall_first(ahead)?;
        let keep = oldest.keep_bound();
        let tracker = &*self.tracker;
        let baseline = tracker.baseline.as_ref()?;
        let mut run = Recalled {
            sessions: 0,
            len: 0,
        };
        let mut start = 0;
        // The hash of the session after the last one taken, where it
        // starts, once made.
        let mut hashed_next = None;
        // Each session is followed as [`Self::resolve`] follows one that
        // did not change, spelt out: its baseline entry, unused, is taken
        // and the cursor moves past it; its status is the same, so it
        // entered none; it was marked as seen in that status already, so
        // nothing is observed and what was seen of it stays as it was. Its
        // entry keeps the baseline's pair, marked as such
        // ([`Tracked::label`]), and its creation time if it is live.
        while let Some(&previous) = baseline.sessions.get(j) {
            let Some(tally) = self.recalled.get_mut(usize::from(previous.pair)) else {
                break;
            };
            if self.used.get(j) != Some(&false) {
                break;
            }
            let created_at = if tally.live && previous.seen & Seen::NO_CREATED_AT == 0 {
                let Some(created_at) = age_in(&baseline.ages, &mut self.age_at, j) else {
                    break;
                };
                if keep.is_some_and(|keep| created_at <= keep) {
                    break;
                }
                tally.oldest = min_option(tally.oldest, Some(created_at));
                Some(created_at)
            } else {
                None
            };
            tally.count += 1;
            self.used[j] = true;
            hashed_next = None;
            if previous.seen & Seen::UNUSABLE != 0 {
                self.recalled_unusable
                    .add(Unusable::of(previous.seen).into());
            }
            let entry = self.listed.len();
            self.listed.push(Tracked {
                label: Tracked::BASELINE_PAIR,
                ..previous
            });
            keep_age(
                &mut self.ages,
                &mut self.listed,
                self.used.len(),
                entry,
                created_at,
            );
            run.sessions += 1;
            run.len = start + previous.len_or_status as usize;
            self.cursor = j + 1;
            // The next session, if it is the next entry as it was written
            // (any other is left to the next call).
            let Some(next) = next_session(ahead, run.len) else {
                break;
            };
            let Some(&following) = baseline.sessions.get(j + 1) else {
                break;
            };
            let bytes = &ahead[next..];
            let Some(len) =
                (following.len()).filter(|&len| bytes.get(len.wrapping_sub(1)) == Some(&b'}'))
            else {
                break;
            };
            let memo = tracker.memo(&bytes[..len]);
            hashed_next = Some((bytes.as_ptr().addr(), len, memo));
            if memo != following.memo {
                break;
            }
            self.tried = self.tried.saturating_add(1);
            self.hits = self.hits.saturating_add(1);
            (j, start) = (j + 1, next);
        }
        if run.sessions == 0 {
            return None;
        }
        // The first session's hash is not the next one's; the hash of the
        // session that ended the run (changed, or not to be recalled) is,
        // for the next call (or its read), which comes at these very
        // bytes: the comma, spacing and `{` before them are in `ahead`, so
        // the parser reads on to them in this window.
        self.hashed = hashed_next;
        Some(run)
    }

    /// The baseline's entry the session at the start of `ahead` is
    /// written as, for [`Self::recall`].
    #[inline]
    fn recall_first(&mut self, ahead: &[u8]) -> Option<usize> {
        // Kept only from a try to the reading of the same session: a hash
        // of these very bytes, if the run before them made one.
        self.hashed = self
            .hashed
            .filter(|&(at, _, _)| at == ahead.as_ptr().addr());
        // Most sessions that cannot be recalled are told apart here,
        // before their bytes are hashed: the baseline has no memo for
        // them.
        let next = self.tracker.baseline.as_ref()?.sessions.get(self.cursor)?;
        if next.memo == 0 {
            return None;
        }
        self.tried = self.tried.saturating_add(1);
        if self.misses >= MISSES_IN_A_ROW {
            // The sessions keep changing: hashing each one costs more than
            // recalling saves, so only one in PROBE is tried.
            self.misses = self.misses.saturating_add(1);
            if !self.misses.is_multiple_of(PROBE) {
                return None;
            }
        }
        let found = self.match_ahead(ahead);
        self.misses = if found.is_some() {
            self.hits = self.hits.saturating_add(1);
            0
        } else {
            self.misses.saturating_add(1)
        };
        found
    }

    /// [`Self::recall_first`] once the session is to be hashed: the entry
    /// in step, or one of those after it (sessions of the baseline deleted
    /// since, as `place` allows), whose memo the bytes of `ahead` as many
    /// as its length hash to. A length is hashed only where `ahead` has a
    /// `}` to end a session there, and once; at most [`LENGTHS_TRIED`]
    /// lengths are, so that a baseline of sessions of many lengths does
    /// not make each try cost many hashes.
    #[inline]
    fn match_ahead(&mut self, ahead: &[u8]) -> Option<usize> {
        let sessions = &self.tracker.baseline.as_ref()?.sessions;
        let window = self.cursor..(self.cursor + 1 + LOOKAHEAD).min(sessions.len());
        let mut hashed: Option<(usize, u32)> = self.hashed.map(|(_, len, memo)| (len, memo));
        let mut lengths = usize::from(hashed.is_some());
        let mut found = None;
        for j in window {
            let Some(len) = sessions[j].len() else {
                continue;
            };
            if ahead.get(len.wrapping_sub(1)) != Some(&b'}') {
                continue;
            }
            let memo = match hashed {
                Some((same, memo)) if same == len => memo,
                _ if lengths == LENGTHS_TRIED => break,
                _ => {
                    lengths += 1;
                    self.tracker.memo(&ahead[..len])
                }
            };
            hashed = Some((len, memo));
            if memo == sessions[j].memo {
                found = Some(j);
                break;
            }
        }
        // Read next if not recalled: its memo may be this hash
        // ([`Self::recall`] drops it otherwise).
        self.hashed = hashed.map(|(len, memo)| (ahead.as_ptr().addr(), len, memo));
        found
    }

    /// The pairs of the previous fetch's table that this fetch recalled
    /// sessions from, each with its place in that table and what those
    /// sessions come to, and the fields of theirs that were unusable: for
    /// the end of the fetch, which tells what each pair is in this one.
    pub(crate) fn recalled(&self) -> (Vec<(PairRef, KeptPair, Tally)>, InvalidFields) {
        let pairs = self.tracker.baseline.as_ref().map_or(&[][..], |b| &b.pairs);
        let recalled = (pairs.iter().zip(&self.recalled).enumerate())
            .filter(|(_, (_, tally))| tally.count > 0)
            .filter_map(|(at, (pair, &tally))| {
                Some((PairRef::try_from(at).ok()?, pair.clone(), tally))
            })
            .collect();
        (recalled, self.recalled_unusable)
    }

    /// Keeps what the end of the fetch and the next fetch need of the
    /// session just read as `entry`: its status, when its pair does not
    /// give it, and its creation time if it is live ([`keep_age`]).
    #[inline]
    fn follow(&mut self, entry: usize, pair: PairRef, status: StatusId, age: Option<UnixMillis>) {
        if pair == NO_PAIR
            && let (Ok(entry), Ok(status)) = (u32::try_from(entry), u32::try_from(status))
        {
            self.unpaired.push((entry, status));
        }
        keep_age(
            &mut self.ages,
            &mut self.listed,
            self.used.len(),
            entry,
            age,
        );
    }

    /// Where `key` stands in the baseline, or `None` when that is decided
    /// later.
    fn place(&mut self, key: u64) -> Option<Place> {
        let Some(previous) = self.tracker.baseline.as_ref().map(|b| &b.sessions) else {
            return Some(Place::New);
        };
        let window = self.cursor..(self.cursor + 1 + LOOKAHEAD).min(previous.len());
        let in_step = previous
            .get(window.clone())
            .and_then(|entries| entries.iter().position(|p| p.key() == key))
            .map(|offset| window.start + offset)
            .filter(|&j| !self.used[j]);
        if let Some(j) = in_step {
            return Some(Place::Before(j));
        }
        let index = self.index.as_ref()?;
        Some(match index.get(&key) {
            Some(&j) => Place::Before(j),
            None => Place::New,
        })
    }

    /// Builds the baseline's index and places the sessions waiting for it.
    fn build_index(&mut self) {
        let previous = self
            .tracker
            .baseline
            .as_ref()
            .map_or(&[][..], |b| &b.sessions);
        let mut index = HashMap::with_capacity(previous.len());
        for (j, entry) in previous.iter().enumerate() {
            index.entry(entry.key()).or_insert(j);
        }
        self.index = Some(index);
        for pending in std::mem::take(&mut self.pending) {
            let key = self.listed[pending.entry].key();
            if let Some(place) = self.place(key) {
                self.resolve_pending(pending, place);
            }
        }
    }

    fn resolve_pending(&mut self, pending: Pending, place: Place) {
        let Pending {
            entry,
            placed,
            created_at,
        } = pending;
        self.resolve(entry, place, placed, || created_at);
    }

    /// Records what a placed session means: a transition when it is new or
    /// changed status, and the observations the rule allows.
    fn resolve(
        &mut self,
        entry: usize,
        place: Place,
        placed: Placed,
        created_at: impl FnOnce() -> Option<UnixMillis>,
    ) {
        let Placed {
            stage,
            agent,
            status,
            status_hash,
        } = placed;
        let key = self.listed[entry].key();
        let place = match place {
            Place::Before(j) if self.used[j] => Place::Again,
            Place::New if self.tracker.baseline.is_some() && !self.new_keys.insert(key) => {
                Place::Again
            }
            place => place,
        };
        let baseline = self.tracker.baseline.as_ref();
        let (before, entered) = match place {
            Place::Before(j) => {
                self.used[j] = true;
                self.cursor = j + 1;
                let previous = baseline.map(|b| (b.sessions[j], b.pairs.as_slice()));
                let changed =
                    previous.is_some_and(|(p, pairs)| p.status_hash(pairs) != status_hash);
                let previous = previous.map(|(p, _)| p);
                // What was seen of it, not its fields then.
                (previous.map_or(0, |p| p.seen & !Seen::UNUSABLE), changed)
            }
            // The first fetch only records the baseline.
            Place::New => (0, baseline.is_some()),
            Place::Again => {
                self.listed[entry].seen = Seen::AGAIN;
                return;
            }
        };
        if entered {
            *self.entered.entry((agent, status)).or_insert(0) += 1;
            if place == Place::New {
                *self.new_sessions.entry(agent).or_insert(0) += 1;
            }
        }
        let sent_before = baseline.map(|b| b.sent_at);
        let received_at = self.times.received_at;
        // Observed once, and only what this exporter saw happen: a session
        // listed before in an earlier stage, or one created since the
        // previous fetch was sent. A created_at later than this answer (the
        // API's clock ahead) does not make a session new: it may have been
        // listed before and missed by one fetch, and been observed then.
        let mut seen = before;
        let observe = |watched: bool, record: &mut dyn FnMut(f64)| {
            if sent_before.is_none() {
                return;
            }
            let created_at = created_at();
            let new = place == Place::New
                && created_at
                    .zip(sent_before)
                    .is_some_and(|(c, sent)| c > sent && c <= received_at);
            if let Some(created_at) = created_at.filter(|_| watched || new) {
                record((received_at - created_at).max(0) as f64 / 1000.0);
            }
        };
        match stage {
            Stage::Starting => seen |= Seen::STARTING | Seen::LIVE,
            Stage::Live => seen |= Seen::LIVE,
            // Waiting for its user, or paused: under way, so a later
            // `running` is not its start.
            Stage::Started => seen |= Seen::LIVE | Seen::STARTED,
            Stage::Running => {
                seen |= Seen::LIVE;
                if before & Seen::STARTED == 0 {
                    let starts = &mut self.starts;
                    observe(before & Seen::STARTING != 0, &mut |s| {
                        starts.push((agent, s))
                    });
                    seen |= Seen::STARTED;
                }
            }
            Stage::Final(which) => {
                if before & Seen::ENDED == 0 {
                    let ends = &mut self.ends;
                    observe(before & Seen::LIVE != 0, &mut |s| {
                        ends.push((agent, which, s))
                    });
                    seen |= Seen::ENDED;
                }
            }
        }
        self.listed[entry].seen = seen | self.listed[entry].seen & Seen::UNUSABLE;
    }

    /// Places the sessions still out of step (one pass over the baseline),
    /// and adds this fetch to a copy of the totals under the lifecycle
    /// labels; the [`Commit`] makes them, and this fetch's sessions as the
    /// baseline, the tracker's. `statuses` and `agents` give each id's
    /// value as kept for its label; `pair_ids` and `pairs` this fetch's
    /// table of pairs, as ids and as the next fetch recalls them;
    /// `recalled_as` what each pair of the previous fetch's table that
    /// sessions were recalled from is in this one: its place in the table
    /// ([`NO_PAIR`] if full) and its status id.
    pub(crate) fn finish(
        mut self,
        statuses: &[&str],
        agents: &[&str],
        pair_ids: &[(AgentId, StatusId)],
        pairs: Vec<KeptPair>,
        recalled_as: &[Option<(PairRef, StatusId)>],
        redactor: &Arc<Redactor>,
    ) -> (Changes, Lifecycle, Commit, &'t mut SessionTracker) {
        self.place_pending();
        let tracker = &*self.tracker;
        // A copy, bounded by the label limits: a few hundred bytes a label,
        // copied at every fetch (about 30 ms more per fetch at 10,000).
        let mut learned = tracker.learned.clone();
        // A scrape re-keyed the tracker before its request, so this only
        // redacts for callers that fold on their own.
        learned.rekey(redactor);
        let status_labels: Vec<LabelId> = statuses
            .iter()
            .map(|status| learned.statuses.id(status, redactor))
            .collect();
        let agent_labels: Vec<LabelId> = agents
            .iter()
            .map(|agent| learned.agents.id(agent, redactor))
            .collect();
        let Learned {
            statuses: status_names,
            agents: agent_names,
            totals,
            ..
        } = &mut learned;
        for &agent in &agent_labels {
            totals.agent(agent, status_names);
        }

        let mut changes = Changes::default();
        let agent_text = |id: AgentId| agent_names.text(agent_labels[id]).to_owned();
        let status_text = |id: StatusId| status_names.text(status_labels[id]).to_owned();
        let mut transitions: HashMap<(String, String), u64> = HashMap::new();
        for (&(agent, status), &n) in &self.entered {
            totals.transition(agent_labels[agent], status_labels[status], n);
            *transitions
                .entry((agent_text(agent), status_text(status)))
                .or_insert(0) += n;
        }
        changes.transitions = transitions.into_iter().collect();
        let mut seen: HashMap<String, u64> = HashMap::new();
        for (&agent, &n) in &self.new_sessions {
            totals.seen(agent_labels[agent], n);
            *seen.entry(agent_text(agent)).or_insert(0) += n;
        }
        changes.seen = seen.into_iter().collect();
        for &(agent, seconds) in &self.starts {
            totals.start(agent_labels[agent], seconds);
            changes.start_latency.push((agent_text(agent), seconds));
        }
        for &(agent, which, seconds) in &self.ends {
            totals.end(agent_labels[agent], which, seconds);
            let status = tracker.statuses.finals()[which].clone();
            changes
                .duration
                .push(((agent_text(agent), status), seconds));
        }
        if let Some(baseline) = &tracker.baseline {
            let mut removed: HashMap<String, u64> = HashMap::new();
            for (entry, _) in baseline
                .sessions
                .iter()
                .zip(&self.used)
                .filter(|(_, used)| !**used)
            {
                let label = LabelId::from(entry.label);
                totals.removal(label);
                *removed
                    .entry(status_names.text(label).to_owned())
                    .or_insert(0) += 1;
            }
            changes.removed = removed.into_iter().collect();
        }

        // Status labels are few (the limit is 27), so they fit in 8 bits.
        let label_of = |status: usize| {
            let label = status_labels.get(status).copied().unwrap_or(0);
            u8::try_from(label).unwrap_or(u8::MAX)
        };
        let pair_labels: Vec<u8> = pair_ids
            .iter()
            .map(|&(_, status)| label_of(status))
            .collect();
        // What the previous fetch's pairs that sessions were recalled from
        // are in this one: the place, the label, and the status's hash.
        let baseline_pairs = tracker.baseline.as_ref().map_or(&[][..], |b| &b.pairs);
        let recalled_pairs: Vec<(PairRef, u8, u32)> = (recalled_as.iter().enumerate())
            .map(|(previous, recalled)| {
                let status_hash = baseline_pairs.get(previous).map_or(0, |p| p.status_hash);
                match *recalled {
                    Some((pair, status)) => (pair, label_of(status), status_hash),
                    None => (NO_PAIR, 0, status_hash),
                }
            })
            .collect();
        let mut unpaired = self.unpaired.iter().peekable();
        for (index, entry) in self.listed.iter_mut().enumerate() {
            if entry.label == Tracked::BASELINE_PAIR {
                // Recalled: its pair becomes this fetch's.
                let (pair, label, status_hash) = (recalled_pairs.get(usize::from(entry.pair)))
                    .copied()
                    .unwrap_or((NO_PAIR, 0, 0));
                entry.pair = pair;
                entry.label = label;
                if pair == NO_PAIR {
                    // This fetch's table is full: kept as a session read then.
                    entry.memo = 0;
                    entry.len_or_status = status_hash;
                }
                continue;
            }
            entry.label = match pair_labels.get(usize::from(entry.pair)) {
                Some(&label) => label,
                None => {
                    // Recalling a session takes its pair: this one cannot be.
                    entry.memo = 0;
                    unpaired
                        .next_if(|(at, _)| *at as usize == index)
                        .map_or(0, |&(_, status)| label_of(status as usize))
                }
            };
        }
        if tracker.baseline.is_none() {
            mark_repeats(&mut self.listed);
        }
        drop_repeats(&mut self.listed, &mut self.ages);
        // A list that repeated ids, or shrank a lot, leaves room the
        // baseline and the spares must not keep until the next fetch.
        shrink_slack(&mut self.listed);
        shrink_slack(&mut self.ages);
        shrink_slack(&mut self.unpaired);
        shrink_slack(&mut self.used);
        changes.transitions.sort_by(|a, b| a.0.cmp(&b.0));
        changes.removed.sort();
        changes.seen.sort();
        changes.start_latency.sort_by(|a, b| a.0.cmp(&b.0));
        changes.duration.sort_by(|a, b| a.0.cmp(&b.0));
        let lifecycle = learned.lifecycle();
        let commit = Commit {
            learned,
            baseline: Baseline {
                sessions: self.listed,
                sent_at: self.times.sent_at,
                pairs,
                ages: self.ages,
                churning: self.tried >= CHURNING_TRIES && !recalls_enough(self.tried, self.hits),
            },
            unpaired: self.unpaired,
            used: self.used,
        };
        (changes, lifecycle, commit, self.tracker)
    }

    /// Places the sessions still out of step, with one pass over the baseline.
    fn place_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let previous = self
            .tracker
            .baseline
            .as_ref()
            .map_or(&[][..], |b| &b.sessions);
        let mut wanted: HashMap<u64, Option<usize>> = self
            .pending
            .iter()
            .map(|p| (self.listed[p.entry].key(), None))
            .collect();
        for (j, entry) in previous.iter().enumerate() {
            if let Some(slot) = wanted.get_mut(&entry.key()) {
                slot.get_or_insert(j);
            }
        }
        for pending in std::mem::take(&mut self.pending) {
            let place = match wanted.get(&self.listed[pending.entry].key()) {
                Some(Some(j)) => Place::Before(*j),
                _ => Place::New,
            };
            self.resolve_pending(pending, place);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_discarded_fetch_leaves_the_baseline_and_keeps_its_lists_as_spares() {
        use crate::aggregate::{Aggregator, Limits};
        use crate::api::parse::parse_sessions;
        let mut tracker = SessionTracker::new(10);
        let body = br#"[{"session_id":"a","status":"running"},{"session_id":"b"}]"#;
        let redactor = Arc::new(Redactor::new("not-in-the-body"));
        let times = FetchTimes {
            sent_at: 1_800_000_000_000,
            received_at: 1_800_000_000_100,
        };
        let limits = Limits {
            agents_max: 10,
            top_oldest: 1,
        };
        let mut aggregator = Aggregator::new(limits, &mut tracker, &redactor, times);
        let listed = parse_sessions(body, &mut aggregator);
        assert_eq!(listed.ok(), Some(2));
        let (_, commit) = aggregator.finish_uncommitted();
        tracker.discard(commit);
        assert!(tracker.baseline.is_none());
        assert!(tracker.spare.listed.capacity() >= 2);
        assert!(tracker.learned.redactor.is_none());
    }

    #[test]
    fn a_tracked_session_costs_20_bytes() {
        assert_eq!(std::mem::size_of::<Tracked>(), 20);
    }
}
