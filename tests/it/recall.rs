//! Recalling sessions never changes a result (README, Performance): a fetch
//! counts a session written exactly as the previous fetch wrote it from
//! what that fetch kept, without reading it, and must come to exactly the
//! snapshot (counts, ages, transitions, observations, removals, lifecycle
//! totals) or the error that reading every session gives. Runs of fetches
//! where sessions come, change status, go, move, repeat, hold objects or
//! `}` in strings, and bodies damaged at random, are folded both ways,
//! whole and in chunks: sessions in the docs' shape and in the SDKs' (goals
//! that read like the end of a session, URLs with tokens, the same fields
//! escaped otherwise), in the statuses of either vocabulary or a mix.

use std::sync::Arc;

use agi_exporter::demo::Shape;
use agi_exporter::{
    Aggregator, FetchTimes, Lifecycle, Limits, Recalled, Redactor, SessionRecord, SessionSink,
    SessionStream, SessionTracker, Snapshot,
};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::Value;

use crate::garbage::{damage, damaged};
use crate::support::bodies::{
    GOALS, SDK_STATUSES, SdkSession, Spacing, any_session, listed_session, session_text,
};
use crate::support::reading::ReadEverything;

const LIMITS: Limits = Limits {
    agents_max: 3,
    top_oldest: 2,
};

/// Counts the sessions the aggregator recalls, and the calls that recalled
/// any (each a run of sessions one after another).
struct CountRecalls<'a, 't> {
    aggregator: &'a mut Aggregator<'t>,
    recalled: usize,
    runs: usize,
}

impl SessionSink for CountRecalls<'_, '_> {
    fn session(&mut self, session: &SessionRecord<'_>) {
        self.aggregator.session(session);
    }

    fn session_written(&mut self, session: &SessionRecord<'_>, written: &[u8]) {
        self.aggregator.session_written(session, written);
    }

    fn recall(&mut self, ahead: &[u8]) -> Option<Recalled> {
        let recalled = self.aggregator.recall(ahead);
        if let Some(run) = recalled {
            self.recalled += run.sessions;
            self.runs += 1;
        }
        recalled
    }
}

/// Reads `body` into `sink` in chunks of the sizes given (cycled; 0 is read
/// as 1), or whole when there are none.
fn read<S: SessionSink>(body: &[u8], sizes: &[usize], sink: &mut S) -> Result<usize, String> {
    let mut stream = SessionStream::new(sink);
    // Each chunk comes in the same buffer, as the exporter's come in the
    // few buffers it recycles: a session may start where another one of
    // an earlier chunk did.
    let mut buffer = Vec::with_capacity(body.len());
    let mut feed = |chunk: &[u8]| {
        buffer.clear();
        buffer.extend_from_slice(chunk);
        stream.feed(&buffer).map_err(|e| e.to_string())
    };
    if sizes.is_empty() {
        feed(body)?;
    } else {
        let mut rest = body;
        for size in sizes.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (chunk, after) = rest.split_at((*size).clamp(1, rest.len()));
            feed(chunk)?;
            rest = after;
        }
    }
    stream.finish().map_err(|e| e.to_string())
}

/// When the bodies here are listed: 2026-12-01, after every creation time
/// they write, and less than 49 days after most, so that their live
/// sessions are recalled with their creation time.
const LISTED_AT: i64 = 1_796_083_200_000;

/// The `n`th fetch's times: a minute apart from [`LISTED_AT`], answered at
/// once.
fn times(n: usize) -> FetchTimes {
    let sent_at = LISTED_AT + 60_000 * n as i64;
    FetchTimes {
        sent_at,
        received_at: sent_at + 100,
    }
}

/// Folds `body` as fetch `n` with `tracker`, recalling sessions or not;
/// the snapshot, or the error, and how many sessions were recalled.
fn fetch(
    tracker: &mut SessionTracker,
    body: &[u8],
    n: usize,
    recall: bool,
    sizes: &[usize],
) -> (Result<(Snapshot, Lifecycle), String>, usize) {
    let redactor = Arc::new(Redactor::new("the-key-of-this-test"));
    let mut aggregator = Aggregator::new(LIMITS, tracker, &redactor, times(n));
    let (read, recalled) = if recall {
        let mut sink = CountRecalls {
            aggregator: &mut aggregator,
            recalled: 0,
            runs: 0,
        };
        (read(body, sizes, &mut sink), sink.recalled)
    } else {
        (read(body, sizes, &mut ReadEverything(&mut aggregator)), 0)
    };
    // A body refused leaves the tracker as it was, as a failed fetch does.
    let snapshot = read.map(|_| aggregator.finish());
    (
        snapshot.map(|snapshot| (snapshot, tracker.lifecycle())),
        recalled,
    )
}

