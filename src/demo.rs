//! A simulated AGI API, served over real HTTP on 127.0.0.1.
//!
//! `--demo` starts it with a lively population (sessions start, run, finish,
//! fail, pause, get stuck and get deleted) and exports it through the same
//! client code path as a real account. Tests and benchmarks start it with a
//! fixed population of any size, and script its answers ([`Behaviour`]) to
//! play a slow, failing or hostile API. It records what it was sent, so tests
//! can check which headers (and keys) reached it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::api::timestamp::UnixMillis;
use crate::scrape::unix_millis;
use crate::sync::lock;

/// The key `--demo` uses against its own simulator.
pub const DEMO_KEY: &str = "agi-demo-key";

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
    /// No sessions.
    Empty,
}

/// How the simulator starts.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// The bearer key it accepts.
    pub key: String,
    /// Its initial sessions.
    pub population: Population,
    /// Whether sessions change over time (one step per second).
    pub evolve: bool,
    /// Seed of its random choices, so runs are repeatable.
    pub seed: u64,
}

impl SimOptions {
    /// The `--demo` settings.
    pub fn demo() -> Self {
        SimOptions {
            key: DEMO_KEY.to_owned(),
            population: Population::Demo,
            evolve: true,
            seed: 0x5eed,
        }
    }

    /// A fixed population of `n` generated sessions.
    pub fn generated(n: usize) -> Self {
        SimOptions {
            key: DEMO_KEY.to_owned(),
            population: Population::Generated(n),
            evolve: false,
            seed: 42,
        }
    }
}

/// How the simulator answers `GET /v1/sessions`, for tests that need a
/// misbehaving API.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// Serve the population (after checking the key).
    Serve,
    /// Serve the population after a delay.
    Delay(Duration),
    /// Answer with exactly this, whatever the key.
    Respond {
        /// Status code.
        status: u16,
        /// Extra headers.
        headers: Vec<(String, String)>,
        /// Body.
        body: Bytes,
    },
}

impl Behaviour {
    /// A 200 answer with a fixed JSON body.
    pub fn json(body: impl Into<Bytes>) -> Self {
        Behaviour::Respond {
            status: 200,
            headers: vec![("content-type".to_owned(), "application/json".to_owned())],
            body: body.into(),
        }
    }

    /// An answer with this status and body.
    pub fn status(status: u16, body: impl Into<Bytes>) -> Self {
        Behaviour::Respond {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }
}

/// A running simulator; stops when dropped.
#[derive(Debug)]
pub struct Simulator {
    address: SocketAddr,
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    key: String,
    requests: AtomicU64,
    last_headers: Mutex<Option<HeaderMap>>,
    behaviour: Mutex<Behaviour>,
    world: Mutex<World>,
}

impl Simulator {
    /// Binds 127.0.0.1 on an ephemeral port and starts serving.
    pub async fn start(options: SimOptions) -> std::io::Result<Simulator> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let address = listener.local_addr()?;
        let mut world = World::new(options.seed, unix_millis(SystemTime::now()));
        match options.population {
            Population::Demo => world.populate_demo(),
            Population::Generated(n) => world.populate_generated(n),
            Population::Empty => {}
        }
        world.render();
        let shared = Arc::new(Shared {
            key: options.key,
            requests: AtomicU64::new(0),
            last_headers: Mutex::new(None),
            behaviour: Mutex::new(Behaviour::Serve),
            world: Mutex::new(world),
        });
        let mut tasks = vec![tokio::spawn(accept_loop(listener, Arc::clone(&shared)))];
        if options.evolve {
            let shared = Arc::clone(&shared);
            tasks.push(tokio::spawn(async move {
                let mut ticks = tokio::time::interval(Duration::from_secs(1));
                loop {
                    ticks.tick().await;
                    lock(&shared.world).step(unix_millis(SystemTime::now()));
                }
            }));
        }
        Ok(Simulator {
            address,
            shared,
            tasks,
        })
    }

    /// The base URL to give `--api.url`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The address it listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The key it accepts.
    pub fn key(&self) -> &str {
        &self.shared.key
    }

    /// Requests received on `/v1/sessions` so far.
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Headers of the last request received.
    pub fn last_headers(&self) -> Option<HeaderMap> {
        lock(&self.shared.last_headers).clone()
    }

