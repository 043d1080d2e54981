//! How long a fetch may take, and the one place a fetch times out.
//!
//! A fetch is bounded by the smaller of `--api.timeout` and the scraper's
//! own timeout (Prometheus sends it as `X-Prometheus-Scrape-Timeout-Seconds`)
//! minus `--web.timeout-offset`, so that the exporter answers, with
//! `agi_up 0`, before Prometheus gives up on the scrape. When the offset
//! would leave nothing, the scraper's timeout is used as it is. A request
//! that several scrapes wait for runs until the latest of their deadlines
//! ([`until`]).

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::api::FetchError;

/// The header Prometheus sends its scrape timeout in.
pub(crate) const SCRAPE_TIMEOUT_HEADER: &str = "x-prometheus-scrape-timeout-seconds";

/// `--api.timeout` and `--web.timeout-offset`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DeadlinePolicy {
    pub(crate) api_timeout: Duration,
    pub(crate) timeout_offset: Duration,
}

impl DeadlinePolicy {
    /// The deadline of a scrape whose scraper sent `scrape_timeout` (the
    /// header's value, seconds), or none.
    pub(crate) fn for_scrape(&self, scrape_timeout: Option<&str>) -> Duration {
        let scraper = scrape_timeout
            .and_then(|v| v.trim().parse::<f64>().ok())
            .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
            .filter(|timeout| !timeout.is_zero());
        let Some(scraper) = scraper else {
            return self.api_timeout;
        };
        let budget = match scraper.checked_sub(self.timeout_offset) {
            Some(budget) if !budget.is_zero() => budget,
            _ => scraper,
        };
        self.api_timeout.min(budget)
    }
}

/// Runs `fetch` for at most `deadline`; past it, the fetch is dropped and
/// the answer is [`FetchError::Timeout`].
pub(crate) async fn within<T>(
    deadline: Duration,
    fetch: impl Future<Output = Result<T, FetchError>>,
) -> Result<T, FetchError> {
    tokio::time::timeout(deadline, fetch)
        .await
        .unwrap_or(Err(FetchError::Timeout(deadline)))
}

/// `deadline` after `start`, or a century later where the clock cannot
/// count that far (`--api.timeout` has no upper bound).
pub(crate) fn after(start: Instant, deadline: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    start
        .checked_add(deadline)
        .unwrap_or_else(|| start + CENTURY)
}

/// Runs `fetch` until the instant `until` holds, which may move later while
/// it runs (a more patient scraper joined the request); past it, the fetch
/// is dropped and the answer is [`FetchError::Timeout`], after the time it
/// was given since `started`.
pub(crate) async fn until<T>(
    started: Instant,
    mut until: watch::Receiver<Instant>,
    fetch: impl Future<Output = Result<T, FetchError>>,
) -> Result<T, FetchError> {
    tokio::pin!(fetch);
    loop {
        let at = *until.borrow_and_update();
        tokio::select! {
            outcome = &mut fetch => return outcome,
            () = tokio::time::sleep_until(at) => {
                if *until.borrow() <= at {
                    return Err(FetchError::Timeout(at.saturating_duration_since(started)));
                }
            }
            // Moved later; once its sender is gone, it stays where it is
            // and this branch is left out.
            Ok(()) = until.changed() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_is_the_shorter_of_api_timeout_and_scrape_timeout_minus_offset() {
        let secs = Duration::from_secs_f64;
        let policy = |api: f64| DeadlinePolicy {
            api_timeout: secs(api),
            timeout_offset: secs(0.5),
        };
        assert_eq!(policy(10.0).for_scrape(None), secs(10.0));
        assert_eq!(policy(10.0).for_scrape(Some("5")), secs(4.5));
        assert_eq!(policy(3.0).for_scrape(Some("5")), secs(3.0));
        assert_eq!(policy(10.0).for_scrape(Some("0.4")), secs(0.4));
        assert_eq!(policy(10.0).for_scrape(Some("junk")), secs(10.0));
        assert_eq!(policy(10.0).for_scrape(Some("-1")), secs(10.0));
        assert_eq!(policy(10.0).for_scrape(Some("0")), secs(10.0));
        assert_eq!(policy(10.0).for_scrape(Some("1e300")), secs(10.0));
    }

    #[tokio::test(start_paused = true)]
    async fn a_fetch_runs_until_its_deadline_even_when_moved_later() {
        let started = Instant::now();
        let slow = |seconds| async move {
            tokio::time::sleep(Duration::from_secs(seconds)).await;
            Ok::<_, FetchError>(seconds)
        };
        let (moved, deadline) = watch::channel(started + Duration::from_secs(1));
        let later = async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            moved.send_replace(started + Duration::from_secs(10));
        };
        let (outcome, ()) = tokio::join!(until(started, deadline.clone(), slow(5)), later);
        assert!(matches!(outcome, Ok(5)), "{outcome:?}");
        let outcome = until(Instant::now(), deadline, slow(60)).await;
        assert!(
            matches!(outcome, Err(FetchError::Timeout(_))),
            "{outcome:?}"
        );
        assert_eq!(Instant::now() - started, Duration::from_secs(10));
        let (_, unmoved) = watch::channel(Instant::now() + Duration::from_secs(1));
        let outcome = until(Instant::now(), unmoved, slow(5)).await;
        assert!(matches!(outcome, Err(FetchError::Timeout(d)) if d == Duration::from_secs(1)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_fetch_past_its_deadline_is_a_timeout() {
        let slow = async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok::<_, FetchError>(())
        };
        let result = within(Duration::from_secs(1), slow).await;
        assert!(matches!(result, Err(FetchError::Timeout(d)) if d == Duration::from_secs(1)));
        let fast = async { Ok::<_, FetchError>(7) };
        assert!(matches!(within(Duration::from_secs(1), fast).await, Ok(7)));
    }
}
