//! A simulated AGI API, served over real HTTP on 127.0.0.1.
//!
//! `--demo` starts it with a lively population (sessions start, run, finish,
//! fail, pause, get stuck and get deleted) and exports it through the same
//! client code path as a real account. Benchmarks and the load script start
//! it with a fixed population of any size, optionally slowed down to play an
//! API a network round trip away. It is served by the exporter's own accept
//! loop ([`crate::server::serve`]).

use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::api::key::DEMO_KEY;
use crate::api::timestamp::{self, UnixMillis, format_timestamp};
use crate::config::ServerTimings;
use crate::server::{self, Reply, Routes, accepts_gzip};
use crate::status::KnownStatus;
use crate::sync::lock;
use crate::web_config::WebSettings;

/// Agent names the simulator uses (the ones seen in public material).
pub const AGENTS: [&str; 5] = ["agi-0", "agi-0-fast", "agi-1", "agi-2-claude", "agi-2-qwen"];

/// Which sessions the simulator starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Population {
    /// The `--demo` population: a few hours of history, every documented
    /// status, stuck sessions, and life going on (see [`SimOptions::evolve`]).
    Demo,
    /// `n` sessions with a realistic mix (mostly completed and terminated,
    /// some live, five agents, millisecond timestamps), for benchmarks.
    Generated(usize),
}

/// How the simulator starts.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Its initial sessions.
    pub population: Population,
    /// Whether sessions change over time (one step per second).
    pub evolve: bool,
    /// Seed of its random choices, so runs are repeatable.
    pub seed: u64,
    /// How long it takes to answer, as an API a network round trip away.
    pub latency: Duration,
    /// Whether it answers in gzip when the request accepts it, as the API
    /// does when asked.
    pub gzip: bool,
    /// Whether every other answer writes each session differently: a space
    /// after its `{`, so its bytes change and its fields do not, as when
    /// every session carries a field that ticks. A fetch then recalls no
    /// session from the one before it. (With `gzip`, each answer is
    /// compressed anew.)
    pub respaced: bool,
}

impl SimOptions {
    /// The `--demo` settings.
    pub fn demo() -> Self {
        SimOptions {
            population: Population::Demo,
            evolve: true,
            seed: 0x5eed,
            latency: Duration::ZERO,
            gzip: true,
            respaced: false,
        }
    }

    /// A fixed population of `n` generated sessions.
    pub fn generated(n: usize) -> Self {
        SimOptions {
            population: Population::Generated(n),
            evolve: false,
            seed: 42,
            latency: Duration::ZERO,
            gzip: false,
            respaced: false,
        }
    }
}

/// The body a population is first served as, without starting a
/// simulator: what [`Simulator`] answers before life goes on.
pub fn population_body(population: Population, seed: u64) -> Bytes {
    let mut world = World::new(seed, timestamp::now());
    world.populate(population);
    world.body
}

/// A running simulator; stops when dropped.
#[derive(Debug)]
pub struct Simulator {
    address: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    tasks: Vec<JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    latency: Duration,
    gzip: bool,
    requests: AtomicU64,
    world: Mutex<World>,
    /// With [`SimOptions::respaced`], which spacing is served next.
    respacing: Option<Mutex<Respacing>>,
    /// The last body served in gzip, and its gzip: the body only changes
    /// once a second, if at all.
    gzipped: Mutex<Option<(Bytes, Bytes)>>,
}

impl Shared {
    /// `body` in gzip, compressed once per body.
    fn gzip_of(&self, body: &Bytes) -> Option<Bytes> {
        let mut cache = lock(&self.gzipped);
        if let Some((source, gzipped)) = cache.as_ref()
            && source.as_ptr() == body.as_ptr()
            && source.len() == body.len()
        {
            return Some(gzipped.clone());
        }
        let mut encoder =
            GzEncoder::new(Vec::with_capacity(body.len() / 4), Compression::default());
        encoder.write_all(body).ok()?;
        let gzipped = Bytes::from(encoder.finish().ok()?);
        *cache = Some((body.clone(), gzipped.clone()));
        Some(gzipped)
    }
}

