//! The `--demo` account: agents that differ, sessions an operator should
//! notice, and life going on, in the SDKs' statuses and fields.
//!
//! A new session is `ready` until its agent starts it, then `running`.
//! Some ask the user a question halfway (`waiting_for_input`) or pause,
//! and run on once answered or resumed. Each ends `finished` or `error`
//! and is deleted a while later.

use bytes::Bytes;

use crate::api::timestamp::UnixMillis;

use super::rng::Rng;
use super::session::{SdkFields, Session, Status};

const SECOND: i64 = 1000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;

/// How one demo agent behaves, so that the lifecycle families differ from
/// agent to agent within minutes: times are (shortest, longest) in ms.
#[derive(Debug)]
struct Profile {
    agent: &'static str,
    /// From creation (`ready`) to `running`.
    start: (i64, i64),
    /// Time spent `running`, in all.
    run: (i64, i64),
    /// Percent of sessions that end in `error` rather than `finished`.
    error_percent: u64,
    /// Share of new sessions, out of the sum of all shares.
    share: u64,
}

/// The demo's agents: a fast one, an ordinary one, a slow one, one that is
/// slow to start, and one that fails often.
const PROFILES: [Profile; 5] = [
    Profile {
        agent: "agi-0-fast",
        start: (SECOND, 3 * SECOND),
        run: (8 * SECOND, 25 * SECOND),
        error_percent: 4,
        share: 3,
    },
    Profile {
        agent: "agi-0",
        start: (2 * SECOND, 6 * SECOND),
        run: (30 * SECOND, 80 * SECOND),
        error_percent: 8,
        share: 2,
    },
    Profile {
        agent: "agi-1",
        start: (3 * SECOND, 8 * SECOND),
        run: (70 * SECOND, 150 * SECOND),
        error_percent: 6,
        share: 2,
    },
    Profile {
        agent: "agi-2-claude",
        start: (40 * SECOND, 90 * SECOND),
        run: (15 * SECOND, 45 * SECOND),
        error_percent: 5,
        share: 2,
    },
    Profile {
        agent: "agi-2-qwen",
        start: (2 * SECOND, 5 * SECOND),
        run: (10 * SECOND, 40 * SECOND),
        error_percent: 40,
        share: 2,
    },
];

const FAST: &Profile = &PROFILES[0];
const ORDINARY: &Profile = &PROFILES[1];
const SLOW: &Profile = &PROFILES[2];
const SLOW_TO_START: &Profile = &PROFILES[3];
const FAILING: &Profile = &PROFILES[4];

/// Percent of each second in which a new session is created.
const NEW_SESSION_PERCENT: u64 = 40;
/// Percent of sessions that ask the user a question halfway through their run.
const QUESTION_PERCENT: u64 = 20;
/// Percent of sessions that pause halfway through their run.
const PAUSE_PERCENT: u64 = 6;
/// How long the user takes to answer.
const ANSWER_AFTER: (i64, i64) = (5 * SECOND, 40 * SECOND);
/// How long a pause lasts.
const RESUME_AFTER: (i64, i64) = (10 * SECOND, 60 * SECOND);
/// Ended sessions are deleted this long after they end (the API's docs
/// recommend cleaning up), so removals show too.
const DELETE_AFTER: (i64, i64) = (30 * SECOND, 2 * MINUTE);
/// The demo keeps at most this many sessions; the oldest ended ones go first.
pub(super) const MAX_SESSIONS: usize = 250;

/// What stops a session's run halfway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Interruption {
    /// It asks the user a question: `waiting_for_input` until answered.
    Question,
    /// It is paused, then resumed.
    Pause,
}

/// A session of the demo account and what it does next.
#[derive(Debug)]
pub(super) struct DemoSession {
    pub(super) session: Session,
    profile: &'static Profile,
    /// When it next changes (once it has ended: when it is deleted); `None`
    /// for a stuck session, which never changes.
    pub(super) next_change: Option<UnixMillis>,
    /// Time still to run after the current stretch or interruption.
    run_left: i64,
    /// What will stop its current stretch of running, if anything.
    interruption: Option<Interruption>,
}

/// The simulated account.
#[derive(Debug)]
pub(super) struct World {
    rng: Rng,
    pub(super) now: UnixMillis,
    pub(super) sessions: Vec<DemoSession>,
}

impl World {
    /// The demo account at `now`: a few hours of history in which every
    /// SDK status has sessions, and the sessions an operator should notice.
    pub(super) fn demo(seed: u64, now: UnixMillis) -> Self {
        let mut world = World {
            rng: Rng::new(seed),
            now,
            sessions: Vec::new(),
        };
        world.populate();
        world
    }

    fn populate(&mut self) {
        // Stuck: one in each live status, past its alert's threshold.
        self.add_stuck(SLOW, Status::Running, 3 * HOUR + 12 * MINUTE);
        self.add_stuck(ORDINARY, Status::Ready, HOUR + 25 * MINUTE);
        self.add_stuck(FAST, Status::WaitingForInput, 47 * MINUTE);
        self.add_stuck(SLOW_TO_START, Status::Paused, 26 * HOUR);
        // History: ended sessions that the first minutes delete.
        for i in 0..60 {
            let profile = &PROFILES[i % PROFILES.len()];
            let status = if i % 12 < 9 {
                Status::Finished
            } else {
                Status::Error
            };
            let age = self.rng.between(10 * MINUTE, 6 * HOUR);
            let delete_in = self.between(DELETE_AFTER);
            self.add(profile, status, age, delete_in);
        }
        // Under way: one running for each agent, and within the first
        // seconds, a session getting its answer, one resuming, and starts.
        for profile in &PROFILES {
            let age = self
                .rng
                .between(profile.start.1, profile.start.1 + profile.run.0);
            let stretch = self.between(profile.run);
            self.add(profile, Status::Running, age, stretch);
        }
        for (profile, answered_in) in [(ORDINARY, 4 * SECOND), (SLOW, 12 * SECOND)] {
            let session = self.add(profile, Status::WaitingForInput, 2 * MINUTE, answered_in);
            session.run_left = profile.run.0 / 2;
        }
        let resumed = self.add(FAILING, Status::Paused, 90 * SECOND, 15 * SECOND);
        resumed.run_left = FAILING.run.0;
        self.add(FAST, Status::Ready, 2 * SECOND, SECOND);
        self.add(SLOW_TO_START, Status::Ready, 10 * SECOND, 30 * SECOND);
    }

