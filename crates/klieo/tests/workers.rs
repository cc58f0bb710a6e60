//! A fleet on one PostgreSQL database, each worker a process of its own:
//! four workers share 1,000 submitted runs while two are killed with
//! SIGKILL and a third is stopped with SIGTERM; a drained worker's runs
//! are taken over at once; an idle worker is woken by a submit and costs
//! a few statements a poll.
//!
//! A worker is this test binary re-run as `worker_child`: a
//! [`Worker`](klieo::runtime::Worker) on the database with two tools that
//! write a row per call (`lookup`, idempotent, then `charge`, not), until
//! it is killed or drains on SIGTERM. It prints its lease holder's name
//! first.
#![allow(
    clippy::print_stdout,
    reason = "a worker tells the parent on stdout who it is"
)]
#![allow(clippy::panic, reason = "a broken worker fails the test")]

#[path = "workers/effects.rs"]
mod effects;
#[path = "workers/fleet.rs"]
mod fleet;

use effects::Effect;
use klieo::postgres::PostgresStore;
use klieo::prelude::*;
use klieo::types::testing::CallThenAnswer;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The worker process the fleet tests start (`KLIEO_WORKERS_DB`; leases
/// of `KLIEO_WORKER_LEASE_SECS`, 1 by default; a `lookup` that never
/// returns with `KLIEO_WORKER_HANG`). SIGTERM drains it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a worker process of the fleet tests: run only by them"]
async fn worker_child() {
    let url = std::env::var("KLIEO_WORKERS_DB").expect("set by the fleet tests");
    let lease = std::env::var("KLIEO_WORKER_LEASE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let hang = std::env::var_os("KLIEO_WORKER_HANG").is_some();
    let store = PostgresStore::connect(&url).await.expect("the store");
    let db = sqlx::PgPool::connect(&url).await.expect("the effects pool");
    let agent = Agent::builder(CallThenAnswer::new("lookup", "done").add_call("charge"))
        .add_tool(Effect::lookup(&db).hanging(hang))
        .add_tool(Effect::charge(&db))
        .with_memory(store.clone())
        .build()
        .expect("the options are valid");
    let options = WorkerOptions::new()
        .with_lease_ttl(Duration::from_secs(lease))
        .with_drain_deadline(Duration::from_secs(1));
    let worker = Worker::builder(store)
        .add_agent("billing", agent)
        .with_options(options)
        .build()
        .expect("the worker's options are valid");
    println!("holder {}", worker.holder());
    let shutdown = CancellationToken::new();
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler");
    let stop = shutdown.clone();
    tokio::spawn(async move {
        terminate.recv().await;
        stop.cancel();
    });
    let report = worker.run(shutdown).await;
    println!("drained {} {}", report.finished, report.released.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a PostgreSQL server: cargo xtask ci starts one (KLIEO_POSTGRES_URL)"]
async fn four_workers_share_1000_runs_through_two_kills_and_a_drain() {
    let fleet = fleet::Fleet::new().await;
    let mut runs = fleet.submit(0..700).await;
    let mut workers: Vec<_> = (0..4).map(|_| fleet.worker(&[])).collect();
    // The first runs (claims take the oldest first) are over: the fleet
    // is at work. Then two workers die and one drains, each while it
    // drives runs. A fast fleet may have finished the first 700 by then,
    // so 100 more are submitted before each look: the worker looked for
    // has queued runs to take, and the submit wakes it if it was idle.
    fleet.completed(&runs[..20]).await;
    for (i, signal) in ["KILL", "KILL", "TERM"].into_iter().enumerate() {
        let from = 700 + 100 * i;
        runs.extend(fleet.submit(from..from + 100).await);
        fleet.once_driving(&workers[i]).await;
        workers[i].signal(signal);
    }
    assert_eq!(runs.len(), 1_000);
    let drained = workers[2].drained();
    assert!(
        drained.is_some(),
        "the SIGTERM'd worker drained and said so"
    );

    // The last worker finishes every run: the killed ones' after their
    // leases ran out, the drained one's at once.
    fleet.completed(&runs).await;
    for worker in &mut workers {
        worker.signal("KILL");
    }
    fleet.logs_are_whole(&runs).await;
    effects::once_each(&fleet.db, &fleet.store, &runs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a PostgreSQL server: cargo xtask ci starts one (KLIEO_POSTGRES_URL)"]
async fn a_drained_workers_runs_go_to_a_later_worker_without_waiting_for_leases() {
    let fleet = fleet::Fleet::new().await;
    // Submitted while no worker runs: driven when one starts.
    let runs = fleet.submit(0..10).await;
    // Leases of an hour: only a drain that gives them up lets another
    // worker take these runs within the test's bounds.
    let hour = [("KLIEO_WORKER_LEASE_SECS", "3600")];
    let mut stuck = fleet.worker(&[hour[0], ("KLIEO_WORKER_HANG", "1")]);
    fleet.once_driving(&stuck).await;
    stuck.signal("TERM");
    let (finished, released) = stuck.drained().expect("it drained and said so");
    assert_eq!(finished, 0, "its lookups never return");
    assert!(released > 0, "it gave its runs up");

    let mut later = fleet.worker(&hour);
    fleet.completed(&runs).await;
    later.signal("KILL");
    fleet.logs_are_whole(&runs).await;
    effects::once_each(&fleet.db, &fleet.store, &runs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a PostgreSQL server: cargo xtask ci starts one (KLIEO_POSTGRES_URL)"]
async fn an_idle_worker_is_woken_by_a_submit_and_costs_a_few_statements_a_poll() {
    let fleet = fleet::Fleet::new().await;
    let poll = Duration::from_secs(1);
    let (made, window) = fleet.idle_statements(poll).await;
    let per_minute = made as f64 * 60.0 / window.as_secs_f64();
    println!("an idle worker polling every {poll:?}: {per_minute:.0} statements a minute");
    // A claim that finds nothing is one transaction of one statement
    // (three with its BEGIN and COMMIT), once a poll; the window holds at
    // most one poll more than it spans, and listening starts with one.
    let polls = (window.as_secs_f64() / poll.as_secs_f64()) as i64 + 1;
    assert!(
        made <= 3 * polls + 3,
        "an idle worker made {made} statements in {window:?}"
    );

    // With an hour between polls, only the submit's notification can
    // start the run within the wait's bound.
    let run = fleet.woken_run(Duration::from_secs(3600)).await;
    fleet.completed(&[run]).await;
}