impl Simulator {
    /// Binds 127.0.0.1 on an ephemeral port and starts serving.
    pub async fn start(options: SimOptions) -> std::io::Result<Simulator> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let address = listener.local_addr()?;
        let mut world = World::new(options.seed, timestamp::now());
        world.populate(options.population);
        let respacing = options
            .respaced
            .then(|| Mutex::new(Respacing::of(&world.body)));
        let shared = Arc::new(Shared {
            latency: options.latency,
            gzip: options.gzip,
            requests: AtomicU64::new(0),
            world: Mutex::new(world),
            respacing,
            gzipped: Mutex::new(None),
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let (_, plain) = watch::channel(Arc::new(WebSettings::plain()));
        let routes = Arc::new(SimRoutes(Arc::clone(&shared)));
        let serving = server::serve(listener, routes, plain, ServerTimings::default(), async {
            let _ = stopped.await;
        });
        let mut tasks = vec![tokio::spawn(serving)];
        if options.evolve {
            let shared = Arc::clone(&shared);
            tasks.push(tokio::spawn(async move {
                let mut ticks = tokio::time::interval(Duration::from_secs(1));
                loop {
                    ticks.tick().await;
                    lock(&shared.world).step(timestamp::now());
                }
            }));
        }
        Ok(Simulator {
            address,
            shared,
            stop: Some(stop),
            tasks,
        })
    }

    /// The base URL to give `--api.url`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The key it accepts.
    pub fn key(&self) -> &'static str {
        DEMO_KEY
    }

