//! Folding sessions into what the metrics show: counts per status and per
//! agent, the oldest live session per status, the N oldest live sessions,
//! and the transitions since the previous fetch.
//!
//! An [`Aggregator`] receives sessions one at a time from the parser and
//! keeps only counters, per-status minima and a bounded heap: its memory
//! grows with the number of distinct agents and statuses, not with the
//! number of sessions. [`Aggregator::finish`] applies the cardinality guard
//! and produces an immutable [`Snapshot`] that the metrics module renders.
//!
//! Transitions need the previous fetch's statuses; [`Transitions`] keeps
//! them as a compact map from a hash of the session id to a status number.
//!
//! Every session costs a few hash lookups, so the maps use foldhash rather
//! than std's SipHash: several times faster on short keys, and still seeded
//! at random per map, so a hostile API cannot choose colliding ids.

use std::borrow::Cow;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::hash::BuildHasher;

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

use crate::api::parse::{Field, SessionRecord, SessionSink};
use crate::api::redact::{MIN_RUN, Redactor};
use crate::api::timestamp::{UnixMillis, looks_like_timestamp, parse_timestamp};

/// The documented statuses, always exported (0 when none).
pub const DOCUMENTED_STATUSES: [&str; 7] = [
    "initializing",
    "ready",
    "running",
    "paused",
    "completed",
    "error",
    "terminated",
];

/// Statuses that end a session; every other status is live.
pub const TERMINAL_STATUSES: [&str; 3] = ["completed", "error", "terminated"];

/// The label value for a missing status or agent name.
pub const UNKNOWN: &str = "unknown";

/// The label value that folded (over the cardinality limit) values become.
pub const OTHER: &str = "other";

/// At most this many undocumented status values per scrape.
pub const MAX_UNDOCUMENTED_STATUSES: usize = 20;

/// Label values longer than this are cut (at a character boundary), so a
/// hostile or broken API cannot make one series name megabytes long.
pub const MAX_LABEL_VALUE_BYTES: usize = 128;

/// The fields whose problems are counted in `agi_invalid_session_fields_total`.
pub const CHECKED_FIELDS: [&str; 3] = ["status", "agent_name", "created_at"];

/// Limits that bound the snapshot's size.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Distinct agent names kept; the rest become `other`.
    pub agents_max: usize,
    /// How many oldest live sessions to keep individually.
    pub top_oldest: usize,
}

/// Index of a status value within one aggregation; the documented statuses
/// are 0 to 6 in the order of [`DOCUMENTED_STATUSES`].
type StatusId = usize;

/// Folds sessions as the parser reports them.
#[derive(Debug)]
pub struct Aggregator<'t> {
    limits: Limits,
    /// Applied to every label value that comes from the API, once per
    /// distinct value kept.
    redactor: &'t Redactor,
    /// Status names by id; the first seven are the documented ones.
    statuses: Vec<StatusStats>,
    status_ids: HashMap<String, StatusId>,
    agents: HashMap<String, Vec<u64>>,
    oldest_sessions: OldestSessions,
    invalid_fields: [u64; 3],
    sessions: u64,
    transitions: TransitionsInProgress<'t>,
}

#[derive(Debug)]
struct StatusStats {
    name: String,
    live: bool,
    count: u64,
    oldest: Option<UnixMillis>,
}

/// One of the oldest live sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopSession {
    /// When it was created.
    pub created_at: UnixMillis,
    /// Its id (`unknown` when the API gave none).
    pub session_id: String,
    /// Its agent (folded by the cardinality guard in a [`Snapshot`]).
    pub agent_name: String,
    /// Its status (folded by the cardinality guard in a [`Snapshot`]).
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

impl<'t> Aggregator<'t> {
    /// Starts an aggregation that records transitions against
    /// `transitions`, which [`Self::finish`] updates; an aggregation that is
    /// dropped unfinished (the body was refused) leaves it as it was.
    pub fn new(limits: Limits, transitions: &'t mut Transitions, redactor: &'t Redactor) -> Self {
        let statuses = DOCUMENTED_STATUSES
            .iter()
            .map(|name| StatusStats {
                name: (*name).to_owned(),
                live: !TERMINAL_STATUSES.contains(name),
                count: 0,
                oldest: None,
            })
            .collect();
        Aggregator {
            limits,
            redactor,
            statuses,
            status_ids: HashMap::new(),
            agents: HashMap::new(),
            oldest_sessions: OldestSessions::new(limits.top_oldest),
            invalid_fields: [0; 3],
            sessions: 0,
            transitions: TransitionsInProgress::new(transitions),
        }
    }

