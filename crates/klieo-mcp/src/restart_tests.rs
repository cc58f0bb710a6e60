//! Restarts on a stand-in connection, on paused time: one start however
//! many wait, waits that end alone, a close that never waits.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use tokio::sync::oneshot;

#[derive(Debug)]
struct Conn {
    open: AtomicBool,
}

impl Alive for Conn {
    fn is_open(&self) -> bool {
        self.open.load(Ordering::SeqCst)
    }

    fn stop(&self) {
        self.open.store(false, Ordering::SeqCst);
    }
}

fn conn() -> Arc<Conn> {
    Arc::new(Conn {
        open: AtomicBool::new(true),
    })
}

/// A dead connection's restarts, and a counter of the starts begun.
fn dead() -> (Arc<Restarts<Conn>>, Arc<AtomicU32>) {
    let first = conn();
    first.open.store(false, Ordering::SeqCst);
    (Arc::new(Restarts::new("s", first)), Arc::default())
}

/// A start that counts itself, then ends as `gate` says.
fn gated(
    starts: &Arc<AtomicU32>,
    gate: oneshot::Receiver<Result<Arc<Conn>, StartFailed>>,
) -> impl FnOnce() -> futures_util::future::BoxFuture<'static, Result<Arc<Conn>, StartFailed>> {
    let starts = Arc::clone(starts);
    move || {
        starts.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move { gate.await.unwrap_or_else(|_| Err("gate dropped".into())) })
    }
}

/// A start that must never begin.
fn never() -> futures_util::future::BoxFuture<'static, Result<Arc<Conn>, StartFailed>> {
    unreachable!("a second start was begun")
}

#[test]
fn backoff_doubles_up_to_its_cap() {
    let waits: Vec<u64> = (1..=7).map(|n| backoff(n).as_secs()).collect();
    assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30]);
    assert_eq!(backoff(u32::MAX), BACKOFF_MAX);
}

#[tokio::test(start_paused = true)]
async fn one_start_runs_and_every_caller_gets_its_outcome() {
    let (restarts, starts) = dead();
    let (open, gate) = oneshot::channel();
    let first = {
        let (r, s) = (Arc::clone(&restarts), Arc::clone(&starts));
        tokio::spawn(async move { r.get(gated(&s, gate)).await })
    };
    tokio::task::yield_now().await;
    let second = {
        let r = Arc::clone(&restarts);
        tokio::spawn(async move { r.get(never).await })
    };
    tokio::task::yield_now().await;
    let link = conn();
    let _ = open.send(Ok(Arc::clone(&link)));
    let (a, b) = (
        first.await.unwrap().unwrap(),
        second.await.unwrap().unwrap(),
    );
    assert!(Arc::ptr_eq(&a, &link) && Arc::ptr_eq(&b, &link));
    assert_eq!(starts.load(Ordering::SeqCst), 1);
    assert!(Arc::ptr_eq(&restarts.get(never).await.unwrap(), &link));
}

#[tokio::test(start_paused = true)]
async fn a_wait_ends_at_its_own_bound_and_the_start_goes_on() {
    let (restarts, starts) = dead();
    let (open, gate) = oneshot::channel();
    let bounded = tokio::time::timeout(Duration::from_secs(5), restarts.get(gated(&starts, gate)));
    assert!(
        bounded.await.is_err(),
        "the caller's own bound ended its wait"
    );
    let link = conn();
    let _ = open.send(Ok(Arc::clone(&link)));
    let got = restarts.get(never).await.unwrap();
    assert!(
        Arc::ptr_eq(&got, &link),
        "the start went on without its caller"
    );
}

#[tokio::test(start_paused = true)]
async fn close_ends_a_start_under_way_without_waiting_for_it() {
    let (restarts, starts) = dead();
    let (_open, gate) = oneshot::channel();
    let waiting = {
        let (r, s) = (Arc::clone(&restarts), Arc::clone(&starts));
        tokio::spawn(async move { r.get(gated(&s, gate)).await })
    };
    tokio::task::yield_now().await;
    assert!(restarts.close().is_none(), "no link was live");
    let out = waiting.await.unwrap();
    assert!(
        matches!(&out, Err(ToolError::Retryable { message, .. }) if message.contains("closed")),
        "{out:?}"
    );
    // The next call starts it again.
    let (open, gate) = oneshot::channel();
    let _ = open.send(Ok(conn()));
    assert!(restarts.get(gated(&starts, gate)).await.is_ok());
    assert_eq!(starts.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn a_failed_start_backs_off_and_the_next_failure_waits_longer() {
    let (restarts, starts) = dead();
    let (open, gate) = oneshot::channel();
    let _ = open.send(Err("refusing to start".into()));
    let out = restarts.get(gated(&starts, gate)).await;
    let Err(ToolError::Retryable {
        message,
        retry_after,
    }) = out
    else {
        panic!("expected a retryable error, got {out:?}");
    };
    assert!(message.contains("refusing to start"), "{message}");
    assert_eq!(retry_after, Some(BACKOFF_FIRST));
    assert!(
        matches!(restarts.get(never).await, Err(ToolError::Retryable { retry_after: Some(w), .. }) if w <= BACKOFF_FIRST),
        "within the backoff no start is begun"
    );
    tokio::time::advance(BACKOFF_FIRST).await;
    let (open, gate) = oneshot::channel();
    let _ = open.send(Err("still refusing".into()));
    let second = restarts.get(gated(&starts, gate)).await;
    assert!(
        matches!(second, Err(ToolError::Retryable { retry_after: Some(w), .. }) if w == backoff(2))
    );
    assert_eq!(restarts.failed_starts(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_link_lost_by_a_call_is_started_again_at_once() {
    let link = conn();
    let restarts = Restarts::new("s", Arc::clone(&link));
    assert!(Arc::ptr_eq(&restarts.get(never).await.unwrap(), &link));
    restarts.lost(&link);
    let (open, gate) = oneshot::channel();
    let again = conn();
    let _ = open.send(Ok(Arc::clone(&again)));
    let starts = Arc::default();
    let got = restarts.get(gated(&starts, gate)).await.unwrap();
    assert!(Arc::ptr_eq(&got, &again));
}

#[tokio::test(start_paused = true)]
async fn a_start_that_ends_without_an_outcome_fails_and_the_next_begins_after_its_backoff() {
    let (restarts, _) = dead();
    let panics = || -> futures_util::future::BoxFuture<'static, Result<Arc<Conn>, StartFailed>> {
        Box::pin(async { panic!("the start panicked") })
    };
    let first = restarts.get(panics).await;
    assert!(
        matches!(&first, Err(ToolError::Retryable { message, .. }) if message.contains("without an outcome")),
        "{first:?}"
    );
    assert_eq!(restarts.failed_starts(), 1, "counted as a failed start");

    tokio::time::advance(backoff(1)).await;
    let link = conn();
    let started = Arc::clone(&link);
    let again = restarts
        .get(move || -> futures_util::future::BoxFuture<'static, _> {
            Box::pin(async move { Ok(started) })
        })
        .await;
    assert!(
        again.is_ok_and(|got| Arc::ptr_eq(&got, &link)),
        "started again"
    );
}

#[tokio::test(start_paused = true)]
async fn close_stops_a_live_link_a_call_still_holds() {
    let restarts = Restarts::new("s", conn());
    let held = restarts.get(never).await.unwrap();
    assert!(held.is_open());
    let closed = restarts.close().expect("the live link is returned");
    assert!(Arc::ptr_eq(&closed, &held));
    assert!(!held.is_open(), "stopped, though a call holds it");
}
