//! Compile-time checks: the driver's future is `Send`, the types are `Send + Sync`.

use std::io;

use klieo_retry::{retry, Backoff, Jitter, PolicyError, RetryDecision, RetryError, RetryPolicy};
use tokio_util::sync::CancellationToken;

fn assert_send<T: Send>(_: &T) {}
fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn retry_future_is_send_when_its_parts_are() {
    let policy = RetryPolicy::default();
    let cancel = CancellationToken::new();
    let fut = retry(
        &policy,
        &cancel,
        |_: &io::Error| RetryDecision::Retry,
        || async { Ok::<u32, io::Error>(1) },
    );
    assert_send(&fut);
    let seeded = policy.clone().with_jitter_seed(Some(1));
    let fut = retry(
        &seeded,
        &cancel,
        |_: &io::Error| RetryDecision::Retry,
        || async { Ok::<u32, io::Error>(1) },
    );
    assert_send(&fut);
}

#[test]
fn public_types_are_send_and_sync() {
    assert_send_sync::<RetryPolicy>();
    assert_send_sync::<Backoff>();
    assert_send_sync::<Jitter>();
    assert_send_sync::<RetryDecision>();
    assert_send_sync::<PolicyError>();
    assert_send_sync::<RetryError<io::Error>>();
}

#[tokio::test(start_paused = true)]
async fn retry_can_be_spawned() {
    let handle = tokio::spawn(async {
        let policy = RetryPolicy::default();
        let cancel = CancellationToken::new();
        retry(
            &policy,
            &cancel,
            |_: &io::Error| RetryDecision::Retry,
            || async { Ok::<u32, io::Error>(7) },
        )
        .await
    });
    assert_eq!(handle.await.unwrap().unwrap(), 7);
}
