//! Exact virtual-time schedules: default backoff, jitter, server delays, budget.

use std::time::Duration;

use klieo_retry::{retry, Backoff, Jitter, RetryDecision, RetryError, RetryPolicy};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::support::{failing_op, gaps, ms, op_with, AttemptError};

/// Runs `retry` with an op that always fails (attempt `n` fails with
/// `AttemptError { attempt: n }`) and returns the error and start times.
async fn always_failing(
    policy: &RetryPolicy,
    classify: impl FnMut(&AttemptError) -> RetryDecision,
) -> (RetryError<AttemptError>, Vec<Instant>) {
    let mut starts = Vec::new();
    let cancel = CancellationToken::new();
    let result: Result<(), _> = retry(policy, &cancel, classify, failing_op(&mut starts)).await;
    (result.unwrap_err(), starts)
}

#[tokio::test(start_paused = true)]
async fn default_schedule_gaps_are_exactly_100_200_400_ms() {
    let start = Instant::now();
    let (err, starts) = always_failing(&RetryPolicy::default(), |_| RetryDecision::Retry).await;
    assert_eq!(starts.len(), 4);
    assert_eq!(starts[0], start);
    assert_eq!(gaps(&starts), ms(&[100, 200, 400]));
    assert_eq!(start.elapsed(), Duration::from_millis(700));
    assert_eq!(err.into_inner().map(|e| e.attempt), Some(4));
}

#[tokio::test(start_paused = true)]
async fn jittered_gaps_match_the_seeded_backoff_and_stay_in_bounds() {
    let caps = ms(&[100, 200, 400, 800, 1000]);
    for jitter in [Jitter::Full, Jitter::Equal] {
        let policy = RetryPolicy::new()
            .with_max_retries(5)
            .with_max_delay(Duration::from_secs(1))
            .with_jitter(jitter);
        for seed in 0..20 {
            let seeded = policy.clone().with_jitter_seed(Some(seed));
            let mut starts = Vec::new();
            let result: Result<(), RetryError<AttemptError>> = retry(
                &seeded,
                &CancellationToken::new(),
                |_| RetryDecision::Retry,
                failing_op(&mut starts),
            )
            .await;
            assert_eq!(result.unwrap_err().into_inner().map(|e| e.attempt), Some(6));
            let got = gaps(&starts);
            let expected: Vec<_> = Backoff::with_seed(&policy, seed).collect();
            for ((gap, want), cap) in got.iter().zip(&expected).zip(&caps) {
                // tokio's timer fires on whole milliseconds, so a sub-ms
                // delay ends on the next millisecond tick.
                assert!(*gap >= *want && *gap < *want + Duration::from_millis(1));
                let floor = if jitter == Jitter::Equal {
                    *cap / 2
                } else {
                    Duration::ZERO
                };
                assert!(
                    *gap >= floor && *gap <= *cap,
                    "{jitter:?} seed {seed}: {gap:?} vs {cap:?}"
                );
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn server_delay_is_honoured_instead_of_the_schedule() {
    let mut starts = Vec::new();
    let result = retry(
        &RetryPolicy::default(),
        &CancellationToken::new(),
        |_: &AttemptError| RetryDecision::RetryAfter(Duration::from_secs(3)),
        op_with(&mut starts, |attempt| {
            if attempt == 1 {
                Err(AttemptError {
                    attempt,
                    retryable: true,
                })
            } else {
                Ok(attempt)
            }
        }),
    )
    .await;
    assert_eq!(result.unwrap(), 2);
    assert_eq!(gaps(&starts), [Duration::from_secs(3)]);
}

#[tokio::test(start_paused = true)]
async fn server_delay_equal_to_the_ceiling_is_honoured() {
    let policy = RetryPolicy::new().with_max_retries(1);
    let ceiling = policy.max_server_delay();
    let (err, starts) = always_failing(&policy, |_| RetryDecision::RetryAfter(ceiling)).await;
    assert_eq!(gaps(&starts), [ceiling]);
    assert_eq!(err.into_inner().map(|e| e.attempt), Some(2));
}

#[tokio::test(start_paused = true)]
async fn server_delay_over_the_ceiling_returns_the_error_at_once() {
    let start = Instant::now();
    let (err, starts) = always_failing(&RetryPolicy::default(), |_| {
        RetryDecision::RetryAfter(Duration::from_secs(61))
    })
    .await;
    assert_eq!(starts.len(), 1);
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(err.into_inner().map(|e| e.attempt), Some(1));
}

#[tokio::test(start_paused = true)]
async fn server_delays_use_up_retries() {
    let policy = RetryPolicy::new().with_max_retries(2);
    let (err, starts) = always_failing(&policy, |_| {
        RetryDecision::RetryAfter(Duration::from_secs(1))
    })
    .await;
    assert_eq!(gaps(&starts), [Duration::from_secs(1); 2]);
    assert_eq!(err.into_inner().map(|e| e.attempt), Some(3));
}

#[tokio::test(start_paused = true)]
async fn total_budget_ends_retries_early() {
    let start = Instant::now();
    let policy = RetryPolicy::new().with_total_budget(Some(Duration::from_millis(250)));
    let (err, starts) = always_failing(&policy, |_| RetryDecision::Retry).await;
    // 0 + 100 ms fits in 250 ms; 100 + 200 ms does not, so no sleep.
    assert_eq!(gaps(&starts), ms(&[100]));
    assert_eq!(start.elapsed(), Duration::from_millis(100));
    assert_eq!(err.into_inner().map(|e| e.attempt), Some(2));
}

#[tokio::test(start_paused = true)]
async fn total_budget_exactly_met_allows_every_retry() {
    let policy = RetryPolicy::new().with_total_budget(Some(Duration::from_millis(700)));
    let (err, starts) = always_failing(&policy, |_| RetryDecision::Retry).await;
    assert_eq!(gaps(&starts), ms(&[100, 200, 400]));
    assert_eq!(err.into_inner().map(|e| e.attempt), Some(4));
}

#[tokio::test(start_paused = true)]
async fn total_budget_counts_time_spent_in_attempts() {
    let start = Instant::now();
    let policy = RetryPolicy::new().with_total_budget(Some(Duration::from_millis(400)));
    let mut starts = Vec::new();
    let mut fail = failing_op(&mut starts);
    // Each attempt takes 50 ms before it fails.
    let slow_op = move || {
        let failure = fail();
        async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            failure.await
        }
    };
    let result: Result<(), _> = retry(
        &policy,
        &CancellationToken::new(),
        |_: &AttemptError| RetryDecision::Retry,
        slow_op,
    )
    .await;
    // Attempts run 0-50, 150-200 and 400-450 ms; 450 + 400 ms is over budget.
    assert_eq!(starts.len(), 3);
    assert_eq!(start.elapsed(), Duration::from_millis(450));
    assert_eq!(result.unwrap_err().into_inner().map(|e| e.attempt), Some(3));
}