    fn status_id(&mut self, status: &str) -> StatusId {
        // A match compiles to a switch on the length: cheaper than comparing
        // against each documented status in turn, once per session.
        let documented = match status {
            "initializing" => Some(0),
            "ready" => Some(1),
            "running" => Some(2),
            "paused" => Some(3),
            "completed" => Some(4),
            "error" => Some(5),
            "terminated" => Some(6),
            _ => None,
        };
        if let Some(id) = documented {
            debug_assert_eq!(DOCUMENTED_STATUSES[id], status);
            return id;
        }
        if let Some(&id) = self.status_ids.get(status) {
            return id;
        }
        let id = self.statuses.len();
        self.statuses.push(StatusStats {
            name: status.to_owned(),
            live: true,
            count: 0,
            oldest: None,
        });
        self.status_ids.insert(status.to_owned(), id);
        id
    }

    /// Applies the cardinality guard and returns the finished snapshot; the
    /// statuses seen become the baseline of the next fetch's transitions.
    pub fn finish(self) -> Snapshot {
        let status_fold = fold_statuses(&self.statuses);
        let agent_fold = fold_agents(&self.agents, self.limits.agents_max);
        let redactor = self.redactor;
        // The label of each status id, redacted once.
        let status_labels: Vec<String> = (0..self.statuses.len())
            .map(|id| label(redactor, status_fold.label(id, &self.statuses)))
            .collect();

        // Output statuses: the documented ones, the kept undocumented ones by
        // name, then `other` if anything was folded.
        let mut statuses: Vec<StatusCount> = Vec::new();
        for (stats, label) in self.statuses.iter().zip(&status_labels) {
            match statuses.iter_mut().find(|s| &s.status == label) {
                Some(existing) => {
                    existing.count += stats.count;
                    existing.oldest = min_option(existing.oldest, stats.oldest);
                }
                None => statuses.push(StatusCount {
                    status: label.clone(),
                    live: stats.live,
                    count: stats.count,
                    oldest: stats.oldest,
                }),
            }
        }
        sort_statuses(&mut statuses, |s| &s.status);

        let mut agents: Vec<AgentCounts> = Vec::new();
        let mut agent_index: HashMap<String, usize> = HashMap::new();
        for (name, counts) in &self.agents {
            let label = label(redactor, agent_fold.label(name));
            let index = *agent_index.entry(label.clone()).or_insert_with(|| {
                agents.push(AgentCounts {
                    agent_name: label,
                    statuses: DOCUMENTED_STATUSES
                        .iter()
                        .map(|s| ((*s).to_owned(), 0))
                        .collect(),
                });
                agents.len() - 1
            });
            for (id, &count) in counts.iter().enumerate().filter(|(_, c)| **c > 0) {
                add_count(&mut agents[index].statuses, &status_labels[id], count);
            }
        }
        for agent in &mut agents {
            sort_statuses(&mut agent.statuses, |(s, _)| s);
        }
        agents.sort_by(|a, b| a.agent_name.cmp(&b.agent_name));

        let mut oldest_sessions: Vec<TopSession> = Vec::new();
        for mut session in self.oldest_sessions.into_sorted_vec() {
            session.session_id = label(redactor, &session.session_id);
            session.agent_name = label(redactor, agent_fold.label(&session.agent_name));
            if let Some(&id) = self.status_ids.get(&session.status) {
                session.status = status_labels[id].clone();
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

        let names: Vec<&str> = self.statuses.iter().map(|s| s.name.as_str()).collect();
        let transitions = self.transitions.finish(&names, redactor);

        Snapshot {
            sessions: self.sessions,
            statuses,
            agents,
            oldest_sessions,
            invalid_fields: self.invalid_fields,
            agents_truncated: agent_fold.truncated,
            statuses_truncated: status_fold.truncated,
            transitions,
        }
    }
}

impl SessionSink for Aggregator<'_> {
    fn session(&mut self, session: SessionRecord<'_>) {
        self.sessions += 1;
        let status = label_value(&session.status, &mut self.invalid_fields[0]);
        let agent = label_value(&session.agent_name, &mut self.invalid_fields[1]);
        let status_id = self.status_id(&status);

        let counts = match self.agents.get_mut(agent.as_ref()) {
            Some(counts) => counts,
            None => self.agents.entry(agent.clone().into_owned()).or_default(),
        };
        if counts.len() <= status_id {
            counts.resize(status_id + 1, 0);
        }
        counts[status_id] += 1;

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
            self.invalid_fields[2] += 1;
        }
        if let (true, Some(created_at)) = (stats.live, created_at) {
            stats.oldest = min_option(stats.oldest, Some(created_at));
            // A session without an id cannot be told apart from another one
            // in `agi_session_age_seconds`; it still counts everywhere else.
            if let Some(id) = session.session_id.as_str() {
                self.oldest_sessions.offer(created_at, id, &agent, &status);
            }
        }

        if let Some(id) = session.session_id.as_str() {
            self.transitions.record(id, status_id);
        }
    }
}

