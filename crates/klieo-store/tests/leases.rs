//! Leases under paused tokio time: a lease lasts exactly its time to live
//! from its last renewal, and a commit by a holder whose lease another
//! took over is refused.

use klieo_store::InMemoryJournal;
use klieo_types::{Commit, Episode, EpisodicMemory, Journal, MemoryError, RunId, ThreadId};
use std::time::Duration;
use tokio::time::advance;

const TTL: Duration = Duration::from_secs(30);
const TICK: Duration = Duration::from_millis(1);

async fn lease(store: &InMemoryJournal, run: RunId, holder: &str, ttl: Duration) -> bool {
    store.lease(run, holder, ttl).await.unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_lease_runs_out_at_its_time_to_live() {
    let (store, run) = (InMemoryJournal::new(), RunId::new());
    assert!(lease(&store, run, "a", TTL).await);
    advance(TTL - TICK).await;
    assert!(!lease(&store, run, "b", TTL).await, "live until its end");
    advance(TICK).await;
    assert!(lease(&store, run, "b", TTL).await, "free at its end");
    assert!(!lease(&store, run, "a", TTL).await, "b holds it now");
}

#[tokio::test(start_paused = true)]
async fn a_renewal_counts_from_now() {
    let (store, run) = (InMemoryJournal::new(), RunId::new());
    assert!(lease(&store, run, "a", TTL).await);
    advance(TTL / 3).await;
    assert!(lease(&store, run, "a", TTL).await, "renewed");
    advance(TTL - TICK).await;
    assert!(
        !lease(&store, run, "b", TTL).await,
        "a renewed lease lasts past the first one's end"
    );
    advance(TICK).await;
    assert!(lease(&store, run, "b", TTL).await);
}

#[tokio::test(start_paused = true)]
async fn a_holder_whose_lease_was_taken_over_cannot_commit() {
    let store = InMemoryJournal::new();
    let (run, thread) = (RunId::new(), ThreadId::new("t"));
    let started = || vec![Episode::Started { agent: "a".into() }];
    assert!(lease(&store, run, "a", TTL).await);
    let by = |holder: &str| {
        Commit::new(run, thread.clone())
            .with_episodes(started())
            .with_holder(holder)
    };
    store.commit(by("a")).await.unwrap();

    // a stops renewing (its process stalled); b takes the run over.
    advance(TTL).await;
    store.commit(by("a")).await.unwrap();
    assert!(lease(&store, run, "b", TTL).await);
    let refused = store.commit(by("a")).await;
    match refused {
        Err(MemoryError::Conflict(text)) => assert!(text.contains("another worker"), "{text}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    store.commit(by("b")).await.unwrap();
    assert_eq!(
        store.replay(run).await.unwrap().len(),
        3,
        "a's commits while no one else held the run went in, b's too"
    );
    // A commit naming no holder is not fenced by leases.
    store
        .commit(Commit::new(run, thread.clone()).with_episodes(started()))
        .await
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn only_the_holder_releases_a_lease() {
    let (store, run) = (InMemoryJournal::new(), RunId::new());
    assert!(lease(&store, run, "a", TTL).await);
    store.release(run, "b").await.unwrap();
    assert!(!lease(&store, run, "b", TTL).await, "still a's");
    store.release(run, "a").await.unwrap();
    assert!(lease(&store, run, "b", TTL).await, "free once a gave it up");
}

#[tokio::test(start_paused = true)]
async fn a_lease_too_long_for_the_clock_never_runs_out() {
    let (store, run) = (InMemoryJournal::new(), RunId::new());
    assert!(lease(&store, run, "a", Duration::MAX).await);
    advance(Duration::from_secs(10 * 365 * 24 * 3600)).await;
    assert!(!lease(&store, run, "b", TTL).await);
    assert!(lease(&store, run, "a", TTL).await, "its holder renews it");
}
