//! The async driver: runs an operation, classifies failures, sleeps, repeats.

use std::fmt::Display;
use std::future::Future;
use std::task::Poll;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::decision::RetryDecision;
use crate::error::RetryError;
use crate::policy::RetryPolicy;

/// Runs `op` until it succeeds, `classify` says stop, or `policy` runs out.
///
/// After each failed attempt `classify` sees the error and returns a
/// [`RetryDecision`]:
///
/// - [`Stop`](RetryDecision::Stop): the error is returned now.
/// - [`Retry`](RetryDecision::Retry): wait the next [`Backoff`] delay and
///   try again; when the schedule is used up, the error is returned.
/// - [`RetryAfter(d)`](RetryDecision::RetryAfter): wait `d` instead of the
///   scheduled delay (this still uses up one retry). If `d` is above
///   [`RetryPolicy::max_server_delay`], the error is returned now, without
///   waiting.
///
/// With a [`total_budget`](RetryPolicy::total_budget), a retry whose delay
/// would end more than the budget after the first attempt started is not
/// made, and the error is returned without waiting.
///
/// # Cancellation
///
/// `cancel` is checked before every attempt (`op` is not called once it
/// has fired), and raced against every attempt and every backoff sleep
/// as [`CancellationToken::run_until_cancelled`] races a future.
/// [`RetryError::Cancelled`] is returned as soon as it fires. **An attempt
/// in flight is dropped** at that point, so `op`'s future must be safe to
/// drop midway.
///
/// Each race polls the attempt or sleep before the token, so when both
/// are ready at the same moment, the attempt or sleep has ended. A success
/// is then returned. A failure goes to `classify`: if it ends the retries,
/// it is returned as [`RetryError::Failed`]; otherwise it is not told to
/// `notify` (of [`retry_notify`]), the sleep that would follow is not
/// started, and `Cancelled` is returned. After a
/// sleep, the check before the next attempt returns `Cancelled`.
///
/// # Errors
///
/// [`RetryError::Cancelled`] if `cancel` fired; otherwise
/// [`RetryError::Failed`] with the last attempt's error, unchanged.
///
/// # Logging
///
/// Each retry is logged at `debug` level with the fields `attempt` (the
/// 1-based attempt that failed), `delay_ms`, and `reason` (the error's
/// `Display`).
///
/// # Example
///
/// ```
/// use klieo_retry::{retry, RetryDecision, RetryError, RetryPolicy};
/// use tokio_util::sync::CancellationToken;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build()?.block_on(async {
/// let cancel = CancellationToken::new();
/// let result: Result<(), _> = retry(
///     &RetryPolicy::default(),
///     &cancel,
///     |_: &std::io::Error| RetryDecision::Retry,
///     || async { Err(std::io::Error::other("still down")) },
/// )
/// .await;
/// assert_eq!(result.unwrap_err().to_string(), "still down");
/// # });
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// A constant delay of one second between up to five retries: a factor of
/// 1.0 keeps every delay at the base delay.
///
/// ```
/// use std::time::Duration;
/// use klieo_retry::{retry, RetryDecision, RetryPolicy};
/// use tokio_util::sync::CancellationToken;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build()?.block_on(async {
/// let policy = RetryPolicy::new()
///     .with_max_retries(5)
///     .with_base_delay(Duration::from_secs(1))
///     .with_factor(1.0)?;
/// let mut calls = 0;
/// let result = retry(
///     &policy,
///     &CancellationToken::new(),
///     |_: &String| RetryDecision::Retry,
///     || {
///         calls += 1;
///         let n = calls;
///         async move { if n < 4 { Err(format!("attempt {n} failed")) } else { Ok(n) } }
///     },
/// )
/// .await;
/// assert_eq!(result.ok(), Some(4));
/// # Ok::<(), klieo_retry::PolicyError>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub async fn retry<T, E, Op, Fut, C>(
    policy: &RetryPolicy,
    cancel: &CancellationToken,
    classify: C,
    op: Op,
) -> Result<T, RetryError<E>>
where
    Op: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    C: FnMut(&E) -> RetryDecision,
    E: Display,
{
    retry_notify(policy, cancel, classify, |_, _| {}, op).await
}

