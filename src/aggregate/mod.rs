//! Folding sessions into what the metrics show: counts per status and per
//! agent, the oldest live session per status, the N oldest live sessions,
//! and the transitions since the previous fetch.
//!
//! An [`Aggregator`] receives sessions one at a time from the parser and
//! keeps counters per distinct status and agent (found through a small
//! table of the pairs seen, [`pairs`]), per-status minima, a
//! bounded heap ([`oldest`]) and, through the [`SessionTracker`], a few bytes
//! per session to compare with the next fetch ([`tracker`]). Its memory grows
//! with the number of distinct agents and statuses in one body and with
//! the number of sessions listed, never with anything seen in earlier
//! fetches. [`Aggregator::finish`] applies the cardinality guard
//! ([`labels`]) and produces an immutable [`Snapshot`] that the metrics
//! module renders.
//!
//! Every session costs a few hash lookups, so the maps use foldhash rather
//! than std's SipHash: several times faster on short keys, and still seeded
//! at random per map, so a hostile API cannot choose colliding ids.

mod labels;
mod lifecycle;
mod memo;
mod oldest;
mod pairs;
mod tracker;

use std::borrow::Cow;
use std::sync::Arc;

use foldhash::{HashMap, HashMapExt};

pub use self::lifecycle::{DURATION_BUCKETS, HistogramCounts, Lifecycle, START_LATENCY_BUCKETS};
pub use self::oldest::TopSession;
pub use self::tracker::{Changes, FetchTimes, SessionTracker};
pub(crate) use self::tracker::{Commit, Retired};

use self::labels::{MAX_UNDOCUMENTED_STATUSES, OTHER, UNKNOWN, keep_largest, label, label_source};
use self::oldest::OldestSessions;
use self::pairs::{PairCache, ShortKey};
use self::tracker::{FetchTracking, KeptPair, Listed, MAX_PAIRS, Memo, NO_PAIR, PairRef, Unusable};
use crate::api::parse::{Field, Recalled, SessionRecord, SessionSink};
use crate::api::redact::Redactor;
use crate::api::timestamp::{UnixMillis, looks_like_timestamp, parse_timestamp};
use crate::status::{KnownStatus, Stage, StatusModel};

/// Limits that bound the snapshot's size.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Distinct agent names kept; the rest become `other`.
    pub agents_max: usize,
    /// How many oldest live sessions to keep individually.
    pub top_oldest: usize,
}

/// Index of a status value within one aggregation; the statuses always
/// there come first ([`StatusModel::fixed`]): the known ones in the order
/// of [`KnownStatus::ALL`], then the other final statuses.
type StatusId = usize;

/// Index of an agent name within one aggregation.
type AgentId = usize;

/// Sessions with a missing or unparseable field, per field, as
/// `agi_invalid_session_fields_total` counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InvalidFields {
    /// `status` missing, blank, or not a string.
    pub status: u64,
    /// `agent_name` missing, blank, or not a string.
    pub agent_name: u64,
    /// `created_at` missing or not a timestamp.
    pub created_at: u64,
}

impl InvalidFields {
    /// Adds `other`'s counts to these.
    fn add(&mut self, other: InvalidFields) {
        self.status += other.status;
        self.agent_name += other.agent_name;
        self.created_at += other.created_at;
    }

    /// Each count with its `field` label value.
    pub(crate) fn by_field(&self) -> [(&'static str, u64); 3] {
        [
            ("status", self.status),
            ("agent_name", self.agent_name),
            ("created_at", self.created_at),
        ]
    }
}

/// Sessions per status, with the oldest live one's creation time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCount {
    /// Status label value.
    pub status: String,
    /// Whether the status is live (not final).
    pub live: bool,
    /// Sessions in this status.
    pub count: u64,
    /// Creation time of the oldest session with a readable timestamp.
    pub oldest: Option<UnixMillis>,
}

/// Sessions of one agent per status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentCounts {
    /// Agent label value.
    pub agent_name: String,
    /// Status label value and count; every known status is present.
    pub statuses: Vec<(String, u64)>,
    /// Live status label value and the creation time of the agent's oldest
    /// session in it; the known live statuses are always present.
    pub oldest: Vec<(String, Option<UnixMillis>)>,
}

/// The result of one successful fetch, ready to render. Every label value
/// in it is bounded and redacted.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {
    /// Sessions listed.
    pub sessions: u64,
    /// Per status; the known statuses are always present.
    pub statuses: Vec<StatusCount>,
    /// Per agent, sorted by name.
    pub agents: Vec<AgentCounts>,
    /// The oldest live sessions, oldest first.
    pub oldest_sessions: Vec<TopSession>,
    /// Sessions with a missing or unreadable field.
    pub invalid_fields: InvalidFields,
    /// Agent names were folded into `other`.
    pub agents_truncated: bool,
    /// Status values were folded into `other`.
    pub statuses_truncated: bool,
    /// What changed since the previous successful fetch, under the
    /// lifecycle labels.
    pub changes: Changes,
    /// The lifecycle families' totals since the exporter started.
    pub lifecycle: Lifecycle,
}

/// One status value seen in a body.
#[derive(Debug)]
struct StatusStats {
    /// The value as kept for its label.
    source: String,
    live: bool,
    stage: Stage,
    /// Hash of the value, which the tracker compares.
    hash: u32,
    count: u64,
    oldest: Option<UnixMillis>,
}

impl StatusStats {
    /// A status value not seen yet in this body, whose hash is `hash`.
    fn new(source: &str, model: &StatusModel, hash: u32) -> Self {
        let stage = model.stage(source);
        StatusStats {
            source: source.to_owned(),
            live: stage.is_live(),
            stage,
            hash,
            count: 0,
            oldest: None,
        }
    }
}

/// One agent name seen in a body.
///
/// The known statuses sit in a fixed array, the others in a map, so an
/// agent costs what it lists: a body where every session has a new agent
/// and a new status holds one cell per session, not one per pair.
#[derive(Debug)]
struct AgentStats {
    /// The name as kept for its label.
    source: String,
    /// Sessions of the agent.
    total: u64,
    /// By known status id.
    known: [StatusCell; KnownStatus::ALL.len()],
    /// By the ids of the other statuses.
    others: HashMap<StatusId, StatusCell>,
}

/// One agent's sessions in one status.
#[derive(Debug, Clone, Copy, Default)]
struct StatusCell {
    count: u64,
    /// Creation time of the oldest one, for a live status.
    oldest: Option<UnixMillis>,
}

impl AgentStats {
    fn new(source: String) -> Self {
        AgentStats {
            source,
            total: 0,
            known: [StatusCell::default(); KnownStatus::ALL.len()],
            others: HashMap::new(),
        }
    }

    fn cell(&mut self, status: StatusId) -> &mut StatusCell {
        match self.known.get_mut(status) {
            Some(cell) => cell,
            None => self.others.entry(status).or_default(),
        }
    }

    /// The statuses the agent listed, with their cells.
    fn cells(&self) -> impl Iterator<Item = (StatusId, &StatusCell)> {
        let known = self.known.iter().enumerate();
        known
            .chain(self.others.iter().map(|(&id, cell)| (id, cell)))
            .filter(|(_, cell)| cell.count > 0)
    }
}

/// Folds sessions as the parser reports them.
#[derive(Debug)]
pub struct Aggregator<'t> {
    limits: Limits,
    /// Applied to every label value that comes from the API, once per
    /// distinct value kept.
    redactor: &'t Arc<Redactor>,
    /// Which statuses end a session.
    model: StatusModel,
    /// By status id; the first are those always there.
    statuses: Vec<StatusStats>,
    status_ids: HashMap<String, StatusId>,
    agents: Vec<AgentStats>,
    agent_ids: HashMap<String, AgentId>,
    /// The ids of the pairs of agent and status seen, and their place in
    /// the table of pairs, by their keys.
    pairs: PairCache<(AgentId, StatusId, PairRef)>,
    /// The table of pairs of this fetch, which the next one recalls
    /// sessions from (at most [`MAX_PAIRS`]), and the place of each in it.
    pair_table: Vec<(AgentId, StatusId)>,
    pair_refs: HashMap<(AgentId, StatusId), PairRef>,
    oldest_sessions: OldestSessions,
    invalid_fields: InvalidFields,
    sessions: u64,
    tracking: FetchTracking<'t>,
}

