//! Cancellation before, during and between attempts.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use klieo_retry::{retry, RetryDecision, RetryError, RetryPolicy};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::support::{failing_op, AttemptError};

/// Cancels `token` after `after` of virtual time.
fn cancel_after(token: &CancellationToken, after: Duration) -> tokio::task::JoinHandle<()> {
    let token = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        token.cancel();
    })
}

#[tokio::test(start_paused = true)]
async fn cancel_before_the_first_attempt_never_calls_op() {
    let cancel = CancellationToken::new();
    cancel.cancel();
    let mut calls = 0;
    let result: Result<(), RetryError<AttemptError>> = retry(
        &RetryPolicy::default(),
        &cancel,
        |_| RetryDecision::Retry,
        || {
            calls += 1;
            async { Ok(()) }
        },
    )
    .await;
    assert!(matches!(result, Err(RetryError::Cancelled)));
    assert_eq!(calls, 0);
}

#[tokio::test(start_paused = true)]
async fn cancel_during_backoff_returns_promptly() {
    let start = Instant::now();
    let cancel = CancellationToken::new();
    let policy = RetryPolicy::new().with_base_delay(Duration::from_secs(10));
    let canceller = cancel_after(&cancel, Duration::from_millis(30));
    let mut starts = Vec::new();
    let result: Result<(), _> = retry(
        &policy,
        &cancel,
        |_| RetryDecision::Retry,
        failing_op(&mut starts),
    )
    .await;
    canceller.await.unwrap();
    assert!(result.unwrap_err().is_cancelled());
    assert_eq!(starts.len(), 1);
    // Woken by the cancel at 30 ms, not by the 10 s sleep.
    assert_eq!(start.elapsed(), Duration::from_millis(30));
}

#[tokio::test(start_paused = true)]
async fn cancel_during_an_attempt_drops_it() {
    struct SetOnDrop(Arc<AtomicBool>);
    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    let start = Instant::now();
    let dropped = Arc::new(AtomicBool::new(false));
    let finished = Arc::new(AtomicBool::new(false));
    let cancel = CancellationToken::new();
    let canceller = cancel_after(&cancel, Duration::from_secs(1));
    let result: Result<(), RetryError<AttemptError>> = retry(
        &RetryPolicy::default(),
        &cancel,
        |_| RetryDecision::Retry,
        || {
            let guard = SetOnDrop(dropped.clone());
            let finished = finished.clone();
            async move {
                let _guard = guard;
                tokio::time::sleep(Duration::from_secs(10)).await;
                finished.store(true, Ordering::SeqCst);
                Ok(())
            }
        },
    )
    .await;
    canceller.await.unwrap();
    assert!(matches!(result, Err(RetryError::Cancelled)));
    assert!(dropped.load(Ordering::SeqCst));
    assert!(!finished.load(Ordering::SeqCst));
    assert_eq!(start.elapsed(), Duration::from_secs(1));
}
