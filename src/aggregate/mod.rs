//! Folding sessions into what the metrics show: counts per status and per
//! agent, the oldest live session per status, the N oldest live sessions,
//! and what the lifecycle families count.
//!
//! An [`Aggregator`] receives sessions one at a time from the parser. Each
//! is counted by its class ([`classes`]: its agent, its status and which of
//! its fields were unusable), offered to a bounded heap of the oldest live
//! sessions ([`oldest`]), and followed from the previous fetch by the
//! [`SessionTracker`] ([`tracker`]). A session written exactly as the
//! previous fetch wrote it is recalled rather than read
//! ([`SessionSink::recall`]): counted by the class it had, which is what
//! reading it would count. Memory grows with the number of distinct agents
//! and statuses in one body and with the number of sessions listed, never
//! with anything seen in earlier fetches. [`Aggregator::finish`] applies
//! the cardinality guard ([`labels`]) and produces an immutable
//! [`Snapshot`] that the metrics module renders.

mod classes;
mod hash;
mod labels;
mod lifecycle;
mod oldest;
mod pairs;
mod tracker;

use std::sync::{Arc, Mutex};

use foldhash::{HashMap, HashMapExt};

pub(crate) use self::lifecycle::LifecycleState;
pub use self::lifecycle::{DURATION_BUCKETS, HistogramCounts, Lifecycle, START_LATENCY_BUCKETS};
pub use self::oldest::TopSession;
pub(crate) use self::tracker::Commit;
pub use self::tracker::{FetchTimes, SessionTracker};

use self::classes::{
    ClassKey, Labeller, MAX_KEPT_CLASSES, StatusId, Tables, Unusable, label_value,
};
use self::labels::{MAX_UNDOCUMENTED_STATUSES, OTHER, keep_largest, label};
use self::oldest::OldestSessions;
use self::tracker::{FetchTracking, Listed, Listing, Written};
use crate::api::parse::{Recalled, SessionRecord, SessionSink};
use crate::api::redact::Redactor;
use crate::api::timestamp::{UnixMillis, looks_like_timestamp, parse_timestamp};

/// Limits that bound the snapshot's size.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Distinct agent names kept; the rest become `other`.
    pub agents_max: usize,
    /// How many oldest live sessions to keep individually.
    pub top_oldest: usize,
}

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
}

