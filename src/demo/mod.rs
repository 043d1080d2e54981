//! A simulated AGI API, served over real HTTP on 127.0.0.1.
//!
//! `--demo` starts it with a lively account that speaks the official SDKs:
//! their statuses (`ready`, `running`, `waiting_for_input`, `paused`,
//! `finished`, `error`) and their session fields (`goal`, the user's task
//! in free text, `vnc_url` and `agent_url` carrying a token,
//! `environment_id`, `agent_session_type`), about 500 bytes a session.
//! Sessions start, run, ask their user a question and get the answer,
//! pause, finish, fail, get stuck and get deleted, and the exporter reads
//! them through the same client code path as a real account.
//!
//! Benchmarks, the load script and the tests start it with a fixed
//! population of any size in either body shape, the docs' or the SDKs', or
//! both interleaved ([`Shape`]), optionally slowed down to play an API a
//! network round trip away. It is served by the exporter's own accept loop
//! ([`crate::server::serve`]).

mod generated;
mod rng;
mod session;
mod world;

use std::io::Write;
use std::net::SocketAddr;
use std::str::FromStr;
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
use crate::api::timestamp::{self, UnixMillis};
use crate::config::ServerTimings;
use crate::exposition::accepts_gzip;
use crate::server::{self, Reply, Routes};
use crate::sync::lock;
use crate::web_config::WebSettings;

use self::world::World;

/// Agent names the simulator uses (the ones seen in public material).
pub const AGENTS: [&str; 5] = ["agi-0", "agi-0-fast", "agi-1", "agi-2-claude", "agi-2-qwen"];

/// Which sessions the simulator serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Population {
    /// The `--demo` account, in the SDKs' shape and statuses: a few hours
    /// of history, a session stuck in each live status, and, in a
    /// [`Simulator`], life going on (a step a second).
    Demo,
    /// `sessions` sessions written in `shape`, with a realistic mix of
    /// statuses (mostly ended, some live), five agents, created over the
    /// past week. Fixed: they never change.
    Generated {
        /// How many.
        sessions: usize,
        /// How each is written.
        shape: Shape,
    },
    /// A body made beforehand, served as is: one generated once and served
    /// by several simulators shares its bytes rather than copying them.
    Body(Bytes),
}

/// How generated sessions are written: the API's docs and its official
/// SDKs disagree, and a real account may speak either, or both while the
/// API changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shape {
    /// As the API docs show them: `session_id`, `agent_name`, `status` and
    /// `created_at` (milliseconds, `Z`), about 135 bytes; the docs'
    /// statuses, mostly `completed` and `terminated`.
    Docs,
    /// As the SDKs read them: the docs' four fields and `vnc_url`,
    /// `agent_url` (each carrying a token), `goal` (free text with quotes,
    /// escapes and UTF-8), `environment_id` (`null` for a browser the user
    /// brings), `agent_session_type`, and `created_at` in microseconds with
    /// an offset, about 500 bytes; the SDKs' statuses, mostly `finished`.
    Sdk,
    /// An API in transition: each session in either shape and,
    /// independently, in either vocabulary.
    Mixed,
}

impl Shape {
    /// Every shape.
    pub const ALL: [Shape; 3] = [Shape::Docs, Shape::Sdk, Shape::Mixed];

    /// Its name: `docs`, `sdk` or `mixed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Shape::Docs => "docs",
            Shape::Sdk => "sdk",
            Shape::Mixed => "mixed",
        }
    }
}

