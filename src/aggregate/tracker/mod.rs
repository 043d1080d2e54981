//! Following sessions from one successful fetch to the next: which are new,
//! which changed status, which are gone, how long they took to start and
//! to finish, and which are written exactly as before (recalled rather than
//! read).
//!
//! The tracker keeps the previous successful fetch (the baseline): its
//! sessions as a list of small entries ([`Tracked`], in list order), the
//! classes they were counted by, and the entries it dropped (retired, for
//! one more fetch). A fetch ([`FetchTracking`]) matches each session it
//! lists against the baseline as it arrives ([`matching`]), counts what
//! changed under lifecycle labels ([`observing`]), and may recall the
//! sessions written as before ([`recall`]). Its changes wait in a
//! [`Commit`]: only a fetch known to have succeeded applies it, replacing
//! the baseline and adding its [`LifecycleDelta`] to the totals; a failed
//! one changes nothing, even one given up once its body was folded.

mod matching;
mod observing;
mod recall;
mod tracked;

use std::sync::{Arc, Mutex};

use self::matching::{Marks, Matching, PENDING_BEFORE_INDEX, Place, repeats};
pub(crate) use self::observing::Listing;
use self::observing::{Before, Observing};
use self::tracked::Life;
pub(crate) use self::tracked::{SessionKey, StatusLabel, Tracked, Written};
use super::classes::{KeptClass, Labeller, Tables};
use super::hash::KeyedHash;
use super::labels::{exemplar_id, label_source};
use super::lifecycle::{Latest, Lifecycle, LifecycleDelta, LifecycleState};
use crate::api::timestamp::{UnixMillis, parse_timestamp};
use crate::status::{Stage, StatusModel};
use crate::sync::lock;

/// When a fetch happened, by the exporter's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchTimes {
    /// The request was sent.
    pub sent_at: UnixMillis,
    /// The answer was in: what was listed was true by then, so the time
    /// from `created_at` to this is an upper bound of a session's times.
    pub received_at: UnixMillis,
}

/// What the exporter remembers between fetches. Its size is bounded by the
/// number of sessions last listed (a [`Tracked`] each, twice: the baseline
/// and the list the next fetch fills), by the label limits, and by the
/// classes kept (texts cut as labels' sources are); never by anything else
/// an API sent earlier.
#[derive(Debug)]
pub struct SessionTracker {
    /// Which statuses end a session.
    statuses: StatusModel,
    /// The previous successful fetch. `None` before the first one.
    baseline: Option<Baseline>,
    /// The labels given out and the totals under them, which the metrics
    /// render between fetches.
    lifecycle: Arc<Mutex<LifecycleState>>,
    /// The lists of the fetch before the baseline's, kept for the next
    /// fetch to fill: a large account's lists are then allocated once, not
    /// at every fetch (which fragments the allocator's memory).
    spare: Spare,
}

/// The previous successful fetch.
#[derive(Debug)]
struct Baseline {
    /// Its sessions with an id, in list order, one entry per id.
    sessions: Vec<Tracked>,
    /// The sessions the fetch before it listed and it did not.
    retired: Vec<Tracked>,
    /// The classes its sessions' [`Written::class`] name.
    classes: Vec<KeptClass>,
    /// The creation times of its live sessions that may be recalled.
    ages: Vec<Age>,
    /// When its request was sent: a session created later is new.
    sent_at: UnixMillis,
}

/// A fetch's lists, empty, with the room a previous fetch gave them.
#[derive(Debug, Default)]
struct Spare {
    listed: Vec<Tracked>,
    ages: Vec<Age>,
    used: Marks,
}

