//! Folding a body into a snapshot, on a thread of its own, as it arrives.
//!
//! The fetch reads the body chunk by chunk and hands each chunk to this
//! fold, which runs on a blocking thread: the async runtime only moves
//! bytes, so no fold ever holds a worker, and reading the socket overlaps
//! with parsing. The fold inflates a gzip body, counts the (inflated) bytes
//! against `--api.max-response-bytes`, parses them as they come
//! ([`SessionStream`]) and folds each session into the aggregate.
//!
//! It holds the session tracker for as long as it runs. Only a body that
//! arrived whole and parsed becomes the tracker's new baseline: if the
//! fetch is given up (its deadline, a broken connection), the fold stops
//! without finishing and the tracker is left as it was.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::OwnedMutexGuard;
use tokio::sync::mpsc::Receiver;

use crate::aggregate::{Aggregator, FetchTimes, Limits, SessionTracker, Snapshot};
use crate::api::inflate::{Inflated, Inflater};
use crate::api::parse::SessionStream;
use crate::api::redact::Redactor;
use crate::api::{FetchError, encoding_error};

/// What the fetch hands the fold.
#[derive(Debug)]
pub(crate) enum Piece {
    /// The next chunk of the body, as it arrived.
    Chunk(Bytes),
    /// The body is complete.
    End,
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
    /// The body is gzip.
    pub(crate) gzip: bool,
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
            gzip,
            max_bytes,
        } = self;
        let mut aggregator = Aggregator::new(limits, &mut tracker, &redactor, times);
        let mut stream = SessionStream::new(&mut aggregator);
        let mut inflater = gzip.then(Inflater::new);
        let mut read: u64 = 0;
        let mut take = |bytes: &[u8]| -> Result<(), FetchError> {
            read += bytes.len() as u64;
            if read > max_bytes {
                return Err(FetchError::TooLarge { limit: max_bytes });
            }
            stream
                .feed(bytes)
                .map_err(|e| FetchError::InvalidResponse(e.into()))
        };
        loop {
            match pieces.blocking_recv() {
                Some(Piece::Chunk(chunk)) => match &mut inflater {
                    None => take(&chunk)?,
                    Some(inflater) => inflater.inflate(&chunk, &mut take).map_err(|e| match e {
                        Inflated::Sink(error) => error,
                        Inflated::Inflate(error) => encoding_error(&error.to_string(), &redactor),
                    })?,
                },
                Some(Piece::End) => break,
                None => return Err(FetchError::Abandoned),
            }
        }
        if let Some(inflater) = &inflater {
            inflater
                .finish()
                .map_err(|e| encoding_error(&e.to_string(), &redactor))?;
        }
        stream
            .finish()
            .map_err(|e| FetchError::InvalidResponse(e.into()))?;
        Ok(aggregator.finish())
    }
}
