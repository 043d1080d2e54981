//! Folding a body into a snapshot, on a thread of its own, as it arrives.
//!
//! The fetch reads the body chunk by chunk and hands each chunk to this
//! fold, which runs on a blocking thread: the async runtime only moves
//! bytes, so no fold ever holds a worker, and reading the socket overlaps
//! with parsing. A gzip body goes through [`inflate`] first, on a blocking
//! thread of its own, so that inflating overlaps with parsing too. The fold
//! counts the (inflated) bytes against `--api.max-response-bytes`, parses
//! them as they come ([`SessionStream`]) and folds each session into the
//! aggregate.
//!
//! Folds run one after another on one thread that lives as long as the
//! exporter ([`Worker`]), and inflation on another: the tracker's large
//! lists are then always allocated and freed by the same thread, instead of
//! by whichever thread of a pool ran each fetch, which left each pool
//! thread's allocator arena holding a list's worth of memory.
//!
//! A fold holds the session tracker for as long as it runs. Only a body that
//! arrived whole and parsed becomes the tracker's new baseline: if the
//! fetch is given up (its deadline, a broken connection), the fold stops
//! without finishing and the tracker is left as it was.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc::{Receiver, Sender};
use tokio::sync::{OwnedMutexGuard, oneshot};

use crate::aggregate::{Aggregator, FetchTimes, Limits, SessionTracker, Snapshot};
use crate::api::inflate::{InflateError, Inflated, Inflater};
use crate::api::parse::SessionStream;
use crate::api::redact::Redactor;
use crate::api::{FetchError, encoding_error};

/// What the fetch (or the inflater) hands the fold.
#[derive(Debug)]
pub(crate) enum Piece {
    /// The next chunk of the body.
    Chunk(Bytes),
    /// The body is complete.
    End,
    /// The body cannot be read on (it cannot be inflated).
    Failed(FetchError),
}

/// Chunks that may wait for the fold: enough to keep it busy while the
/// socket is read, few enough that a slow fold slows the reading rather
/// than filling memory.
pub(crate) const QUEUE: usize = 8;

/// What one fold needs.
pub(crate) struct Fold {
    /// The tracker, held until the fold ends.
    pub(crate) tracker: OwnedMutexGuard<SessionTracker>,
    pub(crate) limits: Limits,
    /// The redactor of the key the body was fetched with.
    pub(crate) redactor: Arc<Redactor>,
    pub(crate) times: FetchTimes,
    /// `--api.max-response-bytes`, counted on inflated bytes.
    pub(crate) max_bytes: u64,
}

impl Fold {
    /// Folds the pieces as they come; blocks the calling thread, so it runs
    /// on a blocking one. `Err(Abandoned)` when the pieces stop without
    /// [`Piece::End`]: the fetch was given up.
    pub(crate) fn run(self, mut pieces: Receiver<Piece>) -> Result<Snapshot, FetchError> {
        let Fold {
            mut tracker,
            limits,
            redactor,
            times,
            max_bytes,
        } = self;
        let mut aggregator = Aggregator::new(limits, &mut tracker, &redactor, times);
        let mut stream = SessionStream::new(&mut aggregator);
        let mut read: u64 = 0;
        loop {
            match pieces.blocking_recv() {
                Some(Piece::Chunk(chunk)) => {
                    read += chunk.len() as u64;
                    if read > max_bytes {
                        return Err(FetchError::TooLarge { limit: max_bytes });
                    }
                    stream
                        .feed(&chunk)
                        .map_err(|e| FetchError::InvalidResponse(e.into()))?;
                }
                Some(Piece::End) => break,
                Some(Piece::Failed(error)) => return Err(error),
                None => return Err(FetchError::Abandoned),
            }
        }
        stream
            .finish()
            .map_err(|e| FetchError::InvalidResponse(e.into()))?;
        Ok(aggregator.finish())
    }
}

/// Inflates a gzip body as its chunks come from `compressed`, handing each
/// inflated piece to `inflated`; blocks the calling thread, so it runs on a
/// blocking one. Stops when either side does.
pub(crate) fn inflate(
    mut compressed: Receiver<Piece>,
    inflated: Sender<Piece>,
    redactor: &Redactor,
) {
    let mut inflater = Inflater::new();
    let broken = |error: InflateError| Piece::Failed(encoding_error(&error.to_string(), redactor));
    loop {
        let piece = match compressed.blocking_recv() {
            Some(Piece::Chunk(chunk)) => {
                let sent = inflater.inflate(&chunk, |bytes| {
                    inflated
                        .blocking_send(Piece::Chunk(Bytes::copy_from_slice(bytes)))
                        .map_err(|_| ())
                });
                match sent {
                    Ok(()) => continue,
                    // The fold stopped.
                    Err(Inflated::Sink(())) => return,
                    Err(Inflated::Inflate(error)) => broken(error),
                }
            }
            Some(Piece::End) => match inflater.finish() {
                Ok(()) => Piece::End,
                Err(error) => broken(error),
            },
            Some(failed @ Piece::Failed(_)) => failed,
            // The fetch was given up: so is the fold.
            None => return,
        };
        let _ = inflated.blocking_send(piece);
        return;
    }
}

/// A thread that runs jobs one after another, for as long as it is kept.
#[derive(Debug)]
pub(crate) struct Worker {
    jobs: std::sync::mpsc::Sender<Box<dyn FnOnce() + Send>>,
}

impl Worker {
    /// Starts the thread, named `name`.
    pub(crate) fn start(name: &str) -> std::io::Result<Self> {
        let (jobs, queue) = std::sync::mpsc::channel::<Box<dyn FnOnce() + Send>>();
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                // Ends when the worker is dropped.
                while let Ok(job) = queue.recv() {
                    job();
                }
            })?;
        Ok(Worker { jobs })
    }

    /// Runs `job` after those before it; its result comes on the receiver
    /// (which reports a closed channel if the thread is gone).
    pub(crate) fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> oneshot::Receiver<T> {
        let (done, result) = oneshot::channel();
        let _ = self.jobs.send(Box::new(move || {
            let _ = done.send(job());
        }));
        result
    }
}
