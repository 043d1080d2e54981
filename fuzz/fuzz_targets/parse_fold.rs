//! Parse and fold arbitrary bytes as two successive fetches (so that the
//! transitions baseline is exercised), and hold every accepted body's
//! aggregate to its invariants: counts add up, the cardinality bounds hold,
//! and no two label sets are equal.

#![no_main]

use std::sync::Arc;

use agi_exporter::{Aggregator, FetchTimes, Limits, Redactor, SessionTracker, parse_sessions};
use libfuzzer_sys::fuzz_target;

const LIMITS: Limits = Limits {
    agents_max: 3,
    top_oldest: 4,
};

mod bodies;
#[path = "../../tests/it/support/contract.rs"]
#[allow(dead_code)]
mod contract;

fuzz_target!(|data: &[u8]| {
    let Some((first, second)) = bodies::two_bodies(data) else {
        return;
    };
    // A key that appears in bodies the fuzzer builds from the dictionary.
    let redactor = Arc::new(Redactor::new("agi-fuzz-key-0123"));
    let mut tracker = SessionTracker::new(LIMITS.agents_max);
    for (at, body) in [(1_800_000_000_000, first), (1_800_000_015_000, second)] {
        let times = FetchTimes {
            sent_at: at,
            received_at: at,
        };
        let before = tracker.lifecycle();
        let mut aggregator = Aggregator::new(LIMITS, &mut tracker, &redactor, times);
        if let Ok(count) = parse_sessions(body, &mut aggregator) {
            let snapshot = aggregator.finish();
            contract::assert_consistent(count, &snapshot, LIMITS);
            contract::assert_lifecycle_consistent(&before, &tracker.lifecycle(), count, LIMITS);
            for label in snapshot.agents.iter().map(|a| a.agent_name.as_str()) {
                assert!(!label.contains("agi-fuzz-key-0123"), "the key in a label");
            }
        }
    }
});
