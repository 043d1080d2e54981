//! The aggregate's rules, one by one: counting per status and agent, the
//! guards, the oldest sessions, transitions, and the observation rule of
//! the lifecycle histograms, through fetches at chosen times.

use super::*;
use crate::api::parse::parse_sessions;
use crate::status::StatusModel;

/// One successful fetch: its snapshot, the lifecycle totals after it, and
/// what it added to them.
#[derive(Debug)]
struct Fetched {
    snapshot: Snapshot,
    lifecycle: Lifecycle,
    changes: Changes,
}

impl std::ops::Deref for Fetched {
    type Target = Snapshot;

    fn deref(&self) -> &Snapshot {
        &self.snapshot
    }
}

/// What one fetch added to the lifecycle totals: counts that grew, and for
/// each histogram series that did, its new observations (their mean, once
/// per observation: the tests observe one at a time).
#[derive(Debug, Default)]
struct Changes {
    transitions: Vec<((String, String), u64)>,
    removed: Vec<(String, u64)>,
    seen: Vec<(String, u64)>,
    start_latency: Vec<(String, f64)>,
    duration: Vec<((String, String), f64)>,
}

fn grown<K: Clone + PartialEq>(before: &[(K, u64)], after: &[(K, u64)]) -> Vec<(K, u64)> {
    after
        .iter()
        .filter_map(|(key, n)| {
            let was = before.iter().find(|(k, _)| k == key).map_or(0, |(_, n)| *n);
            (*n > was).then(|| (key.clone(), n - was))
        })
        .collect()
}

fn observed<K: Clone + PartialEq>(
    before: &[(K, HistogramCounts)],
    after: &[(K, HistogramCounts)],
) -> Vec<(K, f64)> {
    let mut new = Vec::new();
    for (key, counts) in after {
        let (count, sum) = before
            .iter()
            .find(|(k, _)| k == key)
            .map_or((0, 0.0), |(_, c)| (c.count, c.sum));
        let n = counts.count - count;
        for _ in 0..n {
            new.push((key.clone(), (counts.sum - sum) / n as f64));
        }
    }
    new
}

impl Changes {
    fn between(before: &Lifecycle, after: &Lifecycle) -> Self {
        Changes {
            transitions: grown(&before.transitions, &after.transitions),
            removed: grown(&before.removed, &after.removed),
            seen: grown(&before.seen, &after.seen),
            start_latency: observed(&before.start_latency, &after.start_latency),
            duration: observed(&before.duration, &after.duration),
        }
    }
}

/// Folds `body` with `tracker` as a fetch at `times`, redacting with
/// `redactor`, and commits it.
fn fetch(
    limits: Limits,
    tracker: &mut SessionTracker,
    redactor: &Arc<Redactor>,
    times: FetchTimes,
    body: &[u8],
) -> Fetched {
    let before = tracker.lifecycle();
    let mut aggregator = Aggregator::new(limits, tracker, redactor, times);
    parse_sessions(body, &mut aggregator).unwrap_or_else(|e| panic!("{e}"));
    let snapshot = aggregator.finish();
    let lifecycle = tracker.lifecycle();
    Fetched {
        snapshot,
        changes: Changes::between(&before, &lifecycle),
        lifecycle,
    }
}

mod folding {
    use super::*;

    use crate::aggregate::labels::MAX_LABEL_VALUE_BYTES;

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

    fn fold_with(limits: Limits, tracker: &mut SessionTracker, body: &[u8]) -> Fetched {
        fetch(limits, tracker, &redactor("not-in-any-body"), TIMES, body)
    }