/// What one fetch changes in the tracker, held apart until the fetch is
/// known to have succeeded. Applied by [`SessionTracker::commit`];
/// dropping it discards the fetch.
#[derive(Debug)]
pub(crate) struct Commit {
    delta: LifecycleDelta,
    baseline: Baseline,
    used: Marks,
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
        SessionTracker {
            lifecycle: Arc::new(Mutex::new(LifecycleState::new(&statuses, agents_max))),
            statuses,
            baseline: None,
            spare: Spare::default(),
        }
    }

    /// Which statuses end a session.
    pub(crate) fn statuses(&self) -> &StatusModel {
        &self.statuses
    }

    /// The lifecycle labels and totals, shared with whoever renders them.
    pub(crate) fn lifecycle_state(&self) -> &Arc<Mutex<LifecycleState>> {
        &self.lifecycle
    }

    /// The lifecycle totals since the tracker started, by label text.
    pub fn lifecycle(&self) -> Lifecycle {
        lock(&self.lifecycle).by_text()
    }

    /// Starts following the sessions of one fetch.
    pub(crate) fn fetch(&mut self, times: FetchTimes) -> FetchTracking<'_> {
        let previous = self.baseline.as_ref().map_or(0, |b| b.sessions.len());
        let Spare {
            mut listed,
            mut ages,
            used,
        } = std::mem::take(&mut self.spare);
        listed.clear();
        listed.reserve(previous);
        ages.clear();
        FetchTracking {
            matching: Matching::new(previous, used),
            tracker: self,
            times,
            listed,
            ages,
            age_at: 0,
            repeats: Vec::new(),
            pending: Vec::new(),
            observing: Observing::new(),
            hash: KeyedHash::process(),
        }
    }

    /// Makes a finished fetch's changes the tracker's: its sessions become
    /// the baseline, and its counts are added to the totals.
    pub(crate) fn commit(&mut self, commit: Commit) {
        let Commit {
            delta,
            baseline,
            used,
        } = commit;
        lock(&self.lifecycle).apply(delta);
        let (listed, ages) = match self.baseline.replace(baseline) {
            Some(previous) => (previous.sessions, previous.ages),
            None => Default::default(),
        };
        self.spare = Spare { listed, ages, used };
    }

    /// Drops a finished fetch's changes, keeping its lists as the spares
    /// the next fetch fills.
    pub(crate) fn discard(&mut self, commit: Commit) {
        self.spare = Spare {
            listed: commit.baseline.sessions,
            ages: commit.baseline.ages,
            used: commit.used,
        };
    }
}

/// A session of this fetch out of step with the baseline, placed at the
/// end.
#[derive(Debug)]
struct Pending {
    /// Its entry in this fetch's list.
    entry: usize,
    /// Its id as a label is made from (at most [`PENDING_BEFORE_INDEX`]
    /// are held).
    id: Box<str>,
    listing: Listing,
    /// Its `created_at`, read when an observation may need it.
    created_at: Option<UnixMillis>,
}

/// One session with an id, as the aggregator hands it over.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Listed<'a> {
    pub(crate) id: &'a str,
    pub(crate) listing: Listing,
    /// `created_at` as listed, parsed only if an observation needs it.
    pub(crate) created_at: Option<&'a str>,
    /// What the next fetch recalls it by.
    pub(crate) written: Option<Written>,
    /// Its `created_at`, when it is live and that is readable: what
    /// recalling it needs.
    pub(crate) age: Option<UnixMillis>,
}

/// One fetch's sessions, matched against the baseline as they arrive.
#[derive(Debug)]
pub(crate) struct FetchTracking<'t> {
    tracker: &'t mut SessionTracker,
    times: FetchTimes,
    /// This fetch's sessions with an id, in list order: the next baseline.
    listed: Vec<Tracked>,
    /// The creation times of its live sessions that may be recalled.
    ages: Vec<Age>,
    /// Where the baseline's next age is looked for.
    age_at: usize,
    /// Entries of `listed` whose id an earlier one has: left out of the
    /// next baseline.
    repeats: Vec<usize>,
    matching: Matching,
    /// Sessions out of step, placed at the end (or once the index is built).
    pending: Vec<Pending>,
    observing: Observing,
    hash: &'static KeyedHash,
}

impl<'t> FetchTracking<'t> {
    /// The hash of the bytes a session was written as.
    #[inline]
    pub(crate) fn hash(&self, bytes: &[u8]) -> u64 {
        self.hash.of(bytes)
    }

    /// Follows one session read from the body.
    pub(crate) fn session(&mut self, session: Listed<'_>) {
        let key = SessionKey::new(self.hash.of(session.id.as_bytes()));
        let entry = self.listed.len();
        self.listed.push(Tracked {
            key,
            written: session.written,
            status: session.listing.status,
            life: Default::default(),
        });
        if session.written.is_some() && session.listing.stage.is_live() {
            let previous = self.matching.used.len();
            keep_age(
                &mut self.ages,
                &mut self.listed,
                previous,
                entry,
                session.age,
                self.times.sent_at,
            );
        }
        let Some(baseline) = &self.tracker.baseline else {
            // The first fetch only records a baseline (its repeats are
            // found at its end).
            self.listed[entry].life = Life::default().listed(session.listing.stage);
            return;
        };
        if let Some(place) = self
            .matching
            .place(key, &baseline.sessions, &baseline.retired)
        {
            let created_at = || session.created_at.and_then(parse_timestamp);
            self.follow(
                label_source(session.id),
                entry,
                place,
                session.listing,
                created_at,
            );
            return;
        }
        let observable = matches!(session.listing.stage, Stage::Running | Stage::Final(_));
        self.pending.push(Pending {
            entry,
            id: label_source(session.id).into(),
            listing: session.listing,
            created_at: (session.created_at)
                .filter(|_| observable)
                .and_then(parse_timestamp),
        });
        if self.pending.len() >= PENDING_BEFORE_INDEX
            && !self.matching.indexed()
            && let Some(baseline) = &self.tracker.baseline
        {
            self.matching.build_index(&baseline.sessions);
            for pending in std::mem::take(&mut self.pending) {
                self.place_pending(pending);
            }
        }
    }

