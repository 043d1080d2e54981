//! Folding a body into a snapshot, on threads of their own, as it arrives.
//!
//! The fetch reads the body chunk by chunk and hands each chunk to a fold
//! on a blocking thread: the async runtime only moves bytes, so no fold
//! ever holds a worker, and reading the socket overlaps with parsing. A
//! gzip body goes through [`inflate`] first, on another thread, so that
//! inflating overlaps with parsing too. The fold counts the (inflated)
//! bytes against `--api.max-response-bytes`, parses them as they come
//! ([`SessionStream`]) and folds each session into the aggregate.
//!
//! The threads belong to the process, not to an account: a fixed number of
//! [`Lane`]s, each a fold thread and an inflate thread with the buffers
//! their chunks go through, and a fetch takes a whole lane for its body
//! ([`Lanes`]), so that two fetches never wait for each other's halves.
//! Folds on one lane run one after another on the same thread: a tracker's
//! large lists are then allocated and freed by the thread that last held
//! them, instead of by whichever thread of a pool ran each fetch, which
//! left each pool thread's allocator arena holding a list's worth of
//! memory.
//!
//! A fold holds the session tracker for as long as it runs, and its result
//! holds it until the fetch takes it. Only a body that arrived whole and
//! parsed, for a fetch that took the result, becomes the tracker's new
//! baseline: if the fetch is given up (its deadline, a broken connection),
//! even after the body's last byte, the fold stops without finishing, or
//! its finished changes are dropped with the result ([`Folded`]), and the
//! tracker is left as it was.

use std::sync::{Arc, Mutex};

use tokio::sync::mpsc::{Receiver, Sender};
use tokio::sync::oneshot::error::TryRecvError;
use tokio::sync::{OwnedMutexGuard, oneshot};

use crate::aggregate::{Aggregator, Commit, FetchTimes, Limits, SessionTracker, Snapshot};
use crate::api::inflate::{InflateError, Inflated, Inflater};
use crate::api::parse::SessionStream;
use crate::api::redact::Redactor;
use crate::api::{Answer, FetchError, encoding_error};
use crate::sync::lock;

/// What the fetch (or the inflater) hands the fold.
#[derive(Debug)]
pub(crate) enum Piece {
    /// The next chunk of the body, in a buffer of the sender's [`Recycler`].
    Chunk(Vec<u8>),
    /// The body is complete.
    End,
    /// The body cannot be read on (it cannot be inflated).
    Failed(FetchError),
}

/// Chunks that may wait for the fold: enough to keep it busy while the
/// socket is read, few enough that a slow fold slows the reading rather
/// than filling memory.
pub(crate) const QUEUE: usize = 8;

/// The bytes of one buffer of the body as read, or as inflated: chunks
/// from the HTTP client (which can exceed 800 KiB) are copied into as many
/// as they need, and the inflater fills each before handing it on.
pub(crate) const READ_BUFFER: usize = 256 * 1024;

/// Buffers of a fixed size for the chunks handed to the fold (or the
/// inflater), handed back by the side done with a chunk to the side that
/// fills the next, and kept from one fetch to the next: a body goes through
/// the same few buffers rather than a new allocation per chunk, whose pages
/// the kernel maps and clears at a cost close to reading the socket; and
/// the HTTP client, whose chunk is copied and dropped at once, reads the
/// next one into the memory it already has. It keeps at most `QUEUE + 1`
/// buffers of its size between fetches.
#[derive(Debug, Clone)]
pub(crate) struct Recycler {
    spare: Arc<Mutex<Vec<Vec<u8>>>>,
    size: usize,
}

impl Recycler {
    /// A recycler of buffers of `size` bytes.
    pub(crate) fn new(size: usize) -> Self {
        Recycler {
            spare: Arc::default(),
            size,
        }
    }

    /// Copies of `bytes`, in order, in as many buffers as they fill.
    pub(crate) fn copies_of<'a>(&'a self, bytes: &'a [u8]) -> impl Iterator<Item = Vec<u8>> + 'a {
        bytes.chunks(self.size).map(|part| {
            let mut buffer = self.empty();
            // Within its size: the buffer never grows.
            buffer.extend_from_slice(part);
            buffer
        })
    }

