//! The one way a test waits: a check is called again and again, with a
//! short pause between calls, until it passes or a deadline passes. Nothing
//! sleeps to assert on timing, and every wait is bounded.
//!
//! The pause is [`POLL`] for the first [`PATIENCE`], then [`SLOW_POLL`]:
//! what is about to happen (a log line, a request reaching a fake API, a
//! process listening) is seen within milliseconds, and a check that waits
//! for seconds (Prometheus evaluating a rule) does not keep a busy machine
//! busier.

use std::fmt::Display;
use std::time::{Duration, Instant};

/// The pause between two calls of a check, at first.
pub const POLL: Duration = Duration::from_millis(20);

/// How long a wait looks again every [`POLL`].
pub const PATIENCE: Duration = Duration::from_secs(1);

/// The pause between two calls of a check that has waited [`PATIENCE`].
pub const SLOW_POLL: Duration = Duration::from_millis(100);

/// When a wait, or a sequence of waits, gives up.
#[derive(Debug, Clone, Copy)]
pub struct Deadline(Instant);

impl Deadline {
    /// A deadline `limit` from now.
    pub fn after(limit: Duration) -> Deadline {
        Deadline(Instant::now() + limit)
    }

    /// Whether it has passed.
    pub fn passed(self) -> bool {
        Instant::now() >= self.0
    }
}

impl From<Duration> for Deadline {
    fn from(limit: Duration) -> Deadline {
        Deadline::after(limit)
    }
}

/// Calls `check` until it gives `Ok`, and gives that; once `deadline` has
/// passed, gives the last `Err` instead. `check` is called at least once.
pub async fn poll<T, E>(
    deadline: impl Into<Deadline>,
    mut check: impl AsyncFnMut() -> Result<T, E>,
) -> Result<T, E> {
    let deadline = deadline.into();
    let started = Instant::now();
    loop {
        match check().await {
            Ok(value) => return Ok(value),
            Err(error) if deadline.passed() => return Err(error),
            Err(_) if started.elapsed() < PATIENCE => tokio::time::sleep(POLL).await,
            Err(_) => tokio::time::sleep(SLOW_POLL).await,
        }
    }
}

/// Calls `check` until it gives `Ok`, and gives that; once `deadline` has
/// passed, panics with `what` and the last error.
pub async fn eventually<T, E: Display>(
    what: &str,
    deadline: impl Into<Deadline>,
    check: impl AsyncFnMut() -> Result<T, E>,
) -> T {
    match poll(deadline, check).await {
        Ok(value) => value,
        Err(error) => panic!("timed out waiting until {what}:\n{error}"),
    }
}