/// A change from one fetch's list to the next.
#[derive(Debug, Clone)]
enum Edit {
    /// The session there becomes this one of the pool (often the same id
    /// in another status).
    Replace(Index, Index),
    Insert(Index, Index),
    Delete(Index),
    /// Two neighbours trade places.
    Swap(Index),
    /// The session there is listed twice.
    Repeat(Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => (any::<Index>(), any::<Index>()).prop_map(|(at, to)| Edit::Replace(at, to)),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(at, to)| Edit::Insert(at, to)),
        2 => any::<Index>().prop_map(Edit::Delete),
        1 => any::<Index>().prop_map(Edit::Swap),
        1 => any::<Index>().prop_map(Edit::Repeat),
    ]
}

fn apply(list: &mut Vec<usize>, edit: &Edit, pool: usize) {
    match edit {
        Edit::Replace(at, to) if !list.is_empty() => {
            let at = at.index(list.len());
            list[at] = to.index(pool);
        }
        Edit::Insert(at, to) => list.insert(at.index(list.len() + 1), to.index(pool)),
        Edit::Delete(at) if !list.is_empty() => drop(list.remove(at.index(list.len()))),
        Edit::Swap(at) if list.len() > 1 => {
            let at = at.index(list.len() - 1);
            list.swap(at, at + 1);
        }
        Edit::Repeat(at) if !list.is_empty() => {
            let at = at.index(list.len());
            let repeated = list[at];
            list.insert(at, repeated);
        }
        _ => {}
    }
}

/// Sessions that hold what a recall must not be fooled by: a `}` in a
/// string, an object, the same session written with other spacing; and in
/// the SDKs' shape, a goal that reads like the end of a session and the
/// start of another, and the same session with its goal and URL escaped
/// otherwise (`\"` or `\u0022`, `/` or `\/`).
const ODD_SESSIONS: [&str; 7] = [
    r#"{"session_id":"a","agent_name":"}","status":"completed","created_at":"2026-11-05T18:04:34Z"}"#,
    r#"{"session_id":"a","agent_name":"agi-1","status":"completed","meta":{"k":1},"created_at":"2026-11-05T18:04:34Z"}"#,
    r#"{"session_id":"a", "agent_name":"agi-1","status":"completed","created_at":"2026-11-05T18:04:34Z"}"#,
    r#"{"session_id":"a","agent_name":"agi-1","status":"error","created_at":"2026-11-05T18:04:34Z"}"#,
    r#"{"session_id":"b","vnc_url":"https://vnc.agi.example/session/b?token=t0k3n","agent_url":null,"agent_name":"agi-2-claude","status":"finished","created_at":"2026-11-05T18:04:34Z","environment_id":"env-1","goal":"say \"},{\"status\":\"running\"}]\" then stop","agent_session_type":"desktop"}"#,
    r#"{"session_id":"b","vnc_url":"https:\/\/vnc.agi.example\/session\/b?token=t0k3n","agent_url":null,"agent_name":"agi-2-claude","status":"finished","created_at":"2026-11-05T18:04:34Z","environment_id":"env-1","goal":"say \u0022},{\u0022status\u0022:\u0022running\u0022}]\u0022 then stop","agent_session_type":"desktop"}"#,
    r#"{"session_id":"b","vnc_url":"https://vnc.agi.example/session/b?token=t0k3n","agent_url":null,"agent_name":"agi-2-claude","status":"waiting_for_input","created_at":"2026-11-05T18:04:34Z","environment_id":"env-1","goal":"say \"},{\"status\":\"running\"}]\" then stop","agent_session_type":"desktop"}"#,
];

/// The pool, the first list, and each next fetch's edits and damage.
type Run = (
    Vec<String>,
    Vec<usize>,
    Vec<(Vec<Edit>, Vec<(u8, Index, Index)>)>,
);