    /// An empty buffer of its size.
    fn empty(&self) -> Vec<u8> {
        let spare = lock(&self.spare).pop();
        let mut buffer = spare.unwrap_or_else(|| Vec::with_capacity(self.size));
        buffer.clear();
        buffer
    }

    /// Takes back a buffer whose chunk is done with, unless as many as can
    /// be in flight are kept already, or it is not one of this recycler's.
    fn give(&self, buffer: Vec<u8>) {
        let mut spare = lock(&self.spare);
        if spare.len() <= QUEUE && buffer.capacity() <= self.size {
            spare.push(buffer);
        }
    }
}

/// What one fold needs.
pub(crate) struct Fold {
    /// The tracker, held until the fetch takes or drops the result.
    pub(crate) tracker: OwnedMutexGuard<SessionTracker>,
    pub(crate) limits: Limits,
    /// The redactor of the key the body was fetched with.
    pub(crate) redactor: Arc<Redactor>,
    pub(crate) times: FetchTimes,
    /// `--api.max-response-bytes`, counted on inflated bytes.
    pub(crate) max_bytes: u64,
    /// Closed once the fetch is given up: its sender lives as long as the
    /// fetch waits.
    pub(crate) wanted: oneshot::Receiver<()>,
    /// Where the chunks' buffers go back to.
    pub(crate) recycler: Recycler,
}

impl Fold {
    /// Folds the pieces as they come; blocks the calling thread, so it runs
    /// on a blocking one. `Err(Abandoned)` when the pieces stop without
    /// [`Piece::End`]: the fetch was given up.
    pub(crate) fn run(self, mut pieces: Receiver<Piece>) -> Result<Folded, FetchError> {
        let Fold {
            mut tracker,
            limits,
            redactor,
            times,
            max_bytes,
            mut wanted,
            recycler,
        } = self;
        // A fetch given up stops its fold at the next chunk, so that a body
        // queued or inflating when the deadline passed does not hold the
        // tracker (which the next fetch waits for) any longer.
        let mut given_up = move || wanted.try_recv() == Err(TryRecvError::Closed);
        let mut aggregator = Aggregator::new(limits, &mut tracker, &redactor, times);
        let mut stream = SessionStream::new(&mut aggregator);
        let mut read: u64 = 0;
        loop {
            match pieces.blocking_recv() {
                Some(Piece::Chunk(_)) if given_up() => return Err(FetchError::Abandoned),
                Some(Piece::Chunk(chunk)) => {
                    read += chunk.len() as u64;
                    if read > max_bytes {
                        return Err(FetchError::TooLarge { limit: max_bytes });
                    }
                    stream
                        .feed(&chunk)
                        .map_err(|e| FetchError::InvalidResponse(e.into()))?;
                    recycler.give(chunk);
                }
                Some(Piece::End) => break,
                Some(Piece::Failed(error)) => return Err(error),
                None => return Err(FetchError::Abandoned),
            }
        }
        stream
            .finish()
            .map_err(|e| FetchError::InvalidResponse(e.into()))?;
        // The deadline may have passed while the last chunks were folded.
        if given_up() {
            return Err(FetchError::Abandoned);
        }
        let (snapshot, commit) = aggregator.finish_uncommitted();
        Ok(Folded {
            snapshot,
            commit: Some(commit),
            tracker,
        })
    }
}

/// A body folded whole, whose changes to the tracker wait for the fetch to
/// take them ([`Folded::commit`]). The deadline can pass as the fold ends,
/// with the result on its way: the fetch is then dropped and this with it,
/// so a fetch that reported a timeout leaves the tracker as it was (but for
/// the spare lists, which it keeps).
#[derive(Debug)]
pub(crate) struct Folded {
    snapshot: Snapshot,
    /// Taken by [`Folded::commit`], else discarded when this is dropped.
    commit: Option<Commit>,
    tracker: OwnedMutexGuard<SessionTracker>,
}