/// The `limit` oldest live sessions, one per id (as cut to a label value):
/// a max-heap whose top is the youngest kept, so each new session costs one
/// comparison unless it is older.
#[derive(Debug)]
struct OldestSessions {
    limit: usize,
    heap: BinaryHeap<TopSession>,
    /// The ids in the heap, so that an id listed twice (or two ids alike in
    /// their first 128 bytes) keep one entry: the oldest.
    ids: HashSet<String>,
}

impl OldestSessions {
    fn new(limit: usize) -> Self {
        OldestSessions {
            limit,
            heap: BinaryHeap::with_capacity(limit + 1),
            ids: HashSet::with_capacity(limit + 1),
        }
    }

    fn offer(&mut self, created_at: UnixMillis, session_id: &str, agent_name: &str, status: &str) {
        if self.limit == 0 {
            return;
        }
        let session_id = label_source(session_id);
        // Ids are told apart as their labels will be: by their first bytes.
        let same_id = |kept: &str| {
            prefix(kept, MAX_LABEL_VALUE_BYTES) == prefix(session_id, MAX_LABEL_VALUE_BYTES)
        };
        if self.heap.len() == self.limit {
            let youngest = self
                .heap
                .peek()
                .map(|s| (s.created_at, s.session_id.as_str()));
            if youngest.is_some_and(|youngest| (created_at, session_id) >= youngest) {
                return;
            }
        }
        let label_id = prefix(session_id, MAX_LABEL_VALUE_BYTES);
        if self.ids.contains(label_id) {
            // Rare (the same id twice): replace the entry if this one is older.
            let older = self
                .heap
                .iter()
                .any(|s| same_id(&s.session_id) && created_at < s.created_at);
            if !older {
                return;
            }
            self.heap.retain(|s| !same_id(&s.session_id));
        } else if self.heap.len() == self.limit
            && let Some(youngest) = self.heap.pop()
        {
            self.ids
                .remove(prefix(&youngest.session_id, MAX_LABEL_VALUE_BYTES));
        }
        self.ids.insert(label_id.to_owned());
        self.heap.push(TopSession {
            created_at,
            session_id: session_id.to_owned(),
            agent_name: agent_name.to_owned(),
            status: status.to_owned(),
        });
    }

    fn into_sorted_vec(self) -> Vec<TopSession> {
        self.heap.into_sorted_vec()
    }
}

/// A status or agent label value: the string when there is one, else
/// `unknown` (and the field is counted as invalid).
fn label_value<'a>(field: &'a Field<'_>, invalid: &mut u64) -> Cow<'a, str> {
    match field.as_str() {
        Some(text) => Cow::Borrowed(label_source(text)),
        None => {
            *invalid += 1;
            Cow::Borrowed(UNKNOWN)
        }
    }
}

/// What is kept of a value from the API to make its label: a few bytes more
/// than a label holds, so that redaction (which comes first, see
/// [`label`]) still sees a run of [`MIN_RUN`] characters of the key that
/// starts just before the cut.
fn label_source(text: &str) -> &str {
    prefix(text, MAX_LABEL_VALUE_BYTES + MIN_RUN - 1)
}

/// The label of a value kept by [`label_source`]: redacted, then cut to
/// [`MAX_LABEL_VALUE_BYTES`].
fn label(redactor: &Redactor, source: &str) -> String {
    prefix(&redactor.redact(source), MAX_LABEL_VALUE_BYTES).to_owned()
}