impl<'t> Aggregator<'t> {
    /// Starts an aggregation of the fetch made at `times`, which follows
    /// sessions with `tracker`, whose baseline and totals [`Self::finish`]
    /// updates; an aggregation dropped unfinished (the body was refused)
    /// leaves the tracker as it was.
    pub fn new(
        limits: Limits,
        tracker: &'t mut SessionTracker,
        redactor: &'t Arc<Redactor>,
        times: FetchTimes,
    ) -> Self {
        let model = tracker.statuses().clone();
        let fixed = model.fixed();
        let statuses = (fixed.iter())
            .map(|status| StatusStats::new(status, &model, tracker.status_hash(status)))
            .collect();
        // The known statuses are found by a match; the other final statuses
        // like any other value.
        let status_ids = (fixed.iter().enumerate())
            .skip(KnownStatus::ALL.len())
            .map(|(id, status)| ((*status).to_owned(), id))
            .collect();
        Aggregator {
            limits,
            redactor,
            model,
            statuses,
            status_ids,
            agents: Vec::new(),
            agent_ids: HashMap::new(),
            pairs: PairCache::new(),
            pair_table: Vec::new(),
            pair_refs: HashMap::new(),
            oldest_sessions: OldestSessions::new(limits.top_oldest),
            invalid_fields: InvalidFields::default(),
            sessions: 0,
            tracking: tracker.fetch(times),
        }
    }

    /// The ids of a session's agent and status, and the pair's place in
    /// this fetch's table of pairs.
    fn ids(&mut self, agent: &str, status: &str) -> (AgentId, StatusId, PairRef) {
        let keys = ShortKey::of(agent).zip(ShortKey::of(status));
        if let Some(ids) = keys.and_then(|(agent, status)| self.pairs.get(agent, status)) {
            return ids;
        }
        let pair = (self.agent_id(agent), self.status_id(status));
        let ids = (pair.0, pair.1, self.pair_ref(pair));
        if let Some((agent, status)) = keys {
            self.pairs.put(agent, status, ids);
        }
        ids
    }

    /// The place of a pair in this fetch's table of pairs, added if there
    /// is room.
    fn pair_ref(&mut self, pair: (AgentId, StatusId)) -> PairRef {
        if let Some(&place) = self.pair_refs.get(&pair) {
            return place;
        }
        let Ok(place) = PairRef::try_from(self.pair_table.len()) else {
            return NO_PAIR;
        };
        if self.pair_table.len() >= MAX_PAIRS {
            return NO_PAIR;
        }
        self.pair_table.push(pair);
        self.pair_refs.insert(pair, place);
        place
    }

    /// Adds the sessions recalled to the counts, by the pair of the
    /// previous fetch's table they had; returns what each such pair is in
    /// this fetch, for the tracker to give them.
    fn count_recalled(&mut self) -> Vec<Option<(PairRef, StatusId)>> {
        let (recalled, unusable) = self.tracking.recalled();
        self.invalid_fields.add(unusable);
        let mut recalled_as = Vec::new();
        for (previous, pair, tally) in recalled {
            let (agent_id, status_id, place) = self.ids(&pair.agent, &pair.status);
            let previous = usize::from(previous);
            if recalled_as.len() <= previous {
                recalled_as.resize(previous + 1, None);
            }
            recalled_as[previous] = Some((place, status_id));
            self.sessions += tally.count;
            let agent_stats = &mut self.agents[agent_id];
            agent_stats.total += tally.count;
            let cell = agent_stats.cell(status_id);
            cell.count += tally.count;
            cell.oldest = min_option(cell.oldest, tally.oldest);
            let stats = &mut self.statuses[status_id];
            stats.count += tally.count;
            stats.oldest = min_option(stats.oldest, tally.oldest);
        }
        recalled_as
    }

    fn status_id(&mut self, status: &str) -> StatusId {
        if let Some(known) = KnownStatus::parse(status) {
            return known.index();
        }
        if let Some(&id) = self.status_ids.get(status) {
            return id;
        }
        let id = self.statuses.len();
        let hash = self.tracking.status_hash(status);
        self.statuses
            .push(StatusStats::new(status, &self.model, hash));
        self.status_ids.insert(status.to_owned(), id);
        id
    }

    fn agent_id(&mut self, agent: &str) -> AgentId {
        if let Some(&id) = self.agent_ids.get(agent) {
            return id;
        }
        let id = self.agents.len();
        self.agents.push(AgentStats::new(agent.to_owned()));
        self.agent_ids.insert(agent.to_owned(), id);
        id
    }

    /// Applies the cardinality guard and returns the finished snapshot; the
    /// sessions seen become the tracker's baseline for the next fetch.
    pub fn finish(self) -> Snapshot {
        let (snapshot, commit, tracker) = self.finish_apart();
        drop(tracker.commit(commit));
        snapshot
    }

    /// [`Self::finish`], leaving the tracker as it was until the commit is
    /// applied ([`SessionTracker::commit`]), or as it is if it is dropped.
    pub(crate) fn finish_uncommitted(self) -> (Snapshot, Commit) {
        let (snapshot, commit, _) = self.finish_apart();
        (snapshot, commit)
    }

    fn finish_apart(mut self) -> (Snapshot, Commit, &'t mut SessionTracker) {
        let recalled_as = self.count_recalled();
        let redactor = self.redactor;
        let status_labels = self.status_labels();
        let agent_labels = self.agent_labels();
        let statuses = status_counts(&self.statuses, &status_labels, &self.model);
        let agents = agent_counts(
            &self.agents,
            &self.statuses,
            &agent_labels,
            &status_labels,
            &self.model,
        );

        let mut oldest_sessions: Vec<TopSession> = Vec::new();
        for mut session in self.oldest_sessions.into_sorted_vec() {
            session.session_id = label(redactor, &session.session_id);
            session.agent_name = self.agent_ids.get(&session.agent_name).map_or_else(
                || label(redactor, &session.agent_name),
                |&id| agent_labels.labels[id].clone(),
            );
            let status_id = KnownStatus::parse(&session.status)
                .map(KnownStatus::index)
                .or_else(|| self.status_ids.get(&session.status).copied());
            if let Some(id) = status_id {
                session.status = status_labels.labels[id].clone();
            }
            // Oldest first: an id that redaction made equal to one already
            // kept is the younger of the two.
            if !oldest_sessions
                .iter()
                .any(|kept| kept.session_id == session.session_id)
            {
                oldest_sessions.push(session);
            }
        }

        let statuses_seen: Vec<&str> = self.statuses.iter().map(|s| s.source.as_str()).collect();
        let agents_seen: Vec<&str> = self.agents.iter().map(|a| a.source.as_str()).collect();
        let pairs = (self.pair_table.iter())
            .map(|&(agent, status)| KeptPair {
                agent: self.agents[agent].source.clone(),
                status: self.statuses[status].source.clone(),
                stage: self.statuses[status].stage,
                status_hash: self.statuses[status].hash,
            })
            .collect();
        let (changes, lifecycle, commit, tracker) = self.tracking.finish(
            &statuses_seen,
            &agents_seen,
            &self.pair_table,
            pairs,
            &recalled_as,
            redactor,
        );
        let snapshot = Snapshot {
            sessions: self.sessions,
            statuses,
            agents,
            oldest_sessions,
            invalid_fields: self.invalid_fields,
            agents_truncated: agent_labels.truncated,
            statuses_truncated: status_labels.truncated,
            changes,
            lifecycle,
        };
        (snapshot, commit, tracker)
    }

