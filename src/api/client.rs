//! The HTTP client for `GET /v1/sessions`.
//!
//! It sends the bearer key to `--api.url` and nowhere else: redirects are
//! never followed. It asks for gzip, and hands the body over chunk by chunk
//! as it arrives (the fold inflates it and counts it against
//! `--api.max-response-bytes`), so no copy of the whole body is ever held;
//! a `Content-Length` over the cap is refused before the body is read.
//! Every way a request can fail maps to one [`FailureReason`], the fixed
//! label set of `agi_api_request_failures_total`.

use std::time::{Duration, SystemTime};

use reqwest::header;
use reqwest::{StatusCode, Url, redirect};

use super::inflate::Inflater;
use super::key::{ApiKey, KeySource};
use super::parse::ParseError;
use super::redact::{Redactor, UpstreamText};

/// The fixed set of reasons a request can fail for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum FailureReason {
    /// No complete answer before the deadline.
    Timeout,
    /// No connection (DNS, refused, TLS handshake, reset).
    Connect,
    /// HTTP 401 or 403: the key was refused.
    Unauthorized,
    /// HTTP 429.
    RateLimited,
    /// Any other non-2xx status.
    HttpStatus,
    /// A 3xx answer, which is never followed.
    Redirect,
    /// The body exceeded `--api.max-response-bytes`.
    TooLarge,
    /// The body is not a session list.
    InvalidResponse,
}

impl FailureReason {
    /// Every reason, in the order they are documented.
    pub(crate) const ALL: [FailureReason; 8] = [
        FailureReason::Timeout,
        FailureReason::Connect,
        FailureReason::Unauthorized,
        FailureReason::RateLimited,
        FailureReason::HttpStatus,
        FailureReason::Redirect,
        FailureReason::TooLarge,
        FailureReason::InvalidResponse,
    ];

    /// The `reason` label value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            FailureReason::Timeout => "timeout",
            FailureReason::Connect => "connect",
            FailureReason::Unauthorized => "unauthorized",
            FailureReason::RateLimited => "rate_limited",
            FailureReason::HttpStatus => "http_status",
            FailureReason::Redirect => "redirect",
            FailureReason::TooLarge => "too_large",
            FailureReason::InvalidResponse => "invalid_response",
        }
    }
}

/// Why a fetch produced no session list. Messages never contain the key:
/// every piece of upstream text in them is an [`UpstreamText`], which only
/// redaction makes.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum FetchError {
    /// No complete answer before the deadline.
    #[error("no complete answer within {0:?}")]
    Timeout(Duration),
    /// The connection could not be made or broke.
    #[error("cannot reach the API: {0}")]
    Connect(UpstreamText),
    /// 401/403.
    #[error(
        "the API refused the key (HTTP {status}: {message}); check AGI_API_KEY, --api.key-file, or the account's key_file or key_env"
    )]
    Unauthorized {
        /// 401 or 403.
        status: u16,
        /// The API's error message, if it gave one.
        message: UpstreamText,
    },
    /// 429, or still waiting for an earlier 429's `Retry-After`.
    #[error("rate limited by the API; no request for {retry_after:?}")]
    RateLimited {
        /// How long until the next request may be sent.
        retry_after: Duration,
    },
    /// Another non-2xx status.
    #[error("HTTP {status}: {message}")]
    HttpStatus {
        /// The status code.
        status: u16,
        /// The API's error message, if it gave one.
        message: UpstreamText,
    },
    /// A 3xx status; redirects are not followed so the key stays with `--api.url`.
    #[error(
        "HTTP {status} redirect to \"{location}\" not followed; set --api.url to the final address"
    )]
    Redirect {
        /// The status code.
        status: u16,
        /// Where the `Location` header points: scheme, host, port and path
        /// only (no credentials, query or fragment).
        location: UpstreamText,
    },
    /// The body exceeded the size cap.
    #[error("response larger than {limit} bytes (--api.max-response-bytes)")]
    TooLarge {
        /// The cap.
        limit: u64,
    },
    /// The body is not a session list, or its encoding is broken.
    #[error("invalid response: {0}")]
    InvalidResponse(#[from] InvalidBody),
    /// The request shared by several scrapes ended without an answer (its
    /// task was cancelled, as when the runtime shuts down).
    #[error("the shared API request ended without an answer")]
    Abandoned,
}