/// The longest prefix of `text` of at most `max` bytes that ends on a
/// character boundary.
fn prefix(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn min_option(a: Option<UnixMillis>, b: Option<UnixMillis>) -> Option<UnixMillis> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// Documented statuses first in their documented order, then the others by
/// name, with `other` last.
fn sort_statuses<T>(items: &mut [T], status: impl Fn(&T) -> &String) {
    items.sort_by_key(|item| {
        let name = status(item);
        let rank = DOCUMENTED_STATUSES
            .iter()
            .position(|s| s == name)
            .unwrap_or(if name == OTHER {
                usize::MAX
            } else {
                DOCUMENTED_STATUSES.len()
            });
        (rank, name.clone())
    });
}

/// Which undocumented status values keep their own label.
struct StatusFold {
    kept: Vec<bool>,
    truncated: bool,
}

impl StatusFold {
    fn label<'a>(&self, id: StatusId, statuses: &'a [StatusStats]) -> &'a str {
        if self.kept.get(id).copied().unwrap_or(false) {
            &statuses[id].name
        } else {
            OTHER
        }
    }
}

/// Keeps the documented statuses and the most common undocumented ones.
fn fold_statuses(statuses: &[StatusStats]) -> StatusFold {
    let mut kept = vec![true; statuses.len()];
    let mut undocumented: Vec<StatusId> = (DOCUMENTED_STATUSES.len()..statuses.len()).collect();
    let truncated = undocumented.len() > MAX_UNDOCUMENTED_STATUSES;
    if truncated {
        undocumented.sort_by_key(|&id| (Reverse(statuses[id].count), &statuses[id].name));
        for &id in &undocumented[MAX_UNDOCUMENTED_STATUSES..] {
            kept[id] = false;
        }
    }
    StatusFold { kept, truncated }
}

/// Which agent names keep their own label: the `max` with most sessions.
struct AgentFold<'a> {
    folded: HashMap<&'a str, ()>,
    truncated: bool,
}

impl AgentFold<'_> {
    fn label<'n>(&self, name: &'n str) -> &'n str {
        if self.folded.contains_key(name) {
            OTHER
        } else {
            name
        }
    }
}

fn fold_agents(agents: &HashMap<String, Vec<u64>>, max: usize) -> AgentFold<'_> {
    if agents.len() <= max {
        return AgentFold {
            folded: HashMap::new(),
            truncated: false,
        };
    }
    let mut by_size: Vec<(&str, u64)> = agents
        .iter()
        .map(|(name, counts)| (name.as_str(), counts.iter().sum()))
        .collect();
    by_size.sort_by_key(|&(name, total)| (Reverse(total), name));
    AgentFold {
        folded: by_size[max..].iter().map(|&(name, _)| (name, ())).collect(),
        truncated: true,
    }
}

/// Sessions per status, with the oldest live one's creation time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCount {
    /// Status label value.
    pub status: String,
    /// Whether the status is live (not completed, error or terminated).
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
    /// Status label value and count; every documented status is present.
    pub statuses: Vec<(String, u64)>,
}

/// The result of one successful fetch, ready to render.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// Sessions listed.
    pub sessions: u64,
    /// Per status; the documented statuses are always present.
    pub statuses: Vec<StatusCount>,
    /// Per agent, sorted by name.
    pub agents: Vec<AgentCounts>,
    /// The oldest live sessions, oldest first.
    pub oldest_sessions: Vec<TopSession>,
    /// Sessions with a missing or unreadable field, in [`CHECKED_FIELDS`] order.
    pub invalid_fields: [u64; 3],
    /// Agent names were folded into `other`.
    pub agents_truncated: bool,
    /// Status values were folded into `other`.
    pub statuses_truncated: bool,
    /// Sessions that entered each status since the previous fetch (empty on
    /// the first fetch, which only records the baseline).
    pub transitions: Vec<(String, u64)>,
}

