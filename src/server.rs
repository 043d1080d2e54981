//! The HTTP server: routes, the request limit, gzip, graceful shutdown.
//!
//! Endpoints follow the official exporters: the metrics path, a landing page
//! at `/`, `/-/healthy` and `/-/ready`; with `--config.file`, also
//! `/probe?account=NAME` (one account, as blackbox_exporter probes one
//! target) and `/accounts` (Prometheus HTTP service discovery). Only the
//! metrics path and `/probe` count against `--web.max-requests`, so health
//! checks keep answering under load. On shutdown the listener closes at
//! once and requests under way finish.

use std::convert::Infallible;
use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use crate::account::Account;
use crate::accounts::Accounts;
use crate::accounts::file::check_name;
use crate::config::ServerTimings;
use crate::deadline::SCRAPE_TIMEOUT_HEADER;
use crate::exposition::{self, Family, Format, accepts_gzip};
use crate::process::{self, Exposition, Process};
use crate::version::VERSION;
use crate::web_config::{Auth, WebSettings};

/// A response, whole.
pub(crate) type Reply = Response<Full<Bytes>>;

/// What a server answers: the exporter's endpoints, or the demo simulator's.
pub(crate) trait Routes: Send + Sync + 'static {
    /// Answers one request (after basic auth, when configured, passed).
    fn route(self: Arc<Self>, request: Request<Incoming>) -> impl Future<Output = Reply> + Send;
}