/// Folds sessions as the parser reports them.
#[derive(Debug)]
pub struct Aggregator<'t> {
    limits: Limits,
    /// Applied to every label value that comes from the API, once per
    /// distinct value kept.
    redactor: &'t Redactor,
    tables: Tables,
    labeller: Labeller<'t>,
    oldest_sessions: OldestSessions,
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
        let mut labeller = Labeller {
            state: Arc::clone(tracker.lifecycle_state()),
            redactor,
            statuses: Default::default(),
            agents: Default::default(),
        };
        let tables = Tables::new(tracker.statuses().clone(), &mut labeller);
        Aggregator {
            limits,
            redactor,
            tables,
            labeller,
            oldest_sessions: OldestSessions::new(limits.top_oldest),
            tracking: tracker.fetch(times),
        }
    }

    /// Applies the cardinality guard and returns the finished snapshot; the
    /// sessions seen become the tracker's baseline for the next fetch.
    pub fn finish(self) -> Snapshot {
        let (snapshot, commit, tracker) = self.finish_apart();
        tracker.commit(commit);
        snapshot
    }

    /// [`Self::finish`], leaving the tracker as it was until the commit is
    /// applied ([`SessionTracker::commit`]), or as it is if it is dropped.
    pub(crate) fn finish_uncommitted(self) -> (Snapshot, Commit) {
        let (snapshot, commit, _) = self.finish_apart();
        (snapshot, commit)
    }

    fn finish_apart(self) -> (Snapshot, Commit, &'t mut SessionTracker) {
        let Aggregator {
            limits,
            redactor,
            tables,
            labeller,
            oldest_sessions,
            tracking,
        } = self;
        let sums = Sums::of(&tables);
        let status_labels = status_labels(&tables, &sums, redactor);
        let agent_labels = agent_labels(&tables, &sums, limits, redactor);
        let statuses = status_counts(&tables, &sums, &status_labels);
        let agents = agent_counts(&tables, &sums, &agent_labels, &status_labels);

        let mut oldest: Vec<TopSession> = Vec::new();
        for mut session in oldest_sessions.into_sorted_vec() {
            session.session_id = label(redactor, &session.session_id);
            session.agent_name = match tables.agent_index(&session.agent_name) {
                Some(id) => agent_labels.labels[id].clone(),
                None => label(redactor, &session.agent_name),
            };
            if let Some(id) = tables.status_index(&session.status) {
                session.status = status_labels.labels[id].clone();
            }
            // Oldest first: an id that redaction made equal to one already
            // kept is the younger of the two.
            if !oldest
                .iter()
                .any(|kept| kept.session_id == session.session_id)
            {
                oldest.push(session);
            }
        }
        let (sessions, invalid_fields) = tables.totals();
        let (commit, tracker) = tracking.finish(&tables, labeller);
        let snapshot = Snapshot {
            sessions,
            statuses,
            agents,
            oldest_sessions: oldest,
            invalid_fields,
            agents_truncated: agent_labels.truncated,
            statuses_truncated: status_labels.truncated,
        };
        (snapshot, commit, tracker)
    }

    /// Folds one session read from the body, written as `written` (its
    /// bytes from its `{` to its `}`).
    fn fold(&mut self, session: &SessionRecord<'_>, written: Option<&[u8]>) {
        let (status, no_status) = label_value(session.status.as_str());
        let (agent, no_agent) = label_value(session.agent_name.as_str());
        let tables = &mut self.tables;
        let (agent_id, status_id, clean) = tables.ids(&agent, &status, &mut self.labeller);
        let status_entry = &tables.statuses[status_id];
        let (stage, status_label) = (status_entry.stage, status_entry.label);
        let live = stage.is_live();
        // Only live sessions have an age; a finished session's timestamp is
        // only checked for its shape, at a fraction of the cost of a parse.
        let created_at = session.created_at.as_str();
        let created_at = if live {
            created_at.and_then(parse_timestamp)
        } else {
            created_at
                .filter(|text| looks_like_timestamp(text))
                .map(|_| 0)
        };
        let unusable = Unusable {
            status: no_status,
            agent: no_agent,
            created_at: created_at.is_none(),
        };
        let class = match clean {
            Some(class) if unusable == Unusable::default() => class,
            _ => tables.class_of(ClassKey {
                agent: agent_id,
                status: status_id,
                unusable,
            }),
        };
        let age = created_at.filter(|_| live);
        tables.count(class, age);
        // An id longer than the hash covers could not be told apart from
        // another one that begins alike: it is taken as none.
        let id = session
            .session_id
            .as_str()
            .filter(|id| id.len() <= hash::MAX_LEN);
        let Some(id) = id else {
            // A session without an id cannot be told apart from another
            // one: it counts everywhere but in the ages by session and the
            // lifecycle families.
            return;
        };
        if let Some(created_at) = age {
            self.oldest_sessions.offer(created_at, id, &agent, &status);
        }
        let written = (written.filter(|_| class < MAX_KEPT_CLASSES))
            .and_then(|bytes| Written::new(self.tracking.hash(bytes), bytes.len(), class));
        self.tracking.session(Listed {
            id,
            listing: Listing {
                agent: tables.agents[agent_id].label,
                status: status_label,
                stage,
            },
            created_at: session.created_at.as_str(),
            written,
            age,
        });
    }
}

impl SessionSink for Aggregator<'_> {
    fn session(&mut self, session: &SessionRecord<'_>) {
        self.fold(session, None);
    }

    fn session_written(&mut self, session: &SessionRecord<'_>, written: &[u8]) {
        self.fold(session, Some(written));
    }

    /// The sessions at the start of `ahead` written exactly as the previous
    /// fetch's sessions in step with them, counted by the classes they had
    /// (and a live one by its creation time), as [`Self::fold`] would count
    /// them, without being read.
    fn recall(&mut self, ahead: &[u8]) -> Option<Recalled> {
        self.tracking.recall(
            ahead,
            &mut self.tables,
            &mut self.labeller,
            &mut self.oldest_sessions,
        )
    }
}

/// Sessions, and the oldest `created_at` among them if their status is
/// live.
type Sum = (u64, Option<UnixMillis>);

/// What the classes of one fetch come to, per status and per agent.
struct Sums {
    /// Per status id.
    statuses: Vec<Sum>,
    /// Per agent id: its sessions, and per status id of its.
    agents: Vec<(u64, Vec<(StatusId, Sum)>)>,
}

