//! Generated populations: any number of sessions with a realistic mix of
//! statuses, in one of the [`Shape`]s, for benchmarks, the load script and
//! the tests' fake API.
//!
//! Sessions are written straight into the body as they are drawn, never
//! kept: a million SDK-shaped sessions (about 500 MB) take the body's
//! memory and nothing more.

use bytes::Bytes;

use crate::api::timestamp::UnixMillis;

use super::rng::Rng;
use super::session::{SdkFields, Session, Status};
use super::{AGENTS, Shape};

const SECOND: i64 = 1000;
const WEEK: i64 = 7 * 24 * 3600 * SECOND;

/// Which statuses a session is written in.
#[derive(Debug, Clone, Copy)]
enum Vocabulary {
    Docs,
    Sdk,
}

impl Vocabulary {
    /// The status of a session drawn `roll` (0 to 99): mostly ended, some
    /// live.
    fn status(self, roll: u64) -> Status {
        match self {
            Vocabulary::Docs => match roll {
                0..=59 => Status::Completed,
                60..=79 => Status::Terminated,
                80..=84 => Status::Error,
                85..=92 => Status::Running,
                93..=94 => Status::Paused,
                95..=96 => Status::Initializing,
                _ => Status::Ready,
            },
            Vocabulary::Sdk => match roll {
                0..=79 => Status::Finished,
                80..=82 => Status::Error,
                83..=91 => Status::Running,
                92..=94 => Status::WaitingForInput,
                95..=96 => Status::Paused,
                _ => Status::Ready,
            },
        }
    }
}

impl Shape {
    /// A little more than a session of this shape takes on average, to
    /// size the body once.
    fn typical_bytes(self) -> usize {
        match self {
            Shape::Docs => 145,
            Shape::Sdk => 560,
            Shape::Mixed => 360,
        }
    }
}

/// The body of `sessions` sessions of `shape`, created over the week
/// before `now`.
pub(super) fn generated_body(sessions: usize, shape: Shape, seed: u64, now: UnixMillis) -> Bytes {
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(sessions.saturating_mul(shape.typical_bytes()) + 2);
    out.push(b'[');
    for i in 0..sessions {
        if i > 0 {
            out.push(b',');
        }
        session(&mut rng, shape, now).write(&mut out);
    }
    out.push(b']');
    out.shrink_to_fit();
    Bytes::from(out)
}