/// Serves `routes` on `listener` until `shutdown` completes, then lets
/// requests under way finish (for at most `timings.shutdown_grace`). Each
/// connection takes the web settings published last: its TLS, basic auth
/// and extra headers.
pub(crate) async fn serve<R: Routes>(
    listener: TcpListener,
    routes: Arc<R>,
    settings: watch::Receiver<Arc<WebSettings>>,
    timings: ServerTimings,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Usually EMFILE: back off instead of spinning.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let settings = Arc::clone(&settings.borrow());
        let watcher = graceful.watcher();
        let routes = Arc::clone(&routes);
        tokio::spawn(async move {
            let result = match &settings.tls {
                None => {
                    serve_connection(stream, routes, Arc::clone(&settings), timings, watcher).await
                }
                Some(acceptor) => {
                    match tokio::time::timeout(timings.header_read_timeout, acceptor.accept(stream))
                        .await
                    {
                        Ok(Ok(tls)) => {
                            serve_connection(tls, routes, Arc::clone(&settings), timings, watcher)
                                .await
                        }
                        Ok(Err(error)) => {
                            Err(Box::new(error) as Box<dyn std::error::Error + Send + Sync>)
                        }
                        Err(_) => Err("TLS handshake timed out".into()),
                    }
                }
            };
            if let Err(error) = result {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!("shutting down; waiting for requests under way");
    if tokio::time::timeout(timings.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        let grace = timings.shutdown_grace;
        tracing::warn!("requests still under way after {grace:?}; closing anyway");
    }
}

/// Serves HTTP/1.1 on one accepted connection (plain or TLS).
async fn serve_connection<IO, R: Routes>(
    io: IO,
    routes: Arc<R>,
    settings: Arc<WebSettings>,
    timings: ServerTimings,
    watcher: hyper_util::server::graceful::Watcher,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |request| {
        let routes = Arc::clone(&routes);
        let settings = Arc::clone(&settings);
        async move {
            let mut response = authorize_then_route(routes, &settings, request).await;
            for (name, value) in &settings.headers {
                response.headers_mut().insert(name.clone(), value.clone());
            }
            Ok::<_, Infallible>(response)
        }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(timings.header_read_timeout)
        .serve_connection(TokioIo::new(io), service);
    watcher.watch(connection).await?;
    Ok(())
}

/// Checks basic auth (when configured) before routing. Health endpoints
/// stay open so that liveness probes need no credentials.
async fn authorize_then_route<R: Routes>(
    routes: Arc<R>,
    settings: &Arc<WebSettings>,
    request: Request<Incoming>,
) -> Reply {
    let open = matches!(request.uri().path(), "/-/healthy" | "/-/ready");
    if settings.requires_auth() && !open {
        let authorization = request
            .headers()
            .get(header::AUTHORIZATION)
            .map(|v| v.as_bytes().to_vec());
        let settings = Arc::clone(settings);
        // bcrypt is slow by design; keep it off the async workers.
        let auth = tokio::task::spawn_blocking(move || settings.check(authorization.as_deref()))
            .await
            .unwrap_or(Auth::Denied);
        if auth == Auth::Denied {
            let mut response = text(StatusCode::UNAUTHORIZED, "Unauthorized\n");
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"agi_exporter\""),
            );
            return response;
        }
    }
    routes.route(request).await
}

/// What the exporter exports.
#[derive(Debug)]
pub(crate) enum Exported {
    /// The account of the flags, which `/metrics` fetches.
    One(Arc<Account>),
    /// `--config.file`'s accounts, which `/probe?account=` fetches one at a
    /// time; `/metrics` is the process's own.
    Many(Arc<Accounts>),
}

/// The exporter's endpoints.
#[derive(Debug)]
pub(crate) struct ExporterRoutes {
    /// The process's families and lanes.
    pub(crate) process: Arc<Process>,
    /// The account or accounts.
    pub(crate) exported: Exported,
    /// Path of the metrics endpoint.
    pub(crate) telemetry_path: String,
    /// `None` when `--web.max-requests` is 0.
    pub(crate) request_slots: Option<Semaphore>,
    /// Shows the DEMO banner on the landing page.
    pub(crate) demo: bool,
}

impl Routes for ExporterRoutes {
    async fn route(self: Arc<Self>, request: Request<Incoming>) -> Reply {
        self.handle(request).await
    }
}

impl ExporterRoutes {
    /// Routes one request.
    async fn handle(&self, request: Request<Incoming>) -> Reply {
        let path = request.uri().path();
        let known = path == self.telemetry_path
            || matches!(
                path,
                "/" | "/-/healthy" | "/-/ready" | "/probe" | "/accounts"
            );
        if !known {
            return text(StatusCode::NOT_FOUND, "Not Found\n");
        }
        let accounts = match &self.exported {
            Exported::Many(accounts) => Some(accounts),
            Exported::One(_) => None,
        };
        if accounts.is_none() && matches!(path, "/probe" | "/accounts") {
            return text(
                StatusCode::NOT_FOUND,
                "Not Found: /probe and /accounts need --config.file\n",
            );
        }
        if !matches!(*request.method(), Method::GET | Method::HEAD) {
            let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed\n");
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        let head = request.method() == Method::HEAD;
        let response = match (path, accounts) {
            ("/-/healthy", _) => text(StatusCode::OK, "Healthy\n"),
            ("/-/ready", _) => text(StatusCode::OK, "Ready\n"),
            ("/", _) => landing_page(&self.telemetry_path, self.demo, accounts.is_some()),
            ("/accounts", Some(accounts)) => service_discovery(accounts),
            ("/probe", Some(accounts)) => {
                let account = match probed(accounts, request.uri().query()) {
                    Ok(account) => account,
                    Err(refusal) => return bad_request(refusal),
                };
                if head {
                    return metrics_head(request.headers());
                }
                self.probe(&account, request.headers()).await
            }
            _ if head => {
                // A HEAD must not cost an API request.
                return metrics_head(request.headers());
            }
            _ => self.metrics(request.headers()).await,
        };
        if head {
            let (parts, _) = response.into_parts();
            return Response::from_parts(parts, Full::new(Bytes::new()));
        }
        response
    }

    /// `/metrics`: the account and the process, or the process alone.
    async fn metrics(&self, headers: &HeaderMap) -> Reply {
        let Some(_slot) = self.request_slot() else {
            return too_many_requests();
        };
        let families = match &self.exported {
            Exported::One(account) => {
                self.process
                    .exposition(account, scrape_timeout(headers))
                    .await
                    .families
            }
            Exported::Many(_) => self.process.own_families(),
        };
        exposition_reply(families, headers)
    }

    /// `/probe?account=`: one account of `--config.file`.
    async fn probe(&self, account: &Arc<Account>, headers: &HeaderMap) -> Reply {
        let Some(_slot) = self.request_slot() else {
            return too_many_requests();
        };
        let Exposition { families, .. } = process::probe(account, scrape_timeout(headers)).await;
        exposition_reply(families, headers)
    }

    /// A slot under `--web.max-requests`, held for the request; `None`
    /// when all are taken. Always one when there is no limit.
    fn request_slot(&self) -> Option<Option<tokio::sync::SemaphorePermit<'_>>> {
        match &self.request_slots {
            Some(slots) => slots.try_acquire().ok().map(Some),
            None => Some(None),
        }
    }
}

/// The scraper's timeout, as it sent it.
fn scrape_timeout(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(SCRAPE_TIMEOUT_HEADER)
        .and_then(|v| v.to_str().ok())
}

fn too_many_requests() -> Reply {
    text(
        StatusCode::SERVICE_UNAVAILABLE,
        "Too many concurrent requests (--web.max-requests)\n",
    )
}

/// The answer to a HEAD of an exposition: its headers, and no request to
/// the API.
fn metrics_head(headers: &HeaderMap) -> Reply {
    let mut response = Response::new(Full::new(Bytes::new()));
    described(&mut response, headers, accepts_gzip(headers));
    response
}

/// The headers of an exposition for a scraper that sent `headers`, as a GET
/// and a HEAD answer them alike.
fn described(response: &mut Reply, headers: &HeaderMap, gzip: bool) {
    let format = Format::negotiate(headers);
    let answer = response.headers_mut();
    answer.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    answer.insert(
        header::VARY,
        HeaderValue::from_static("Accept, Accept-Encoding"),
    );
    if gzip {
        answer.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
}

/// An exposition, in the format the scraper prefers, gzip-encoded when it
/// accepts it.
fn exposition_reply(families: Vec<Family>, headers: &HeaderMap) -> Reply {
    let body = exposition::render(families, Format::negotiate(headers));
    let compressed = accepts_gzip(headers)
        .then(|| {
            let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
            encoder
                .write_all(&body)
                .and_then(|()| encoder.finish())
                .ok()
        })
        .flatten();
    let gzip = compressed.is_some();
    let mut response = Response::new(Full::new(Bytes::from(compressed.unwrap_or(body))));
    described(&mut response, headers, gzip);
    response
}

/// The account a `/probe` query names. Only `account` is read: whatever
/// else the query holds (`target=`, `url=`, `module=`...) is ignored, so
/// nothing a scraper sends can aim the exporter elsewhere. A missing,
/// repeated, malformed or unknown name is a `400` that lists the accounts
/// (names only).
fn probed(accounts: &Accounts, query: Option<&str>) -> Result<Arc<Account>, String> {
    let mut named = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .filter(|(key, _)| key == "account")
        .map(|(_, value)| value);
    let problem = match (named.next(), named.next()) {
        (None, _) => "missing account=NAME".to_owned(),
        (Some(_), Some(_)) => "account= given more than once".to_owned(),
        (Some(name), None) => match check_name(&name) {
            Err(_) => "account= is not an account name (1 to 64 letters, digits, _ . -)".to_owned(),
            Ok(()) => match accounts.get(&name) {
                Some(account) => return Ok(account),
                None => format!("unknown account {name:?}"),
            },
        },
    };
    Err(format!(
        "{problem}; the accounts are: {}\n",
        accounts.names().join(", ")
    ))
}

/// A `400` saying why, in one line.
fn bad_request(message: String) -> Reply {
    let mut response = Response::new(Full::new(Bytes::from(message)));
    *response.status_mut() = StatusCode::BAD_REQUEST;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// `/accounts`: a target group per account, for Prometheus'
/// `http_sd_configs`. The target is the account's name; the scrape config
/// sets `__address__` to the exporter (docs/configuration.md).
fn service_discovery(accounts: &Accounts) -> Reply {
    let groups: Vec<serde_json::Value> = accounts
        .names()
        .into_iter()
        .map(|name| {
            serde_json::json!({
                "targets": [name],
                "labels": { "account": name, "__param_account": name },
            })
        })
        .collect();
    let body = serde_json::to_vec(&groups).unwrap_or_else(|_| b"[]".to_vec());
    let mut response = Response::new(Full::new(Bytes::from(body)));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A plain-text answer.
pub(crate) fn text(status: StatusCode, body: &'static str) -> Reply {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn landing_page(telemetry_path: &str, demo: bool, accounts: bool) -> Reply {
    let path = html_escape(telemetry_path);
    let banner = if demo {
        r#"<p class="demo"><strong>DEMO MODE</strong>: these metrics come from a built-in simulated AGI API, not from a real account.</p>"#
    } else {
        ""
    };
    let html = format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>AGI Exporter</title>
<style>body{{font-family:sans-serif;margin:2em}} .demo{{background:#fff3cd;border:1px solid #e0b000;padding:.5em 1em}}</style>
</head>
<body>
<h1>AGI Exporter</h1>
<p>Prometheus exporter for the AGI agent API, version {version}.</p>
{banner}
<ul>
<li><a href="{path}">Metrics</a> ({path}){probe}</li>
<li><a href="/-/healthy">Health</a></li>
<li><a href="/-/ready">Readiness</a></li>
</ul>
</body>
</html>
"#,
        version = VERSION,
        probe = if accounts {
            r#"</li>
<li><a href="/accounts">Accounts</a> (/accounts; each is probed at /probe?account=NAME)"#
        } else {
            ""
        },
    );
    let mut response = Response::new(Full::new(Bytes::from(html)));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

fn html_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// Binds the listen address, with the address in the error.
pub(crate) async fn bind(address: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(address).await.map_err(|error| {
        std::io::Error::new(error.kind(), format!("cannot listen on {address}: {error}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn landing_page_escapes_the_telemetry_path() {
        assert_eq!(html_escape(r#"/m"><script>"#), "/m&quot;&gt;&lt;script&gt;");
    }
}