    /// Requests received on `/v1/sessions` so far.
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// The body it currently serves.
    pub fn body(&self) -> Bytes {
        lock(&self.shared.world).body.clone()
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// The simulator's one endpoint.
#[derive(Debug)]
struct SimRoutes(Arc<Shared>);

impl Routes for SimRoutes {
    async fn route(self: Arc<Self>, request: Request<Incoming>) -> Reply {
        if request.uri().path() != "/v1/sessions" {
            return json(
                StatusCode::NOT_FOUND,
                Bytes::from_static(br#"{"detail":"Not Found"}"#),
            );
        }
        if request.method() != Method::GET {
            return json(
                StatusCode::METHOD_NOT_ALLOWED,
                Bytes::from_static(br#"{"detail":"Method Not Allowed"}"#),
            );
        }
        let shared = &self.0;
        shared.requests.fetch_add(1, Ordering::SeqCst);
        if !shared.latency.is_zero() {
            tokio::time::sleep(shared.latency).await;
        }
        let authorized = request
            .headers()
            .get(header::AUTHORIZATION)
            .is_some_and(|v| v.as_bytes().strip_prefix(b"Bearer ") == Some(DEMO_KEY.as_bytes()));
        if !authorized {
            return json(
                StatusCode::UNAUTHORIZED,
                Bytes::from_static(br#"{"detail":"Invalid API key"}"#),
            );
        }
        let mut body = lock(&shared.world).body.clone();
        if let Some(respacing) = &shared.respacing {
            body = lock(respacing).next(body);
        }
        if shared.gzip
            && accepts_gzip(request.headers())
            && let Some(gzipped) = shared.gzip_of(&body)
        {
            let mut response = json(StatusCode::OK, gzipped);
            response
                .headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            return response;
        }
        json(StatusCode::OK, body)
    }
}

/// The two spacings of a body, served in turn.
#[derive(Debug)]
struct Respacing {
    /// Whether the respaced one is next.
    respaced_next: bool,
    /// The last body respaced, and its respacing.
    last: (Bytes, Bytes),
}

impl Respacing {
    fn of(body: &Bytes) -> Self {
        Respacing {
            respaced_next: false,
            last: (body.clone(), respaced(body)),
        }
    }

    /// What to serve for `body` this time.
    fn next(&mut self, body: Bytes) -> Bytes {
        self.respaced_next = !self.respaced_next;
        if !self.respaced_next {
            return body;
        }
        let (source, _) = &self.last;
        if source.as_ptr() != body.as_ptr() || source.len() != body.len() {
            self.last = (body.clone(), respaced(&body));
        }
        self.last.1.clone()
    }
}

/// `body` with a space after the `{` of each session.
fn respaced(body: &[u8]) -> Bytes {
    const START: &[u8] = b"{\"session_id\"";
    let mut out = Vec::with_capacity(body.len() + body.len() / 64);
    let mut rest = body;
    while let Some(at) = memchr::memmem::find(rest, START) {
        out.extend_from_slice(&rest[..=at]);
        out.push(b' ');
        rest = &rest[at + 1..];
    }
    out.extend_from_slice(rest);
    Bytes::from(out)
}

fn json(status: StatusCode, body: Bytes) -> Reply {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Statuses as the simulator moves sessions through them: the documented
/// ones, and one the SDKs use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Documented(KnownStatus),
    WaitingForInput,
}

const INITIALIZING: Status = Status::Documented(KnownStatus::Initializing);
const READY: Status = Status::Documented(KnownStatus::Ready);
const RUNNING: Status = Status::Documented(KnownStatus::Running);
const PAUSED: Status = Status::Documented(KnownStatus::Paused);
const COMPLETED: Status = Status::Documented(KnownStatus::Completed);
const ERROR: Status = Status::Documented(KnownStatus::Error);
const TERMINATED: Status = Status::Documented(KnownStatus::Terminated);

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Documented(status) => status.as_str(),
            Status::WaitingForInput => "waiting_for_input",
        }
    }

    fn is_final(self) -> bool {
        matches!(self, COMPLETED | ERROR | TERMINATED)
    }
}

const SECOND: i64 = 1000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;

/// How one demo agent behaves, so that the lifecycle families differ from
/// agent to agent within minutes: times are (shortest, longest) in ms.
#[derive(Debug, Clone, Copy)]
struct Profile {
    agent: &'static str,
    /// From creation to `running` (through `initializing` and `ready`).
    start: (i64, i64),
    /// From `running` to a final status.
    run: (i64, i64),
    /// Percent of runs that end in `error`.
    error_percent: u64,
    /// Share of new sessions, out of the sum of all shares.
    share: u64,
}

/// The demo's agents: a fast one, a slow one, one that fails often, one
/// that is slow to start, and an ordinary one.
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

/// Finished sessions are deleted this long after they finish (the API's
/// docs recommend cleaning up), so removals show too.
const DELETE_AFTER: (i64, i64) = (30 * SECOND, 2 * MINUTE);

#[derive(Debug, Clone)]
struct SimSession {
    id: String,
    agent: &'static str,
    status: Status,
    created_at: UnixMillis,
    /// When the session next changes (or, for a final one, is deleted).
    next_change: UnixMillis,
    /// Never changes: the demo's stuck sessions.
    stuck: bool,
}

/// The simulated account.
#[derive(Debug)]
struct World {
    rng: Rng,
    now: UnixMillis,
    sessions: Vec<SimSession>,
    body: Bytes,
}

/// The demo keeps at most this many sessions; the oldest finished ones go first.
const DEMO_MAX_SESSIONS: usize = 250;

impl World {
    fn new(seed: u64, now: UnixMillis) -> Self {
        World {
            rng: Rng(seed.max(1)),
            now,
            sessions: Vec::new(),
            body: Bytes::new(),
        }
    }

    fn add(
        &mut self,
        agent: &'static str,
        status: Status,
        age: i64,
        next_change_in: i64,
        stuck: bool,
    ) {
        let id = self.rng.uuid();
        self.sessions.push(SimSession {
            id,
            agent,
            status,
            created_at: self.now - age,
            next_change: self.now + next_change_in,
            stuck,
        });
    }

    fn populate(&mut self, population: Population) {
        match population {
            Population::Demo => self.populate_demo(),
            Population::Generated(n) => self.populate_generated(n),
        }
        self.render();
    }

    fn profile(agent: &str) -> &'static Profile {
        PROFILES
            .iter()
            .find(|profile| profile.agent == agent)
            .unwrap_or(&PROFILES[0])
    }

    /// A few hours of history in which every documented status has sessions.
    fn populate_demo(&mut self) {
        // The sessions an operator should notice.
        self.add("agi-1", RUNNING, 3 * HOUR + 12 * MINUTE, 0, true);
        self.add("agi-0", INITIALIZING, 25 * MINUTE, 0, true);
        self.add("agi-2-claude", PAUSED, 26 * HOUR, 0, true);
        self.add(
            "agi-1",
            Status::WaitingForInput,
            3 * MINUTE,
            60 * SECOND,
            false,
        );
        for i in 0..60 {
            let agent = AGENTS[i % AGENTS.len()];
            let age = self.rng.between(10 * MINUTE, 6 * HOUR);
            let status = match i % 12 {
                0..=6 => COMPLETED,
                7 | 8 => TERMINATED,
                _ => ERROR,
            };
            let delete_in = self.rng.between(DELETE_AFTER.0, DELETE_AFTER.1);
            self.add(agent, status, age, delete_in, false);
        }
        for profile in PROFILES {
            let age = self
                .rng
                .between(profile.start.1, profile.start.1 + profile.run.0);
            let next = self.rng.between(profile.run.0, profile.run.1);
            self.add(profile.agent, RUNNING, age, next, false);
        }
        self.add("agi-0-fast", READY, 2 * SECOND, SECOND, false);
        self.add(
            "agi-2-claude",
            INITIALIZING,
            10 * SECOND,
            30 * SECOND,
            false,
        );
    }

    /// `n` sessions created over the past week, mostly finished.
    fn populate_generated(&mut self, n: usize) {
        self.sessions.reserve(n);
        for _ in 0..n {
            let status = match self.rng.below(100) {
                0..=59 => COMPLETED,
                60..=79 => TERMINATED,
                80..=84 => ERROR,
                85..=92 => RUNNING,
                93..=94 => PAUSED,
                95..=96 => INITIALIZING,
                _ => READY,
            };
            let agent = AGENTS[self.rng.below(AGENTS.len() as u64) as usize];
            let age = self.rng.between(SECOND, 7 * 24 * HOUR);
            self.add(agent, status, age, 0, true);
        }
    }

    /// Moves the simulation to `now`: new sessions start, live ones advance,
    /// finished ones are deleted a while after they finish.
    fn step(&mut self, now: UnixMillis) {
        self.now = now;
        if self.rng.below(100) < 40 {
            let total: u64 = PROFILES.iter().map(|p| p.share).sum();
            let mut pick = self.rng.below(total);
            let profile = PROFILES
                .iter()
                .find(|p| {
                    let chosen = pick < p.share;
                    pick = pick.saturating_sub(p.share);
                    chosen
                })
                .unwrap_or(&PROFILES[0]);
            // Initializing for most of the start, then briefly ready.
            let start = self.rng.between(profile.start.0, profile.start.1);
            self.add(profile.agent, INITIALIZING, 0, start * 3 / 4, false);
        }
        let mut deleted = Vec::new();
        for index in 0..self.sessions.len() {
            let SimSession {
                stuck,
                next_change,
                status,
                agent,
                created_at,
                ..
            } = self.sessions[index];
            if stuck || next_change > now {
                continue;
            }
            if status.is_final() {
                deleted.push(index);
                continue;
            }
            let (status, next) = self.next_status(Self::profile(agent), status, now - created_at);
            let session = &mut self.sessions[index];
            session.status = status;
            session.next_change = now + next;
        }
        for index in deleted.into_iter().rev() {
            self.sessions.swap_remove(index);
        }
        while self.sessions.len() > DEMO_MAX_SESSIONS {
            let Some(oldest_finished) = self
                .sessions
                .iter()
                .enumerate()
                .filter(|(_, s)| s.status.is_final())
                .min_by_key(|(_, s)| s.created_at)
                .map(|(i, _)| i)
            else {
                break;
            };
            self.sessions.swap_remove(oldest_finished);
        }
        self.render();
    }

    /// Where a live session of `profile` goes next, and when it changes
    /// after that.
    fn next_status(&mut self, profile: &Profile, status: Status, age: i64) -> (Status, i64) {
        let between = |rng: &mut Rng, (low, high): (i64, i64)| rng.between(low, high);
        match status {
            INITIALIZING => (READY, (profile.start.0 / 4).max(SECOND / 2)),
            READY | PAUSED | Status::WaitingForInput => {
                (RUNNING, between(&mut self.rng, profile.run))
            }
            RUNNING => {
                let roll = self.rng.below(100);
                let next = if roll < profile.error_percent {
                    ERROR
                } else if roll < profile.error_percent + 6 && age < HOUR {
                    PAUSED
                } else if roll < profile.error_percent + 9 {
                    Status::WaitingForInput
                } else if roll < profile.error_percent + 13 {
                    TERMINATED
                } else {
                    COMPLETED
                };
                let delay = if next.is_final() {
                    between(&mut self.rng, DELETE_AFTER)
                } else {
                    self.rng.between(5 * SECOND, 20 * SECOND)
                };
                (next, delay)
            }
            finished => (finished, MINUTE),
        }
    }

    /// Serializes the sessions once, so every request gets the same bytes cheaply.
    fn render(&mut self) {
        let mut out = String::with_capacity(self.sessions.len() * 150 + 2);
        out.push('[');
        for (i, session) in self.sessions.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(r#"{"session_id":""#);
            out.push_str(&session.id);
            out.push_str(r#"","agent_name":""#);
            out.push_str(session.agent);
            out.push_str(r#"","status":""#);
            out.push_str(session.status.as_str());
            out.push_str(r#"","created_at":""#);
            out.push_str(&format_timestamp(session.created_at));
            out.push_str(r#""}"#);
        }
        out.push(']');
        self.body = Bytes::from(out);
    }
}

/// xorshift64*: small, fast and repeatable; nothing here needs more.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn between(&mut self, low: i64, high: i64) -> i64 {
        low + self.below((high - low).max(1) as u64) as i64
    }

    fn uuid(&mut self) -> String {
        let a = self.next();
        let b = self.next();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            (b >> 48) & 0x3fff | 0x8000,
            b & 0xffff_ffff_ffff
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statuses(world: &World) -> Vec<&'static str> {
        let mut seen: Vec<_> = world.sessions.iter().map(|s| s.status.as_str()).collect();
        seen.sort_unstable();
        seen.dedup();
        seen
    }

    #[test]
    fn demo_starts_with_every_documented_status_and_stuck_sessions() {
        let mut world = World::new(7, 1_800_000_000_000);
        world.populate_demo();
        for status in [
            INITIALIZING,
            READY,
            RUNNING,
            PAUSED,
            COMPLETED,
            ERROR,
            TERMINATED,
        ] {
            assert!(
                statuses(&world).contains(&status.as_str()),
                "{status:?} missing"
            );
        }
        let stuck_running = world
            .sessions
            .iter()
            .any(|s| s.stuck && s.status == RUNNING && world.now - s.created_at > HOUR);
        assert!(stuck_running);
        let agents: std::collections::HashSet<_> = world.sessions.iter().map(|s| s.agent).collect();
        assert!(agents.len() >= 3);
    }

    #[test]
    fn demo_sessions_move_on_and_finished_ones_get_deleted() {
        let start = 1_800_000_000_000;
        let mut world = World::new(7, start);
        world.populate_demo();
        let first_ids: Vec<String> = world.sessions.iter().map(|s| s.id.clone()).collect();
        let mut entered_running_later = false;
        for second in 1..=1800 {
            world.step(start + second * SECOND);
            entered_running_later |= world
                .sessions
                .iter()
                .any(|s| s.status == RUNNING && s.created_at > start);
        }
        assert!(entered_running_later, "no new session reached running");
        let deleted = first_ids
            .iter()
            .filter(|id| !world.sessions.iter().any(|s| &s.id == *id))
            .count();
        assert!(deleted > 0, "nothing was deleted");
        assert!(world.sessions.len() <= DEMO_MAX_SESSIONS);
        for status in ["running", "initializing", "paused"] {
            assert!(statuses(&world).contains(&status), "{status} gone");
        }
    }

    /// Three minutes of `--demo` scraped every 15 s, on a simulated clock:
    /// what the dashboard would show by then.
    fn three_minutes_of_demo() -> crate::aggregate::Snapshot {
        use crate::aggregate::{Aggregator, FetchTimes, Limits, SessionTracker};
        use crate::api::parse::parse_sessions;
        use crate::api::redact::Redactor;

        let start = 1_800_000_000_000;
        let mut world = World::new(SimOptions::demo().seed, start);
        world.populate(Population::Demo);
        let limits = Limits {
            agents_max: 100,
            top_oldest: 5,
        };
        let mut tracker = SessionTracker::new(limits.agents_max);
        let redactor = Arc::new(Redactor::new(DEMO_KEY));
        let mut last = None;
        for second in 0..=180 {
            let now = start + second * SECOND;
            if second > 0 {
                world.step(now);
            }
            if second % 15 == 0 {
                let times = FetchTimes {
                    sent_at: now,
                    received_at: now,
                };
                let mut aggregator = Aggregator::new(limits, &mut tracker, &redactor, times);
                parse_sessions(&world.body, &mut aggregator).unwrap_or_else(|e| panic!("{e}"));
                last = Some(aggregator.finish());
            }
        }
        last.unwrap_or_default()
    }

    #[test]
    fn within_three_minutes_the_demo_shows_both_histograms_and_agents_that_differ() {
        let snapshot = three_minutes_of_demo();
        let lifecycle = &snapshot.lifecycle;
        let mean =
            |counts: &crate::aggregate::HistogramCounts| counts.sum / counts.count.max(1) as f64;
        let start = |agent: &str| {
            lifecycle
                .start_latency
                .iter()
                .find(|(a, _)| a == agent)
                .map(|(_, counts)| counts.clone())
                .unwrap_or_default()
        };
        let started: Vec<&str> = lifecycle
            .start_latency
            .iter()
            .filter(|(_, c)| c.count > 0)
            .map(|(a, _)| a.as_str())
            .collect();
        assert!(started.len() >= 4, "start latencies for {started:?}");
        assert!(
            mean(&start("agi-2-claude")) > 3.0 * mean(&start("agi-0-fast")),
            "agi-2-claude is slow to start: {} s against {} s",
            mean(&start("agi-2-claude")),
            mean(&start("agi-0-fast"))
        );
        let finished: u64 = lifecycle.duration.iter().map(|(_, c)| c.count).sum();
        assert!(finished >= 5, "{finished} durations observed");
        let duration = |agent: &str| {
            let runs: Vec<_> = lifecycle
                .duration
                .iter()
                .filter(|((a, _), c)| a == agent && c.count > 0)
                .map(|(_, c)| c.clone())
                .collect();
            let count: u64 = runs.iter().map(|c| c.count).sum();
            let sum: f64 = runs.iter().map(|c| c.sum).sum();
            (count, sum / count.max(1) as f64)
        };
        let (fast_runs, fast) = duration("agi-0-fast");
        assert!(
            fast_runs > 0 && fast < 60.0,
            "agi-0-fast runs {fast} s ({fast_runs})"
        );
        let errors = |agent: &str| {
            let entered = |status: &str| {
                lifecycle
                    .transitions
                    .iter()
                    .find(|((a, s), _)| a == agent && s == status)
                    .map_or(0, |(_, n)| *n)
            };
            (
                entered("error"),
                entered("completed") + entered("error") + entered("terminated"),
            )
        };
        let (qwen_errors, qwen_ended) = errors("agi-2-qwen");
        assert!(
            qwen_errors > 0,
            "agi-2-qwen fails often: {qwen_errors} of {qwen_ended}"
        );
        let removed: u64 = lifecycle.removed.iter().map(|(_, n)| n).sum();
        assert!(removed > 0, "finished sessions are deleted");
    }

    #[test]
    fn a_respaced_body_alternates_with_the_body_and_lists_the_same_sessions() {
        let body = population_body(Population::Generated(50), 7);
        let mut respacing = Respacing::of(&body);
        let served: Vec<Bytes> = (0..3).map(|_| respacing.next(body.clone())).collect();
        assert_ne!(served[0], body);
        assert_eq!((&served[1], &served[2]), (&body, &served[0]));
        let respaced = served[0].as_ref();
        assert_eq!(respaced.len(), body.len() + 50);
        assert_eq!(
            memchr::memmem::find_iter(respaced, b"{ \"session_id\"").count(),
            50
        );
        let sessions = |bytes: &[u8]| serde_json::from_slice::<serde_json::Value>(bytes).ok();
        assert_eq!(sessions(respaced), sessions(&body));
        assert!(sessions(&body).is_some());
    }

    #[test]
    fn generated_population_has_the_requested_size_and_mix() {
        let mut world = World::new(42, 1_800_000_000_000);
        world.populate_generated(10_000);
        world.render();
        assert_eq!(world.sessions.len(), 10_000);
        let completed = world
            .sessions
            .iter()
            .filter(|s| s.status == COMPLETED)
            .count();
        assert!((5_000..7_000).contains(&completed), "{completed}");
        let parsed: Vec<serde_json::Value> =
            serde_json::from_slice(&world.body).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed.len(), 10_000);
    }
}