/// One generated session.
fn session(rng: &mut Rng, shape: Shape, now: UnixMillis) -> Session {
    // The docs' shape and vocabulary, the SDKs', or either of each.
    let (vocabulary, sdk_fields) = match shape {
        Shape::Docs => (Vocabulary::Docs, false),
        Shape::Sdk => (Vocabulary::Sdk, true),
        Shape::Mixed => {
            let vocabulary = rng.pick(&[Vocabulary::Docs, Vocabulary::Sdk]);
            (vocabulary, rng.chance(50))
        }
    };
    let status = vocabulary.status(rng.below(100));
    let agent = rng.pick(&AGENTS);
    let age = rng.between(SECOND, WEEK);
    let id = rng.wide();
    Session {
        id,
        agent,
        status,
        created_at: now - age,
        sdk: sdk_fields.then(|| SdkFields::random(rng)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::session::GOAL_TEXTS;
    use std::collections::{BTreeMap, BTreeSet};

    const NOW: UnixMillis = 1_800_000_000_000;

    fn sessions(
        n: usize,
        shape: Shape,
    ) -> (Bytes, Vec<serde_json::Map<String, serde_json::Value>>) {
        let body = generated_body(n, shape, 42, NOW);
        let sessions = serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{shape:?}: {e}"));
        (body, sessions)
    }

    fn share_of(sessions: &[serde_json::Map<String, serde_json::Value>], status: &str) -> usize {
        let n = sessions.iter().filter(|s| s["status"] == status).count();
        n * 100 / sessions.len()
    }

    fn statuses(sessions: &[serde_json::Map<String, serde_json::Value>]) -> BTreeSet<String> {
        sessions
            .iter()
            .filter_map(|s| s["status"].as_str().map(str::to_owned))
            .collect()
    }

    fn names(statuses: &[Status]) -> BTreeSet<String> {
        statuses.iter().map(|s| s.as_str().to_owned()).collect()
    }

    #[test]
    fn a_docs_population_has_four_fields_the_docs_statuses_and_mostly_completed_ones() {
        let (body, sessions) = sessions(10_000, Shape::Docs);
        assert_eq!(sessions.len(), 10_000);
        assert!(sessions.iter().all(|s| s.len() == 4), "{:?}", sessions[0]);
        assert_eq!(statuses(&sessions), names(&Status::DOCS));
        assert!((55..65).contains(&share_of(&sessions, "completed")));
        let per_session = body.len() / sessions.len();
        assert!(
            (120..150).contains(&per_session),
            "{per_session} bytes a session"
        );
    }

    #[test]
    fn an_sdk_population_has_the_sdk_fields_and_statuses_about_500_bytes_a_session() {
        let (body, sessions) = sessions(10_000, Shape::Sdk);
        assert_eq!(sessions.len(), 10_000);
        assert!(sessions.iter().all(|s| s.len() == 9), "{:?}", sessions[0]);
        assert_eq!(statuses(&sessions), names(&Status::SDK));
        assert!((75..85).contains(&share_of(&sessions, "finished")));
        let per_session = body.len() / sessions.len();
        assert!(
            (450..560).contains(&per_session),
            "{per_session} bytes a session"
        );
        let goals: BTreeSet<&str> = sessions.iter().filter_map(|s| s["goal"].as_str()).collect();
        assert_eq!(goals, GOAL_TEXTS.into_iter().collect());
        let kinds: BTreeMap<&str, usize> = sessions.iter().fold(BTreeMap::new(), |mut kinds, s| {
            let kind = s["agent_session_type"].as_str().unwrap_or("none");
            *kinds.entry(kind).or_default() += 1;
            kinds
        });
        assert_eq!(
            kinds.keys().copied().collect::<Vec<_>>(),
            ["desktop", "external-cdp", "managed-cdp"]
        );
        for session in &sessions {
            let external = session["agent_session_type"] == "external-cdp";
            assert_eq!(session["environment_id"].is_null(), external, "{session:?}");
            for url in ["vnc_url", "agent_url"] {
                let url = session[url].as_str().unwrap_or_default();
                assert!(url.starts_with("https://") && url.contains(".example.test/"));
                assert!(url.contains("?token="), "{url}");
            }
        }
    }

    #[test]
    fn a_mixed_population_interleaves_both_shapes_and_both_vocabularies() {
        let (_, sessions) = sessions(2_000, Shape::Mixed);
        let shapes: BTreeSet<usize> = sessions.iter().map(|s| s.len()).collect();
        assert_eq!(shapes, BTreeSet::from([4, 9]));
        let all = names(&Status::DOCS)
            .union(&names(&Status::SDK))
            .cloned()
            .collect();
        assert_eq!(statuses(&sessions), all);
        // Each shape in each vocabulary, not one shape per vocabulary.
        for fields in [4, 9] {
            for status in ["completed", "finished"] {
                assert!(
                    sessions
                        .iter()
                        .any(|s| s.len() == fields && s["status"] == status),
                    "no {fields}-field session {status}"
                );
            }
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_body() {
        assert_eq!(
            generated_body(100, Shape::Mixed, 5, NOW),
            generated_body(100, Shape::Mixed, 5, NOW)
        );
        assert_ne!(
            generated_body(100, Shape::Mixed, 5, NOW),
            generated_body(100, Shape::Mixed, 6, NOW)
        );
        assert_eq!(
            generated_body(0, Shape::Sdk, 5, NOW),
            Bytes::from_static(b"[]")
        );
    }
}