/// A run of fetches: a pool of sessions (ids from a few, so that one id
/// comes in several versions), the first list, and the edits that make
/// each next list from the one before; some bodies also damaged.
fn fetches() -> impl Strategy<Value = Run> {
    let sessions = (
        prop::collection::vec(any_session(), 0..6),
        prop::collection::vec(listed_session(), 1..12),
    );
    let pool = sessions.prop_map(|(odd, plain)| {
        let mut pool: Vec<String> = odd.iter().map(Value::to_string).collect();
        pool.extend(plain);
        pool.extend(ODD_SESSIONS.map(str::to_owned));
        pool
    });
    pool.prop_flat_map(|pool| {
        let n = pool.len();
        (
            Just(pool),
            prop::collection::vec(0..n, 0..16),
            prop::collection::vec(
                (
                    prop::collection::vec(edit(), 0..4),
                    prop_oneof![4 => Just(Vec::new()), 1 => damage()],
                ),
                1..6,
            ),
        )
    })
}

fn body(pool: &[String], list: &[usize]) -> Vec<u8> {
    let sessions: Vec<&str> = list.iter().map(|&i| pool[i].as_str()).collect();
    format!("[{}]", sessions.join(",")).into_bytes()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn fetches_that_recall_sessions_come_to_what_reading_them_does(
        (pool, first, steps) in fetches(),
        sizes in prop::collection::vec(prop_oneof![1..4usize, 1..60usize, 1..3000usize], 0..6),
    ) {
        let (mut recalling, mut reading) = (SessionTracker::new(3), SessionTracker::new(3));
        let mut list = first;
        let bodies = std::iter::once(body(&pool, &list)).chain(steps.iter().map(|(edits, damage)| {
            for edit in edits {
                apply(&mut list, edit, pool.len());
            }
            damaged(body(&pool, &list), damage)
        }));
        for (n, body) in bodies.enumerate() {
            let (recalled, _) = fetch(&mut recalling, &body, n, true, &sizes);
            let (read, _) = fetch(&mut reading, &body, n, false, &[]);
            prop_assert_eq!(recalled, read, "fetch {} of {}", n, String::from_utf8_lossy(&body));
        }
    }
}

/// The generated sessions of `n` in `shape`: the load test's body.
fn generated(n: usize, shape: Shape) -> Vec<u8> {
    use agi_exporter::demo::{Population, SimOptions};
    let seed = SimOptions::generated(n, shape).seed;
    let population = Population::Generated { sessions: n, shape };
    agi_exporter::demo::population_body_at(population, seed, LISTED_AT).to_vec()
}

#[test]
fn a_body_listed_again_is_recalled_but_for_the_oldest_live_sessions() {
    for shape in [Shape::Docs, Shape::Sdk, Shape::Mixed] {
        let body = generated(1000, shape);
        let sessions: Vec<Value> = serde_json::from_slice(&body).unwrap();
        // Final with the default final statuses.
        let finished = sessions
            .iter()
            .filter(|s| {
                matches!(
                    s["status"].as_str(),
                    Some("completed" | "finished" | "error" | "terminated")
                )
            })
            .count();
        assert!(finished > 500 && finished < 1000, "{shape:?}: {finished}");
        let mut tracker = SessionTracker::new(3);
        let (first, recalled) = fetch(&mut tracker, &body, 0, true, &[]);
        assert_eq!(recalled, 0, "nothing to recall from at the first fetch");
        assert!(first.is_ok());
        // In chunks of 1,000 bytes: the sessions cut by a chunk's end are
        // recalled once the next chunk has come.
        let (again, recalled) = fetch(&mut tracker, &body, 1, true, &[1000]);
        // Every finished session is; so is every live one but those that
        // may be among the two oldest when they come, which are read for
        // their id.
        let live = sessions.len() - finished;
        assert!(
            recalled > finished + live * 3 / 4 && recalled < sessions.len(),
            "{shape:?}: {recalled} of {} ({finished} finished)",
            sessions.len()
        );
        let mut reading = SessionTracker::new(3);
        fetch(&mut reading, &body, 0, false, &[]).0.unwrap();
        assert_eq!(
            again,
            fetch(&mut reading, &body, 1, false, &[]).0,
            "{shape:?}"
        );
    }
}