/// Why a body that arrived is not a session list.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum InvalidBody {
    /// It is not the JSON expected.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// Its transfer or content encoding is broken (corrupt gzip, a chunk
    /// that ends early), as the HTTP stack reported it.
    #[error("{0}")]
    Encoding(UpstreamText),
}

impl FetchError {
    /// The `reason` label this error is counted under.
    pub(crate) fn reason(&self) -> FailureReason {
        match self {
            FetchError::Timeout(_) => FailureReason::Timeout,
            FetchError::Connect(_) => FailureReason::Connect,
            FetchError::Unauthorized { .. } => FailureReason::Unauthorized,
            FetchError::RateLimited { .. } => FailureReason::RateLimited,
            FetchError::HttpStatus { .. } => FailureReason::HttpStatus,
            FetchError::Redirect { .. } => FailureReason::Redirect,
            FetchError::TooLarge { .. } => FailureReason::TooLarge,
            FetchError::InvalidResponse(_) => FailureReason::InvalidResponse,
            FetchError::Abandoned => FailureReason::Connect,
        }
    }
}

/// The client could not be built (a TLS or system configuration problem).
#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client: {0}")]
pub struct ClientError(#[from] reqwest::Error);

/// Fetches the session list.
#[derive(Debug)]
pub(crate) struct ApiClient {
    http: reqwest::Client,
    sessions_url: Url,
    key: KeySource,
    max_response_bytes: u64,
}

/// An answer whose status says a session list follows, its body still to
/// be read chunk by chunk.
#[derive(Debug)]
pub(crate) struct Answer {
    response: reqwest::Response,
    gzip: bool,
}

/// How much of an error body is read for its message.
const ERROR_BODY_BYTES: usize = 4096;

/// Longest excerpt of an error body kept for the log line.
const ERROR_MESSAGE_CHARS: usize = 200;

/// Longest error chain kept for the log line.
const ERROR_CHAIN_CHARS: usize = 1000;

/// The HTTP client every account of a process sends with: one set of
/// trusted roots and one connection pool, whatever the number of accounts
/// (each client loads the roots anew, about 66 KB). Proxy and CA settings
/// come from the environment when it is built.
pub(crate) fn http_client() -> Result<reqwest::Client, ClientError> {
    // Installing fails only if a provider is already installed, which is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Ok(reqwest::Client::builder()
        .user_agent(concat!("agi_exporter/", env!("CARGO_PKG_VERSION")))
        .redirect(redirect::Policy::none())
        .pool_idle_timeout(Duration::from_secs(90))
        .build()?)
}

impl ApiClient {
    /// A client for `{base_url}/v1/sessions`, sending with `http`.
    pub(crate) fn new(
        http: &reqwest::Client,
        base_url: &Url,
        key: KeySource,
        max_response_bytes: u64,
    ) -> Self {
        let http = http.clone();
        let mut sessions_url = base_url.clone();
        let path = format!("{}/v1/sessions", base_url.path().trim_end_matches('/'));
        sessions_url.set_path(&path);
        ApiClient {
            http,
            sessions_url,
            key,
            max_response_bytes,
        }
    }

    /// The URL every request goes to.
    #[cfg(test)]
    fn sessions_url(&self) -> &Url {
        &self.sessions_url
    }

    /// `--api.max-response-bytes`.
    pub(crate) fn max_response_bytes(&self) -> u64 {
        self.max_response_bytes
    }

    /// The key for the next request (a key file is read again).
    pub(crate) fn key(&self) -> ApiKey {
        self.key.current()
    }

    /// The key, read without a warning should the key file be unusable.
    pub(crate) fn key_quietly(&self) -> ApiKey {
        self.key.current_quietly()
    }

    /// Sends one `GET /v1/sessions` with `key`; an answer that is not a
    /// session list to come (a status other than 2xx, a `Content-Length`
    /// over the cap, an encoding that was not asked for) is its error, its
    /// text redacted with `redactor`.
    pub(crate) async fn send(
        &self,
        key: &ApiKey,
        redactor: &Redactor,
    ) -> Result<Answer, FetchError> {
        let response = self
            .http
            .get(self.sessions_url.clone())
            .header(header::AUTHORIZATION, key.authorization())
            .header(header::ACCEPT, "application/json")
            .header(header::ACCEPT_ENCODING, "gzip")
            .send()
            .await
            .map_err(|e| transport_error(&e, redactor))?;

        let status = response.status();
        if !status.is_success() {
            return Err(status_error(response, &self.sessions_url, redactor).await);
        }
        if response
            .content_length()
            .is_some_and(|length| length > self.max_response_bytes)
        {
            return Err(FetchError::TooLarge {
                limit: self.max_response_bytes,
            });
        }
        let gzip = is_gzip(&response, redactor)?;
        Ok(Answer { response, gzip })
    }
}