    fn between(&mut self, (low, high): (i64, i64)) -> i64 {
        self.rng.between(low, high)
    }

    /// Adds a session of `profile`, `age` old, that next changes in
    /// `change_in`.
    fn add(
        &mut self,
        profile: &'static Profile,
        status: Status,
        age: i64,
        change_in: i64,
    ) -> &mut DemoSession {
        let next_change = Some(self.now + change_in);
        self.push(profile, status, age, next_change)
    }

    /// Adds a session of `profile`, `age` old, that never changes.
    fn add_stuck(&mut self, profile: &'static Profile, status: Status, age: i64) {
        self.push(profile, status, age, None);
    }

    fn push(
        &mut self,
        profile: &'static Profile,
        status: Status,
        age: i64,
        next_change: Option<UnixMillis>,
    ) -> &mut DemoSession {
        let session = Session {
            id: self.rng.wide(),
            agent: profile.agent,
            status,
            created_at: self.now - age,
            sdk: Some(SdkFields::random(&mut self.rng)),
        };
        self.sessions.push(DemoSession {
            session,
            profile,
            next_change,
            run_left: 0,
            interruption: None,
        });
        let last = self.sessions.len() - 1;
        &mut self.sessions[last]
    }

    /// Moves the simulation to `now` (a second after the last step): a new
    /// session may start, live ones advance, ended ones are deleted a while
    /// after they end.
    pub(super) fn step(&mut self, now: UnixMillis) {
        self.now = now;
        if self.rng.chance(NEW_SESSION_PERCENT) {
            let profile = self.new_session_profile();
            let start = self.between(profile.start);
            self.add(profile, Status::Ready, 0, start);
        }
        let rng = &mut self.rng;
        self.sessions.retain_mut(|live| match live.next_change {
            Some(change) if change <= now => advance(rng, now, live),
            _ => true,
        });
        while self.sessions.len() > MAX_SESSIONS {
            let Some(oldest_ended) = self
                .sessions
                .iter()
                .enumerate()
                .filter(|(_, s)| s.session.status.is_final())
                .min_by_key(|(_, s)| s.session.created_at)
                .map(|(i, _)| i)
            else {
                break;
            };
            self.sessions.remove(oldest_ended);
        }
    }

    fn new_session_profile(&mut self) -> &'static Profile {
        let total: u64 = PROFILES.iter().map(|p| p.share).sum();
        let mut pick = self.rng.below(total);
        for profile in &PROFILES {
            if pick < profile.share {
                return profile;
            }
            pick -= profile.share;
        }
        FAST
    }

    /// The sessions as the API lists them.
    pub(super) fn body(&self) -> Bytes {
        let mut out = Vec::with_capacity(self.sessions.len() * 560 + 2);
        out.push(b'[');
        for (i, live) in self.sessions.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            live.session.write(&mut out);
        }
        out.push(b']');
        Bytes::from(out)
    }
}

/// Moves a session whose change is due at `now` on to its next status, and
/// says when it changes after that; returns whether it is still listed
/// (an ended one is deleted).
fn advance(rng: &mut Rng, now: UnixMillis, live: &mut DemoSession) -> bool {
    let profile = live.profile;
    let between = |rng: &mut Rng, (low, high): (i64, i64)| rng.between(low, high);
    let (status, change_in) = match live.session.status {
        Status::Completed | Status::Finished | Status::Error | Status::Terminated => return false,
        // The docs' first status, which the demo does not use.
        Status::Initializing => (Status::Ready, profile.start.0),
        // Started: its whole run is decided now, and what may stop it
        // halfway.
        Status::Ready => {
            let run = between(rng, profile.run);
            let roll = rng.below(100);
            live.interruption = if roll < QUESTION_PERCENT {
                Some(Interruption::Question)
            } else if roll < QUESTION_PERCENT + PAUSE_PERCENT {
                Some(Interruption::Pause)
            } else {
                None
            };
            let stretch = if live.interruption.is_some() {
                run / 2
            } else {
                run
            };
            live.run_left = run - stretch;
            (Status::Running, stretch)
        }
        Status::Running => match live.interruption.take() {
            Some(Interruption::Question) => (Status::WaitingForInput, between(rng, ANSWER_AFTER)),
            Some(Interruption::Pause) => (Status::Paused, between(rng, RESUME_AFTER)),
            None => {
                let status = if rng.chance(profile.error_percent) {
                    Status::Error
                } else {
                    Status::Finished
                };
                (status, between(rng, DELETE_AFTER))
            }
        },
        // Answered or resumed: it runs the rest of its time.
        Status::WaitingForInput | Status::Paused => {
            (Status::Running, std::mem::take(&mut live.run_left))
        }
    };
    live.session.status = status;
    live.next_change = Some(now + change_in);
    true
}