#[test]
fn a_session_is_recalled_only_as_it_was_written() {
    let session = |status: &str, created_at: &str| {
        format!(
            r#"{{"session_id":"s-1","agent_name":"agi-1","status":"{status}","created_at":"{created_at}"}}"#
        )
    };
    let t = "2026-11-05T18:04:34.281Z";
    let mut tracker = SessionTracker::new(3);
    let list = |sessions: &[String]| format!("[{}]", sessions.join(",")).into_bytes();
    let first = list(&[
        session("completed", t),
        ODD_SESSIONS[0].to_owned(),
        ODD_SESSIONS[1].to_owned(),
    ]);
    fetch(&mut tracker, &first, 0, true, &[]).0.unwrap();
    // The same bytes: recalled, a `}` in a string too. The second session
    // with id `a` (an object inside) repeats the first one's id, so the
    // baseline kept only the first: it is read.
    assert_eq!(fetch(&mut tracker, &first, 1, true, &[]).1, 2);
    // Alone, the session with an object inside is recalled as well: the
    // whole of a session is hashed, whatever it holds.
    let nested = list(&[ODD_SESSIONS[1].to_owned()]);
    let mut tracker = SessionTracker::new(3);
    fetch(&mut tracker, &nested, 0, true, &[]).0.unwrap();
    assert_eq!(fetch(&mut tracker, &nested, 1, true, &[]).1, 1);
    for (changed, what) in [
        (session("error", t), "another status"),
        (
            session("completed", "2026-11-05T18:04:34.282Z"),
            "one digit",
        ),
        (session("completed", t).replace(',', ", "), "spacing"),
    ] {
        let mut tracker = SessionTracker::new(3);
        fetch(
            &mut tracker,
            &list(&[session("completed", t)]),
            0,
            true,
            &[],
        )
        .0
        .unwrap();
        let (snapshot, recalled) = fetch(
            &mut tracker,
            &list(std::slice::from_ref(&changed)),
            1,
            true,
            &[],
        );
        assert_eq!(recalled, 0, "{what}");
        assert!(snapshot.is_ok(), "{what}");
        // Listed again as it now is, it is recalled.
        let (_, recalled) = fetch(&mut tracker, &list(&[changed]), 2, true, &[]);
        assert_eq!(recalled, 1, "{what}");
    }
}

/// A session in the SDKs' shape that has ended in `error` (final whatever
/// the final statuses are), its goal and first URL as given, its text
/// fields escaped as `style` says.
fn ended_sdk_session(goal: &str, vnc_url: &str, style: u64) -> String {
    let session = SdkSession {
        session_id: "s-1",
        agent_name: "agi-1",
        status: "error",
        created_at: "2026-11-05T18:04:34.281Z",
        vnc_url,
        agent_url: "https://agent.agi.example/v1/s-1?token=tok-A1b2C3d4E5f6",
        environment_id: "env-0a1b2c3d",
        goal,
        agent_session_type: "managed-cdp",
    };
    session_text(&session.members(style), Spacing::COMPACT)
}