impl Answer {
    /// Whether the body is gzip (the caller inflates it).
    pub(crate) fn is_gzip(&self) -> bool {
        self.gzip
    }

    /// The next chunk of the body as it arrives, `None` at its end.
    pub(crate) async fn chunk(
        &mut self,
        redactor: &Redactor,
    ) -> Result<Option<bytes::Bytes>, FetchError> {
        self.response
            .chunk()
            .await
            .map_err(|e| transport_error(&e, redactor))
    }
}

/// Whether the body is gzip, the one encoding asked for; another is an
/// invalid answer.
fn is_gzip(response: &reqwest::Response, redactor: &Redactor) -> Result<bool, FetchError> {
    let Some(encoding) = response.headers().get(header::CONTENT_ENCODING) else {
        return Ok(false);
    };
    let encoding = String::from_utf8_lossy(encoding.as_bytes())
        .trim()
        .to_ascii_lowercase();
    match encoding.as_str() {
        "" | "identity" => Ok(false),
        "gzip" | "x-gzip" => Ok(true),
        other => Err(encoding_error(
            &format!("Content-Encoding {other:?}, which was not asked for (only gzip is)"),
            redactor,
        )),
    }
}

/// A body whose encoding is broken or not asked for, in a message redacted
/// like all upstream text.
pub(crate) fn encoding_error(message: &str, redactor: &Redactor) -> FetchError {
    FetchError::InvalidResponse(InvalidBody::Encoding(redactor.excerpt(
        message,
        false,
        ERROR_CHAIN_CHARS,
    )))
}

/// Maps a non-2xx answer to its error, reading a short excerpt of the body
/// for the log.
async fn status_error(response: reqwest::Response, url: &Url, redactor: &Redactor) -> FetchError {
    let status = response.status();
    if status.is_redirection() {
        // Redacted before it is parsed too: parsing lowercases the host and
        // rewrites the path, which would hide the key from redaction.
        let location = response.headers().get(header::LOCATION).map(|v| {
            let raw = redactor.redact(&String::from_utf8_lossy(v.as_bytes()));
            location_for_log(&raw, url)
        });
        return FetchError::Redirect {
            status: status.as_u16(),
            location: redactor.excerpt(location.as_deref().unwrap_or("nowhere"), false, 200),
        };
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()))
            .unwrap_or(DEFAULT_RETRY_AFTER);
        return FetchError::RateLimited { retry_after };
    }
    let message = error_message(response, redactor).await;
    match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => FetchError::Unauthorized {
            status: status.as_u16(),
            message,
        },
        _ => FetchError::HttpStatus {
            status: status.as_u16(),
            message,
        },
    }
}

/// Wait this long after a 429 that gives no usable `Retry-After`.
pub(crate) const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(60);

/// The longest back-off a `Retry-After` can impose: a broken or hostile
/// value must not silence the exporter for days.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Parses `Retry-After` in its delta-seconds or HTTP-date form, capped at
/// [`MAX_RETRY_AFTER`].
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let wait = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => {
            let when = httpdate::parse_http_date(value).ok()?;
            when.duration_since(now).unwrap_or(Duration::ZERO)
        }
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// Where a `Location` points, for a log line: scheme, host, port and path
/// only. Credentials, the query and the fragment are dropped whatever they
/// hold, so a redirect that carries a token in its query shows nothing of
/// it. A relative location is resolved against the URL that was requested.
fn location_for_log(location: &str, requested: &Url) -> String {
    match requested.join(location.trim()) {
        Ok(url) => {
            let mut shown = format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""));
            if let Some(port) = url.port() {
                shown.push_str(&format!(":{port}"));
            }
            shown.push_str(url.path());
            shown
        }
        Err(_) => "an invalid URL".to_owned(),
    }
}