impl Folded {
    /// Makes the fold's changes the tracker's and releases it.
    pub(crate) fn commit(mut self) -> Snapshot {
        if let Some(commit) = self.commit.take() {
            self.tracker.commit(commit);
        }
        std::mem::take(&mut self.snapshot)
    }
}

impl Drop for Folded {
    /// A result the fetch did not take: its lists stay spares, and only its
    /// copy of the labels and totals is freed, on the thread dropping it.
    fn drop(&mut self) {
        if let Some(commit) = self.commit.take() {
            self.tracker.discard(commit);
        }
    }
}

/// Inflates a gzip body as its chunks come from `compressed` (their buffers
/// go back to `used`) into buffers of `recycler`, handing each to
/// `inflated` once it is full, and the last one at the end; blocks the
/// calling thread, so it runs on a blocking one. Stops when either side
/// does.
pub(crate) fn inflate(
    mut compressed: Receiver<Piece>,
    used: &Recycler,
    inflated: Sender<Piece>,
    recycler: &Recycler,
    redactor: &Redactor,
) {
    let mut inflater = Inflater::new();
    let broken = |error: InflateError| Piece::Failed(encoding_error(&error.to_string(), redactor));
    let mut out = recycler.empty();
    loop {
        let piece = match compressed.blocking_recv() {
            Some(Piece::Chunk(chunk)) => {
                let sent = inflater.inflate(&chunk, &mut out, |full| {
                    let full = std::mem::replace(full, recycler.empty());
                    inflated.blocking_send(Piece::Chunk(full)).map_err(|_| ())
                });
                used.give(chunk);
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
        // The bytes inflated before the end, or before the error: the fold
        // counts and reads them first, so that a body too large, or one
        // whose JSON breaks before its gzip does, is found so.
        if !out.is_empty() && inflated.blocking_send(Piece::Chunk(out)).is_err() {
            return;
        }
        let _ = inflated.blocking_send(piece);
        return;
    }
}

/// What folding one body needs besides its chunks.
pub(crate) struct FoldJob {
    /// The tracker, held until the fetch takes or drops the result.
    pub(crate) tracker: OwnedMutexGuard<SessionTracker>,
    pub(crate) limits: Limits,
    /// The redactor of the key the body was fetched with.
    pub(crate) redactor: Arc<Redactor>,
    pub(crate) times: FetchTimes,
    /// `--api.max-response-bytes`, counted on inflated bytes.
    pub(crate) max_bytes: u64,
}

/// A fold thread and an inflate thread, and the buffers a body's chunks
/// are copied into and inflated into, kept from one fetch to the next so
/// that a fetch reads into memory it already has.
#[derive(Debug)]
pub(crate) struct Lane {
    folder: Worker,
    inflater: Worker,
    read_into: Recycler,
    inflated_into: Recycler,
}

impl Lane {
    fn start(number: usize) -> std::io::Result<Self> {
        Ok(Lane {
            folder: Worker::start(&format!("agi-fold-{number}"))?,
            inflater: Worker::start(&format!("agi-inflate-{number}"))?,
            read_into: Recycler::new(READ_BUFFER),
            inflated_into: Recycler::new(READ_BUFFER),
        })
    }

    /// Reads `answer`'s body and folds it as it arrives: this task reads
    /// the socket and hands the chunks to the fold thread (through the
    /// inflate thread for a gzip body). The result holds the fold's
    /// changes to the tracker until the caller commits them ([`Folded`]);
    /// if the caller's deadline or a broken body cuts it short, the
    /// tracker is left as it was.
    pub(crate) async fn fold(
        &self,
        mut answer: Answer,
        job: FoldJob,
    ) -> Result<Folded, FetchError> {
        // Dropped with this future when the deadline gives the fetch up.
        let (_waiting, wanted) = oneshot::channel();
        let read_into = self.read_into.clone();
        let redactor = Arc::clone(&job.redactor);
        let (pieces, received) = tokio::sync::mpsc::channel(QUEUE);
        // The fold takes the read chunks, or those the inflater makes of them.
        let (received, folded_from) = if answer.is_gzip() {
            let (inflated, to_fold) = tokio::sync::mpsc::channel(QUEUE);
            let redactor = Arc::clone(&redactor);
            let (used, inflated_into) = (read_into.clone(), self.inflated_into.clone());
            drop(self.inflater.run(move || {
                inflate(received, &used, inflated, &inflated_into, &redactor);
            }));
            (to_fold, self.inflated_into.clone())
        } else {
            (received, read_into.clone())
        };
        let fold = Fold {
            tracker: job.tracker,
            limits: job.limits,
            redactor: job.redactor,
            times: job.times,
            max_bytes: job.max_bytes,
            wanted,
            recycler: folded_from,
        };
        let mut folding = self.folder.run(move || fold.run(received));
        let read = async move {
            while let Some(chunk) = answer.chunk(&redactor).await? {
                // Copied and dropped before waiting for the fold, so that
                // the client reads on into the memory the chunk held.
                let copies: Vec<Vec<u8>> = read_into.copies_of(&chunk).collect();
                drop(chunk);
                for copy in copies {
                    if pieces.send(Piece::Chunk(copy)).await.is_err() {
                        // The fold stopped: its error is the answer.
                        return Ok(());
                    }
                }
            }
            let _ = pieces.send(Piece::End).await;
            Ok(())
        };
        tokio::select! {
            read = read => {
                let folded = folding.await.unwrap_or(Err(FetchError::Abandoned));
                // A body that broke while being read fails for that reason;
                // the fold only saw it stop.
                read.and(folded)
            }
            // The fold ended first (a body that is not a session list): stop
            // reading, even a gzip stream that inflates to nothing more.
            folded = &mut folding => folded.unwrap_or(Err(FetchError::Abandoned)),
        }
    }
}

/// The process's lanes: as many bodies are read and folded at once, and a
/// fetch waits for a free lane. Their threads are the process's whatever
/// the number of accounts.
#[derive(Debug)]
pub(crate) struct Lanes {
    free: Mutex<Vec<Lane>>,
    available: tokio::sync::Semaphore,
}

/// A lane a fetch holds; back to the free ones when dropped.
#[derive(Debug)]
pub(crate) struct HeldLane<'l> {
    lanes: &'l Lanes,
    lane: Option<Lane>,
    _permit: tokio::sync::SemaphorePermit<'l>,
}

impl Lanes {
    /// Starts `count` lanes (two threads each).
    pub(crate) fn start(count: usize) -> std::io::Result<Self> {
        let free = (0..count).map(Lane::start).collect::<Result<Vec<_>, _>>()?;
        Ok(Lanes {
            available: tokio::sync::Semaphore::new(free.len()),
            free: Mutex::new(free),
        })
    }

    /// A free lane, once there is one: the one freed last, so that one
    /// fetch at a time always folds on the same lane.
    pub(crate) async fn take(&self) -> Result<HeldLane<'_>, FetchError> {
        let permit = self
            .available
            .acquire()
            .await
            .map_err(|_| FetchError::Abandoned)?;
        let lane = lock(&self.free).pop();
        Ok(HeldLane {
            lanes: self,
            lane,
            _permit: permit,
        })
    }
}

