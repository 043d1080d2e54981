//! The parts of the contract that the tests, the benchmarks and the fuzz
//! targets state the same way, apart from the code under test: the
//! statuses of both vocabularies, and what every aggregate of an accepted body must
//! satisfy (README, Metrics).

use std::collections::HashSet;

use agi_exporter::{Limits, Snapshot};

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
    let changes = &snapshot.changes;
    assert!(changes.transitions.len() <= (limits.agents_max + 1) * MAX_STATUSES);
    let invalid = snapshot.invalid_fields;
    for field in [invalid.status, invalid.agent_name, invalid.created_at] {
        assert!(field <= snapshot.sessions);
    }
    let entered: u64 = changes.transitions.iter().map(|(_, n)| n).sum();
    assert!(entered <= snapshot.sessions);
    assert!(changes.start_latency.len() as u64 <= snapshot.sessions);
    assert!(changes.duration.len() as u64 <= snapshot.sessions);
    let lifecycle = &snapshot.lifecycle;
    assert!(lifecycle.start_latency.len() <= limits.agents_max + 1);
    assert!(lifecycle.duration.len() <= (limits.agents_max + 1) * FINAL_STATUSES);
    assert!(lifecycle.removed.len() <= MAX_STATUSES);

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
    let pairs: Vec<String> = lifecycle
        .transitions
        .iter()
        .map(|((agent, status), _)| format!("{agent}\u{0}{status}"))
        .collect();
    let mut seen = HashSet::new();
    for pair in &pairs {
        assert!(seen.insert(pair), "the transition series {pair:?} twice");
    }
    assert_unique(
        "removals",
        lifecycle.removed.iter().map(|(s, _)| s.as_str()),
    );
    assert!(
        snapshot
            .oldest_sessions
            .windows(2)
            .all(|w| w[0].created_at <= w[1].created_at),
        "oldest first"
    );
}