    /// Changes how it answers from the next request on.
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        *lock(&self.shared.behaviour) = behaviour;
    }

    /// The body it currently serves for its population.
    pub fn body(&self) -> Bytes {
        lock(&self.shared.world).body.clone()
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let shared = Arc::clone(&shared);
                async move { Ok::<_, Infallible>(answer(&shared, request).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn answer(shared: &Shared, request: Request<Incoming>) -> Response<Full<Bytes>> {
    if request.uri().path() != "/v1/sessions" {
        return respond(404, &[], Bytes::from_static(br#"{"detail":"Not Found"}"#));
    }
    if request.method() != Method::GET {
        return respond(
            405,
            &[],
            Bytes::from_static(br#"{"detail":"Method Not Allowed"}"#),
        );
    }
    shared.requests.fetch_add(1, Ordering::SeqCst);
    *lock(&shared.last_headers) = Some(request.headers().clone());
    let behaviour = lock(&shared.behaviour).clone();
    match behaviour {
        Behaviour::Respond {
            status,
            headers,
            body,
        } => respond(status, &headers, body),
        Behaviour::Delay(delay) => {
            tokio::time::sleep(delay).await;
            serve_population(shared, request.headers())
        }
        Behaviour::Serve => serve_population(shared, request.headers()),
    }
}

fn serve_population(shared: &Shared, headers: &HeaderMap) -> Response<Full<Bytes>> {
    let expected = format!("Bearer {}", shared.key);
    let authorized = headers
        .get(header::AUTHORIZATION)
        .is_some_and(|v| v.as_bytes() == expected.as_bytes());
    if !authorized {
        return respond(
            401,
            &[],
            Bytes::from_static(br#"{"detail":"Invalid API key"}"#),
        );
    }
    let body = lock(&shared.world).body.clone();
    respond(
        200,
        &[("content-type".to_owned(), "application/json".to_owned())],
        body,
    )
}

fn respond(status: u16, headers: &[(String, String)], body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    response
}

/// Statuses as the simulator moves sessions through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Initializing,
    Ready,
    Running,
    Paused,
    WaitingForInput,
    Completed,
    Error,
    Terminated,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Initializing => "initializing",
            Status::Ready => "ready",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::WaitingForInput => "waiting_for_input",
            Status::Completed => "completed",
            Status::Error => "error",
            Status::Terminated => "terminated",
        }
    }

    fn is_terminal(self) -> bool {
        matches!(self, Status::Completed | Status::Error | Status::Terminated)
    }
}

#[derive(Debug, Clone)]
struct SimSession {
    id: String,
    agent: &'static str,
    status: Status,
    created_at: UnixMillis,
    /// When the session next changes (or, for a terminal one, is deleted).
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

const SECOND: i64 = 1000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;

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

    /// A few hours of history in which every documented status has sessions.
    fn populate_demo(&mut self) {
        use Status::*;
        // The sessions an operator should notice.
        self.add("agi-1", Running, 3 * HOUR + 12 * MINUTE, 0, true);
        self.add("agi-0", Initializing, 25 * MINUTE, 0, true);
        self.add("agi-2-claude", Paused, 26 * HOUR, 0, true);
        for i in 0..60 {
            let agent = AGENTS[i % AGENTS.len()];
            let age = self.rng.between(10 * MINUTE, 6 * HOUR);
            let status = match i % 12 {
                0..=6 => Completed,
                7 | 8 => Terminated,
                _ => Error,
            };
            let delete_in = self.rng.between(2 * MINUTE, 30 * MINUTE);
            self.add(agent, status, age, delete_in, false);
        }
        for (agent, status, age, next) in [
            ("agi-0", Running, 2 * MINUTE, 40 * SECOND),
            ("agi-0-fast", Running, 50 * SECOND, 20 * SECOND),
            ("agi-1", Running, 4 * MINUTE, 70 * SECOND),
            ("agi-2-qwen", Running, 90 * SECOND, 30 * SECOND),
            ("agi-2-claude", Paused, 8 * MINUTE, 45 * SECOND),
            ("agi-0-fast", Ready, 5 * SECOND, 3 * SECOND),
            ("agi-2-qwen", Initializing, 2 * SECOND, 4 * SECOND),
            ("agi-1", WaitingForInput, 3 * MINUTE, 60 * SECOND),
        ] {
            self.add(agent, status, age, next, false);
        }
    }

    /// `n` sessions created over the past week, mostly finished.
    fn populate_generated(&mut self, n: usize) {
        use Status::*;
        self.sessions.reserve(n);
        for _ in 0..n {
            let status = match self.rng.below(100) {
                0..=59 => Completed,
                60..=79 => Terminated,
                80..=84 => Error,
                85..=92 => Running,
                93..=94 => Paused,
                95..=96 => Initializing,
                _ => Ready,
            };
            let agent = AGENTS[self.rng.below(AGENTS.len() as u64) as usize];
            let age = self.rng.between(SECOND, 7 * 24 * HOUR);
            self.add(agent, status, age, 0, true);
        }
    }

    /// Moves the simulation to `now`: new sessions start, live ones advance,
    /// old finished ones are deleted.
    fn step(&mut self, now: UnixMillis) {
        self.now = now;
        if self.rng.below(100) < 35 {
            let agent = AGENTS[self.rng.below(AGENTS.len() as u64) as usize];
            let next = self.rng.between(2 * SECOND, 6 * SECOND);
            self.add(agent, Status::Initializing, 0, next, false);
        }
        let mut deleted = Vec::new();
        for index in 0..self.sessions.len() {
            let SimSession {
                stuck,
                next_change,
                status,
                ..
            } = self.sessions[index];
            if stuck || next_change > now {
                continue;
            }
            if status.is_terminal() {
                deleted.push(index);
                continue;
            }
            let (status, next) = self.next_status(status);
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
                .filter(|(_, s)| s.status.is_terminal())
                .min_by_key(|(_, s)| s.created_at)
                .map(|(i, _)| i)
            else {
                break;
            };
            self.sessions.swap_remove(oldest_finished);
        }
        self.render();
    }

    /// Where a live session goes next, and when it changes after that.
    fn next_status(&mut self, status: Status) -> (Status, i64) {
        use Status::*;
        match status {
            Initializing => (Ready, self.rng.between(SECOND, 4 * SECOND)),
            Ready => (Running, self.rng.between(15 * SECOND, 90 * SECOND)),
            Paused | WaitingForInput => (Running, self.rng.between(10 * SECOND, 60 * SECOND)),
            Running => {
                let next = match self.rng.below(100) {
                    0..=71 => Completed,
                    72..=83 => Error,
                    84..=91 => Paused,
                    92..=95 => WaitingForInput,
                    _ => Terminated,
                };
                let delay = if next.is_terminal() {
                    self.rng.between(MINUTE, 5 * MINUTE)
                } else {
                    self.rng.between(20 * SECOND, 60 * SECOND)
                };
                (next, delay)
            }
            Completed | Error | Terminated => (status, MINUTE),
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

/// Formats milliseconds since the epoch as `2025-10-05T18:04:34.281Z`.
pub fn format_timestamp(millis: UnixMillis) -> String {
    let days = millis.div_euclid(86_400_000);
    let in_day = millis.rem_euclid(86_400_000);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        in_day / HOUR,
        in_day % HOUR / MINUTE,
        in_day % MINUTE / SECOND,
        in_day % SECOND
    )
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
    use crate::api::timestamp::parse_timestamp;

    #[test]
    fn timestamps_round_trip() {
        for millis in [
            0,
            1_759_687_474_281,
            951_868_800_000,
            1_709_164_800_999,
            -1000,
        ] {
            let text = format_timestamp(millis);
            assert_eq!(parse_timestamp(&text), Some(millis), "{text}");
        }
        assert_eq!(
            format_timestamp(1_759_687_474_281),
            "2025-10-05T18:04:34.281Z"
        );
    }

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
        for status in crate::aggregate::DOCUMENTED_STATUSES {
            assert!(statuses(&world).contains(&status), "{status} missing");
        }
        let stuck_running = world
            .sessions
            .iter()
            .any(|s| s.stuck && s.status == Status::Running && world.now - s.created_at > HOUR);
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
                .any(|s| s.status == Status::Running && s.created_at > start);
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

    #[test]
    fn generated_population_has_the_requested_size_and_mix() {
        let mut world = World::new(42, 1_800_000_000_000);
        world.populate_generated(10_000);
        world.render();
        assert_eq!(world.sessions.len(), 10_000);
        let completed = world
            .sessions
            .iter()
            .filter(|s| s.status == Status::Completed)
            .count();
        assert!((5_000..7_000).contains(&completed), "{completed}");
        let parsed: Vec<serde_json::Value> =
            serde_json::from_slice(&world.body).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed.len(), 10_000);
    }
}