/// The API's error message: `message`, `error` or `detail` from a JSON body,
/// else the start of a text body, redacted in case the API echoes the key.
async fn error_message(response: reqwest::Response, redactor: &Redactor) -> UpstreamText {
    // Read at most a few KiB: the message is for a log line. It may be
    // gzip like any answer.
    let mut response = response;
    let mut inflater = is_gzip(&response, redactor)
        .unwrap_or(false)
        .then(Inflater::new);
    let mut body = Vec::new();
    let mut keep = |bytes: &[u8]| {
        let room = ERROR_BODY_BYTES - body.len();
        body.extend_from_slice(&bytes[..bytes.len().min(room)]);
        if body.len() == ERROR_BODY_BYTES {
            Err(())
        } else {
            Ok(())
        }
    };
    let mut inflated = Vec::with_capacity(ERROR_BODY_BYTES);
    let cut = loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let full = match &mut inflater {
                    None => keep(&chunk).is_err(),
                    Some(inflater) => {
                        let kept = inflater.inflate(&chunk, &mut inflated, |full| {
                            let kept = keep(full);
                            full.clear();
                            kept
                        });
                        kept.is_err()
                    }
                };
                if full {
                    break true;
                }
            }
            Ok(None) => break false,
            Err(_) => break true,
        }
    };
    // What was inflated last, short of a full piece.
    let cut = keep(&inflated).is_err() || cut;
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        message: Option<serde_json::Value>,
        error: Option<serde_json::Value>,
        detail: Option<serde_json::Value>,
    }
    // A message in words is shown; a structure (a validation error's
    // `detail` list, an object) is not: it may echo what the API holds,
    // a session's goal or URLs among it.
    let from_json = serde_json::from_slice::<ErrorBody>(&body)
        .ok()
        .and_then(|e| {
            [e.message, e.error, e.detail]
                .into_iter()
                .flatten()
                .find(|v| !v.is_null())
                .map(|v| match v {
                    serde_json::Value::String(text) => text,
                    serde_json::Value::Array(_) | serde_json::Value::Object(_) => {
                        "details not shown".to_owned()
                    }
                    other => other.to_string(),
                })
        });
    let excerpt = match from_json {
        Some(text) => redactor.excerpt(&without_url_secrets(&text), false, ERROR_MESSAGE_CHARS),
        None => redactor.excerpt(
            &without_url_secrets(&String::from_utf8_lossy(&body)),
            cut,
            ERROR_MESSAGE_CHARS,
        ),
    };
    if excerpt.is_empty() {
        return redactor.excerpt("no message", false, ERROR_MESSAGE_CHARS);
    }
    excerpt
}