    /// Places a session that waited, now that the index is built.
    fn place_pending(&mut self, pending: Pending) {
        let Some(baseline) = &self.tracker.baseline else {
            return;
        };
        let key = self.listed[pending.entry].key;
        let place = self
            .matching
            .place(key, &baseline.sessions, &baseline.retired)
            .unwrap_or(Place::New);
        self.follow_pending(pending, place);
    }

    /// Counts what placing a session that waited at `place` means.
    fn follow_pending(&mut self, pending: Pending, place: Place) {
        let created_at = || pending.created_at;
        self.follow(
            &pending.id,
            pending.entry,
            place,
            pending.listing,
            created_at,
        );
    }

    /// Counts what placing `entry`, the session `id`, at `place` means.
    fn follow(
        &mut self,
        id: &str,
        entry: usize,
        place: Place,
        listing: Listing,
        created_at: impl FnOnce() -> Option<UnixMillis>,
    ) {
        let baseline = self.tracker.baseline.as_ref();
        let before = match place {
            Place::Before(j) => baseline.map(|b| b.sessions[j]),
            Place::Returning(i) => baseline.map(|b| b.retired[i]),
            Place::New => None,
            Place::Again => {
                self.repeats.push(entry);
                return;
            }
        };
        let before = before.map(|b| Before {
            status: b.status,
            life: b.life,
        });
        self.listed[entry].life = self.observing.follow(
            (id, listing),
            place,
            before,
            (self.times, baseline.map(|b| b.sent_at)),
            created_at,
        );
    }

    /// Places the sessions still out of step (one pass over the baseline),
    /// and gathers the fetch's changes: the lifecycle counts under their
    /// labels (with the labels the fetch gives out, from `labeller`), and
    /// the next baseline, whose sessions are counted by `tables`' classes.
    pub(crate) fn finish(
        mut self,
        tables: &Tables,
        labeller: Labeller<'_>,
    ) -> (Commit, &'t mut SessionTracker) {
        if let Some(baseline) = &self.tracker.baseline {
            let pending = std::mem::take(&mut self.pending);
            let keys: Vec<SessionKey> = pending.iter().map(|p| self.listed[p.entry].key).collect();
            let places = self
                .matching
                .place_late(&keys, &baseline.sessions, &baseline.retired);
            for (pending, place) in pending.into_iter().zip(places) {
                self.follow_pending(pending, place);
            }
        } else {
            self.repeats = repeats(&self.listed);
        }
        let FetchTracking {
            tracker,
            times,
            mut listed,
            ages: self_ages,
            mut repeats,
            matching,
            observing,
            ..
        } = self;
        // The sessions behind the counts become exemplars' labels once:
        // redacted with this fetch's key, then cut.
        let redactor = labeller.redactor;
        let id = |id: &str| exemplar_id(redactor, id);
        let mut delta = LifecycleDelta {
            statuses: labeller.statuses,
            agents: labeller.agents,
            agents_listed: tables.agents.iter().map(|agent| agent.label).collect(),
            transitions: observing.entered,
            entered_last: (observing.entered_last.into_iter())
                .map(|(series, last)| (series, id(&last)))
                .collect(),
            seen: observing.seen,
            observations: observing.observations,
            latest: (observing.latest.into_iter())
                .map(|(bucket, latest)| {
                    let session_id = id(&latest.session_id);
                    (
                        bucket,
                        Latest {
                            session_id,
                            ..latest
                        },
                    )
                })
                .collect(),
            at: times.received_at,
            ..LifecycleDelta::default()
        };
        // Gone since the baseline: counted as removed by the status they
        // had, and kept for one more fetch, should the next answer list
        // them again.
        let retired: Vec<Tracked> = match &tracker.baseline {
            Some(baseline) => (baseline.sessions.iter().zip(matching.used.iter()))
                .filter(|(_, used)| !used)
                .map(|(entry, _)| *entry)
                .collect(),
            None => Vec::new(),
        };
        for entry in &retired {
            *delta.removed.entry(entry.status.get()).or_insert(0) += 1;
        }
        repeats.sort_unstable();
        repeats.dedup();
        let mut ages = self_ages;
        if !repeats.is_empty() {
            drop_repeats(&mut listed, &mut ages, &repeats);
        }
        // A list that repeated ids, or shrank a lot, leaves room the
        // baseline and the spares must not keep until the next fetch.
        shrink_slack(&mut listed);
        shrink_slack(&mut ages);
        let mut used = matching.used;
        used.shrink();
        let commit = Commit {
            delta,
            baseline: Baseline {
                sessions: listed,
                retired,
                classes: tables.kept(),
                ages,
                sent_at: times.sent_at,
            },
            used,
        };
        (commit, tracker)
    }
}

