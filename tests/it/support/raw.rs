//! An "API" that speaks raw TCP on 127.0.0.1, for faults a well-behaved HTTP
//! server cannot produce: hang-ups, hand-made answers, bodies sent in
//! pieces.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// What a [`RawUpstream`] does with each connection.
#[derive(Debug, Clone)]
pub enum RawAnswer {
    /// Close the connection as soon as it is accepted, before reading.
    CloseAtOnce,
    /// Read the request head, then close without answering.
    CloseAfterRequest,
    /// Read the request head, write these bytes verbatim, then close.
    Send(Vec<u8>),
    /// Read the request head, write these bytes, then hold the connection
    /// open without another byte (for at most 30 s).
    SendAndHold(Vec<u8>),
}

/// An "API" that speaks raw TCP on 127.0.0.1, for faults the simulator's
/// well-behaved HTTP server cannot produce: hang-ups and hand-made bodies.
pub struct RawUpstream {
    address: SocketAddr,
    connections: Arc<AtomicU64>,
    requests: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl RawUpstream {
    /// Binds 127.0.0.1 on an ephemeral port and answers every connection
    /// with `answer`.
    pub async fn start(answer: RawAnswer) -> RawUpstream {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let address = listener.local_addr().expect("local address");
        let connections = Arc::new(AtomicU64::new(0));
        let requests = Arc::new(AtomicU64::new(0));
        let (counted_connections, counted_requests) =
            (Arc::clone(&connections), Arc::clone(&requests));
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    continue;
                };
                counted_connections.fetch_add(1, Ordering::SeqCst);
                let answer = answer.clone();
                let requests = Arc::clone(&counted_requests);
                tokio::spawn(async move {
                    if matches!(answer, RawAnswer::CloseAtOnce) {
                        return;
                    }
                    if !read_request_head(&mut stream).await {
                        return;
                    }
                    requests.fetch_add(1, Ordering::SeqCst);
                    match answer {
                        RawAnswer::Send(bytes) => {
                            let _ = stream.write_all(&bytes).await;
                            let _ = stream.shutdown().await;
                        }
                        RawAnswer::SendAndHold(bytes) => {
                            let _ = stream.write_all(&bytes).await;
                            tokio::time::sleep(Duration::from_secs(30)).await;
                        }
                        RawAnswer::CloseAtOnce | RawAnswer::CloseAfterRequest => {}
                    }
                });
            }
        });
        RawUpstream {
            address,
            connections,
            requests,
            task,
        }
    }

    /// The base URL for `--api.url`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::SeqCst)
    }

    /// Complete request heads received so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for RawUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads until the blank line that ends a request head (at most 64 KiB, 5 s).
async fn read_request_head(stream: &mut tokio::net::TcpStream) -> bool {
    let mut head = Vec::new();
    let mut buffer = [0u8; 4096];
    let read = async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => head.extend_from_slice(&buffer[..n]),
            }
        }
        true
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .unwrap_or(false)
}

/// A complete HTTP/1.1 200 answer whose body is sent with chunked transfer
/// encoding (so there is no `Content-Length` to check up front).
pub fn chunked_response(body: &[u8], chunk_size: usize) -> Vec<u8> {
    chunked_response_with(&[], body, chunk_size)
}

/// The same, with extra header lines (`"content-encoding: gzip"`).
pub fn chunked_response_with(headers: &[&str], body: &[u8], chunk_size: usize) -> Vec<u8> {
    let mut out = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n".to_vec();
    for header in headers {
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    for chunk in body.chunks(chunk_size.max(1)) {
        out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}
