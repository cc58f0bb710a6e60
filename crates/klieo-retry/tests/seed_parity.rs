//! The original LLM-call retry tests, against an LLM-shaped error type.

use std::fmt;
use std::time::Duration;

use klieo_retry::{retry, RetryDecision, RetryError, RetryPolicy};
use tokio_util::sync::CancellationToken;

use crate::support::op_with;

#[derive(Debug, Clone, PartialEq)]
enum LlmError {
    Server(String),
    Unauthorized,
    Timeout,
    RateLimit { retry_after_secs: u32 },
}

impl fmt::Display for LlmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Server(m) => write!(f, "server error: {m}"),
            Self::Unauthorized => f.write_str("unauthorized"),
            Self::Timeout => f.write_str("timeout"),
            Self::RateLimit { retry_after_secs } => {
                write!(f, "rate limited; retry after {retry_after_secs}s")
            }
        }
    }
}

fn classify(e: &LlmError) -> RetryDecision {
    match e {
        LlmError::Server(_) | LlmError::Timeout => RetryDecision::Retry,
        LlmError::RateLimit { retry_after_secs } => {
            RetryDecision::RetryAfter(Duration::from_secs(u64::from(*retry_after_secs)))
        }
        LlmError::Unauthorized => RetryDecision::Stop,
    }
}

/// Fails the first `fail_for` calls with `make_err()`, then returns "ok".
async fn call(
    fail_for: u32,
    cancel: &CancellationToken,
    make_err: impl Fn() -> LlmError,
) -> (Result<&'static str, RetryError<LlmError>>, u32) {
    let mut starts = Vec::new();
    let op = op_with(&mut starts, |attempt| {
        if u32::try_from(attempt).unwrap() <= fail_for {
            Err(make_err())
        } else {
            Ok("ok")
        }
    });
    let result = retry(&RetryPolicy::default(), cancel, classify, op).await;
    (result, u32::try_from(starts.len()).unwrap())
}

#[tokio::test(start_paused = true)]
async fn retries_server_5xx_then_succeeds() {
    let cancel = CancellationToken::new();
    let (result, calls) = call(2, &cancel, || LlmError::Server("503 unavailable".into())).await;
    assert_eq!(result.unwrap(), "ok");
    assert_eq!(calls, 3, "two failures plus one success = three attempts");
}

#[tokio::test(start_paused = true)]
async fn unauthorized_does_not_retry() {
    let cancel = CancellationToken::new();
    let (result, calls) = call(u32::MAX, &cancel, || LlmError::Unauthorized).await;
    assert_eq!(
        result.unwrap_err().into_inner(),
        Some(LlmError::Unauthorized)
    );
    assert_eq!(calls, 1, "non-retryable: exactly one attempt");
}

#[tokio::test(start_paused = true)]
async fn cancellation_during_backoff_aborts() {
    let cancel = CancellationToken::new();
    let canceller = tokio::spawn({
        let cancel = cancel.clone();
        async move {
            tokio::task::yield_now().await;
            cancel.cancel();
        }
    });
    let (result, calls) = call(u32::MAX, &cancel, || LlmError::Timeout).await;
    canceller.await.unwrap();
    assert!(
        matches!(result, Err(RetryError::Cancelled)),
        "got {result:?}"
    );
    assert_eq!(calls, 1);
}

#[tokio::test(start_paused = true)]
async fn exhausts_attempts_and_propagates_last_error() {
    let cancel = CancellationToken::new();
    let (result, calls) = call(u32::MAX, &cancel, || LlmError::Server("boom".into())).await;
    assert_eq!(
        result.unwrap_err().into_inner(),
        Some(LlmError::Server("boom".into()))
    );
    assert_eq!(calls, RetryPolicy::default().max_retries() + 1);
}

#[tokio::test(start_paused = true)]
async fn rate_limit_uses_retry_after_then_succeeds() {
    let cancel = CancellationToken::new();
    let start = tokio::time::Instant::now();
    let (result, calls) = call(1, &cancel, || LlmError::RateLimit {
        retry_after_secs: 1,
    })
    .await;
    assert_eq!(result.unwrap(), "ok");
    assert_eq!(calls, 2);
    assert_eq!(start.elapsed(), Duration::from_secs(1));
}