impl HeldLane<'_> {
    /// The lane (always there while held).
    pub(crate) fn lane(&self) -> Option<&Lane> {
        self.lane.as_ref()
    }
}

impl Drop for HeldLane<'_> {
    fn drop(&mut self) {
        if let Some(lane) = self.lane.take() {
            lock(&self.lanes.free).push(lane);
        }
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
                // Ends when the worker is dropped. A job that panics (a bug)
                // loses its own result, which its fetch reports as
                // abandoned, but not the thread the next fetches need.
                while let Ok(job) = queue.recv() {
                    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
                        tracing::error!("a fold or inflation panicked; its fetch is abandoned");
                    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Folds the chunks `parts` (copied into `recycler`'s buffers), then the
    /// body's end, with `tracker`; `given_up` drops the fetch's side before
    /// the fold runs, as a deadline that passed after the last byte does.
    fn fold(
        tracker: &Arc<tokio::sync::Mutex<SessionTracker>>,
        parts: &[&[u8]],
        given_up: bool,
        recycler: &Recycler,
    ) -> Result<Folded, FetchError> {
        let (waiting, wanted) = oneshot::channel();
        let fold = Fold {
            tracker: Arc::clone(tracker)
                .try_lock_owned()
                .unwrap_or_else(|e| panic!("{e}")),
            limits: Limits {
                agents_max: 10,
                top_oldest: 5,
            },
            redactor: Arc::new(Redactor::new("not-in-any-body")),
            times: FetchTimes {
                sent_at: 1_800_000_000_000,
                received_at: 1_800_000_000_100,
            },
            max_bytes: 1 << 20,
            wanted,
            recycler: recycler.clone(),
        };
        let (pieces, received) = tokio::sync::mpsc::channel(QUEUE);
        let chunks = parts.iter().flat_map(|part| recycler.copies_of(part));
        let sent = chunks
            .map(Piece::Chunk)
            .chain([Piece::End])
            .all(|piece| pieces.try_send(piece).is_ok());
        assert!(sent);
        if given_up {
            drop(waiting);
        }
        fold.run(received)
    }

    #[test]
    fn chunk_buffers_keep_their_size_come_back_emptied_and_are_kept_no_more_than_can_be_in_flight()
    {
        let recycler = Recycler::new(1000);
        let spare = || lock(&recycler.spare).len();
        let buffers: Vec<Vec<u8>> = (0..3 * QUEUE)
            .flat_map(|_| recycler.copies_of(&[7; 1000]).collect::<Vec<_>>())
            .collect();
        assert_eq!(buffers.len(), 3 * QUEUE);
        for buffer in buffers {
            recycler.give(buffer);
        }
        assert_eq!(spare(), QUEUE + 1);
        // A buffer from elsewhere, larger than the recycler's, is not kept.
        recycler.give(Vec::with_capacity(5000));
        lock(&recycler.spare).pop();
        recycler.give(Vec::with_capacity(5000));
        assert_eq!(spare(), QUEUE);
        // The next chunk gets its own bytes only, in memory already there;
        // a chunk larger than a buffer fills several, none grown.
        let reused: Vec<Vec<u8>> = recycler.copies_of(b"ab").collect();
        assert_eq!(reused, [b"ab".to_vec()]);
        assert_eq!(reused[0].capacity(), 1000);
        let large: Vec<u8> = (0..2500u32).map(|i| i as u8).collect();
        let copies: Vec<Vec<u8>> = recycler.copies_of(&large).collect();
        assert_eq!(copies.len(), 3);
        assert!(copies.iter().all(|copy| copy.capacity() == 1000));
        assert_eq!(copies.concat(), large);
    }

    #[test]
    fn a_fold_gives_each_chunk_buffer_back() {
        let tracker = Arc::new(tokio::sync::Mutex::new(SessionTracker::new(10)));
        let recycler = Recycler::new(1024);
        let parts = [&b"[{\"status\":"[..], b"\"running\"}", b"]"];
        let snapshot = fold(&tracker, &parts, false, &recycler)
            .map(|folded| folded.commit())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(snapshot.sessions, 1);
        assert_eq!(lock(&recycler.spare).len(), parts.len());
    }

    #[test]
    fn inflating_gives_the_compressed_buffers_back_and_inflates_into_its_own() {
        use flate2::Compression;
        use flate2::write::GzEncoder;
        use std::io::Write;

        let body: Vec<u8> = (0..300_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(&body).unwrap_or_else(|e| panic!("{e}"));
        let gzip = encoder.finish().unwrap_or_else(|e| panic!("{e}"));
        let (used, inflated_into) = (Recycler::new(4096), Recycler::new(READ_BUFFER));
        let (compressed, received) = tokio::sync::mpsc::channel(QUEUE);
        let (inflated, mut to_fold) = tokio::sync::mpsc::channel(QUEUE);
        let inflating = {
            let (used, inflated_into) = (used.clone(), inflated_into.clone());
            let redactor = Redactor::new("not-in-any-body");
            std::thread::spawn(move || {
                inflate(received, &used, inflated, &inflated_into, &redactor);
            })
        };
        let feeding = {
            let used = used.clone();
            std::thread::spawn(move || {
                for copy in used.copies_of(&gzip) {
                    if compressed.blocking_send(Piece::Chunk(copy)).is_err() {
                        return;
                    }
                }
                let _ = compressed.blocking_send(Piece::End);
            })
        };
        let mut out = Vec::new();
        loop {
            match to_fold.blocking_recv() {
                Some(Piece::Chunk(piece)) => {
                    assert_eq!(piece.capacity(), READ_BUFFER);
                    out.extend_from_slice(&piece);
                    inflated_into.give(piece);
                }
                Some(Piece::End) => break,
                other => panic!("{other:?}"),
            }
        }
        assert!(feeding.join().is_ok() && inflating.join().is_ok());
        assert!(
            out == body,
            "{} bytes inflated of {}",
            out.len(),
            body.len()
        );
        let kept = lock(&used.spare);
        assert!(!kept.is_empty() && kept.iter().all(|b| b.capacity() == 4096));
        assert!(!lock(&inflated_into.spare).is_empty());
    }

    #[test]
    fn a_job_that_panics_does_not_stop_the_worker() {
        let worker = Worker::start("test-worker").unwrap_or_else(|e| panic!("{e}"));
        #[allow(clippy::panic)]
        let lost = worker.run(|| -> u32 { panic!("a bug in a fold") });
        let next = worker.run(|| 7);
        assert!(lost.blocking_recv().is_err());
        assert_eq!(next.blocking_recv().ok(), Some(7));
    }

    #[test]
    fn a_fold_whose_fetch_was_given_up_folds_no_further_chunk() {
        let tracker = Arc::new(tokio::sync::Mutex::new(SessionTracker::new(10)));
        let recycler = Recycler::new(1024);
        let parts = [&b"[{\"status\":"[..], b"\"running\"}", b"]"];
        let given_up = fold(&tracker, &parts, true, &recycler);
        assert!(
            matches!(given_up, Err(FetchError::Abandoned)),
            "{given_up:?}"
        );
        // No chunk was folded, so none was given back.
        assert_eq!(lock(&recycler.spare).len(), 0);
    }

    #[test]
    fn a_fetch_given_up_after_its_last_byte_or_as_its_fold_ends_leaves_the_tracker_as_it_was() {
        let tracker = Arc::new(tokio::sync::Mutex::new(SessionTracker::new(10)));
        let session = |status: &str| {
            format!(
                r#"[{{"session_id":"a","agent_name":"agi-0","status":"{status}","created_at":"2025-10-05T18:00:00Z"}}]"#
            )
        };
        let fold = |body: String, given_up| {
            fold(&tracker, &[body.as_bytes()], given_up, &Recycler::new(1024))
        };
        let given_up = fold(session("running"), true);
        assert!(
            matches!(given_up, Err(FetchError::Abandoned)),
            "{given_up:?}"
        );
        // The fold ended, but the fetch was dropped before it took the
        // result (its deadline passed as the fold finished).
        let dropped = fold(session("running"), false).unwrap_or_else(|e| panic!("{e}"));
        drop(dropped);
        // Still the first fetch: it only records a baseline. (The helper
        // also finds the tracker unlocked once the dropped result is gone.)
        let entered = |status: &str| {
            let key = ("agi-0".to_owned(), status.to_owned());
            let lifecycle = tracker.blocking_lock().lifecycle();
            let found = lifecycle.transitions.iter().find(|(k, _)| *k == key);
            found.map(|(_, n)| *n)
        };
        fold(session("paused"), false)
            .map(|folded| folded.commit())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(entered("paused"), Some(0), "the first fetch is a baseline");
        fold(session("error"), false)
            .map(|folded| folded.commit())
            .unwrap_or_else(|e| panic!("{e}"));
        let total = entered;
        assert_eq!(
            (total("running"), total("paused"), total("error")),
            (Some(0), Some(0), Some(1))
        );
    }
}
