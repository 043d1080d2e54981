//! Parse and fold arbitrary bytes as two successive fetches (so that the
//! transitions baseline is exercised), and hold every accepted body's
//! aggregate to its invariants: counts add up, the cardinality bounds hold,
//! and no two label sets are equal.

#![no_main]

use std::collections::HashSet;

use agi_exporter::{Aggregator, Limits, Redactor, SessionTracker, Snapshot, parse_sessions};
use libfuzzer_sys::fuzz_target;

const LIMITS: Limits = Limits {
    agents_max: 3,
    top_oldest: 4,
};

/// Documented statuses, at most 20 others, and `other`.
const MAX_STATUSES: usize = 7 + 20 + 1;

const DOCUMENTED_STATUSES: [&str; 7] = [
    "initializing",
    "ready",
    "running",
    "paused",
    "completed",
    "error",
    "terminated",
];

fn assert_unique<'a>(what: &str, labels: impl IntoIterator<Item = &'a str>) {
    let mut seen = HashSet::new();
    for label in labels {
        assert!(seen.insert(label), "{what}: {label:?} twice");
        assert!(label.len() <= 128, "{what}: {label:?} longer than 128 bytes");
    }
}

fn check(count: usize, snapshot: &Snapshot) {
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
        assert!(snapshot.statuses.iter().any(|s| s.status == status));
    }
    assert!(snapshot.agents.len() <= LIMITS.agents_max + 1);
    assert!(snapshot.statuses.len() <= MAX_STATUSES);
    assert!(snapshot.oldest_sessions.len() <= LIMITS.top_oldest);
    assert!(snapshot.transitions.len() <= MAX_STATUSES);
    let invalid = snapshot.invalid_fields;
    assert!([invalid.status, invalid.agent_name, invalid.created_at]
        .iter()
        .all(|&n| n <= snapshot.sessions));
    let entered: u64 = snapshot.transitions.iter().map(|(_, n)| n).sum();
    assert!(entered <= snapshot.sessions);

    assert_unique("statuses", snapshot.statuses.iter().map(|s| s.status.as_str()));
    assert_unique("agents", snapshot.agents.iter().map(|a| a.agent_name.as_str()));
    for agent in &snapshot.agents {
        assert_unique("an agent's statuses", agent.statuses.iter().map(|(s, _)| s.as_str()));
    }
    assert_unique("oldest sessions", snapshot.oldest_sessions.iter().map(|s| s.session_id.as_str()));
    assert_unique("transitions", snapshot.transitions.iter().map(|(s, _)| s.as_str()));
    assert!(
        snapshot.oldest_sessions.windows(2).all(|w| w[0].created_at <= w[1].created_at),
        "oldest first"
    );
}

fuzz_target!(|data: &[u8]| {
    // The first two bytes choose where the first fetch's body ends.
    let Some((split, rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let split = usize::from(u16::from_le_bytes(*split)).min(rest.len());
    let (first, second) = rest.split_at(split);
    // A key that appears in bodies the fuzzer builds from the dictionary.
    let redactor = Redactor::new("agi-fuzz-key-0123");
    let mut tracker = SessionTracker::default();
    for body in [first, second] {
        let mut aggregator = Aggregator::new(LIMITS, &mut tracker, &redactor);
        if let Ok(count) = parse_sessions(body, &mut aggregator) {
            let snapshot = aggregator.finish();
            check(count, &snapshot);
            for label in snapshot.agents.iter().map(|a| a.agent_name.as_str()) {
                assert!(!label.contains("agi-fuzz-key-0123"), "the key in a label");
            }
        }
    }
});