/// What transitions need from one successful fetch to the next: the
/// statuses seen at the previous fetch, by session, and the status labels
/// the transitions counter has given out.
#[derive(Debug, Default)]
pub struct Transitions {
    /// Hashes session ids and status values; the quality variant, because
    /// two ids that collide would share a status.
    hasher: foldhash::quality::RandomState,
    /// The previous fetch's sessions in list order: (hash of the id, hash of
    /// its status). Hashes rather than names, so the baseline does not grow
    /// with every status value an API ever sent. `None` before the first fetch.
    previous: Option<Vec<(u64, u64)>>,
    /// The counter's status labels: a counter series must never go away,
    /// so a value that gets one keeps it for the life of the process.
    labels: StickyLabels,
}

/// Label values handed out for the life of the process: the documented
/// statuses always, then the first [`MAX_UNDOCUMENTED_STATUSES`] other
/// values seen; every later value is `other`. What is kept is bounded by
/// the limit, never by the number of values an API ever sent.
#[derive(Debug, Default)]
struct StickyLabels {
    /// Value (as cut to a label) to its label, for the values given one.
    given: HashMap<String, String>,
    /// How many undocumented values hold a label of their own.
    undocumented: usize,
}

impl StickyLabels {
    /// The label `value` counts under, giving it one of its own while fewer
    /// than the limit have one. The label is the redacted value; values that
    /// redact alike share it.
    fn label(&mut self, value: &str, redactor: &Redactor) -> String {
        if DOCUMENTED_STATUSES.contains(&value) || value == OTHER {
            return value.to_owned();
        }
        if let Some(label) = self.given.get(value) {
            return label.clone();
        }
        if self.undocumented >= MAX_UNDOCUMENTED_STATUSES {
            return OTHER.to_owned();
        }
        let label = label(redactor, value);
        let shared = DOCUMENTED_STATUSES.contains(&label.as_str())
            || label == OTHER
            || self.given.values().any(|given| *given == label);
        if !shared {
            self.undocumented += 1;
        }
        self.given.insert(value.to_owned(), label.clone());
        label
    }
}

/// How far ahead in the baseline a session is looked for before it counts as
/// out of step: covers a few sessions deleted between two fetches.
const LOOKAHEAD: usize = 8;

/// Out-of-step sessions tolerated before the baseline gets a hash index (a
/// list reordered or with a large gap, rather than a few new sessions).
const PENDING_BEFORE_INDEX: usize = 64;

#[derive(Debug)]
struct TransitionsInProgress<'t> {
    base: &'t mut Transitions,
    /// Hash of the id and status of every session listed, in body order.
    listed: Vec<(u64, StatusId)>,
}

impl<'t> TransitionsInProgress<'t> {
    fn new(base: &'t mut Transitions) -> Self {
        let capacity = base.previous.as_ref().map_or(0, Vec::len);
        TransitionsInProgress {
            base,
            listed: Vec::with_capacity(capacity),
        }
    }

    fn record(&mut self, session_id: &str, status_id: StatusId) {
        let key = self.base.hasher.hash_one(session_id);
        self.listed.push((key, status_id));
    }

    /// Counts the sessions whose status differs from the baseline's, under
    /// their sticky labels, and makes this fetch the new baseline. `names`
    /// gives every status id's value.
    fn finish(self, names: &[&str], redactor: &Redactor) -> Vec<(String, u64)> {
        let status_hashes: Vec<u64> = names
            .iter()
            .map(|name| self.base.hasher.hash_one(name))
            .collect();
        let listed: Vec<(u64, u64)> = self
            .listed
            .iter()
            .map(|&(key, id)| (key, status_hashes[id]))
            .collect();
        let entered = match &self.base.previous {
            Some(previous) => entered_by_status(previous, &listed, &self.listed, names.len()),
            None => Vec::new(),
        };

        let mut counts: Vec<(String, u64)> = Vec::new();
        for (id, &n) in entered.iter().enumerate().filter(|(_, n)| **n > 0) {
            let label = self.base.labels.label(names[id], redactor);
            add_count(&mut counts, &label, n);
        }
        sort_statuses(&mut counts, |(s, _)| s);
        self.base.previous = Some(listed);
        counts
    }
}

/// Adds `n` under `label`, merging with an entry already there (folded
/// values share the `other` label).
fn add_count(counts: &mut Vec<(String, u64)>, label: &str, n: u64) {
    match counts.iter_mut().find(|(existing, _)| existing == label) {
        Some((_, count)) => *count += n,
        None => counts.push((label.to_owned(), n)),
    }
}