    /// Each status id's label in this snapshot: the statuses always there
    /// and the [`MAX_UNDOCUMENTED_STATUSES`] most common others by name, the
    /// rest `other`.
    fn status_labels(&self) -> Labels {
        let fixed = self.model.fixed().len();
        let undocumented = &self.statuses[fixed..];
        let kept = keep_largest(
            undocumented.iter().map(|s| (s.count, s.source.as_str())),
            MAX_UNDOCUMENTED_STATUSES,
        );
        let labels = self
            .statuses
            .iter()
            .enumerate()
            .map(|(id, stats)| {
                let folded = id
                    .checked_sub(fixed)
                    .zip(kept.as_ref())
                    .is_some_and(|(index, kept)| !kept[index]);
                if folded {
                    OTHER.to_owned()
                } else {
                    label(self.redactor, &stats.source)
                }
            })
            .collect();
        Labels {
            labels,
            truncated: kept.is_some(),
        }
    }

    /// Each agent id's label in this snapshot: the `--agents.max` agents
    /// with most sessions by name, the rest `other`.
    fn agent_labels(&self) -> Labels {
        let kept = keep_largest(
            self.agents.iter().map(|a| (a.total, a.source.as_str())),
            self.limits.agents_max,
        );
        let labels = self
            .agents
            .iter()
            .enumerate()
            .map(|(id, agent)| match &kept {
                Some(kept) if !kept[id] => OTHER.to_owned(),
                _ => label(self.redactor, &agent.source),
            })
            .collect();
        Labels {
            labels,
            truncated: kept.is_some(),
        }
    }
}

/// The labels of one snapshot, by id, and whether any value was folded.
struct Labels {
    labels: Vec<String>,
    truncated: bool,
}

/// Sessions per status label: ids that share a label (`other`, or values
/// that redact alike) are added up.
fn status_counts(
    statuses: &[StatusStats],
    labels: &Labels,
    model: &StatusModel,
) -> Vec<StatusCount> {
    let mut counts: Vec<StatusCount> = Vec::new();
    for (stats, label) in statuses.iter().zip(&labels.labels) {
        match counts.iter_mut().find(|s| &s.status == label) {
            Some(existing) => {
                existing.count += stats.count;
                existing.oldest = min_option(existing.oldest, stats.oldest);
            }
            None => counts.push(StatusCount {
                status: label.clone(),
                live: stats.live,
                count: stats.count,
                oldest: stats.oldest,
            }),
        }
    }
    sort_statuses(&mut counts, &model.fixed(), |s| &s.status);
    counts
}

/// Sessions per agent label and status label, every status always there
/// present for every agent; the oldest per live status likewise, every
/// known live status present.
fn agent_counts(
    agents: &[AgentStats],
    statuses: &[StatusStats],
    agent_labels: &Labels,
    status_labels: &Labels,
    model: &StatusModel,
) -> Vec<AgentCounts> {
    let fixed = model.fixed();
    let mut by_label: HashMap<&str, AgentCounts> = HashMap::new();
    for (agent, label) in agents.iter().zip(&agent_labels.labels) {
        let counts = by_label.entry(label).or_insert_with(|| AgentCounts {
            agent_name: label.clone(),
            statuses: fixed.iter().map(|s| ((*s).to_owned(), 0)).collect(),
            oldest: (model.known_live())
                .map(|s| (s.as_str().to_owned(), None))
                .collect(),
        });
        for (id, cell) in agent.cells() {
            let status = &status_labels.labels[id];
            add_count(&mut counts.statuses, status, cell.count);
            if statuses[id].live {
                let oldest = cell.oldest;
                match counts.oldest.iter_mut().find(|(s, _)| s == status) {
                    Some((_, kept)) => *kept = min_option(*kept, oldest),
                    None => counts.oldest.push((status.clone(), oldest)),
                }
            }
        }
    }
    let mut agents: Vec<AgentCounts> = by_label.into_values().collect();
    for agent in &mut agents {
        sort_statuses(&mut agent.statuses, &fixed, |(s, _)| s);
        sort_statuses(&mut agent.oldest, &fixed, |(s, _)| s);
    }
    agents.sort_by(|a, b| a.agent_name.cmp(&b.agent_name));
    agents
}

impl SessionSink for Aggregator<'_> {
    fn session(&mut self, session: &SessionRecord<'_>) {
        self.fold(session, Memo::default());
    }

    fn session_written(&mut self, session: &SessionRecord<'_>, written: &[u8]) {
        let memo = self.tracking.memo(written);
        self.fold(session, memo);
    }

    /// A session written exactly as one the previous fetch listed in
    /// step, and those right after it that are too: each is counted from
    /// what that fetch kept of it (its pair, which fields were unusable,
    /// its creation time if it is live), as [`Self::fold`] would count it,
    /// without being read (README, Performance). A live one that may be
    /// among the oldest is read, for its id.
    fn recall(&mut self, ahead: &[u8]) -> Option<Recalled> {
        self.tracking.recall(ahead, &mut self.oldest_sessions)
    }
}

impl Aggregator<'_> {
    /// Folds one session read from the body, which the next fetch is to
    /// recall by `memo`.
    fn fold(&mut self, session: &SessionRecord<'_>, memo: Memo) {
        self.sessions += 1;
        let status = label_value(&session.status, &mut self.invalid_fields.status);
        let agent = label_value(&session.agent_name, &mut self.invalid_fields.agent_name);
        let (agent_id, status_id, pair) = self.ids(&agent, &status);

        let agent_stats = &mut self.agents[agent_id];
        agent_stats.total += 1;
        let cell = agent_stats.cell(status_id);
        cell.count += 1;

        let stats = &mut self.statuses[status_id];
        stats.count += 1;
        // Only live sessions have an age; a finished session's timestamp is
        // only checked for its shape, at a fraction of the cost of a parse.
        let created_at = session.created_at.as_str();
        let created_at = if stats.live {
            created_at.and_then(parse_timestamp)
        } else {
            created_at
                .filter(|text| looks_like_timestamp(text))
                .map(|_| 0)
        };
        if created_at.is_none() {
            self.invalid_fields.created_at += 1;
        }
        if let (true, Some(created_at)) = (stats.live, created_at) {
            stats.oldest = min_option(stats.oldest, Some(created_at));
            cell.oldest = min_option(cell.oldest, Some(created_at));
            // A session without an id cannot be told apart from another one
            // in `agi_session_age_seconds`; it still counts everywhere else.
            if let Some(id) = session.session_id.as_str() {
                self.oldest_sessions.offer(created_at, id, &agent, &status);
            }
        }

        if let Some(id) = session.session_id.as_str() {
            let unusable = Unusable {
                status: session.status.as_str().is_none(),
                agent: session.agent_name.as_str().is_none(),
                created_at: created_at.is_none(),
            };
            self.tracking.session(Listed {
                id,
                status: status_id,
                status_hash: stats.hash,
                stage: stats.stage,
                agent: agent_id,
                created_at: session.created_at.as_str(),
                pair,
                age: created_at.filter(|_| stats.live),
                memo,
                unusable,
            });
        }
    }
}

/// A status or agent name as kept for its label: the string when there is
/// one, else `unknown` (and the field is counted as invalid).
fn label_value<'a>(field: &'a Field<'_>, invalid: &mut u64) -> Cow<'a, str> {
    match field.as_str() {
        Some(text) => Cow::Borrowed(label_source(text)),
        None => {
            *invalid += 1;
            Cow::Borrowed(UNKNOWN)
        }
    }
}

