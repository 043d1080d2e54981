//! The HTTP server: routes, the request limit, gzip, graceful shutdown.
//!
//! Endpoints follow the official exporters: the metrics path, a landing page
//! at `/`, `/-/healthy` and `/-/ready`. Only the metrics path counts against
//! `--web.max-requests`, so health checks keep answering under load. On
//! shutdown the listener closes at once and requests under way finish.

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
use tokio::sync::Semaphore;

use crate::scrape::Scraper;
use crate::web_config::{Auth, WebConfigWatcher, WebSettings};

/// A client must send its request headers within this time.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Requests still under way this long after shutdown began are abandoned.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(9);

const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What the request handlers share.
#[derive(Debug)]
pub struct App {
    /// Fetches and renders.
    pub scraper: Arc<Scraper>,
    /// Path of the metrics endpoint.
    pub telemetry_path: String,
    /// Subtracted from the scraper's timeout header.
    pub timeout_offset: Duration,
    /// `None` when `--web.max-requests` is 0.
    pub request_slots: Option<Semaphore>,
    /// Shows the DEMO banner on the landing page.
    pub demo: bool,
    /// TLS, basic auth and headers from `--web.config.file`.
    pub web: WebConfigWatcher,
}

/// Serves `app` on `listener` until `shutdown` completes, then lets requests
/// under way finish (for at most [`SHUTDOWN_GRACE`]).
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
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
        // Settings are taken per connection, so a changed web config file
        // (a rotated certificate) applies from the next connection on.
        let settings = app.web.current();
        let watcher = graceful.watcher();
        let app = Arc::clone(&app);
        tokio::spawn(async move {
            let result = match &settings.tls {
                None => serve_connection(stream, app, Arc::clone(&settings), watcher).await,
                Some(acceptor) => {
                    match tokio::time::timeout(HEADER_READ_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            serve_connection(tls, app, Arc::clone(&settings), watcher).await
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
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still under way after {SHUTDOWN_GRACE:?}; closing anyway");
    }
    Ok(())
}

/// Serves HTTP/1.1 on one accepted connection (plain or TLS).
async fn serve_connection<IO>(
    io: IO,
    app: Arc<App>,
    settings: Arc<WebSettings>,
    watcher: hyper_util::server::graceful::Watcher,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |request| {
        let app = Arc::clone(&app);
        let settings = Arc::clone(&settings);
        async move {
            let mut response = authorize_then_handle(&app, &settings, request).await;
            for (name, value) in &settings.headers {
                response.headers_mut().insert(name.clone(), value.clone());
            }
            Ok::<_, Infallible>(response)
        }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(io), service);
    watcher.watch(connection).await?;
    Ok(())
}

/// Checks basic auth (when configured) before routing. Health endpoints
/// stay open so that liveness probes need no credentials.
async fn authorize_then_handle(
    app: &App,
    settings: &Arc<WebSettings>,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
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
    handle(app, request).await
}

/// Routes one request.
pub async fn handle(app: &App, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = request.uri().path();
    let known = path == app.telemetry_path || matches!(path, "/" | "/-/healthy" | "/-/ready");
    if !known {
        return text(StatusCode::NOT_FOUND, "Not Found\n");
    }
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed\n");
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let head = request.method() == Method::HEAD;
    let response = match path {
        "/-/healthy" => text(StatusCode::OK, "Healthy\n"),
        "/-/ready" => text(StatusCode::OK, "Ready\n"),
        "/" => landing_page(app),
        _ if head => {
            // A HEAD must not cost an API request.
            let mut response = Response::new(Full::new(Bytes::new()));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(METRICS_CONTENT_TYPE),
            );
            return response;
        }
        _ => metrics(app, request.headers()).await,
    };
    if head {
        let (parts, _) = response.into_parts();
        return Response::from_parts(parts, Full::new(Bytes::new()));
    }
    response
}

async fn metrics(app: &App, headers: &HeaderMap) -> Response<Full<Bytes>> {
    let _slot = match &app.request_slots {
        Some(slots) => match slots.try_acquire() {
            Ok(slot) => Some(slot),
            Err(_) => {
                return text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Too many concurrent requests (--web.max-requests)\n",
                );
            }
        },
        None => None,
    };
    let deadline = fetch_deadline(
        app.scraper.api_timeout(),
        headers
            .get("x-prometheus-scrape-timeout-seconds")
            .and_then(|v| v.to_str().ok()),
        app.timeout_offset,
    );
    let exposition = app.scraper.scrape(deadline).await;
    let mut response = if accepts_gzip(headers) {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        match encoder
            .write_all(&exposition.body)
            .and_then(|()| encoder.finish())
        {
            Ok(compressed) => {
                let mut response = Response::new(Full::new(Bytes::from(compressed)));
                response
                    .headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                response
            }
            Err(_) => Response::new(Full::new(Bytes::from(exposition.body))),
        }
    } else {
        Response::new(Full::new(Bytes::from(exposition.body)))
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(METRICS_CONTENT_TYPE),
    );
    headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    response
}

/// The fetch deadline: `--api.timeout`, shortened to the scraper's own
/// timeout minus `--web.timeout-offset` when Prometheus sends one. When the
/// offset would leave nothing, the scraper's timeout is used as it is.
pub fn fetch_deadline(
    api_timeout: Duration,
    scrape_timeout: Option<&str>,
    offset: Duration,
) -> Duration {
    let Some(seconds) = scrape_timeout.and_then(|v| v.trim().parse::<f64>().ok()) else {
        return api_timeout;
    };
    let Ok(scrape_timeout) = Duration::try_from_secs_f64(seconds) else {
        return api_timeout;
    };
    if scrape_timeout.is_zero() {
        return api_timeout;
    }
    let budget = match scrape_timeout.checked_sub(offset) {
        Some(budget) if !budget.is_zero() => budget,
        _ => scrape_timeout,
    };
    api_timeout.min(budget)
}

/// Whether `Accept-Encoding` lists gzip with a non-zero quality.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f64>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn landing_page(app: &App) -> Response<Full<Bytes>> {
    let path = html_escape(&app.telemetry_path);
    let banner = if app.demo {
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
<li><a href="{path}">Metrics</a> ({path})</li>
<li><a href="/-/healthy">Health</a></li>
<li><a href="/-/ready">Readiness</a></li>
</ul>
</body>
</html>
"#,
        version = crate::VERSION,
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
pub async fn bind(address: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(address).await.map_err(|error| {
        std::io::Error::new(error.kind(), format!("cannot listen on {address}: {error}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_is_the_shorter_of_api_timeout_and_scrape_timeout_minus_offset() {
        let secs = Duration::from_secs_f64;
        let offset = secs(0.5);
        assert_eq!(fetch_deadline(secs(10.0), None, offset), secs(10.0));
        assert_eq!(fetch_deadline(secs(10.0), Some("5"), offset), secs(4.5));
        assert_eq!(fetch_deadline(secs(3.0), Some("5"), offset), secs(3.0));
        assert_eq!(fetch_deadline(secs(10.0), Some("0.4"), offset), secs(0.4));
        assert_eq!(fetch_deadline(secs(10.0), Some("junk"), offset), secs(10.0));
        assert_eq!(fetch_deadline(secs(10.0), Some("-1"), offset), secs(10.0));
        assert_eq!(fetch_deadline(secs(10.0), Some("0"), offset), secs(10.0));
        assert_eq!(
            fetch_deadline(secs(10.0), Some("1e300"), offset),
            secs(10.0)
        );
    }

    #[test]
    fn gzip_is_used_only_when_accepted() {
        let accepts = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::ACCEPT_ENCODING,
                HeaderValue::from_str(value).unwrap_or_else(|e| panic!("{e}")),
            );
            accepts_gzip(&headers)
        };
        assert!(accepts("gzip"));
        assert!(accepts("deflate, GZIP;q=0.5"));
        assert!(accepts("identity, *"));
        assert!(!accepts("identity"));
        assert!(!accepts("gzip;q=0"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn landing_page_escapes_the_telemetry_path() {
        assert_eq!(html_escape(r#"/m"><script>"#), "/m&quot;&gt;&lt;script&gt;");
    }
}
