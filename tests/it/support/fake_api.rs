//! A fake AGI API: a real HTTP server on 127.0.0.1 that serves a session
//! list and can be scripted to answer as a slow, failing or hostile API
//! would. It records what it was sent, so tests can check which headers
//! (and keys) reached it. The benchmarks use it too, so it needs nothing
//! else of the harness.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The key the fake APIs accept and the exporters send, unless a test
/// needs its own.
pub const KEY: &str = "test-key-4f1c2a";

/// The session the API documents as its example.
pub const EXAMPLE_SESSION: &str = r#"{"session_id":"f6a7b0e6-7f46-4a0d-9a47-92b7f0a4d2d3","agent_name":"agi-0","status":"running","created_at":"2025-10-05T18:04:34.281Z"}"#;

pub use agi_exporter::demo::Shape;

/// What the fake API lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Population {
    /// `n` sessions with the simulator's realistic mix of statuses, written
    /// in this shape: the docs', the SDKs', or both interleaved.
    Generated(usize, Shape),
    /// No sessions.
    Empty,
}

/// How it answers `GET /v1/sessions`.
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

/// A running fake API; stops when dropped.
pub struct FakeApi {
    address: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

struct Shared {
    key: String,
    body: Bytes,
    requests: AtomicU64,
    last_headers: Mutex<Option<HeaderMap>>,
    behaviour: Mutex<Behaviour>,
}

/// A fake API that accepts [`KEY`].
pub async fn fake_api(population: Population) -> FakeApi {
    fake_api_with_key(population, KEY).await
}

/// A fake API that accepts `key`.
pub async fn fake_api_with_key(population: Population, key: &str) -> FakeApi {
    let body = match population {
        Population::Generated(sessions, shape) => agi_exporter::demo::population_body(
            agi_exporter::demo::Population::Generated { sessions, shape },
            7,
        ),
        Population::Empty => Bytes::from_static(b"[]"),
    };
    FakeApi::start(key, body).await
}

/// A fake API that answers with the documented example list.
pub async fn spec_example_api() -> FakeApi {
    let api = fake_api(Population::Empty).await;
    api.set_behaviour(Behaviour::json(format!("[{EXAMPLE_SESSION}]")));
    api
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl FakeApi {
    /// Binds 127.0.0.1 on an ephemeral port and serves `body` to `key`.
    pub async fn start(key: &str, body: Bytes) -> FakeApi {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("bind 127.0.0.1:0");
        let address = listener.local_addr().expect("local address");
        let shared = Arc::new(Shared {
            key: key.to_owned(),
            body,
            requests: AtomicU64::new(0),
            last_headers: Mutex::new(None),
            behaviour: Mutex::new(Behaviour::Serve),
        });
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        FakeApi {
            address,
            shared,
            task,
        }
    }

    /// The base URL to give `--api.url`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
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

    /// The `Authorization` header of the last request.
    pub fn last_bearer(&self) -> Option<String> {
        self.last_headers()?
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// Changes how it answers from the next request on.
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        *lock(&self.shared.behaviour) = behaviour;
    }

    /// The body it serves for its population.
    pub fn body(&self) -> Bytes {
        self.shared.body.clone()
    }
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.task.abort();
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
        .get("authorization")
        .is_some_and(|v| v.as_bytes() == expected.as_bytes());
    if !authorized {
        return respond(
            401,
            &[],
            Bytes::from_static(br#"{"detail":"Invalid API key"}"#),
        );
    }
    respond(
        200,
        &[("content-type".to_owned(), "application/json".to_owned())],
        shared.body.clone(),
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
