//! A worker reads its store's wake-ups whatever it is doing: on
//! PostgreSQL, a listener that stops reading its notifications holds the
//! server's queue of them up, for every process on the database, until
//! `NOTIFY` fails.

use super::gated::GatedClaims;
use super::{agent, options, start};
use crate::durable::support::Counted;
use klieo_runtime::Worker;
use klieo_store::InMemoryJournal;
use klieo_types::{RunQueue, Submission};
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};

#[tokio::test(start_paused = true)]
async fn a_worker_with_no_room_left_still_reads_its_wakeups() {
    let store = InMemoryJournal::new();
    let queue = GatedClaims::new(&store);
    queue.gate.add_permits(Semaphore::MAX_PERMITS);
    store
        .submit(&Submission::new("support", "work"))
        .await
        .unwrap();
    let (works, started) = (Arc::new(AtomicUsize::new(0)), Arc::new(Notify::new()));
    let hanging = Counted::new("work", false, &works).hanging(&started);
    let worker = Worker::builder(queue.clone())
        .add_agent("support", agent(&store, hanging))
        .with_options(options().with_concurrency(1))
        .build()
        .unwrap();
    let (shutdown, working) = start(worker);
    // Its one place is taken by a run that does not end.
    started.notified().await;
    for _ in 0..3 {
        queue.wake.notify_one();
        // Read at once: no time passes (within a second, long before the
        // run's tool would time out and free its place).
        tokio::time::timeout(Duration::from_secs(1), queue.woken.notified())
            .await
            .expect("the wake-up is read while the worker has no room");
    }
    shutdown.cancel();
    working.await.unwrap();
}

/// A store whose `LISTEN` never answers (a half-open connection) holds no
/// worker from claiming: the ask is given up, and the worker polls.
#[tokio::test(start_paused = true)]
async fn a_worker_whose_wakeups_never_answer_still_claims() {
    let store = InMemoryJournal::new();
    let queue = GatedClaims::new(&store);
    queue.gate.add_permits(Semaphore::MAX_PERMITS);
    queue
        .silent_wakeups
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let run = store
        .submit(&Submission::new("support", "work"))
        .await
        .unwrap();
    let works = Arc::new(AtomicUsize::new(0));
    let worker = Worker::builder(queue.clone())
        .add_agent(
            "support",
            agent(&store, Counted::new("work", false, &works)),
        )
        .with_options(options())
        .build()
        .unwrap();
    let (shutdown, working) = start(worker);
    let state = klieo_runtime::wait(&store, run, Duration::from_secs(600)).await;
    assert_eq!(state.unwrap(), super::completed());
    shutdown.cancel();
    working.await.unwrap();
}