    fn fold(body: &[u8]) -> Fetched {
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
        // Every session a new agent in a new status: one class each, where
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
        let counted = aggregator.tables.classes.iter().filter(|c| c.count > 0);
        assert_eq!(counted.count(), n);
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

mod lifecycle {
    use super::*;
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
        fn fetch(&mut self, at: i64, sessions: &[Listing<'_>]) -> Fetched {
            let times = FetchTimes {
                sent_at: (EPOCH + at) * 1000,
                received_at: (EPOCH + at) * 1000,
            };
            fetch(
                self.limits,
                &mut self.tracker,
                &self.redactor,
                times,
                &body(sessions),
            )
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

    fn starts(snapshot: &Fetched) -> Vec<(&str, f64)> {
        let changes = &snapshot.changes.start_latency;
        changes
            .iter()
            .map(|(agent, s)| (agent.as_str(), *s))
            .collect()
    }

    fn durations(snapshot: &Fetched) -> Vec<(&str, &str, f64)> {
        let changes = &snapshot.changes.duration;
        changes
            .iter()
            .map(|((agent, status), s)| (agent.as_str(), status.as_str(), *s))
            .collect()
    }

    fn total_starts(snapshot: &Fetched, agent: &str) -> u64 {
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
    fn a_counter_label_is_redacted_with_the_key_of_the_fetch_that_made_it() {
        let mut watch = Watch::new();
        let key = "sk-KEYOFTHEDAY9876543210Zy";
        let echo = format!("echo-{key}");
        watch.redactor = Arc::new(Redactor::new(key));
        watch.fetch(100, &[("s1", "agi-0", "running", Some(1))]);
        let counted = watch.fetch(110, &[("s1", "agi-0", &echo, Some(1))]);
        let texts = format!("{:?}", counted.lifecycle);
        assert!(!texts.contains("KEYOFTHEDAY"), "{texts}");
        assert!(texts.contains("echo-<redacted>"), "{texts}");
        // Made once: a later fetch under another key keeps the label, and
        // counts the same value under it.
        watch.redactor = Arc::new(Redactor::new("sk-ANOTHERKEY0123456789"));
        watch.fetch(120, &[("s1", "agi-0", "running", Some(1))]);
        let again = watch.fetch(130, &[("s1", "agi-0", &echo, Some(1))]);
        let echoed = again
            .lifecycle
            .transitions
            .iter()
            .find(|((_, s), _)| s == "echo-<redacted>");
        assert_eq!(echoed.map(|(_, n)| *n), Some(2), "{:?}", again.lifecycle);
    }

    #[test]
    fn one_answer_that_leaves_sessions_out_does_not_make_them_new_when_they_come_back() {
        let mut watch = Watch::new();
        let listed: Vec<(String, &str)> = (0..50)
            .map(|i| (format!("e{i}"), "error"))
            .chain((0..450).map(|i| (format!("f{i}"), "finished")))
            .collect();
        let sessions: Vec<Listing<'_>> = listed
            .iter()
            .map(|(id, status)| (id.as_str(), "agi-0", *status, Some(1)))
            .collect();
        watch.fetch(100, &sessions);
        watch.fetch(110, &sessions);
        // An answer listing nothing (an API that lost its list for a
        // moment): every session is removed, as the counter says ...
        let empty = watch.fetch(120, &[]);
        assert_eq!(
            empty.changes.removed.iter().map(|(_, n)| n).sum::<u64>(),
            500
        );
        // ... and when the list is back, nothing is new and nothing
        // entered a status.
        let back = watch.fetch(130, &sessions);
        assert!(
            back.changes.transitions.is_empty(),
            "{:?}",
            back.changes.transitions
        );
        assert!(back.changes.seen.is_empty(), "{:?}", back.changes.seen);
        // Gone from two answers in a row, a session that comes back is new.
        watch.fetch(140, &[]);
        watch.fetch(150, &[]);
        let new = watch.fetch(160, &sessions[..1]);
        assert_eq!(new.changes.seen, [("agi-0".to_owned(), 1)]);
    }

    #[test]
    fn a_session_left_out_of_one_answer_is_observed_once() {
        let mut watch = Watch::new();
        let s = |status| ("s", "agi-0", status, Some(95));
        let e = |status| ("e", "agi-0", status, Some(95));
        watch.fetch(100, &[s("ready"), e("running")]);
        let moved = watch.fetch(110, &[s("running"), e("error")]);
        assert_eq!((starts(&moved).len(), durations(&moved).len()), (1, 1));
        watch.fetch(120, &[]);
        watch.fetch(130, &[s("ready"), e("running")]);
        let again = watch.fetch(140, &[s("running"), e("error")]);
        assert!(starts(&again).is_empty() && durations(&again).is_empty());
        assert_eq!(total_starts(&again, "agi-0"), 1);
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

    fn seen(snapshot: &Fetched, agent: &str) -> Option<u64> {
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
