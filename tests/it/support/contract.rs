//! The parts of the contract that the tests, the benchmarks and the fuzz
//! targets state the same way, apart from the code under test: the
//! statuses of both vocabularies, and what every aggregate of an accepted body must
//! satisfy (README, Metrics).

use std::collections::HashSet;

use agi_exporter::{HistogramCounts, Lifecycle, Limits, Snapshot};

/// The statuses of the API's docs.
pub const DOCUMENTED_STATUSES: [&str; 7] = [
    "initializing",
    "ready",
    "running",
    "paused",
    "completed",
    "error",
    "terminated",
];

/// The statuses of the API's official SDKs.
pub const SDK_STATUSES: [&str; 6] = [
    "ready",
    "running",
    "waiting_for_input",
    "paused",
    "finished",
    "error",
];

/// Every status of both vocabularies, in the order the exposition lists
/// them; each is always there (at 0 when none).
pub const KNOWN_STATUSES: [&str; 9] = [
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

/// The known statuses that are live with the default final statuses: the
/// oldest-age families always have them.
pub const KNOWN_LIVE_STATUSES: [&str; 5] = [
    "initializing",
    "ready",
    "running",
    "waiting_for_input",
    "paused",
];

/// At most this many status values with the default final statuses: the
/// known ones, 20 others and `other`.
pub const MAX_STATUSES: usize = 9 + 20 + 1;

/// The final statuses by default: `completed, finished, error,
/// terminated`.
pub const FINAL_STATUSES: usize = 4;

/// Label values are at most this long.
pub const MAX_LABEL_BYTES: usize = 128;

fn assert_unique<'a>(what: &str, labels: impl IntoIterator<Item = &'a str>) {
    let mut seen = HashSet::new();
    for label in labels {
        assert!(seen.insert(label), "{what}: {label:?} twice");
        assert!(
            label.len() <= MAX_LABEL_BYTES,
            "{what}: {label:?} is longer than {MAX_LABEL_BYTES} bytes"
        );
    }
}

/// What the aggregate of a body the parser accepted with `count` sessions
/// must satisfy: the counts add up, the documented statuses are there, the
/// cardinality bounds hold, and no two label sets are equal.
pub fn assert_consistent(count: usize, snapshot: &Snapshot, limits: Limits) {
    assert_eq!(snapshot.sessions, count as u64);
    let by_status: u64 = snapshot.statuses.iter().map(|s| s.count).sum();
    assert_eq!(by_status, snapshot.sessions, "statuses add up");
    let by_agent: u64 = snapshot
        .agents
        .iter()
        .flat_map(|a| a.statuses.iter().map(|(_, n)| n))
        .sum();
    assert_eq!(by_agent, snapshot.sessions, "agents add up");
    for status in DOCUMENTED_STATUSES {
        assert!(
            snapshot.statuses.iter().any(|s| s.status == status),
            "{status} present"
        );
    }
    assert!(
        snapshot.agents.len() <= limits.agents_max + 1,
        "agent guard"
    );
    assert!(snapshot.statuses.len() <= MAX_STATUSES, "status guard");
    assert!(snapshot.oldest_sessions.len() <= limits.top_oldest);
    let invalid = snapshot.invalid_fields;
    for field in [invalid.status, invalid.agent_name, invalid.created_at] {
        assert!(field <= snapshot.sessions);
    }

    assert_unique(
        "statuses",
        snapshot.statuses.iter().map(|s| s.status.as_str()),
    );
    assert_unique(
        "agents",
        snapshot.agents.iter().map(|a| a.agent_name.as_str()),
    );
    for agent in &snapshot.agents {
        assert_unique(
            "an agent's statuses",
            agent.statuses.iter().map(|(s, _)| s.as_str()),
        );
    }
    assert_unique(
        "oldest sessions",
        snapshot
            .oldest_sessions
            .iter()
            .map(|s| s.session_id.as_str()),
    );
    assert!(
        snapshot
            .oldest_sessions
            .windows(2)
            .all(|w| w[0].created_at <= w[1].created_at),
        "oldest first"
    );
}

/// What every fetch's lifecycle totals must satisfy: `before` and `after`
/// the fetch of `sessions` sessions. Counters never go down; one fetch adds
/// at most one entry into a status, one new session and one observation per
/// histogram for each session; every series is bounded by the guards and
/// appears once.
pub fn assert_lifecycle_consistent(
    before: &Lifecycle,
    after: &Lifecycle,
    sessions: usize,
    limits: Limits,
) {
    let sessions = sessions as u64;
    fn grown<K: PartialEq + std::fmt::Debug>(before: &[(K, u64)], after: &[(K, u64)]) -> u64 {
        after
            .iter()
            .map(|(key, n)| {
                let was = before.iter().find(|(k, _)| k == key).map_or(0, |(_, n)| *n);
                assert!(*n >= was, "{key:?} went down from {was} to {n}");
                n - was
            })
            .sum()
    }
    fn observed<K: PartialEq + std::fmt::Debug>(
        before: &[(K, HistogramCounts)],
        after: &[(K, HistogramCounts)],
    ) -> u64 {
        after
            .iter()
            .map(|(key, counts)| {
                let was = before
                    .iter()
                    .find(|(k, _)| k == key)
                    .map_or(0, |(_, c)| c.count);
                assert!(counts.count >= was, "{key:?} went down");
                counts.count - was
            })
            .sum()
    }
    assert!(grown(&before.transitions, &after.transitions) <= sessions);
    assert!(grown(&before.seen, &after.seen) <= sessions);
    assert!(observed(&before.start_latency, &after.start_latency) <= sessions);
    assert!(observed(&before.duration, &after.duration) <= sessions);
    grown(&before.removed, &after.removed);
    assert!(after.transitions.len() <= (limits.agents_max + 1) * MAX_STATUSES);
    assert!(after.start_latency.len() <= limits.agents_max + 1);
    assert!(after.seen.len() <= limits.agents_max + 1);
    assert!(after.duration.len() <= (limits.agents_max + 1) * FINAL_STATUSES);
    assert!(after.removed.len() <= MAX_STATUSES);
    let mut pairs = HashSet::new();
    for (agent, status) in after.transitions.iter().map(|(pair, _)| pair) {
        assert!(
            pairs.insert((agent, status)),
            "transitions: {agent:?} {status:?} twice"
        );
        for label in [agent, status] {
            assert!(
                label.len() <= MAX_LABEL_BYTES,
                "transitions: {label:?} is longer than {MAX_LABEL_BYTES} bytes"
            );
        }
    }
    assert_unique("removals", after.removed.iter().map(|(s, _)| s.as_str()));
}
