//! Proxies and certificates (README, Proxies and certificates): the real
//! binary reaches an API served over TLS by a certificate of a private CA
//! when `SSL_CERT_FILE` names that CA, through the HTTP proxy that
//! `HTTPS_PROXY` names (a `CONNECT` tunnel, so the proxy never sees the key),
//! and straight past it for the hosts `NO_PROXY` lists.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::support::process::run;
use crate::support::tls::{Ca, Leaf};
use crate::support::*;

/// The AGI API over TLS on 127.0.0.1, with a certificate for `localhost`.
struct TlsApi {
    address: SocketAddr,
    task: JoinHandle<()>,
}

impl TlsApi {
    async fn start(leaf: &Leaf) -> TlsApi {
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(leaf.cert.as_bytes())
                .collect::<Result<_, _>>()
                .unwrap();
        let key = PrivateKeyDer::from_pem_slice(leaf.key.as_bytes()).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(stream) = acceptor.accept(stream).await else {
                        return;
                    };
                    let service = service_fn(|_: Request<hyper::body::Incoming>| async {
                        let body = format!("[{EXAMPLE_SESSION}]");
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body))))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        TlsApi { address, task }
    }

    /// Its URL by host name, as the certificate names it.
    fn url(&self) -> String {
        format!("https://localhost:{}", self.address.port())
    }
}

impl Drop for TlsApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An HTTP proxy that only tunnels (`CONNECT`), and records each request
/// head it was sent.
struct ConnectProxy {
    address: SocketAddr,
    heads: Arc<Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

impl ConnectProxy {
    async fn start() -> ConnectProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&heads);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(tunnel(client, Arc::clone(&recorded)));
            }
        });
        ConnectProxy {
            address,
            heads,
            task,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
}

impl Drop for ConnectProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one request head; for `CONNECT host:port`, connects there (always
/// to 127.0.0.1: nothing leaves the machine) and copies both ways.
async fn tunnel(mut client: TcpStream, heads: Arc<Mutex<Vec<String>>>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
        match client.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    heads.lock().unwrap().push(head.clone());
    let target = head
        .strip_prefix("CONNECT ")
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|authority| authority.rsplit_once(':'))
        .and_then(|(_, port)| port.parse::<u16>().ok());
    let Some(port) = target else {
        let _ = client
            .write_all(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n")
            .await;
        return;
    };
    let Ok(mut upstream) = TcpStream::connect(("127.0.0.1", port)).await else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
        return;
    };
    if client
        .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        .await
        .is_ok()
    {
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
    }
}

/// Runs `--once` against `api` with this environment (and the test key).
async fn once(api: &TlsApi, env: &[(&str, &str)]) -> process::Finished {
    let mut env = env.to_vec();
    env.push(("AGI_API_KEY", KEY));
    run(&["--once", "--api.url", &api.url()], &env).await
}

#[tokio::test]
async fn a_private_ca_in_ssl_cert_file_and_a_proxy_in_https_proxy_are_used() {
    let dir = TempFile::with_contents("ca", "");
    let ca = Ca::new("agi_exporter test CA");
    std::fs::write(dir.path(), ca.pem()).unwrap();
    let api = TlsApi::start(&ca.server()).await;
    let proxy = ConnectProxy::start().await;
    let ca_file = dir.path();

    // Without the CA the certificate is refused: SSL_CERT_FILE is what
    // makes the next run work.
    let untrusted = once(&api, &[]).await;
    assert_eq!(untrusted.code(), Some(1), "{}", untrusted.stderr);
    assert_eq!(
        failures(&untrusted.stdout, "connect"),
        1.0,
        "{}",
        untrusted.stdout
    );

    let proxied = once(
        &api,
        &[("SSL_CERT_FILE", ca_file), ("HTTPS_PROXY", &proxy.url())],
    )
    .await;
    assert_eq!(
        proxied.code(),
        Some(0),
        "{}\n{}",
        proxied.stdout,
        proxied.stderr
    );
    assert_eq!(up(&proxied.stdout), 1.0);
    let heads = proxy.heads();
    let [head] = heads.as_slice() else {
        panic!("expected one request through the proxy, got {heads:?}");
    };
    assert!(
        head.starts_with(&format!(
            "CONNECT localhost:{} HTTP/1.1\r\n",
            api.address.port()
        )),
        "{head}"
    );
    assert_no_key_in(KEY, "the request to the proxy, in the clear", head);

    let bypassed = once(
        &api,
        &[
            ("SSL_CERT_FILE", ca_file),
            ("HTTPS_PROXY", &proxy.url()),
            ("NO_PROXY", "localhost"),
        ],
    )
    .await;
    assert_eq!(bypassed.code(), Some(0), "{}", bypassed.stderr);
    assert_eq!(
        proxy.heads().len(),
        1,
        "NO_PROXY=localhost must bypass the proxy"
    );
}