/// A list keeps the creation times of one live session in this many (plus
/// a few) at most: a list of live sessions only costs a quarter of its
/// sessions' ages more, and the rest are read, not recalled.
const MOST_AGES_PER: usize = 4;

/// A live session's creation time, which recalling it needs (its age),
/// kept beside the list: 8 bytes. It is kept as the time from it to when
/// the list's request was sent, up to 49 days: a live session created
/// earlier, or after the request (the API's clock ahead), is read again.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Age {
    /// Its entry in the list.
    entry: u32,
    /// Milliseconds from its creation to the list's request.
    before_request: u32,
}

impl Age {
    fn new(entry: usize, created_at: UnixMillis, sent_at: UnixMillis) -> Option<Self> {
        Some(Age {
            entry: u32::try_from(entry).ok()?,
            before_request: u32::try_from(sent_at.checked_sub(created_at)?).ok()?,
        })
    }

    fn created_at(&self, sent_at: UnixMillis) -> UnixMillis {
        sent_at - UnixMillis::from(self.before_request)
    }
}

/// Keeps the creation time of `entry`, a live session of `listed` the next
/// fetch may recall, while `ages` has room (a quarter of the longer of the
/// list and the baseline's `previous` entries, plus a few); without room,
/// the next fetch reads it. A live session without a creation time needs
/// none.
fn keep_age(
    ages: &mut Vec<Age>,
    listed: &mut [Tracked],
    previous: usize,
    entry: usize,
    created_at: Option<UnixMillis>,
    sent_at: UnixMillis,
) {
    let Some(created_at) = created_at else {
        return;
    };
    let room = ages.len() < previous.max(entry) / MOST_AGES_PER + 64;
    match Age::new(entry, created_at, sent_at).filter(|_| room) {
        Some(age) => ages.push(age),
        None => listed[entry].written = None,
    }
}

/// The creation time `ages` keep for entry `j`, looked for at `at`, where
/// the previous one found leaves it, or else searched.
fn age_in(ages: &[Age], at: &mut usize, j: usize, sent_at: UnixMillis) -> Option<UnixMillis> {
    let entry = u32::try_from(j).ok()?;
    let found = match ages.get(*at) {
        Some(age) if age.entry == entry => *at,
        _ => ages.binary_search_by_key(&entry, |age| age.entry).ok()?,
    };
    *at = found + 1;
    Some(ages[found].created_at(sent_at))
}

/// Drops the entries `repeats` (sorted) from `listed`, and their ages; the
/// other ages follow their entries to their new places.
fn drop_repeats(listed: &mut Vec<Tracked>, ages: &mut Vec<Age>, repeats: &[usize]) {
    let mut next = repeats.iter().peekable();
    let mut kept = Vec::with_capacity(listed.len());
    let mut moved = Vec::with_capacity(ages.len());
    let mut ages_left = ages.iter().peekable();
    for (index, entry) in listed.iter().enumerate() {
        let repeat = next.next_if_eq(&&index).is_some();
        let age = ages_left.next_if(|age| age.entry as usize == index);
        if repeat {
            continue;
        }
        if let Some(age) = age
            && let Ok(entry) = u32::try_from(kept.len())
        {
            moved.push(Age { entry, ..*age });
        }
        kept.push(*entry);
    }
    *listed = kept;
    *ages = moved;
}

/// Gives back the room of a list that holds far fewer items than it could.
fn shrink_slack<T>(list: &mut Vec<T>) {
    if list.capacity() > 2 * list.len() + 1024 {
        list.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::Age;

    #[test]
    fn an_age_is_kept_only_from_creation_up_to_49_days_before_the_request() {
        let sent_at = 1_796_083_200_000;
        let day = 86_400_000;
        for created_at in [sent_at, sent_at - 1, sent_at - 49 * day] {
            let age = Age::new(7, created_at, sent_at).unwrap();
            assert_eq!(age.created_at(sent_at), created_at);
        }
        // Created after the request (the API's clock ahead), or too long
        // before it: read again rather than kept.
        for created_at in [sent_at + 1, sent_at - 50 * day, i64::MIN] {
            assert!(Age::new(7, created_at, sent_at).is_none(), "{created_at}");
        }
        assert!(Age::new(1 << 32, sent_at, sent_at).is_none());
    }
}