#[test]
fn an_sdk_session_is_recalled_only_as_it_was_written() {
    let goal = GOALS[0];
    let url = "https://vnc.agi.example/session/s-1?token=tok-A1b2C3d4E5f6";
    let original = ended_sdk_session(goal, url, 0);
    assert!(original.contains(r#"\"Chez L"#), "{original}");
    let list = |session: &str| format!("[{session}]").into_bytes();
    for (changed, what) in [
        (
            ended_sdk_session(&goal.replace("Friday", "Monday"), url, 0),
            "a word of the goal",
        ),
        (
            ended_sdk_session(goal, &url.replace("E5f6", "E5f7"), 0),
            "a character of a URL's token",
        ),
        // The same fields in other bytes.
        (original.replace('/', r"\/"), "slashes escaped"),
        (
            original.replace(r#"\""#, r"\u0022"),
            "quotes escaped otherwise",
        ),
        (
            ended_sdk_session(goal, url, 0x5555_5555_5555_5555),
            "other escapes",
        ),
    ] {
        assert_ne!(changed, original, "{what}");
        for sizes in [vec![], vec![7]] {
            let (mut recalling, mut reading) = (SessionTracker::new(3), SessionTracker::new(3));
            for (n, (body, recalled)) in [(&original, 0), (&changed, 0), (&changed, 1)]
                .into_iter()
                .enumerate()
            {
                let body = list(body);
                let (snapshot, counted) = fetch(&mut recalling, &body, n, true, &sizes);
                assert_eq!(counted, recalled, "{what}, fetch {n}, chunks {sizes:?}");
                assert!(snapshot.is_ok(), "{what}, fetch {n}");
                assert_eq!(
                    snapshot,
                    fetch(&mut reading, &body, n, false, &sizes).0,
                    "{what}, fetch {n}, chunks {sizes:?}"
                );
            }
        }
    }
}

#[test]
fn an_sdk_account_listed_again_comes_to_what_reading_it_does() {
    // 600 sessions in the SDKs' shape and statuses, their goals escaped in
    // many ways; then the same list, then one where a third of them moved
    // on (waiting for input, then running; running, then finished).
    let style = |i: usize| {
        (i as u64 + 1)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(29)
    };
    let session = |i: usize, step: usize| {
        let id = format!("{:08x}-5b6f-4c2e-8a1b-3d4e5f6a7b8c", i * 7919);
        let status =
            SDK_STATUSES[(i + usize::from(i.is_multiple_of(3)) * step) % SDK_STATUSES.len()];
        let created_at = format!(
            "2026-11-{:02}T{:02}:{:02}:00.{:03}Z",
            1 + i % 28,
            i % 24,
            i % 60,
            i
        );
        let vnc_url = format!("https://vnc.agi.example/session/{id}?token=tok-{i:012}");
        let agent_url = format!("https://agent.agi.example/v1/{id}?token=tok-{:012}", i * 31);
        let goal = format!("{} (task {i})", GOALS[i % GOALS.len()]);
        let members = SdkSession {
            session_id: &id,
            agent_name: ["agi-0", "agi-1", "agi-2-claude", "agi-2-qwen"][i % 4],
            status,
            created_at: &created_at,
            vnc_url: &vnc_url,
            agent_url: &agent_url,
            environment_id: &format!("env-{i:08x}"),
            goal: &goal,
            agent_session_type: ["managed-cdp", "external-cdp", "desktop"][i % 3],
        }
        .members(style(i));
        session_text(&members, Spacing::COMPACT)
    };
    let body = |step: usize| {
        let sessions: Vec<String> = (0..600).map(|i| session(i, step)).collect();
        format!("[{}]", sessions.join(",")).into_bytes()
    };
    let (first, moved) = (body(0), body(1));
    assert!(first.len() > 600 * 400, "{} bytes", first.len());
    let errors = |body: &[u8]| {
        let sessions: Vec<Value> = serde_json::from_slice(body).unwrap();
        sessions.iter().filter(|s| s["status"] == "error").count()
    };
    for sizes in [vec![], vec![1000], vec![1, 333, 4096]] {
        let (mut recalling, mut reading) = (SessionTracker::new(3), SessionTracker::new(3));
        for (n, body) in [&first, &first, &moved, &moved].into_iter().enumerate() {
            let (snapshot, recalled) = fetch(&mut recalling, body, n, true, &sizes);
            assert!(snapshot.is_ok(), "fetch {n}");
            assert_eq!(
                snapshot,
                fetch(&mut reading, body, n, false, &sizes).0,
                "fetch {n}, chunks {sizes:?}"
            );
            // Whatever else is final, a session in `error` listed again
            // unchanged is recalled.
            if n == 1 || n == 3 {
                assert!(
                    recalled >= errors(body),
                    "fetch {n}: {recalled} recalled of {} in error",
                    errors(body)
                );
            }
        }
    }
    // The escapes of goals and URLs vary from session to session (in
    // either case of hex digits).
    let text = String::from_utf8_lossy(&first).to_ascii_lowercase();
    for escape in [r"\/", r"\u0022", r#"\""#, r"\u00e9", r"\ud83d\ude00", r"\n"] {
        assert!(text.contains(escape), "{escape}");
    }
}

#[test]
fn a_live_session_is_recalled_unless_it_may_be_among_the_oldest() {
    let running = |id: &str, created_at: &str| {
        format!(
            r#"{{"session_id":"{id}","agent_name":"agi-1","status":"running","created_at":"{created_at}"}}"#
        )
    };
    // Two sessions are kept as the oldest (LIMITS): the third, younger,
    // cannot be among them, so it is recalled; the first two are read.
    let body = format!(
        "[{},{},{}]",
        running("old", "2026-11-05T18:00:00Z"),
        running("older", "2026-11-05T17:00:00Z"),
        running("young", "2026-11-05T19:00:00Z"),
    );
    let mut tracker = SessionTracker::new(3);
    fetch(&mut tracker, body.as_bytes(), 0, true, &[])
        .0
        .unwrap();
    let (snapshot, recalled) = fetch(&mut tracker, body.as_bytes(), 1, true, &[]);
    assert_eq!(recalled, 1);
    let (snapshot, _) = snapshot.unwrap();
    let counted = snapshot
        .statuses
        .iter()
        .find(|s| s.status == "running")
        .unwrap();
    assert_eq!(
        (counted.count, counted.oldest),
        (3, Some(1_793_898_000_000))
    );
    // Listed first, the young one may be kept: it is read too.
    let body = format!(
        "[{},{},{}]",
        running("young", "2026-11-05T19:00:00Z"),
        running("old", "2026-11-05T18:00:00Z"),
        running("older", "2026-11-05T17:00:00Z"),
    );
    let (snapshot, recalled) = fetch(&mut tracker, body.as_bytes(), 2, true, &[]);
    assert_eq!(recalled, 0);
    assert_eq!(snapshot.unwrap().0.oldest_sessions.len(), 2);
}

#[test]
fn a_live_session_created_over_49_days_before_the_list_is_read_again() {
    let running = |id: &str, created_at: &str| {
        format!(
            r#"{{"session_id":"{id}","agent_name":"agi-1","status":"running","created_at":"{created_at}"}}"#
        )
    };
    // The third cannot be among the two oldest, but its creation time is
    // kept for recall only up to 49 days before the list: 61 days is read,
    // 30 days is recalled, and both count alike.
    for (created_at, recalls) in [("2026-10-01T00:00:00Z", 0), ("2026-11-01T00:00:00Z", 1)] {
        let body = format!(
            "[{},{},{}]",
            running("first", "2026-09-01T00:00:00Z"),
            running("second", "2026-09-02T00:00:00Z"),
            running("third", created_at),
        );
        let (mut tracker, mut reading) = (SessionTracker::new(3), SessionTracker::new(3));
        for n in 0..2 {
            let (snapshot, recalled) = fetch(&mut tracker, body.as_bytes(), n, true, &[]);
            assert_eq!(recalled, if n == 0 { 0 } else { recalls }, "{created_at}");
            assert_eq!(
                snapshot,
                fetch(&mut reading, body.as_bytes(), n, false, &[]).0
            );
        }
    }
}

#[test]
fn sessions_that_keep_changing_are_read_and_recalled_again_once_they_stop() {
    // Every session of the other body is written with a space more: the
    // same fields, other bytes, as when every session changed.
    let body = generated(5000, Shape::Docs);
    let respaced = String::from_utf8(body.clone())
        .unwrap()
        .replace("{\"session_id\"", "{ \"session_id\"")
        .into_bytes();
    let bodies = [
        &body, &respaced, &body, &respaced, &body, &respaced, &body, &body, &body,
    ];
    let (mut tracker, mut reading) = (SessionTracker::new(3), SessionTracker::new(3));
    let mut recalls = Vec::new();
    for (n, body) in bodies.iter().enumerate() {
        let (snapshot, recalled) = fetch(&mut tracker, body, n, true, &[]);
        assert_eq!(
            snapshot,
            fetch(&mut reading, body, n, false, &[]).0,
            "fetch {n}"
        );
        recalls.push(recalled);
    }
    // Nothing to recall while the bytes change at every fetch (each session
    // is hashed in vain, then read); once they stop, every final session
    // and the live ones that cannot be among the oldest are recalled at the
    // next fetch, and as many at the one after.
    let finished = generated_finals(&body);
    assert_eq!(recalls[..7], [0; 7]);
    assert!(recalls[7] > finished && recalls[7] < 5000, "{recalls:?}");
    assert_eq!(recalls[8], recalls[7], "{recalls:?}");
}

/// How many sessions of `body` are in a final status (by default).
fn generated_finals(body: &[u8]) -> usize {
    let sessions: Vec<Value> = serde_json::from_slice(body).unwrap();
    sessions
        .iter()
        .filter(|s| {
            matches!(
                s["status"].as_str(),
                Some("completed" | "finished" | "error" | "terminated")
            )
        })
        .count()
}

#[test]
fn a_session_after_more_than_32_mib_of_spacing_is_recalled_as_it_is_read() {
    // The spacing before a session is not the session's: more than 32 MiB
    // of it before a session the previous fetch listed is accepted,
    // recalled or read, whole or in chunks, with the same result.
    let session = r#"{"session_id":"s-1","agent_name":"agi-1","status":"completed","created_at":"2026-11-05T18:04:34.281Z"}"#;
    let first = format!("[{session}]").into_bytes();
    let mut spaced = b"[".to_vec();
    spaced.resize(1 + (32 << 20) + 10, b' ');
    spaced.extend_from_slice(session.as_bytes());
    spaced.push(b']');
    for sizes in [vec![], vec![1 << 20]] {
        let (mut recalling, mut reading) = (SessionTracker::new(3), SessionTracker::new(3));
        fetch(&mut recalling, &first, 0, true, &sizes).0.unwrap();
        fetch(&mut reading, &first, 0, false, &sizes).0.unwrap();
        let recalled = fetch(&mut recalling, &spaced, 1, true, &sizes).0;
        let read = fetch(&mut reading, &spaced, 1, false, &sizes).0;
        assert!(read.is_ok(), "{read:?}");
        assert_eq!(recalled, read, "chunks of {sizes:?}");
    }
}

#[test]
fn a_session_recalled_when_the_table_of_pairs_is_full_is_followed_as_if_read() {
    let t = "2026-11-05T18:04:34.281Z";
    let session = |id: &str, agent: &str| {
        format!(
            r#"{{"session_id":"{id}","agent_name":"{agent}","status":"completed","created_at":"{t}"}}"#
        )
    };
    let alone = format!("[{}]", session("x", "agi-1")).into_bytes();
    // The same session after as many new pairs as the table holds: it is
    // recalled, and has no pair in this fetch.
    let crowded: Vec<String> = (0..4096)
        .map(|i| session(&format!("n-{i}"), &format!("agent-{i}")))
        .chain([session("x", "agi-1")])
        .collect();
    let crowded = format!("[{}]", crowded.join(",")).into_bytes();
    let mut recalling = SessionTracker::new(3);
    let mut reading = SessionTracker::new(3);
    for (n, body) in [&alone, &crowded, &alone].into_iter().enumerate() {
        let (snapshot, recalled) = fetch(&mut recalling, body, n, true, &[]);
        let (expected, _) = fetch(&mut reading, body, n, false, &[]);
        assert_eq!(snapshot, expected, "fetch {n}");
        assert!(snapshot.is_ok(), "fetch {n}");
        // Recalled among the crowd; read after it, as it had no pair.
        assert_eq!(recalled, usize::from(n == 1), "fetch {n}");
    }
}

#[test]
fn spacing_between_sessions_is_not_theirs() {
    let session = |id: &str| {
        format!(
            r#"{{"session_id":"{id}","agent_name":"agi-1","status":"completed","created_at":"2026-11-05T18:04:34Z"}}"#
        )
    };
    let ids = ["a", "b", "c", "d"];
    let listed = |separator: &str| {
        let sessions: Vec<String> = ids.iter().map(|id| session(id)).collect();
        format!("[\n  {}\n]", sessions.join(separator)).into_bytes()
    };
    let (mut recalling, mut reading) = (SessionTracker::new(3), SessionTracker::new(3));
    // Pretty-printed, then spaced otherwise: every session is recalled,
    // as the spacing around a session is not part of it.
    for (n, separator) in [",\n  ", ",\n  ", ", ", ","].into_iter().enumerate() {
        let body = listed(separator);
        let (snapshot, recalled) = fetch(&mut recalling, &body, n, true, &[]);
        assert_eq!(snapshot, fetch(&mut reading, &body, n, false, &[]).0, "{n}");
        assert_eq!(recalled, if n == 0 { 0 } else { ids.len() }, "{n}");
    }
}

#[test]
fn a_session_read_after_one_recalled_is_hashed_as_itself() {
    // x, then y one byte shorter: y after a comma and a newline ends where
    // x did. Fetch 1 comes in two chunks through one buffer, so y starts
    // where x started, one chunk later; it must not be taken for x then,
    // nor x for y in fetch 2.
    let at = "2026-11-05T18:04:34Z";
    let x = format!(
        r#"{{"session_id":"x","agent_name":"agi-1","status":"completed","created_at":"{at}"}}"#
    );
    let y_of = |id: &str| {
        format!(
            r#"{{"session_id":"{id}","agent_name":"agi-2","status":"error","created_at":"{at}"}}"#
        )
    };
    let y = y_of(&format!("y{}", "p".repeat(x.len() - 1 - y_of("y").len())));
    assert_eq!(y.len() + 1, x.len());
    let fetches = [
        (format!("[{x}]"), vec![]),
        (format!("[{x},\n{y}]"), vec![x.len() + 1, usize::MAX]),
        (format!("[{x},{x}]"), vec![]),
    ];
    let (mut recalling, mut reading) = (SessionTracker::new(3), SessionTracker::new(3));
    for (n, (body, sizes)) in fetches.iter().enumerate() {
        let (snapshot, _) = fetch(&mut recalling, body.as_bytes(), n, true, sizes);
        let (expected, _) = fetch(&mut reading, body.as_bytes(), n, false, sizes);
        assert_eq!(snapshot, expected, "fetch {n}");
    }
}

#[test]
fn unchanged_sessions_one_after_another_are_recalled_in_one_run() {
    let at = "2026-11-05T18:04:34.281Z";
    let session = |i: usize, status: &str| {
        format!(
            r#"{{"session_id":"s-{i}","agent_name":"agi-{}","status":"{status}","created_at":"{at}"}}"#,
            i % 3
        )
    };
    let list = |changed: &[usize]| {
        let sessions: Vec<String> = (0..100)
            .map(|i| {
                session(
                    i,
                    if changed.contains(&i) {
                        "error"
                    } else {
                        "completed"
                    },
                )
            })
            .collect();
        format!("[{}]", sessions.join(",")).into_bytes()
    };
    let redactor = Arc::new(Redactor::new("the-key-of-this-test"));
    let (mut recalling, mut reading) = (SessionTracker::new(3), SessionTracker::new(3));
    // Listed again unchanged: one run. Then three sessions changed: each
    // is read and ends a run, and the next run starts right after it.
    // Then the same list again: one run.
    for (n, changed, recalled, runs) in [
        (0, &[][..], 0, 0),
        (1, &[][..], 100, 1),
        (2, &[10, 11, 50][..], 97, 3),
        (3, &[10, 11, 50][..], 100, 1),
    ] {
        let body = list(changed);
        let mut aggregator = Aggregator::new(LIMITS, &mut recalling, &redactor, times(n));
        let mut sink = CountRecalls {
            aggregator: &mut aggregator,
            recalled: 0,
            runs: 0,
        };
        assert_eq!(read(&body, &[], &mut sink), Ok(100), "fetch {n}");
        assert_eq!((sink.recalled, sink.runs), (recalled, runs), "fetch {n}");
        let expected = fetch(&mut reading, &body, n, false, &[]).0;
        let snapshot = aggregator.finish();
        assert_eq!(Ok((snapshot, recalling.lifecycle())), expected, "fetch {n}");
    }
}

/// A session as long as `len` bytes, its status last.
fn long_session(id: &str, len: usize, status: &str) -> String {
    let head = format!(
        r#"{{"session_id":"{id}","agent_name":"agi-1","created_at":"2026-11-05T18:04:34Z","goal":""#
    );
    let tail = format!(r#"","status":"{status}"}}"#);
    format!("{head}{}{tail}", "x".repeat(len - head.len() - tail.len()))
}

#[test]
fn a_session_longer_than_the_hash_covers_is_read_whatever_changed_at_its_end() {
    // The hash covers 65,520 bytes: a longer session changed in its last
    // bytes must not pass as unchanged.
    for len in [65_519, 65_520, 65_521, 65_527, 65_535, 70_000] {
        let before = format!("[{}]", long_session("big", len, "error")).into_bytes();
        let after = format!("[{}]", long_session("big", len, "ready")).into_bytes();
        let (mut recalling, mut reading) = (SessionTracker::new(3), SessionTracker::new(3));
        for (n, body) in [&before, &after, &after].into_iter().enumerate() {
            let (snapshot, _) = fetch(&mut recalling, body, n, true, &[]);
            assert_eq!(
                snapshot,
                fetch(&mut reading, body, n, false, &[]).0,
                "{len} bytes, fetch {n}"
            );
        }
    }
}

#[test]
fn ids_longer_than_the_hash_covers_are_taken_as_none() {
    // Two ids alike but for their end are two sessions, counted as such;
    // the tracker cannot tell them apart, so it follows neither.
    let id = |end: &str| format!("{}{end}", "i".repeat(70_000));
    let session = |id: &str| {
        format!(
            r#"{{"session_id":"{id}","agent_name":"agi-1","status":"running","created_at":"2026-11-05T18:04:34Z"}}"#
        )
    };
    let body = format!("[{},{}]", session(&id("a")), session(&id("b"))).into_bytes();
    let mut tracker = SessionTracker::new(3);
    fetch(&mut tracker, b"[]", 0, true, &[]).0.unwrap();
    let (snapshot, _) = fetch(&mut tracker, &body, 1, true, &[]);
    let (snapshot, lifecycle) = snapshot.unwrap();
    assert_eq!(snapshot.sessions, 2);
    assert!(lifecycle.seen.iter().all(|(_, n)| *n == 0), "{lifecycle:?}");
}