/// [`retry`], telling `notify` of each failed attempt that will be tried
/// again, with the delay before the next attempt, just before that delay
/// starts.
///
/// An error `notify` is not told of is the one that ended the retries: it
/// is returned as [`RetryError::Failed`] (or dropped for `Cancelled`, when
/// the token fires at the same moment). So a caller knows, for each
/// failure, whether another attempt followed it.
///
/// # Errors
///
/// As [`retry`].
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use klieo_retry::{retry_notify, RetryDecision, RetryPolicy};
/// use tokio_util::sync::CancellationToken;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build()?.block_on(async {
/// let policy = RetryPolicy::new().with_max_retries(2);
/// let mut retried = Vec::new();
/// let result: Result<(), _> = retry_notify(
///     &policy,
///     &CancellationToken::new(),
///     |_: &String| RetryDecision::RetryAfter(Duration::from_millis(50)),
///     |e, delay| retried.push((e.clone(), delay)),
///     || async { Err("down".to_owned()) },
/// )
/// .await;
/// // Three attempts: the first two were retried, the third was the last.
/// assert_eq!(retried.len(), 2);
/// assert_eq!(retried[0].1, Duration::from_millis(50));
/// assert_eq!(result.unwrap_err().to_string(), "down");
/// # });
/// # Ok::<(), std::io::Error>(())
/// ```
pub async fn retry_notify<T, E, Op, Fut, C, N>(
    policy: &RetryPolicy,
    cancel: &CancellationToken,
    mut classify: C,
    mut notify: N,
    mut op: Op,
) -> Result<T, RetryError<E>>
where
    Op: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    C: FnMut(&E) -> RetryDecision,
    N: FnMut(&E, Duration),
    E: Display,
{
    // Made at the first failure: most calls succeed at once, and seeding
    // the jitter costs more than the rest of a successful attempt's
    // bookkeeping.
    let mut delays: Option<Backoff> = None;
    let started = Instant::now();
    let mut attempt: u32 = 0;
    loop {
        attempt = attempt.saturating_add(1);
        // Checked here, not only by the race with the attempt
        // (`unless_cancelled`): its argument, `op()`, would already have
        // been called.
        if cancel.is_cancelled() {
            return Err(RetryError::Cancelled);
        }
        // The attempt is dropped as it ends (with this statement), before
        // any wait for the next.
        let ended = unless_cancelled(cancel, std::pin::pin!(op())).await;
        let err = match ended {
            None => return Err(RetryError::Cancelled),
            Some(Ok(value)) => return Ok(value),
            Some(Err(err)) => err,
        };

        let delay = match classify(&err) {
            RetryDecision::Stop => None,
            RetryDecision::Retry => delays.get_or_insert_with(|| Backoff::new(policy)).next(),
            RetryDecision::RetryAfter(d) if d > policy.max_server_delay() => None,
            RetryDecision::RetryAfter(d) => delays
                .get_or_insert_with(|| Backoff::new(policy))
                .next()
                .map(|_| d),
        };
        let Some(delay) = delay else {
            return Err(RetryError::Failed(err));
        };
        if let Some(budget) = policy.total_budget() {
            if started.elapsed().saturating_add(delay) > budget {
                return Err(RetryError::Failed(err));
            }
        }

        // Cancelled as it failed: no retry follows, so none is told of.
        if cancel.is_cancelled() {
            return Err(RetryError::Cancelled);
        }
        tracing::debug!(
            attempt,
            delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            reason = %err,
            "operation failed; retrying after backoff"
        );
        notify(&err, delay);
        drop(err);

        if cancel
            .run_until_cancelled(tokio::time::sleep(delay))
            .await
            .is_none()
        {
            return Err(RetryError::Cancelled);
        }
    }
}

/// `attempt`'s output, or `None` once `cancel` fires first: the race of
/// `CancellationToken::run_until_cancelled` (the attempt polled first),
/// without its own look at the token, which the loop made just before.
/// The token is waited on only once the attempt waits: one done at once
/// makes no waiter. (The runtime races its calls the same way; it keeps
/// its own copy, as sharing one would make this crate export an internal
/// technique.) The attempt is pinned by the caller: pinned here, it would
/// be held twice in this future (as the argument and as the pinned
/// local), and the retry's future would be that much larger to move.
async fn unless_cancelled<F: Future>(
    cancel: &CancellationToken,
    mut attempt: std::pin::Pin<&mut F>,
) -> Option<F::Output> {
    // Boxed: made only for an attempt that waits (a network call's),
    // where one allocation is nothing.
    let mut cancelled = None;
    std::future::poll_fn(|cx| {
        if let Poll::Ready(output) = attempt.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        let waiter = cancelled.get_or_insert_with(|| Box::pin(cancel.cancelled()));
        waiter.as_mut().poll(cx).map(|()| None)
    })
    .await
}