/// Per status id, the sessions of `current` that are new or whose status
/// differs from `previous`. Each baseline entry answers for one session at
/// most, so an id listed twice counts once.
///
/// Lists come back in much the same order from one fetch to the next, so
/// the two are walked in step: in the steady state each session costs one
/// comparison with the next baseline entry, where a hash lookup per session
/// would miss the CPU caches on every one of them for a large account.
/// Sessions out of step (new ones, or moved) are resolved at the end with
/// one pass over the baseline; when there are many (a reordered list), a
/// hash index of the baseline is built once instead.
fn entered_by_status(
    previous: &[(u64, u64)],
    current: &[(u64, u64)],
    status_ids: &[(u64, StatusId)],
    statuses: usize,
) -> Vec<u64> {
    let mut entered = vec![0u64; statuses];
    let mut used = vec![false; previous.len()];
    let mut index: Option<HashMap<u64, usize>> = None;
    let mut pending: Vec<usize> = Vec::new();
    // Ids not in the baseline, so that a new session listed twice counts once.
    let mut new_ids: HashSet<u64> = HashSet::new();
    let mut cursor = 0;
    for (i, &(key, status)) in current.iter().enumerate() {
        let in_step = previous
            .get(cursor..(cursor + 1 + LOOKAHEAD).min(previous.len()))
            .and_then(|window| window.iter().position(|p| p.0 == key))
            .map(|offset| cursor + offset)
            .filter(|&j| !used[j]);
        let found = in_step.or_else(|| {
            if index.is_none() && pending.len() < PENDING_BEFORE_INDEX {
                return None;
            }
            let index = index.get_or_insert_with(|| index_of(previous));
            index.get(&key).copied().filter(|&j| !used[j])
        });
        match found {
            Some(j) => {
                used[j] = true;
                cursor = j + 1;
                if previous[j].1 != status {
                    entered[status_ids[i].1] += 1;
                }
            }
            None if index.is_some() => {
                // Not in the baseline (or its entry already answered).
                let known = index.as_ref().is_some_and(|index| index.contains_key(&key));
                if !known && new_ids.insert(key) {
                    entered[status_ids[i].1] += 1;
                }
            }
            None => pending.push(i),
        }
    }
    if pending.is_empty() {
        return entered;
    }
    // Where each pending session stands in the baseline, in one pass.
    let mut wanted: HashMap<u64, Option<usize>> =
        pending.iter().map(|&i| (current[i].0, None)).collect();
    for (j, entry) in previous.iter().enumerate() {
        if let Some(slot) = wanted.get_mut(&entry.0) {
            slot.get_or_insert(j);
        }
    }
    for i in pending {
        let (key, status) = current[i];
        match wanted.get(&key).copied().flatten() {
            None => {
                if new_ids.insert(key) {
                    entered[status_ids[i].1] += 1;
                }
            }
            Some(j) if used[j] => {} // listed twice: already answered for
            Some(j) => {
                used[j] = true;
                if previous[j].1 != status {
                    entered[status_ids[i].1] += 1;
                }
            }
        }
    }
    entered
}

