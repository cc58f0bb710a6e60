//! A worker shut down while its store does not answer: a claim that
//! never returns does not hold shutdown up, the runs a late claim took
//! are given up at once, not driven, and a store that does not answer
//! when stopped runs' leases are given up is waited for one lease TTL.

use super::gated::GatedClaims;
use super::{agent, options, start, LONG, TTL};
use crate::durable::support::Counted;
use klieo_runtime::{Worker, WorkerReport};
use klieo_store::InMemoryJournal;
use klieo_types::{RunId, RunQueue, Submission};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};

/// A run submitted for the worker, the gate open for its claims.
async fn submitted(store: &InMemoryJournal, queue: &GatedClaims) -> RunId {
    queue.gate.add_permits(Semaphore::MAX_PERMITS);
    store
        .submit(&Submission::new("support", "work"))
        .await
        .unwrap()
}

/// A worker claiming through `queue` for an agent writing to `store`.
fn gated_worker(store: &InMemoryJournal, queue: &GatedClaims) -> Worker {
    let works = Arc::new(AtomicUsize::new(0));
    gated_worker_with(store, queue, Counted::new("work", false, &works))
}

fn gated_worker_with(store: &InMemoryJournal, queue: &GatedClaims, work: Counted) -> Worker {
    let agent = agent(store, work);
    Worker::builder(queue.clone())
        .add_agent("support", agent)
        .with_options(options())
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_claim_that_never_returns_does_not_hold_shutdown_up() {
    let store = InMemoryJournal::new();
    let queue = GatedClaims::new(&store);
    let (shutdown, working) = start(gated_worker(&store, &queue));
    queue.asked.notified().await;
    shutdown.cancel();
    let report = tokio::time::timeout(LONG, working)
        .await
        .expect("the worker stops although its claim never returns")
        .unwrap();
    assert_eq!((report.finished, report.released.len()), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn runs_a_claim_takes_after_shutdown_are_given_up_not_driven() {
    let store = InMemoryJournal::new();
    let queue = GatedClaims::new(&store);
    let run = store
        .submit(&Submission::new("support", "work"))
        .await
        .unwrap();
    let (shutdown, working) = start(gated_worker(&store, &queue));
    queue.asked.notified().await;
    shutdown.cancel();
    // The store answers after all, within the drain deadline.
    queue.gate.add_permits(1);
    let report = tokio::time::timeout(LONG, working).await.unwrap().unwrap();
    assert_eq!(report.finished, 0, "the run was not driven");
    let state = store.state(run).await.unwrap().unwrap();
    assert!(!state.is_finished(), "{state:?}");

    // Its lease is free now, not in 30 s.
    let claimed = store
        .claim("another", &["support".to_owned()], 10, TTL)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1, "taken over at once");
}

#[tokio::test(start_paused = true)]
async fn a_store_that_does_not_answer_after_the_drain_is_waited_for_one_lease_ttl() {
    let store = InMemoryJournal::new();
    let queue = GatedClaims::new(&store);
    let run = submitted(&store, &queue).await;
    let (works, started) = (Arc::new(AtomicUsize::new(0)), Arc::new(Notify::new()));
    let hanging = Counted::new("work", false, &works).hanging(&started);
    let (shutdown, working) = start(gated_worker_with(&store, &queue, hanging));
    started.notified().await;
    queue.stuck.store(true, Ordering::SeqCst);
    shutdown.cancel();
    let report = tokio::time::timeout(LONG, working)
        .await
        .expect("the worker stops although the store does not answer")
        .unwrap();
    assert_eq!((report.finished, report.released), (0, vec![run]));
}

#[tokio::test(start_paused = true)]
async fn a_store_that_hangs_after_answering_a_late_claim_does_not_hold_shutdown_up() {
    let store = InMemoryJournal::new();
    let queue = GatedClaims::new(&store);
    store
        .submit(&Submission::new("support", "work"))
        .await
        .unwrap();
    let (shutdown, working) = start(gated_worker(&store, &queue));
    queue.asked.notified().await;
    shutdown.cancel();
    queue.stuck.store(true, Ordering::SeqCst);
    queue.gate.add_permits(1);
    let report = tokio::time::timeout(LONG, working)
        .await
        .expect("the worker stops although giving the claimed run up hangs")
        .unwrap();
    assert_eq!(report.finished, 0);
}

#[tokio::test(start_paused = true)]
async fn a_worker_with_nothing_to_drain_stops_at_once() {
    let store = InMemoryJournal::new();
    let queue = GatedClaims::new(&store);
    let (shutdown, working) = start(gated_worker(&store, &queue));
    shutdown.cancel();
    let began = tokio::time::Instant::now();
    let report = working.await.unwrap();
    assert_eq!(began.elapsed(), Duration::ZERO, "no drain deadline waited");
    assert_eq!(report, WorkerReport::default());
}

/// Sanity for the double: a worker whose claims are let through drives
/// the run, so the tests above see the gate and not a worker that never
/// claims.
#[tokio::test(start_paused = true)]
async fn a_worker_claiming_through_the_gate_drives_the_run() {
    let store = InMemoryJournal::new();
    drives_the_run(&store, &GatedClaims::new(&store)).await;
}

/// A claim the store never answers is given up within a third of the
/// lease's time to live, and the worker claims again.
#[tokio::test(start_paused = true)]
async fn a_claim_that_never_answers_is_given_up_and_the_next_claims_the_run() {
    let store = InMemoryJournal::new();
    let queue = GatedClaims::new(&store);
    queue.hang_next.store(true, Ordering::SeqCst);
    drives_the_run(&store, &queue).await;
}

/// A run submitted, a worker claiming through `queue` drives it to its
/// end, and stops having finished it.
async fn drives_the_run(store: &InMemoryJournal, queue: &GatedClaims) {
    let run = submitted(store, queue).await;
    let (shutdown, working) = start(gated_worker(store, queue));
    let state = klieo_runtime::wait(store, run, LONG).await.unwrap();
    assert_eq!(state, super::completed());
    shutdown.cancel();
    assert_eq!(working.await.unwrap().finished, 1);
}

/// A run cancelled in the store while its worker drains, stopped at the
/// drain deadline before its lease's renewal told the worker, is not
/// booked as released: no worker takes it over.
#[tokio::test(start_paused = true)]
async fn a_run_cancelled_during_the_drain_is_not_booked_as_released() {
    let store = InMemoryJournal::new();
    let (works, started) = (Arc::new(AtomicUsize::new(0)), Arc::new(Notify::new()));
    let hanging = Counted::new("work", false, &works).hanging(&started);
    let (shutdown, working) = start(super::worker(&store, agent(&store, hanging), options()));
    let run = store
        .submit(&Submission::new("support", "work"))
        .await
        .unwrap();
    started.notified().await;
    store.cancel(run, "ops").await.unwrap();
    shutdown.cancel();
    let report = tokio::time::timeout(LONG, working).await.unwrap().unwrap();
    assert_eq!(
        report,
        WorkerReport::default(),
        "neither finished nor released"
    );
}