impl FromStr for Shape {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Shape::ALL
            .into_iter()
            .find(|shape| shape.as_str() == name)
            .ok_or_else(|| format!("unknown shape {name:?} (docs, sdk or mixed)"))
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the simulator starts.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Its sessions.
    pub population: Population,
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
            seed: 0x5eed,
            latency: Duration::ZERO,
            gzip: true,
            respaced: false,
        }
    }

    /// A fixed population of `sessions` generated sessions in `shape`.
    pub fn generated(sessions: usize, shape: Shape) -> Self {
        SimOptions::fixed(Population::Generated { sessions, shape })
    }

    /// A fixed body, served as is.
    pub fn serving(body: Bytes) -> Self {
        SimOptions::fixed(Population::Body(body))
    }

    /// A population that never changes, answered plainly and at once.
    fn fixed(population: Population) -> Self {
        SimOptions {
            population,
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
    population_body_at(population, seed, timestamp::now())
}

/// The same, as first served at `now`.
pub fn population_body_at(population: Population, seed: u64, now: UnixMillis) -> Bytes {
    first_body(population, seed, now).0
}

/// The body a population is first served as, and for the demo, the
/// account that lives on.
fn first_body(population: Population, seed: u64, now: UnixMillis) -> (Bytes, Option<World>) {
    match population {
        Population::Demo => {
            let world = World::demo(seed, now);
            (world.body(), Some(world))
        }
        Population::Generated { sessions, shape } => {
            (generated::generated_body(sessions, shape, seed, now), None)
        }
        Population::Body(body) => (body, None),
    }
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
    /// The body served now; the demo's changes once a second.
    body: Mutex<Bytes>,
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
        let (body, world) = first_body(options.population, options.seed, timestamp::now());
        let respacing = options.respaced.then(|| Mutex::new(Respacing::of(&body)));
        let shared = Arc::new(Shared {
            latency: options.latency,
            gzip: options.gzip,
            requests: AtomicU64::new(0),
            body: Mutex::new(body),
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
        if let Some(mut world) = world {
            let shared = Arc::clone(&shared);
            tasks.push(tokio::spawn(async move {
                let mut ticks = tokio::time::interval(Duration::from_secs(1));
                loop {
                    ticks.tick().await;
                    world.step(timestamp::now());
                    *lock(&shared.body) = world.body();
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
        lock(&self.shared.body).clone()
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
        let mut body = lock(&shared.body).clone();
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

/// `body` with a space after the `{` of each session. Every shape writes
/// `session_id` first, and a quote inside a string is escaped, so each
/// `{"session_id"` found starts a session.
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

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet, HashMap};

    use super::session::{GOAL_TEXTS, SessionId, Status};
    use super::world::MAX_SESSIONS;
    use super::*;

    const START: UnixMillis = 1_800_000_000_000;
    const SECOND: i64 = 1000;
    const MINUTE: i64 = 60 * SECOND;

    fn demo() -> World {
        World::demo(SimOptions::demo().seed, START)
    }

    fn statuses(world: &World) -> BTreeSet<&'static str> {
        world
            .sessions
            .iter()
            .map(|s| s.session.status.as_str())
            .collect()
    }

    fn sdk_statuses() -> BTreeSet<&'static str> {
        Status::SDK.iter().map(|s| s.as_str()).collect()
    }

    /// The body as a JSON reader sees it.
    fn read(body: &[u8]) -> Vec<serde_json::Map<String, serde_json::Value>> {
        serde_json::from_slice(body).unwrap_or_else(|e| panic!("not a list of sessions: {e}"))
    }

    #[test]
    fn the_demo_starts_with_every_sdk_status_and_one_stuck_session_in_each_live_status() {
        let world = demo();
        assert_eq!(statuses(&world), sdk_statuses());
        let mut stuck: Vec<(&str, &str, i64)> = world
            .sessions
            .iter()
            .filter(|s| s.next_change.is_none())
            .map(|s| {
                let session = &s.session;
                let age = (world.now - session.created_at) / MINUTE;
                (session.agent, session.status.as_str(), age)
            })
            .collect();
        stuck.sort_unstable();
        assert_eq!(
            stuck,
            [
                ("agi-0", "ready", 85),
                ("agi-0-fast", "waiting_for_input", 47),
                ("agi-1", "running", 192),
                ("agi-2-claude", "paused", 26 * 60),
            ]
        );
    }

    #[test]
    fn the_demo_body_is_sdk_shaped_about_500_bytes_a_session_and_reads_back_as_written() {
        let world = demo();
        let body = world.body();
        let sessions = read(&body);
        assert_eq!(sessions.len(), world.sessions.len());
        let per_session = body.len() / sessions.len();
        assert!(
            (450..600).contains(&per_session),
            "{per_session} bytes a session"
        );
        for (read, written) in sessions.iter().zip(&world.sessions) {
            assert_eq!(read.len(), 9, "{read:?}");
            assert_eq!(read["status"], written.session.status.as_str());
            let goal = read["goal"].as_str().unwrap_or_default();
            assert!(GOAL_TEXTS.contains(&goal), "{goal:?} is not a goal's text");
            assert!(read["vnc_url"].as_str().is_some_and(|url| {
                url.starts_with("https://vnc.example.test/") && url.contains("?token=")
            }));
        }
    }

    /// The demo on a simulated clock, a step a second for `seconds`: each
    /// step's world, after `watch` has seen it (the first at 0 s).
    fn run_demo(seconds: i64, mut watch: impl FnMut(i64, &World)) -> World {
        let mut world = demo();
        watch(0, &world);
        for second in 1..=seconds {
            world.step(START + second * SECOND);
            watch(second, &world);
        }
        world
    }

    #[test]
    fn within_25_seconds_every_sdk_status_shows_and_a_waiting_session_gets_its_answer() {
        let mut was_waiting = BTreeSet::new();
        let mut answered = BTreeSet::new();
        run_demo(25, |second, world| {
            assert_eq!(statuses(world), sdk_statuses(), "at {second} s");
            for live in &world.sessions {
                let (id, status) = (live.session.id, live.session.status);
                if live.next_change.is_some() && status == Status::WaitingForInput {
                    was_waiting.insert(id);
                }
                if status == Status::Running && was_waiting.contains(&id) {
                    answered.insert(id);
                }
            }
        });
        assert!(answered.len() >= 2, "answered: {answered:?}");
    }

    #[test]
    fn over_half_an_hour_sessions_live_their_lives_and_ended_ones_are_deleted() {
        let first = demo();
        let first_ids: BTreeSet<SessionId> = first.sessions.iter().map(|s| s.session.id).collect();
        let mut last_status: HashMap<SessionId, Status> = HashMap::new();
        let mut moves: BTreeMap<(Status, Status), usize> = BTreeMap::new();
        // Per agent: sessions that ended, and those that ended in error.
        let mut ended: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        let mut bodies_checked = 0;
        let world = run_demo(30 * 60, |second, world| {
            for live in &world.sessions {
                let session = &live.session;
                let before = last_status.insert(session.id, session.status);
                if let Some(before) = before.filter(|&before| before != session.status) {
                    *moves.entry((before, session.status)).or_default() += 1;
                    if session.status.is_final() {
                        let (all, errors) = ended.entry(session.agent).or_default();
                        *all += 1;
                        *errors += usize::from(session.status == Status::Error);
                    }
                }
            }
            if second % 60 == 0 {
                read(&world.body());
                bodies_checked += 1;
            }
            assert!(world.sessions.len() <= MAX_SESSIONS);
        });
        assert_eq!(bodies_checked, 31);
        // The SDKs' vocabulary only, and every status still shows.
        assert_eq!(statuses(&world), sdk_statuses());
        for (from, to) in [
            (Status::Ready, Status::Running),
            (Status::Running, Status::WaitingForInput),
            (Status::WaitingForInput, Status::Running),
            (Status::Running, Status::Paused),
            (Status::Paused, Status::Running),
            (Status::Running, Status::Finished),
            (Status::Running, Status::Error),
        ] {
            assert!(moves.contains_key(&(from, to)), "never {from:?} -> {to:?}");
        }
        assert_eq!(moves.len(), 7, "{moves:?}");
        // The agent that fails often, and the others.
        for (agent, (all, errors)) in &ended {
            let percent = errors * 100 / all;
            let expected = if *agent == "agi-2-qwen" {
                25..55
            } else {
                0..15
            };
            assert!(
                expected.contains(&percent),
                "{agent}: {errors} of {all} ended in error"
            );
            assert!(*all >= 20, "{agent}: {all} ended");
        }
        let deleted = first_ids
            .iter()
            .filter(|id| !world.sessions.iter().any(|s| s.session.id == **id))
            .count();
        // The history, and the sessions under way that have ended since.
        assert!(deleted >= 60, "{deleted} of the first sessions deleted");
    }

    /// Three minutes of `--demo` scraped every 15 s, on a simulated clock:
    /// what the dashboard would show by then.
    fn three_minutes_of_demo() -> crate::aggregate::Lifecycle {
        use crate::aggregate::{Aggregator, FetchTimes, Limits, SessionTracker};
        use crate::api::parse::parse_sessions;
        use crate::api::redact::Redactor;

        let limits = Limits {
            agents_max: 100,
            top_oldest: 5,
        };
        let mut tracker = SessionTracker::new(limits.agents_max);
        let redactor = Arc::new(Redactor::new(DEMO_KEY));
        let mut last = None;
        run_demo(180, |second, world| {
            if second % 15 == 0 {
                let times = FetchTimes {
                    sent_at: world.now,
                    received_at: world.now,
                };
                let mut aggregator = Aggregator::new(limits, &mut tracker, &redactor, times);
                parse_sessions(&world.body(), &mut aggregator).unwrap_or_else(|e| panic!("{e}"));
                aggregator.finish();
                last = Some(tracker.lifecycle());
            }
        });
        last.unwrap_or_default()
    }

    #[test]
    fn within_three_minutes_the_demo_shows_both_histograms_and_agents_that_differ() {
        let lifecycle = &three_minutes_of_demo();
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
        // Its sessions end in error often enough to show, in either
        // reading of `finished`.
        let (qwen_runs, qwen) = duration("agi-2-qwen");
        assert!(
            qwen_runs > 0 && qwen < 75.0,
            "agi-2-qwen runs {qwen} s ({qwen_runs})"
        );
        let entered = |agent: &str, status: &str| {
            lifecycle
                .transitions
                .iter()
                .find(|((a, s), _)| a == agent && s == status)
                .map_or(0, |(_, n)| *n)
        };
        assert!(entered("agi-2-qwen", "error") > 0, "agi-2-qwen fails often");
        for status in ["running", "waiting_for_input", "finished"] {
            let all: u64 = AGENTS.iter().map(|agent| entered(agent, status)).sum();
            assert!(all > 0, "no session entered {status}");
        }
        let removed: u64 = lifecycle.removed.iter().map(|(_, n)| n).sum();
        assert!(removed > 0, "ended sessions are deleted");
    }

    #[test]
    fn a_respaced_body_alternates_with_the_body_and_lists_the_same_sessions_in_any_shape() {
        for shape in Shape::ALL {
            let body = population_body(
                Population::Generated {
                    sessions: 50,
                    shape,
                },
                7,
            );
            let mut respacing = Respacing::of(&body);
            let served: Vec<Bytes> = (0..3).map(|_| respacing.next(body.clone())).collect();
            assert_ne!(served[0], body);
            assert_eq!((&served[1], &served[2]), (&body, &served[0]));
            let respaced = served[0].as_ref();
            assert_eq!(respaced.len(), body.len() + 50, "{shape:?}");
            assert_eq!(
                memchr::memmem::find_iter(respaced, b"{ \"session_id\"").count(),
                50
            );
            let sessions = |bytes: &[u8]| serde_json::from_slice::<serde_json::Value>(bytes).ok();
            assert_eq!(sessions(respaced), sessions(&body));
            assert!(sessions(&body).is_some());
        }
    }

    #[test]
    fn a_body_population_is_served_as_given_and_every_population_is_a_json_list() {
        let body = Bytes::from_static(br#"[{"session_id":"s"}]"#);
        assert_eq!(population_body(Population::Body(body.clone()), 1), body);
        for shape in Shape::ALL {
            let population = Population::Generated {
                sessions: 300,
                shape,
            };
            assert_eq!(read(&population_body(population, 1)).len(), 300);
        }
        assert!(!read(&population_body(Population::Demo, 1)).is_empty());
    }

    #[test]
    fn a_shape_is_named_as_the_load_script_takes_it() {
        for shape in Shape::ALL {
            assert_eq!(shape.as_str().parse(), Ok(shape));
        }
        assert!("SDK".parse::<Shape>().is_err());
    }
}
