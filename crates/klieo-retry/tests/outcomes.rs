//! What comes back: the value, the last error unchanged, and attempt counts.

use std::error::Error as _;

use klieo_retry::{retry, RetryDecision, RetryError, RetryPolicy};
use tokio_util::sync::CancellationToken;

use crate::support::{failing_op, op_with, AttemptError};

/// Runs `retry` where attempt `n` fails with `AttemptError { attempt: n,
/// retryable }` until `succeed_on`, which returns `n`. Returns the result
/// and the number of calls.
async fn run(
    policy: &RetryPolicy,
    succeed_on: usize,
    retryable: impl Fn(usize) -> bool,
) -> (Result<usize, RetryError<AttemptError>>, usize) {
    let mut starts = Vec::new();
    let classify = |e: &AttemptError| {
        if e.retryable {
            RetryDecision::Retry
        } else {
            RetryDecision::Stop
        }
    };
    let op = op_with(&mut starts, |attempt| {
        if attempt == succeed_on {
            Ok(attempt)
        } else {
            Err(AttemptError {
                attempt,
                retryable: retryable(attempt),
            })
        }
    });
    let result = retry(policy, &CancellationToken::new(), classify, op).await;
    (result, starts.len())
}

#[tokio::test(start_paused = true)]
async fn success_after_retries_returns_the_value() {
    let (result, calls) = run(&RetryPolicy::default(), 3, |_| true).await;
    assert_eq!(result.unwrap(), 3);
    assert_eq!(calls, 3);
}

#[tokio::test(start_paused = true)]
async fn first_time_success_makes_one_attempt() {
    let (result, calls) = run(&RetryPolicy::default(), 1, |_| true).await;
    assert_eq!(result.unwrap(), 1);
    assert_eq!(calls, 1);
}

#[tokio::test(start_paused = true)]
async fn non_retryable_error_makes_exactly_one_attempt() {
    let (result, calls) = run(&RetryPolicy::default(), usize::MAX, |_| false).await;
    assert_eq!(calls, 1);
    let err = result.unwrap_err();
    assert!(!err.is_cancelled());
    assert_eq!(
        err.into_inner(),
        Some(AttemptError {
            attempt: 1,
            retryable: false
        })
    );
}

#[tokio::test(start_paused = true)]
async fn stop_after_some_retries_returns_that_error() {
    let (result, calls) = run(&RetryPolicy::default(), usize::MAX, |n| n < 2).await;
    assert_eq!(calls, 2);
    assert_eq!(
        result.unwrap_err().into_inner(),
        Some(AttemptError {
            attempt: 2,
            retryable: false
        })
    );
}

#[tokio::test(start_paused = true)]
async fn exhaustion_returns_the_last_error_unchanged() {
    let policy = RetryPolicy::new().with_max_retries(5);
    let (result, calls) = run(&policy, usize::MAX, |_| true).await;
    assert_eq!(calls, 6);
    let err = result.unwrap_err();
    assert_eq!(err.to_string(), "attempt 6 failed");
    assert!(err.source().is_none());
    assert_eq!(
        err.into_inner(),
        Some(AttemptError {
            attempt: 6,
            retryable: true
        })
    );
}

#[tokio::test(start_paused = true)]
async fn no_retry_policy_makes_one_attempt() {
    let (result, calls) = run(&RetryPolicy::none(), usize::MAX, |_| true).await;
    assert_eq!(calls, 1);
    assert_eq!(result.unwrap_err().into_inner().map(|e| e.attempt), Some(1));
}

#[tokio::test(start_paused = true)]
async fn classifier_sees_every_failure_in_order() {
    let mut seen = Vec::new();
    let mut starts = Vec::new();
    let result: Result<(), _> = retry(
        &RetryPolicy::default(),
        &CancellationToken::new(),
        |e: &AttemptError| {
            seen.push(e.attempt);
            RetryDecision::Retry
        },
        failing_op(&mut starts),
    )
    .await;
    assert!(result.is_err());
    assert_eq!(seen, [1, 2, 3, 4]);
}

#[test]
fn map_keeps_cancelled_and_converts_failed() {
    let cancelled: RetryError<u8> = RetryError::Cancelled;
    assert!(cancelled.map(u32::from).is_cancelled());
    assert_eq!(
        RetryError::Failed(7_u8).map(u32::from).into_inner(),
        Some(7_u32)
    );
    assert_eq!(
        RetryError::<AttemptError>::Cancelled.to_string(),
        "retry cancelled"
    );
}
