//! Fold arbitrary bytes as three successive fetches, the second body again
//! as the third, once recalling unchanged sessions and once reading every
//! session: the snapshots and lifecycle totals (or the refusals) must be
//! the same.

#![no_main]

use std::sync::Arc;

use agi_exporter::{
    Aggregator, FetchTimes, Lifecycle, Limits, Redactor, SessionTracker, Snapshot, parse_sessions,
};
use libfuzzer_sys::fuzz_target;

mod bodies;
#[path = "../../tests/it/support/reading.rs"]
mod reading;

use reading::ReadEverything;

const LIMITS: Limits = Limits {
    agents_max: 3,
    top_oldest: 2,
};

fn fetch(
    tracker: &mut SessionTracker,
    redactor: &Arc<Redactor>,
    body: &[u8],
    at: i64,
    recall: bool,
) -> Option<(Snapshot, Lifecycle)> {
    let times = FetchTimes {
        sent_at: at,
        received_at: at,
    };
    let mut aggregator = Aggregator::new(LIMITS, tracker, redactor, times);
    let parsed = if recall {
        parse_sessions(body, &mut aggregator)
    } else {
        parse_sessions(body, &mut ReadEverything(&mut aggregator))
    };
    let snapshot = parsed.ok().map(|_| aggregator.finish())?;
    Some((snapshot, tracker.lifecycle()))
}

fuzz_target!(|data: &[u8]| {
    let Some((first, second)) = bodies::two_bodies(data) else {
        return;
    };
    let redactor = Arc::new(Redactor::new("agi-fuzz-key-0123"));
    let mut recalling = SessionTracker::new(LIMITS.agents_max);
    let mut reading = SessionTracker::new(LIMITS.agents_max);
    let fetches = [first, second, second];
    for (n, body) in fetches.into_iter().enumerate() {
        let at = 1_800_000_000_000 + 15_000 * n as i64;
        assert_eq!(
            fetch(&mut recalling, &redactor, body, at, true),
            fetch(&mut reading, &redactor, body, at, false),
            "fetch {n}"
        );
    }
});