fn min_option(a: Option<UnixMillis>, b: Option<UnixMillis>) -> Option<UnixMillis> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// The statuses always there first, in the order of `fixed`, then the
/// others by name, with `other` last.
fn sort_statuses<T>(items: &mut [T], fixed: &[&str], status: impl Fn(&T) -> &String) {
    items.sort_by_key(|item| {
        let name = status(item);
        let rank = match fixed.iter().position(|f| f == name) {
            Some(place) => place,
            None if name == OTHER => usize::MAX,
            None => fixed.len(),
        };
        (rank, name.clone())
    });
}

/// Adds `n` under `label`, merging with an entry already there (folded
/// values share the `other` label).
fn add_count(counts: &mut Vec<(String, u64)>, label: &str, n: u64) {
    match counts.iter_mut().find(|(existing, _)| existing == label) {
        Some((_, count)) => *count += n,
        None => counts.push((label.to_owned(), n)),
    }
}

#[cfg(test)]
mod tests {
    use super::labels::MAX_LABEL_VALUE_BYTES;
    use super::*;
    use crate::api::parse::parse_sessions;

    const KNOWN_STATUSES: [&str; 9] = [
        "initializing",
        "ready",
        "running",
        "waiting_for_input",
        "paused",
        "completed",
        "finished",
        "error",
        "terminated",
    ];

    const LIMITS: Limits = Limits {
        agents_max: 100,
        top_oldest: 5,
    };

    fn session(id: &str, agent: &str, status: &str, created_at: &str) -> String {
        format!(
            r#"{{"session_id":"{id}","agent_name":"{agent}","status":"{status}","created_at":"{created_at}"}}"#
        )
    }

    fn body(sessions: &[String]) -> Vec<u8> {
        format!("[{}]", sessions.join(",")).into_bytes()
    }

    /// When the fetches of these tests happen: after the timestamps below.
    const TIMES: FetchTimes = FetchTimes {
        sent_at: 1_800_000_000_000,
        received_at: 1_800_000_000_100,
    };

    fn tracker() -> SessionTracker {
        SessionTracker::new(LIMITS.agents_max)
    }

    fn redactor(key: &str) -> Arc<Redactor> {
        Arc::new(Redactor::new(key))
    }

    fn fold_with(limits: Limits, tracker: &mut SessionTracker, body: &[u8]) -> Snapshot {
        let redactor = redactor("not-in-any-body");
        let mut aggregator = Aggregator::new(limits, tracker, &redactor, TIMES);
        parse_sessions(body, &mut aggregator).unwrap_or_else(|e| panic!("{e}"));
        aggregator.finish()
    }

    fn fold(body: &[u8]) -> Snapshot {
        fold_with(LIMITS, &mut tracker(), body)
    }

    fn count(snapshot: &Snapshot, status: &str) -> Option<u64> {
        snapshot
            .statuses
            .iter()
            .find(|s| s.status == status)
            .map(|s| s.count)
    }

    fn agent_count(snapshot: &Snapshot, agent: &str, status: &str) -> Option<u64> {
        let agent = snapshot.agents.iter().find(|a| a.agent_name == agent)?;
        agent
            .statuses
            .iter()
            .find(|(s, _)| s == status)
            .map(|(_, n)| *n)
    }

    const T0: &str = "2025-10-05T18:00:00Z";
    const T1: &str = "2025-10-05T19:00:00Z";
    const T2: &str = "2025-10-05T20:00:00Z";

    #[test]
    fn an_empty_list_still_has_every_known_status_at_zero() {
        let snapshot = fold(b"[]");
        let statuses: Vec<_> = snapshot
            .statuses
            .iter()
            .map(|s| s.status.as_str())
            .collect();
        assert_eq!(statuses, KNOWN_STATUSES);
        assert!(
            snapshot
                .statuses
                .iter()
                .all(|s| s.count == 0 && s.oldest.is_none())
        );
        assert!(snapshot.agents.is_empty());
        assert!(snapshot.oldest_sessions.is_empty());
    }

    #[test]
    fn counts_sessions_per_status_and_per_agent() {
        let snapshot = fold(&body(&[
            session("a", "agi-0", "running", T0),
            session("b", "agi-0", "running", T1),
            session("c", "agi-1", "completed", T1),
            session("d", "agi-1", "error", T2),
        ]));
        assert_eq!(snapshot.sessions, 4);
        assert_eq!(count(&snapshot, "running"), Some(2));
        assert_eq!(count(&snapshot, "completed"), Some(1));
        assert_eq!(count(&snapshot, "paused"), Some(0));
        assert_eq!(agent_count(&snapshot, "agi-0", "running"), Some(2));
        assert_eq!(agent_count(&snapshot, "agi-1", "error"), Some(1));
        // Every known status is present for every agent.
        assert_eq!(agent_count(&snapshot, "agi-0", "terminated"), Some(0));
        assert_eq!(agent_count(&snapshot, "agi-0", "finished"), Some(0));
        assert_eq!(snapshot.agents[1].statuses.len(), 9);
    }

    #[test]
    fn unknown_statuses_are_counted_under_their_own_value() {
        let snapshot = fold(&body(&[
            session("a", "agi-0", "queued", T0),
            session("b", "agi-0", "cancelled", T1),
        ]));
        assert_eq!(count(&snapshot, "queued"), Some(1));
        assert_eq!(count(&snapshot, "cancelled"), Some(1));
        assert_eq!(agent_count(&snapshot, "agi-0", "cancelled"), Some(1));
        let order: Vec<_> = snapshot
            .statuses
            .iter()
            .map(|s| s.status.as_str())
            .collect();
        assert_eq!(&order[9..], ["cancelled", "queued"]);
    }

