//! Runs another worker takes over: a drained worker's at once, a
//! crashed one's when its lease runs out, and never one its own worker
//! still drives.

use super::{agent, completed, options, start, worker, LONG, TTL};
use crate::durable::support::{count, Counted};
use klieo_runtime::wait;
use klieo_store::InMemoryJournal;
use klieo_types::{Journal, RunQueue, Submission};
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

#[tokio::test(start_paused = true)]
async fn a_drained_worker_gives_its_runs_up_and_another_takes_them_at_once() {
    let store = InMemoryJournal::new();
    let (works, started) = (Arc::new(AtomicUsize::new(0)), Arc::new(Notify::new()));
    let run = store
        .submit(&Submission::new("support", "work"))
        .await
        .unwrap();
    let hanging = Counted::new("work", false, &works).hanging(&started);
    let first = worker(&store, agent(&store, hanging), options());
    let (shutdown, working) = start(first);
    started.notified().await;
    shutdown.cancel();
    let report = working.await.unwrap();
    assert_eq!(
        (report.finished, report.released),
        (0, vec![run]),
        "the run outlived the drain deadline and was given up"
    );

    // Its lease is free now, not in 30 s.
    let claimed = store
        .claim("another", &["support".to_owned()], 10, TTL)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1, "taken over at once");
    assert_eq!(
        (claimed[0].run, claimed[0].prompt.as_deref()),
        (run, None),
        "to resume"
    );
}

#[tokio::test(start_paused = true)]
async fn a_run_whose_lease_lapsed_while_its_worker_drives_it_is_not_driven_twice() {
    let store = InMemoryJournal::new();
    let (works, started) = (Arc::new(AtomicUsize::new(0)), Arc::new(Notify::new()));
    let run = store
        .submit(&Submission::new("support", "work"))
        .await
        .unwrap();
    let hanging = Counted::new("work", true, &works).hanging(&started);
    let first = worker(&store, agent(&store, hanging), options());
    let holder = first.holder().to_owned();
    let (shutdown, working) = start(first);
    started.notified().await;
    // The lease lapses while the call runs (the store was out of reach
    // for a lease's time); the worker's next polls may claim it again.
    store.release(run, &holder).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        count(&works),
        1,
        "the call is not started again beside itself"
    );
    shutdown.cancel();
    let report = working.await.unwrap();
    assert_eq!(
        report.released,
        vec![run],
        "one task drove it, given up once"
    );
}

#[tokio::test(start_paused = true)]
async fn a_crashed_workers_run_is_taken_over_when_its_lease_runs_out() {
    let store = InMemoryJournal::new();
    let (works, started) = (Arc::new(AtomicUsize::new(0)), Arc::new(Notify::new()));
    let run = store
        .submit(&Submission::new("support", "work"))
        .await
        .unwrap();
    let hanging = Counted::new("work", false, &works).hanging(&started);
    let first = worker(&store, agent(&store, hanging), options());
    let (_, working) = start(first);
    started.notified().await;
    // The process dies: no drain, the lease neither renewed nor given up.
    working.abort();
    assert!(working.await.unwrap_err().is_cancelled());
    let names = ["support".to_owned()];
    assert!(
        store
            .claim("probe", &names, 10, TTL)
            .await
            .unwrap()
            .is_empty(),
        "not while its lease lasts"
    );

    let second = worker(
        &store,
        agent(&store, Counted::new("work", false, &works)),
        options(),
    );
    let (shutdown, working) = start(second);
    assert_eq!(wait(&store, run, LONG).await.unwrap(), completed());
    shutdown.cancel();
    assert_eq!(working.await.unwrap().finished, 1);
    assert_eq!(
        count(&works),
        1,
        "the interrupted call is not run again (not idempotent)"
    );
}