/// `text` as a log line may show it: its JSON escapes (`\/`, `\u002f`)
/// and percent-escapes decoded, so that a URL is found however it is
/// written, and every URL without its user information, query and fragment
/// (a URL the API quotes may carry a token: a session's `vnc_url` does).
fn without_url_secrets(text: &str) -> String {
    let decoded = percent_decoded(&json_unescaped(text));
    let mut out = String::with_capacity(decoded.len());
    let mut rest = decoded.as_str();
    while let Some(at) = rest.find("://") {
        let (before, url) = rest.split_at(at + 3);
        out.push_str(before);
        let end = url
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '\\'))
            .unwrap_or(url.len());
        let (url, after) = url.split_at(end);
        let kept = url.find(['?', '#']).unwrap_or(url.len());
        let (address, secret) = url.split_at(kept);
        let authority_end = address.find('/').unwrap_or(address.len());
        let host = match address[..authority_end].rfind('@') {
            Some(at) => &address[at + 1..],
            None => address,
        };
        out.push_str(host);
        if !secret.is_empty() || host.len() < address.len() {
            out.push('…');
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// `text` with `\/` and `\u00XX` (an ASCII character) decoded.
fn json_unescaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let escape = &rest[at..];
        let ascii = escape
            .strip_prefix("\\u00")
            .and_then(|hex| hex.get(..2))
            .and_then(|hex| u8::from_str_radix(hex, 16).ok())
            .filter(u8::is_ascii);
        match (escape.strip_prefix("\\/"), ascii) {
            (Some(after), _) => {
                out.push('/');
                rest = after;
            }
            (None, Some(byte)) => {
                out.push(char::from(byte));
                rest = &escape[6..];
            }
            (None, None) => {
                out.push('\\');
                rest = &escape[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// `text` with its `%XX` escapes decoded (what is not UTF-8 then shown as
/// such).
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let byte = bytes[at];
        let escaped = (byte == b'%')
            .then(|| bytes.get(at + 1..at + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(decoded) => {
                out.push(decoded);
                at += 3;
            }
            None => {
                out.push(byte);
                at += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Maps a reqwest error to a reason. The message is the error with its
/// causes, which carry the URL but never the request headers; it is
/// redacted all the same, since a cause may quote what the server sent.
fn transport_error(error: &reqwest::Error, redactor: &Redactor) -> FetchError {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    let message = redactor.excerpt(&message, false, ERROR_CHAIN_CHARS);
    // An answer that is not HTTP (a garbage status line or header) came
    // from something that listens: the answer is invalid, not the
    // connection.
    let mut causes = std::iter::successors(std::error::Error::source(error), |e| e.source());
    let unparseable = causes.any(|cause| {
        cause
            .downcast_ref::<hyper::Error>()
            .is_some_and(|e| e.is_parse() || e.is_parse_status())
    });
    // reqwest has no timeout of its own here: the deadline is enforced
    // around the whole fetch (crate::deadline).
    if unparseable || error.is_decode() || error.is_body() && !error.is_connect() {
        FetchError::InvalidResponse(InvalidBody::Encoding(message))
    } else {
        FetchError::Connect(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_in_upstream_text_lose_their_credentials_queries_and_fragments_however_written() {
        let shown = |text: &str| without_url_secrets(text);
        assert_eq!(
            shown(
                "see https://vnc.example.test/s/1?token=t0k#frag, \"http://a.test/x?y\" or ftp://h/p#f and https://plain.test/path."
            ),
            "see https://vnc.example.test/s/1… \"http://a.test/x…\" or ftp://h/p… and https://plain.test/path."
        );
        // JSON-escaped, percent-encoded, and with a token as user info.
        assert_eq!(
            shown(r#"{"vnc_url":"https:\/\/vnc.example.test\/s\/1?token=Tok1"}"#),
            r#"{"vnc_url":"https://vnc.example.test/s/1…"}"#
        );
        assert_eq!(
            shown(r#"{"u":"https\u003a\u002f\u002fh.test\u002fs\u003ftoken=Tok2"}"#),
            r#"{"u":"https://h.test/s…"}"#
        );
        assert_eq!(
            shown("bad https%3A%2F%2Fh.test%2Fs%3Ftoken%3DTok3"),
            "bad https://h.test/s…"
        );
        assert_eq!(
            shown("see https://user:Tok4@h.test/s now"),
            "see https://h.test/s… now"
        );
        for text in ["no url? none# here", "a \\ b \\u00zz %zz %4", "://?q"] {
            assert!(!shown(text).contains("Tok"), "{text}");
        }
        assert_eq!(shown("no url? none# here"), "no url? none# here");
        assert_eq!(shown("://?q"), "://…");
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:30:00 GMT", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 00:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(
            parse_retry_after("18446744073709551615", now),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(
            parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(parse_retry_after("-5", now), None);
    }

    #[test]
    fn every_reason_has_a_distinct_label() {
        let mut labels: Vec<_> = FailureReason::ALL.iter().map(|r| r.as_str()).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), 8);
    }

    #[test]
    fn a_location_is_logged_without_credentials_query_or_fragment() -> Result<(), url::ParseError> {
        let requested = Url::parse("https://api.agi.tech/v1/sessions")?;
        for (location, shown) in [
            (
                "https://user:pw@evil.example:8443/steal/it?key=s3cret&b=x#frag",
                "https://evil.example:8443/steal/it",
            ),
            ("/v2/sessions?token=abc", "https://api.agi.tech/v2/sessions"),
            ("http://[::1]/x", "http://[::1]/x"),
            ("https://", "an invalid URL"),
        ] {
            assert_eq!(location_for_log(location, &requested), shown, "{location}");
        }
        Ok(())
    }

    #[test]
    fn sessions_url_keeps_a_base_path() -> Result<(), Box<dyn std::error::Error>> {
        let key =
            || KeySource::Fixed(ApiKey::new("client-test-key").unwrap_or_else(|e| panic!("{e}")));
        let client = ApiClient::new(
            &http_client()?,
            &Url::parse("https://api.agi.tech")?,
            key(),
            1,
        );
        assert_eq!(
            client.sessions_url().as_str(),
            "https://api.agi.tech/v1/sessions"
        );
        let client = ApiClient::new(
            &http_client()?,
            &Url::parse("http://127.0.0.1:9/proxy/agi/")?,
            key(),
            1,
        );
        assert_eq!(
            client.sessions_url().as_str(),
            "http://127.0.0.1:9/proxy/agi/v1/sessions"
        );
        Ok(())
    }
}