    #[test]
    fn missing_fields_count_under_unknown_and_as_invalid() {
        let snapshot = fold(
            br#"[{"session_id":"a","created_at":"2025-10-05T18:00:00Z"},
                {"session_id":"b","agent_name":"agi-0","status":"running","created_at":"last week"},
                {"session_id":"c","agent_name":"agi-0","status":"running"}]"#,
        );
        assert_eq!(count(&snapshot, "unknown"), Some(1));
        assert_eq!(agent_count(&snapshot, "unknown", "unknown"), Some(1));
        assert_eq!(
            snapshot.invalid_fields,
            InvalidFields {
                status: 1,
                agent_name: 1,
                created_at: 2
            }
        );
        // Sessions without a usable created_at are counted but have no age.
        assert_eq!(count(&snapshot, "running"), Some(2));
        let running = snapshot.statuses.iter().find(|s| s.status == "running");
        assert_eq!(running.and_then(|s| s.oldest), None);
    }

    #[test]
    fn oldest_age_is_tracked_per_live_status_only() {
        let snapshot = fold(&body(&[
            session("a", "agi-0", "running", T1),
            session("b", "agi-0", "running", T0),
            session("c", "agi-0", "completed", "2020-01-01T00:00:00Z"),
            session("d", "agi-0", "paused", T2),
        ]));
        let oldest = |status: &str| {
            snapshot
                .statuses
                .iter()
                .find(|s| s.status == status)
                .and_then(|s| s.live.then_some(s.oldest))
        };
        assert_eq!(oldest("running"), Some(parse_timestamp(T0)));
        assert_eq!(oldest("paused"), Some(parse_timestamp(T2)));
        assert_eq!(oldest("initializing"), Some(None));
        assert_eq!(oldest("completed"), None, "completed is not live");
    }

    #[test]
    fn keeps_the_n_oldest_live_sessions_oldest_first() {
        let sessions: Vec<String> = (0..20)
            .map(|i| {
                let status = if i % 2 == 0 { "running" } else { "completed" };
                session(
                    &format!("s{i:02}"),
                    "agi-0",
                    status,
                    &format!("2025-10-05T18:{i:02}:00Z"),
                )
            })
            .collect();
        let snapshot = fold_with(
            Limits {
                agents_max: 100,
                top_oldest: 3,
            },
            &mut tracker(),
            &body(&sessions),
        );
        let ids: Vec<_> = snapshot
            .oldest_sessions
            .iter()
            .map(|s| s.session_id.as_str())
            .collect();
        assert_eq!(ids, ["s00", "s02", "s04"]);
        let none = fold_with(
            Limits {
                agents_max: 100,
                top_oldest: 0,
            },
            &mut tracker(),
            &body(&sessions),
        );
        assert!(none.oldest_sessions.is_empty());
    }

    #[test]
    fn folds_agents_beyond_the_limit_into_other_keeping_the_biggest() {
        let mut sessions = Vec::new();
        for (agent, n) in [("big", 5), ("medium", 3), ("small", 1), ("tiny", 1)] {
            for i in 0..n {
                sessions.push(session(&format!("{agent}{i}"), agent, "running", T0));
            }
        }
        let snapshot = fold_with(
            Limits {
                agents_max: 2,
                top_oldest: 20,
            },
            &mut tracker(),
            &body(&sessions),
        );
        let agents: Vec<_> = snapshot
            .agents
            .iter()
            .map(|a| a.agent_name.as_str())
            .collect();
        assert_eq!(agents, ["big", "medium", "other"]);
        assert_eq!(agent_count(&snapshot, "other", "running"), Some(2));
        assert!(snapshot.agents_truncated);
        assert!(!snapshot.statuses_truncated);
        assert!(
            snapshot
                .oldest_sessions
                .iter()
                .any(|s| s.agent_name == "other")
        );
        assert!(
            !snapshot
                .oldest_sessions
                .iter()
                .any(|s| s.agent_name == "tiny")
        );
    }

    #[test]
    fn an_agent_holds_only_the_statuses_it_listed() {
        // Every session a new agent in a new status: one cell each, where
        // cells for every (agent, status id) pair would be n^2 / 2.
        let n = 5_000;
        let sessions: Vec<String> = (0..n)
            .map(|i| session(&format!("s{i}"), &format!("a{i}"), &format!("x{i}"), T0))
            .collect();
        let body = body(&sessions);
        let redactor = redactor("not-in-any-body");
        let mut tracker = tracker();
        let mut aggregator = Aggregator::new(LIMITS, &mut tracker, &redactor, TIMES);
        parse_sessions(&body, &mut aggregator).unwrap_or_else(|e| panic!("{e}"));
        let cells: usize = aggregator.agents.iter().map(|a| a.cells().count()).sum();
        assert_eq!(cells, n);
        let held: usize = aggregator.agents.iter().map(|a| a.others.len()).sum();
        assert_eq!(held, n);
        let snapshot = aggregator.finish();
        // Nothing is lost on the way: the agents folded into `other` keep
        // all their sessions, whatever their statuses became.
        let other = snapshot.agents.iter().find(|a| a.agent_name == "other");
        let folded: u64 = other.map_or(0, |a| a.statuses.iter().map(|(_, n)| n).sum());
        assert_eq!(folded, (n - LIMITS.agents_max) as u64);
    }

    #[test]
    fn folds_undocumented_statuses_beyond_twenty_into_other() {
        let sessions: Vec<String> = (0..25)
            .map(|i| session(&format!("s{i}"), "agi-0", &format!("custom{i:02}"), T0))
            .chain([session("x", "agi-0", "custom00", T0)])
            .collect();
        let snapshot = fold(&body(&sessions));
        assert!(snapshot.statuses_truncated);
        assert_eq!(snapshot.statuses.len(), 9 + MAX_UNDOCUMENTED_STATUSES + 1);
        assert_eq!(
            count(&snapshot, "custom00"),
            Some(2),
            "the most common is kept"
        );
        assert_eq!(count(&snapshot, OTHER), Some(5));
        assert_eq!(
            snapshot.statuses.last().map(|s| s.status.as_str()),
            Some(OTHER)
        );
        assert_eq!(agent_count(&snapshot, "agi-0", OTHER), Some(5));
    }

    #[test]
    fn huge_label_values_are_cut() {
        let long = "é".repeat(200);
        let snapshot = fold(&body(&[session("a", &long, "running", T0)]));
        let agent = &snapshot.agents[0].agent_name;
        assert!(agent.len() <= MAX_LABEL_VALUE_BYTES && agent.chars().all(|c| c == 'é'));
    }

    #[test]
    fn label_values_are_redacted_before_they_are_cut() {
        let key = "sk-0123456789abcdefghij";
        let redactor = redactor(key);
        let mut transitions = tracker();
        // The key starts 8 bytes before the 128-byte cut: cutting first
        // would keep 8 of its characters, too few for redaction to see.
        let agent = format!("{}{key}", "x".repeat(120));
        let status = format!("{}{key}", "y".repeat(125));
        let mut aggregator = Aggregator::new(LIMITS, &mut transitions, &redactor, TIMES);
        let body = body(&[session(key, &agent, &status, T0)]);
        parse_sessions(&body, &mut aggregator).unwrap_or_else(|e| panic!("{e}"));
        let snapshot = aggregator.finish();
        let labels: Vec<&str> = snapshot
            .agents
            .iter()
            .map(|a| a.agent_name.as_str())
            .chain(snapshot.statuses.iter().map(|s| s.status.as_str()))
            .chain(
                snapshot
                    .oldest_sessions
                    .iter()
                    .map(|s| s.session_id.as_str()),
            )
            .collect();
        assert!(
            labels
                .iter()
                .all(|l| !l.contains("sk-0") && l.len() <= MAX_LABEL_VALUE_BYTES),
            "{labels:?}"
        );
        assert!(labels.contains(&"<redacted>"), "{labels:?}");
    }

    #[test]
    fn the_first_fetch_is_only_a_baseline_for_transitions() {
        let mut transitions = tracker();
        let first = fold_with(
            LIMITS,
            &mut transitions,
            &body(&[session("a", "agi-0", "running", T0)]),
        );
        assert!(first.changes.transitions.is_empty());
    }

    #[test]
    fn transitions_count_new_sessions_and_status_changes() {
        let mut transitions = tracker();
        fold_with(
            LIMITS,
            &mut transitions,
            &body(&[
                session("a", "agi-0", "running", T0),
                session("b", "agi-0", "running", T0),
                session("gone", "agi-0", "error", T0),
            ]),
        );
        let changed = body(&[
            session("a", "agi-0", "running", T0),
            session("b", "agi-0", "error", T0),
            session("c", "agi-0", "initializing", T1),
            session("d", "agi-0", "waiting_for_input", T1),
        ]);
        let second = fold_with(LIMITS, &mut transitions, &changed);
        let entered = |status: &str| (("agi-0".to_owned(), status.to_owned()), 1);
        assert_eq!(
            second.changes.transitions,
            [
                entered("error"),
                entered("initializing"),
                entered("waiting_for_input")
            ]
        );
        // Nothing changed: nothing is counted.
        let third = fold_with(LIMITS, &mut transitions, &changed);
        assert!(
            third.changes.transitions.is_empty(),
            "{:?}",
            third.changes.transitions
        );
    }

    /// Sessions `ids` all running, in this order.
    fn running(ids: &[String]) -> Vec<u8> {
        let sessions: Vec<String> = ids
            .iter()
            .map(|id| session(id, "agi-0", "running", T0))
            .collect();
        body(&sessions)
    }

    fn ids(range: std::ops::Range<usize>) -> Vec<String> {
        range.map(|i| format!("s{i}")).collect()
    }

    fn entered(transitions: &mut SessionTracker, body: &[u8]) -> u64 {
        let snapshot = fold_with(LIMITS, transitions, body);
        snapshot.changes.transitions.iter().map(|(_, n)| n).sum()
    }

    #[test]
    fn transitions_follow_sessions_whatever_the_order_of_the_list() {
        let base = ids(0..300);
        let mut prepended = ids(1000..1003);
        prepended.extend(base.iter().cloned());
        let mut big_gap = base.clone();
        big_gap.drain(100..200);
        big_gap.extend(ids(2000..2002));
        let mut reversed = base.clone();
        reversed.reverse();
        let mut shuffled = base.clone();
        shuffled.rotate_left(150);
        shuffled.swap(3, 250);
        for (name, next, new) in [
            ("unchanged", base.clone(), 0),
            ("new sessions first", prepended, 3),
            ("a hundred deleted, two new at the end", big_gap, 2),
            ("reversed", reversed, 0),
            ("rotated and swapped", shuffled, 0),
        ] {
            let mut transitions = tracker();
            assert_eq!(entered(&mut transitions, &running(&base)), 0, "baseline");
            assert_eq!(entered(&mut transitions, &running(&next)), new, "{name}");
        }
    }

    #[test]
    fn a_session_listed_twice_counts_once() {
        let mut transitions = tracker();
        entered(&mut transitions, &running(&ids(0..3)));
        let mut twice = ids(0..3);
        twice.extend(ids(5..6));
        twice.extend(ids(5..6));
        twice.extend(ids(1..2));
        assert_eq!(entered(&mut transitions, &running(&twice)), 1);
    }

    #[test]
    fn a_failed_parse_leaves_the_baseline_untouched() {
        let mut transitions = tracker();
        fold_with(
            LIMITS,
            &mut transitions,
            &body(&[session("a", "agi-0", "running", T0)]),
        );
        let redactor = redactor("not-in-any-body");
        let mut aggregator = Aggregator::new(LIMITS, &mut transitions, &redactor, TIMES);
        let truncated = br#"[{"session_id":"a","status":"error"},{"sess"#;
        assert!(parse_sessions(truncated, &mut aggregator).is_err());
        drop(aggregator);
        let next = fold_with(
            LIMITS,
            &mut transitions,
            &body(&[session("a", "agi-0", "error", T0)]),
        );
        assert_eq!(
            next.changes.transitions,
            [(("agi-0".to_owned(), "error".to_owned()), 1)]
        );
    }
}