impl Sums {
    fn of(tables: &Tables) -> Self {
        let mut statuses: Vec<Sum> = vec![(0, None); tables.statuses.len()];
        let mut agents: Vec<(u64, Vec<(StatusId, Sum)>)> =
            (0..tables.agents.len()).map(|_| (0, Vec::new())).collect();
        for class in tables.classes.iter().filter(|class| class.count > 0) {
            let ClassKey { agent, status, .. } = class.key;
            let sum = &mut statuses[status];
            sum.0 += class.count;
            sum.1 = min_option(sum.1, class.oldest);
            let (total, cells) = &mut agents[agent];
            *total += class.count;
            match cells.iter_mut().find(|(id, _)| *id == status) {
                Some((_, (count, oldest))) => {
                    *count += class.count;
                    *oldest = min_option(*oldest, class.oldest);
                }
                None => cells.push((status, (class.count, class.oldest))),
            }
        }
        Sums { statuses, agents }
    }
}

/// The labels of one snapshot, by id, and whether any value was folded.
struct Labels {
    labels: Vec<String>,
    truncated: bool,
}

/// Each status id's label in this snapshot: the statuses always there and
/// the [`MAX_UNDOCUMENTED_STATUSES`] most common others by name, the rest
/// `other`.
fn status_labels(tables: &Tables, sums: &Sums, redactor: &Redactor) -> Labels {
    let fixed = tables.model.fixed().len();
    let others = (tables.statuses[fixed..].iter().zip(&sums.statuses[fixed..]))
        .map(|(status, &(count, _))| (count, status.source.as_str()));
    let kept = keep_largest(others, MAX_UNDOCUMENTED_STATUSES);
    let labels = (tables.statuses.iter().enumerate())
        .map(|(id, status)| {
            let folded = (id.checked_sub(fixed).zip(kept.as_ref()))
                .is_some_and(|(index, kept)| !kept[index]);
            if folded {
                OTHER.to_owned()
            } else {
                label(redactor, &status.source)
            }
        })
        .collect();
    Labels {
        labels,
        truncated: kept.is_some(),
    }
}

/// Each agent id's label in this snapshot: the `--agents.max` agents with
/// most sessions by name, the rest `other`.
fn agent_labels(tables: &Tables, sums: &Sums, limits: Limits, redactor: &Redactor) -> Labels {
    let sizes = (tables.agents.iter().zip(&sums.agents))
        .map(|(agent, (total, _))| (*total, agent.source.as_str()));
    let kept = keep_largest(sizes, limits.agents_max);
    let labels = (tables.agents.iter().enumerate())
        .map(|(id, agent)| match &kept {
            Some(kept) if !kept[id] => OTHER.to_owned(),
            _ => label(redactor, &agent.source),
        })
        .collect();
    Labels {
        labels,
        truncated: kept.is_some(),
    }
}

/// Sessions per status label: ids that share a label (`other`, or values
/// that redact alike) are added up.
fn status_counts(tables: &Tables, sums: &Sums, labels: &Labels) -> Vec<StatusCount> {
    let mut counts: Vec<StatusCount> = Vec::new();
    let statuses = tables.statuses.iter().zip(&sums.statuses);
    for ((status, &(count, oldest)), label) in statuses.zip(&labels.labels) {
        match counts.iter_mut().find(|s| &s.status == label) {
            Some(existing) => {
                existing.count += count;
                existing.oldest = min_option(existing.oldest, oldest);
            }
            None => counts.push(StatusCount {
                status: label.clone(),
                live: status.stage.is_live(),
                count,
                oldest,
            }),
        }
    }
    sort_statuses(&mut counts, &tables.model.fixed(), |s| &s.status);
    counts
}

/// Sessions per agent label and status label, every status always there
/// present for every agent; the oldest per live status likewise, every
/// known live status present.
fn agent_counts(
    tables: &Tables,
    sums: &Sums,
    agent_labels: &Labels,
    status_labels: &Labels,
) -> Vec<AgentCounts> {
    let model = &tables.model;
    let fixed = model.fixed();
    let mut by_label: HashMap<&str, AgentCounts> = HashMap::new();
    for ((_, cells), label) in sums.agents.iter().zip(&agent_labels.labels) {
        let counts = by_label.entry(label).or_insert_with(|| AgentCounts {
            agent_name: label.clone(),
            statuses: fixed.iter().map(|s| ((*s).to_owned(), 0)).collect(),
            oldest: (model.known_live())
                .map(|s| (s.as_str().to_owned(), None))
                .collect(),
        });
        for &(id, (count, oldest)) in cells {
            let status = &status_labels.labels[id];
            add_count(&mut counts.statuses, status, count);
            if tables.statuses[id].stage.is_live() {
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

/// The lifecycle state a tracker shares with the metrics that render it.
pub(crate) fn lifecycle_of(tracker: &SessionTracker) -> Arc<Mutex<LifecycleState>> {
    Arc::clone(tracker.lifecycle_state())
}

#[cfg(test)]
mod tests;