fn index_of(previous: &[(u64, u64)]) -> HashMap<u64, usize> {
    let mut index = HashMap::with_capacity(previous.len());
    for (j, entry) in previous.iter().enumerate() {
        index.entry(entry.0).or_insert(j);
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::parse::parse_sessions;

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

    fn fold_with(limits: Limits, transitions: &mut Transitions, body: &[u8]) -> Snapshot {
        let redactor = Redactor::new("not-in-any-body");
        let mut aggregator = Aggregator::new(limits, transitions, &redactor);
        parse_sessions(body, &mut aggregator).unwrap_or_else(|e| panic!("{e}"));
        aggregator.finish()
    }

    fn fold(body: &[u8]) -> Snapshot {
        fold_with(LIMITS, &mut Transitions::default(), body)
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
    fn an_empty_list_still_has_every_documented_status_at_zero() {
        let snapshot = fold(b"[]");
        let statuses: Vec<_> = snapshot
            .statuses
            .iter()
            .map(|s| s.status.as_str())
            .collect();
        assert_eq!(statuses, DOCUMENTED_STATUSES);
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
        // Every documented status is present for every agent.
        assert_eq!(agent_count(&snapshot, "agi-0", "terminated"), Some(0));
        assert_eq!(snapshot.agents[1].statuses.len(), 7);
    }

    #[test]
    fn unknown_statuses_are_counted_under_their_own_value() {
        let snapshot = fold(&body(&[
            session("a", "agi-0", "waiting_for_input", T0),
            session("b", "agi-0", "finished", T1),
        ]));
        assert_eq!(count(&snapshot, "waiting_for_input"), Some(1));
        assert_eq!(count(&snapshot, "finished"), Some(1));
        assert_eq!(agent_count(&snapshot, "agi-0", "finished"), Some(1));
        let order: Vec<_> = snapshot
            .statuses
            .iter()
            .map(|s| s.status.as_str())
            .collect();
        assert_eq!(&order[7..], ["finished", "waiting_for_input"]);
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
        assert_eq!(snapshot.invalid_fields, [1, 1, 2]);
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
            &mut Transitions::default(),
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
            &mut Transitions::default(),
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
            &mut Transitions::default(),
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
    fn folds_undocumented_statuses_beyond_twenty_into_other() {
        let sessions: Vec<String> = (0..25)
            .map(|i| session(&format!("s{i}"), "agi-0", &format!("custom{i:02}"), T0))
            .chain([session("x", "agi-0", "custom00", T0)])
            .collect();
        let snapshot = fold(&body(&sessions));
        assert!(snapshot.statuses_truncated);
        assert_eq!(snapshot.statuses.len(), 7 + MAX_UNDOCUMENTED_STATUSES + 1);
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
        let redactor = Redactor::new(key);
        let mut transitions = Transitions::default();
        // The key starts 8 bytes before the 128-byte cut: cutting first
        // would keep 8 of its characters, too few for redaction to see.
        let agent = format!("{}{key}", "x".repeat(120));
        let status = format!("{}{key}", "y".repeat(125));
        let mut aggregator = Aggregator::new(LIMITS, &mut transitions, &redactor);
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
        let mut transitions = Transitions::default();
        let first = fold_with(
            LIMITS,
            &mut transitions,
            &body(&[session("a", "agi-0", "running", T0)]),
        );
        assert!(first.transitions.is_empty());
    }

    #[test]
    fn transitions_count_new_sessions_and_status_changes() {
        let mut transitions = Transitions::default();
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
        assert_eq!(
            second.transitions,
            [
                ("initializing".to_owned(), 1),
                ("error".to_owned(), 1),
                ("waiting_for_input".to_owned(), 1)
            ]
        );
        // Nothing changed: nothing is counted.
        let third = fold_with(LIMITS, &mut transitions, &changed);
        assert!(third.transitions.is_empty(), "{:?}", third.transitions);
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

    fn entered(transitions: &mut Transitions, body: &[u8]) -> u64 {
        let snapshot = fold_with(LIMITS, transitions, body);
        snapshot.transitions.iter().map(|(_, n)| n).sum()
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
            let mut transitions = Transitions::default();
            assert_eq!(entered(&mut transitions, &running(&base)), 0, "baseline");
            assert_eq!(entered(&mut transitions, &running(&next)), new, "{name}");
        }
    }

    #[test]
    fn a_session_listed_twice_counts_once() {
        let mut transitions = Transitions::default();
        entered(&mut transitions, &running(&ids(0..3)));
        let mut twice = ids(0..3);
        twice.extend(ids(5..6));
        twice.extend(ids(5..6));
        twice.extend(ids(1..2));
        assert_eq!(entered(&mut transitions, &running(&twice)), 1);
    }

    #[test]
    fn a_failed_parse_leaves_the_baseline_untouched() {
        let mut transitions = Transitions::default();
        fold_with(
            LIMITS,
            &mut transitions,
            &body(&[session("a", "agi-0", "running", T0)]),
        );
        let redactor = Redactor::new("not-in-any-body");
        let mut aggregator = Aggregator::new(LIMITS, &mut transitions, &redactor);
        let truncated = br#"[{"session_id":"a","status":"error"},{"sess"#;
        assert!(parse_sessions(truncated, &mut aggregator).is_err());
        drop(aggregator);
        let next = fold_with(
            LIMITS,
            &mut transitions,
            &body(&[session("a", "agi-0", "error", T0)]),
        );
        assert_eq!(next.transitions, [("error".to_owned(), 1)]);
    }
}