/// The observation rule and the other lifecycle rules (README, Metrics),
/// one by one, through fetches at chosen times.
#[cfg(test)]
mod lifecycle_tests {
    use super::*;
    use crate::api::parse::parse_sessions;
    use crate::api::timestamp::format_timestamp;

    /// Seconds since the Unix epoch at which these tests' clock stands at 0.
    const EPOCH: i64 = 1_800_000_000;

    /// A session: id, agent, status and `created_at` (seconds on the test
    /// clock, or `None` for no `created_at`).
    type Listing<'a> = (&'a str, &'a str, &'a str, Option<i64>);

    fn body(sessions: &[Listing<'_>]) -> Vec<u8> {
        let sessions: Vec<String> = sessions
            .iter()
            .map(|(id, agent, status, created)| {
                let created = created.map_or(String::new(), |t| {
                    format!(
                        r#","created_at":"{}""#,
                        format_timestamp((EPOCH + t) * 1000)
                    )
                });
                format!(
                    r#"{{"session_id":"{id}","agent_name":"{agent}","status":"{status}"{created}}}"#
                )
            })
            .collect();
        format!("[{}]", sessions.join(",")).into_bytes()
    }

    /// An exporter's tracker, fetching at chosen times.
    struct Watch {
        tracker: SessionTracker,
        limits: Limits,
        redactor: Arc<Redactor>,
    }

    impl Watch {
        fn new() -> Self {
            Watch::with_agents_max(100)
        }

        fn with_agents_max(agents_max: usize) -> Self {
            Watch::with_statuses(agents_max, StatusModel::default())
        }

        fn with_statuses(agents_max: usize, statuses: StatusModel) -> Self {
            Watch {
                tracker: SessionTracker::with_statuses(agents_max, statuses),
                limits: Limits {
                    agents_max,
                    top_oldest: 5,
                },
                redactor: Arc::new(Redactor::new("sk-not-in-any-body")),
            }
        }

        /// A successful fetch at `at` seconds listing `sessions`.
        fn fetch(&mut self, at: i64, sessions: &[Listing<'_>]) -> Snapshot {
            let times = FetchTimes {
                sent_at: (EPOCH + at) * 1000,
                received_at: (EPOCH + at) * 1000,
            };
            let mut aggregator =
                Aggregator::new(self.limits, &mut self.tracker, &self.redactor, times);
            parse_sessions(&body(sessions), &mut aggregator).unwrap_or_else(|e| panic!("{e}"));
            aggregator.finish()
        }

        /// A fetch at `at` whose body is cut short after listing `sessions`.
        fn fail(&mut self, at: i64, sessions: &[Listing<'_>]) {
            let times = FetchTimes {
                sent_at: (EPOCH + at) * 1000,
                received_at: (EPOCH + at) * 1000,
            };
            let mut aggregator =
                Aggregator::new(self.limits, &mut self.tracker, &self.redactor, times);
            let mut cut = body(sessions);
            cut.truncate(cut.len() - 1);
            assert!(parse_sessions(&cut, &mut aggregator).is_err());
        }
    }

    fn starts(snapshot: &Snapshot) -> Vec<(&str, f64)> {
        let changes = &snapshot.changes.start_latency;
        changes
            .iter()
            .map(|(agent, s)| (agent.as_str(), *s))
            .collect()
    }

    fn durations(snapshot: &Snapshot) -> Vec<(&str, &str, f64)> {
        let changes = &snapshot.changes.duration;
        changes
            .iter()
            .map(|((agent, status), s)| (agent.as_str(), status.as_str(), *s))
            .collect()
    }

    fn total_starts(snapshot: &Snapshot, agent: &str) -> u64 {
        let lifecycle = &snapshot.lifecycle;
        lifecycle
            .start_latency
            .iter()
            .find(|(a, _)| a == agent)
            .map_or(0, |(_, counts)| counts.count)
    }

    #[test]
    fn a_session_seen_starting_then_running_observes_its_start_latency() {
        let mut watch = Watch::new();
        watch.fetch(100, &[("s1", "agi-0", "initializing", Some(95))]);
        let running = watch.fetch(110, &[("s1", "agi-0", "running", Some(95))]);
        assert_eq!(starts(&running), [("agi-0", 15.0)]);
        assert_eq!(total_starts(&running, "agi-0"), 1);
    }

    #[test]
    fn a_session_first_seen_running_and_created_before_the_previous_fetch_is_never_observed() {
        let mut watch = Watch::new();
        watch.fetch(100, &[("other", "agi-0", "running", Some(10))]);
        let late = watch.fetch(110, &[("s2", "agi-0", "running", Some(50))]);
        assert!(starts(&late).is_empty(), "{:?}", starts(&late));
        let later = watch.fetch(120, &[("s2", "agi-0", "running", Some(50))]);
        assert_eq!(total_starts(&later, "agi-0"), 0);
    }

    #[test]
    fn a_session_created_after_the_previous_fetch_is_observed_whatever_it_is_first_seen_in() {
        let mut watch = Watch::new();
        watch.fetch(100, &[]);
        let new = watch.fetch(
            110,
            &[
                ("quick", "agi-0-fast", "running", Some(105)),
                ("done", "agi-0-fast", "completed", Some(102)),
            ],
        );
        assert_eq!(starts(&new), [("agi-0-fast", 5.0)]);
        assert_eq!(durations(&new), [("agi-0-fast", "completed", 8.0)]);
    }

    #[test]
    fn a_session_first_seen_finished_and_created_before_the_previous_fetch_is_never_observed() {
        let mut watch = Watch::new();
        watch.fetch(100, &[]);
        let old = watch.fetch(110, &[("s4", "agi-1", "completed", Some(50))]);
        assert!(durations(&old).is_empty());
        let again = watch.fetch(120, &[("s4", "agi-1", "error", Some(50))]);
        assert!(durations(&again).is_empty(), "{:?}", durations(&again));
    }

    #[test]
    fn each_session_is_observed_once_per_histogram() {
        let mut watch = Watch::new();
        let s1 = |status| [("s1", "agi-0", status, Some(95))];
        watch.fetch(100, &s1("initializing"));
        assert_eq!(starts(&watch.fetch(110, &s1("running"))).len(), 1);
        assert!(starts(&watch.fetch(120, &s1("paused"))).is_empty());
        assert!(starts(&watch.fetch(130, &s1("running"))).is_empty());
        let done = watch.fetch(140, &s1("completed"));
        assert_eq!(durations(&done), [("agi-0", "completed", 45.0)]);
        let retried = watch.fetch(150, &s1("error"));
        assert!(durations(&retried).is_empty());
        let totals = &retried.lifecycle.duration;
        let finished: u64 = totals.iter().map(|(_, counts)| counts.count).sum();
        assert_eq!(finished, 1);
        assert_eq!(total_starts(&retried, "agi-0"), 1);
    }

    #[test]
    fn a_failed_fetch_in_between_neither_resets_the_baseline_nor_observes_anything() {
        let mut watch = Watch::new();
        watch.fetch(
            100,
            &[
                ("s1", "agi-0", "initializing", Some(95)),
                ("gone", "agi-0", "error", Some(1)),
            ],
        );
        watch.fail(110, &[("s1", "agi-0", "running", Some(95))]);
        let next = watch.fetch(120, &[("s1", "agi-0", "running", Some(95))]);
        assert_eq!(
            starts(&next),
            [("agi-0", 25.0)],
            "observed at the next successful fetch"
        );
        assert_eq!(
            next.changes.transitions,
            [(("agi-0".to_owned(), "running".to_owned()), 1)],
            "the failed fetch counted nothing"
        );
        assert_eq!(next.changes.removed, [("error".to_owned(), 1)]);
    }

    #[test]
    fn a_restart_observes_nothing_on_its_first_fetch() {
        let mut watch = Watch::new();
        let first = watch.fetch(
            100,
            &[
                ("s1", "agi-0", "running", Some(99)),
                ("s2", "agi-0", "completed", Some(99)),
            ],
        );
        assert!(starts(&first).is_empty() && durations(&first).is_empty());
        assert!(first.changes.transitions.is_empty());
        assert!(first.changes.removed.is_empty());
        // Nor later: their first listings in those stages are past.
        let second = watch.fetch(
            110,
            &[
                ("s1", "agi-0", "running", Some(99)),
                ("s2", "agi-0", "completed", Some(99)),
            ],
        );
        assert!(starts(&second).is_empty() && durations(&second).is_empty());
    }

    #[test]
    fn a_created_at_in_the_future_observes_0() {
        let mut watch = Watch::new();
        watch.fetch(100, &[("s1", "agi-0", "initializing", Some(115))]);
        let skewed = watch.fetch(110, &[("s1", "agi-0", "running", Some(115))]);
        assert_eq!(starts(&skewed), [("agi-0", 0.0)]);
        let done = watch.fetch(120, &[("s1", "agi-0", "completed", Some(125))]);
        assert_eq!(durations(&done), [("agi-0", "completed", 0.0)]);
    }

    #[test]
    fn a_session_missed_by_one_fetch_is_not_observed_again() {
        // A created_at in the future (the API's clock ahead) would make the
        // session look new each time it comes back: it is never new.
        let mut watch = Watch::new();
        watch.fetch(100, &[]);
        for (time, listed) in [
            (110, true),
            (120, false),
            (130, true),
            (140, false),
            (150, true),
        ] {
            let sessions: &[Listing<'_>] = if listed {
                &[
                    ("s1", "agi-0", "running", Some(3_600)),
                    ("s2", "agi-0", "completed", Some(3_600)),
                ]
            } else {
                &[]
            };
            let fetch = watch.fetch(time, sessions);
            assert!(
                starts(&fetch).is_empty() && durations(&fetch).is_empty(),
                "at {time}"
            );
        }
        // With sane times: new once, then never again.
        let mut watch = Watch::new();
        watch.fetch(100, &[]);
        let first = watch.fetch(110, &[("s3", "agi-0", "running", Some(105))]);
        assert_eq!(starts(&first), [("agi-0", 5.0)]);
        watch.fetch(120, &[]);
        let back = watch.fetch(130, &[("s3", "agi-0", "running", Some(105))]);
        assert!(starts(&back).is_empty());
        assert_eq!(total_starts(&back, "agi-0"), 1);
    }

    #[test]
    fn a_session_without_a_created_at_is_not_observed() {
        let mut watch = Watch::new();
        watch.fetch(100, &[("s1", "agi-0", "initializing", None)]);
        let running = watch.fetch(110, &[("s1", "agi-0", "running", None)]);
        assert!(starts(&running).is_empty());
        assert_eq!(total_starts(&running, "agi-0"), 0);
        let done = watch.fetch(120, &[("s1", "agi-0", "completed", Some(95))]);
        assert_eq!(durations(&done), [("agi-0", "completed", 25.0)]);
    }

    #[test]
    fn removals_count_sessions_gone_by_the_status_they_last_had() {
        let mut watch = Watch::new();
        watch.fetch(
            100,
            &[
                ("s1", "agi-0", "running", Some(1)),
                ("s2", "agi-1", "error", Some(1)),
            ],
        );
        let one_gone = watch.fetch(110, &[("s1", "agi-0", "running", Some(1))]);
        assert_eq!(one_gone.changes.removed, [("error".to_owned(), 1)]);
        let all_gone = watch.fetch(120, &[]);
        assert_eq!(all_gone.changes.removed, [("running".to_owned(), 1)]);
        let removed = &all_gone.lifecycle.removed;
        let count = |status: &str| removed.iter().find(|(s, _)| s == status).map(|(_, n)| *n);
        assert_eq!(
            (count("error"), count("running"), count("paused")),
            (Some(1), Some(1), Some(0))
        );
    }

    #[test]
    fn transitions_are_counted_per_agent_with_every_known_status_from_0() {
        let mut watch = Watch::new();
        let first = watch.fetch(100, &[("s1", "agi-2-qwen", "running", Some(1))]);
        let series: Vec<&str> = first
            .lifecycle
            .transitions
            .iter()
            .filter(|((agent, _), _)| agent == "agi-2-qwen")
            .map(|((_, status), _)| status.as_str())
            .collect();
        for status in crate::status::KnownStatus::ALL {
            assert!(
                series.contains(&status.as_str()),
                "{status:?} missing: {series:?}"
            );
        }
        let errored = watch.fetch(
            110,
            &[
                ("s1", "agi-2-qwen", "error", Some(1)),
                ("s2", "agi-0", "error", Some(105)),
            ],
        );
        assert_eq!(
            errored.changes.transitions,
            [
                (("agi-0".to_owned(), "error".to_owned()), 1),
                (("agi-2-qwen".to_owned(), "error".to_owned()), 1)
            ]
        );
    }

    #[test]
    fn counter_labels_are_sticky_under_the_guard() {
        let mut watch = Watch::with_agents_max(2);
        let at = |t| Some(t);
        watch.fetch(
            100,
            &[
                ("a1", "a", "running", at(1)),
                ("b1", "b", "running", at(1)),
                ("c1", "c", "running", at(1)),
            ],
        );
        // a and b came first and keep their series even once c is the
        // biggest agent and they are gone; everything later is `other`.
        let later = watch.fetch(
            110,
            &[
                ("c1", "c", "error", at(1)),
                ("c2", "c", "error", at(105)),
                ("d1", "d", "error", at(105)),
            ],
        );
        let agents: std::collections::BTreeSet<&str> = later
            .lifecycle
            .transitions
            .iter()
            .map(|((agent, _), _)| agent.as_str())
            .collect();
        assert_eq!(agents.into_iter().collect::<Vec<_>>(), ["a", "b", "other"]);
        assert_eq!(
            later.changes.transitions,
            [(("other".to_owned(), "error".to_owned()), 3)]
        );
        // The gauges still follow the biggest agents of this fetch.
        let gauges: Vec<&str> = later.agents.iter().map(|a| a.agent_name.as_str()).collect();
        assert_eq!(gauges, ["c", "d"]);
    }

    #[test]
    fn a_new_key_is_redacted_from_counter_labels_given_before_it() {
        let mut watch = Watch::new();
        let key = "sk-NEWKEY9876543210ZyXwVu";
        let echo = format!("echo-{key}");
        watch.fetch(100, &[("s1", "agi-0", "running", Some(1))]);
        // Counted under the key of the day, which does not redact it.
        let counted = watch.fetch(110, &[("s1", "agi-0", &echo, Some(1))]);
        assert!(format!("{:?}", counted.lifecycle).contains("NEWKEY"));
        watch.redactor = Arc::new(Redactor::new(key));
        let rotated = watch.fetch(120, &[("s1", "agi-0", "running", Some(1))]);
        let texts = format!("{:?}", rotated.lifecycle);
        assert!(!texts.contains("NEWKEY"), "{texts}");
        assert!(texts.contains("echo-<redacted>"), "{texts}");
    }

    #[test]
    fn the_oldest_session_per_agent_and_live_status_is_kept() {
        let mut watch = Watch::new();
        let snapshot = watch.fetch(
            100,
            &[
                ("s1", "agi-0", "running", Some(10)),
                ("s2", "agi-0", "running", Some(5)),
                ("s3", "agi-0", "waiting_for_input", Some(7)),
                ("s4", "agi-1", "completed", Some(1)),
            ],
        );
        let oldest = |agent: &str| {
            let agent = snapshot.agents.iter().find(|a| a.agent_name == agent)?;
            Some(agent.oldest.clone())
        };
        let at = |t: i64| Some((EPOCH + t) * 1000);
        assert_eq!(
            oldest("agi-0"),
            Some(vec![
                ("initializing".to_owned(), None),
                ("ready".to_owned(), None),
                ("running".to_owned(), at(5)),
                ("waiting_for_input".to_owned(), at(7)),
                ("paused".to_owned(), None),
            ])
        );
        let finished_only = oldest("agi-1").unwrap_or_default();
        assert_eq!(finished_only.len(), 5, "the known live statuses, at none");
        assert!(finished_only.iter().all(|(_, t)| t.is_none()));
    }

    fn seen(snapshot: &Snapshot, agent: &str) -> Option<u64> {
        let seen = &snapshot.lifecycle.seen;
        seen.iter().find(|(a, _)| a == agent).map(|(_, n)| *n)
    }

    #[test]
    fn on_an_sdk_account_finished_sessions_end_and_have_no_age() {
        let mut watch = Watch::new();
        watch.fetch(100, &[("s1", "agi-0", "ready", Some(95))]);
        watch.fetch(110, &[("s1", "agi-0", "running", Some(95))]);
        let done = watch.fetch(
            120,
            &[
                ("s1", "agi-0", "finished", Some(95)),
                ("s2", "agi-0", "finished", Some(1)),
            ],
        );
        assert_eq!(durations(&done), [("agi-0", "finished", 25.0)]);
        let finished = done.statuses.iter().find(|s| s.status == "finished");
        assert_eq!(finished.map(|s| (s.live, s.count)), Some((false, 2)));
        assert!(
            done.oldest_sessions.is_empty(),
            "{:?}",
            done.oldest_sessions
        );
        let agent = done.agents.iter().find(|a| a.agent_name == "agi-0");
        let live: Vec<&str> = agent.map_or(vec![], |a| {
            a.oldest.iter().map(|(s, _)| s.as_str()).collect()
        });
        assert_eq!(
            live,
            [
                "initializing",
                "ready",
                "running",
                "waiting_for_input",
                "paused"
            ]
        );
    }

    #[test]
    fn every_final_status_has_a_duration_series_for_every_agent_from_0() {
        let mut watch = Watch::new();
        let first = watch.fetch(100, &[("s1", "agi-0", "running", Some(1))]);
        let series: Vec<(&str, &str, u64)> = (first.lifecycle.duration.iter())
            .map(|((a, s), c)| (a.as_str(), s.as_str(), c.count))
            .collect();
        assert_eq!(
            series,
            [
                ("agi-0", "completed", 0),
                ("agi-0", "error", 0),
                ("agi-0", "finished", 0),
                ("agi-0", "terminated", 0)
            ]
        );
        let custom =
            StatusModel::parse("finished,error,cancelled").unwrap_or_else(|e| panic!("{e}"));
        let mut watch = Watch::with_statuses(100, custom);
        watch.fetch(100, &[("s1", "agi-0", "running", Some(95))]);
        let cancelled = watch.fetch(110, &[("s1", "agi-0", "cancelled", Some(95))]);
        assert_eq!(durations(&cancelled), [("agi-0", "cancelled", 15.0)]);
        let statuses: Vec<&str> = (cancelled.lifecycle.duration.iter())
            .map(|((_, s), _)| s.as_str())
            .collect();
        assert_eq!(statuses, ["cancelled", "error", "finished"]);
        // Not named final: `completed` is live, as any other status.
        let completed = watch.fetch(120, &[("s2", "agi-0", "completed", Some(1))]);
        assert_eq!(completed.oldest_sessions.len(), 1);
        let zero = |status: &str| {
            completed
                .statuses
                .iter()
                .any(|s| s.status == status && s.count == 0)
        };
        assert!(zero("cancelled"), "a final status named is always there");
    }

    #[test]
    fn a_start_is_a_move_from_initializing_or_ready_to_running_only() {
        let mut watch = Watch::new();
        let s = |id, status| (id, "agi-0", status, Some(95));
        watch.fetch(
            100,
            &[
                s("a", "ready"),
                s("b", "initializing"),
                s("c", "waiting_for_input"),
                s("d", "ready"),
            ],
        );
        watch.fetch(
            105,
            &[
                s("a", "ready"),
                s("b", "waiting_for_input"),
                s("c", "waiting_for_input"),
                s("d", "paused"),
            ],
        );
        let moved = watch.fetch(
            110,
            &[
                s("a", "running"),
                s("b", "running"),
                s("c", "running"),
                s("d", "running"),
            ],
        );
        // Only `a` went from ready to running; the others had started
        // (they waited for input or were paused) before they ran.
        assert_eq!(starts(&moved), [("agi-0", 15.0)]);
        let later = watch.fetch(120, &[s("a", "waiting_for_input")]);
        let again = watch.fetch(130, &[s("a", "running")]);
        assert!(starts(&later).is_empty() && starts(&again).is_empty());
        assert_eq!(total_starts(&again, "agi-0"), 1);
    }

    #[test]
    fn new_sessions_are_counted_per_agent_whatever_their_first_status() {
        let mut watch = Watch::new();
        let first = watch.fetch(100, &[("old", "agi-0", "running", Some(1))]);
        assert_eq!(
            seen(&first, "agi-0"),
            Some(0),
            "the first fetch is a baseline"
        );
        let next = watch.fetch(
            110,
            &[
                ("old", "agi-0", "finished", Some(1)),
                ("n1", "agi-0", "ready", Some(105)),
                ("n2", "agi-0", "running", Some(105)),
                ("n3", "agi-1", "waiting_for_input", Some(105)),
                ("n3", "agi-1", "waiting_for_input", Some(105)),
                ("n4", "agi-1", "finished", Some(105)),
            ],
        );
        assert_eq!(
            (seen(&next, "agi-0"), seen(&next, "agi-1")),
            (Some(2), Some(2))
        );
        assert_eq!(
            next.changes.seen,
            [("agi-0".to_owned(), 2), ("agi-1".to_owned(), 2)]
        );
        let same = watch.fetch(120, &[("n1", "agi-0", "running", Some(105))]);
        assert_eq!(seen(&same, "agi-0"), Some(2));
    }
}
