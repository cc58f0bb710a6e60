//! `retry_notify`: the hook hears of each failure that is tried again,
//! with the delay that follows it, and never of the one returned.

use std::time::Duration;

use klieo_retry::{retry_notify, Jitter, RetryDecision, RetryError, RetryPolicy};
use tokio_util::sync::CancellationToken;

use crate::support::{failing_op, ms, AttemptError};

/// Runs `retry_notify` with an operation that always fails and `classify`;
/// returns the attempts the hook heard of, with their delays, and the
/// attempt returned.
async fn heard(
    policy: &RetryPolicy,
    classify: impl FnMut(&AttemptError) -> RetryDecision,
) -> (Vec<(usize, Duration)>, Option<usize>) {
    let mut starts = Vec::new();
    let mut heard = Vec::new();
    let result: Result<(), _> = retry_notify(
        policy,
        &CancellationToken::new(),
        classify,
        |e: &AttemptError, delay| heard.push((e.attempt, delay)),
        failing_op(&mut starts),
    )
    .await;
    (
        heard,
        result
            .err()
            .and_then(RetryError::into_inner)
            .map(|e| e.attempt),
    )
}

fn policy() -> RetryPolicy {
    RetryPolicy::new()
        .with_max_retries(2)
        .with_jitter(Jitter::None)
}

#[tokio::test(start_paused = true)]
async fn a_used_up_schedule_is_heard_of_up_to_the_last_attempt_only() {
    let (heard, last) = heard(&policy(), |_| RetryDecision::Retry).await;
    let (attempts, delays): (Vec<usize>, Vec<Duration>) = heard.into_iter().unzip();
    assert_eq!(attempts, [1, 2]);
    assert_eq!(delays, ms(&[100, 200]));
    assert_eq!(last, Some(3));
}

#[tokio::test(start_paused = true)]
async fn a_stop_is_not_heard_of() {
    let (heard, last) = heard(&policy(), |_| RetryDecision::Stop).await;
    assert!(heard.is_empty(), "{heard:?}");
    assert_eq!(last, Some(1));
}

#[tokio::test(start_paused = true)]
async fn a_retry_the_budget_has_no_room_for_is_not_heard_of() {
    let budgeted = policy().with_total_budget(Some(Duration::from_millis(150)));
    let (heard, last) = heard(&budgeted, |_| RetryDecision::Retry).await;
    assert_eq!(heard, [(1, Duration::from_millis(100))]);
    assert_eq!(
        last,
        Some(2),
        "100 ms then 200 ms would pass the 150 ms budget"
    );
}

#[tokio::test(start_paused = true)]
async fn a_server_delay_over_the_ceiling_is_not_heard_of() {
    let ceiling = policy().with_max_server_delay(Duration::from_secs(1));
    let (heard, last) = heard(&ceiling, |_| {
        RetryDecision::RetryAfter(Duration::from_secs(2))
    })
    .await;
    assert!(heard.is_empty(), "{heard:?}");
    assert_eq!(last, Some(1));
}

#[tokio::test(start_paused = true)]
async fn a_failure_the_token_fires_with_is_not_heard_of() {
    let cancel = CancellationToken::new();
    let mut heard = 0;
    let result: Result<(), _> = retry_notify(
        &policy(),
        &cancel,
        |_: &String| RetryDecision::Retry,
        |_, _| heard += 1,
        || {
            cancel.cancel();
            async { Err("down".to_owned()) }
        },
    )
    .await;
    assert!(result.unwrap_err().is_cancelled());
    assert_eq!(heard, 0, "no retry followed the failure");
}
