//! Benchmark of the catalog of runs, run by `cargo xtask bench`: a store
//! of 100,000 runs written through the queue and the journal as workers
//! write them (four agents; most completed after three model calls, some
//! failed, cancelled, suspended, running or still queued), then the time
//! to read a page of 50: the newest, the newest of a rare status, of an
//! agent and a status, and a page deep in the list (by its cursor). On
//! SQLite, and with `KLIEO_POSTGRES_URL` (xtask starts a server) on
//! PostgreSQL. Prints one JSON object per figure: the median and the
//! slowest of 30 reads, after 3 not counted.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::panic)]

use klieo::postgres::testing::fresh_database;
use klieo::postgres::{PostgresOptions, PostgresStore};
use klieo::sqlite::{SqliteOptions, SqliteStore, Synchronous};
use klieo::types::{
    Commit, Episode, FinishReason, RunCatalog, RunId, RunQuery, RunQueue, RunStatus, Submission,
    ThreadId, Usage,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs in the store.
const RUNS: usize = 100_000;
/// Tasks writing at once while the store is filled.
const WRITERS: usize = 32;
const AGENTS: [&str; 4] = ["billing", "support", "research", "mail"];

/// Fills `store` with [`RUNS`] runs; the cursor of a page half way down.
async fn fill<S: RunQueue + 'static>(store: Arc<S>) -> RunId {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let mut made = Vec::new();
            for i in (writer..RUNS).step_by(WRITERS) {
                made.push((i, write_one(&*store, i).await));
            }
            made
        }));
    }
    let mut made = Vec::new();
    for task in tasks {
        made.extend(task.await.unwrap());
    }
    made.sort_unstable();
    let elapsed = started.elapsed();
    println!(
        "{{\"impl\":\"klieo\",\"workload\":\"catalog_fill\",\"runs\":{RUNS},\"writers\":{WRITERS},\"seconds\":{:.1}}}",
        elapsed.as_secs_f64()
    );
    made[RUNS / 2].1
}

/// Writes run `i`: submitted for one of the agents, then, by `i`, left
/// queued, claimed and left running, or committed to with three model
/// calls and an end (completed, failed, suspended) or cancelled.
async fn write_one<S: RunQueue + ?Sized>(store: &S, i: usize) -> RunId {
    let agent = AGENTS[i % AGENTS.len()];
    let run = store
        .submit(&Submission::new(agent, format!("task {i}")))
        .await
        .unwrap();
    let end = match i % 100 {
        0 => return run,
        1 => {
            store.cancel(run, "ops").await.unwrap();
            return run;
        }
        2 => None,
        3 => Some(Episode::Suspended {
            step: 3,
            call_id: "c3".into(),
            tool: "send".into(),
            digest: "0".repeat(64),
        }),
        4..=9 => Some(Episode::Failed {
            error: "the model failed".into(),
        }),
        _ => Some(Episode::Completed { steps: 3 }),
    };
    let mut episodes = vec![Episode::Started {
        agent: agent.into(),
    }];
    for step in 1..=3 {
        episodes.push(Episode::LlmCall {
            step,
            tokens: Some(Usage::new(400, 40)),
            latency_ms: 300,
            finish_reason: FinishReason::Stop,
            tool_calls: 1,
            spend: None,
        });
    }
    episodes.extend(end);
    let commit = Commit::new(run, ThreadId::new(format!("t{i}"))).with_episodes(episodes);
    store.commit(commit).await.unwrap();
    run
}

/// Reads `query`'s page 33 times and prints the median and slowest of
/// the last 30.
async fn measure(store: &dyn RunCatalog, name: &str, backend: &str, query: RunQuery) {
    let mut times = Vec::new();
    let mut listed = 0;
    for round in 0..33 {
        let started = Instant::now();
        let page = store.runs(&query).await.unwrap();
        let took = started.elapsed();
        listed = page.runs.len();
        if round >= 3 {
            times.push(took);
        }
    }
    times.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1_000.0;
    println!(
        "{{\"impl\":\"klieo\",\"workload\":\"catalog_page\",\"store\":\"{backend}\",\"runs\":{RUNS},\"page\":\"{name}\",\"listed\":{listed},\"median_ms\":{:.2},\"max_ms\":{:.2},\"target_ms\":100}}",
        ms(times[times.len() / 2]),
        ms(times[times.len() - 1])
    );
}

/// The pages measured, over a store filled with a cursor half way down.
async fn pages(store: &dyn RunCatalog, backend: &str, middle: RunId) {
    let page = RunQuery::new();
    measure(store, "newest", backend, page.clone()).await;
    let suspended = page.clone().with_status(RunStatus::Suspended);
    measure(store, "suspended", backend, suspended).await;
    let failed_billing = page
        .clone()
        .with_agent("billing")
        .with_status(RunStatus::Failed);
    measure(store, "agent_and_status", backend, failed_billing).await;
    measure(store, "half_way", backend, page.with_before(middle)).await;
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let options =
            SqliteOptions::new(dir.path().join("catalog.db")).with_synchronous(Synchronous::Normal);
        let sqlite = Arc::new(SqliteStore::open_with(options).await.unwrap());
        let middle = fill(Arc::clone(&sqlite)).await;
        pages(&*sqlite, "sqlite", middle).await;
        sqlite.close().await;

        let Ok(server) = std::env::var("KLIEO_POSTGRES_URL") else {
            println!("{{\"skipped\":\"postgres\",\"reason\":\"KLIEO_POSTGRES_URL is not set\"}}");
            return;
        };
        let url = fresh_database(&server).await.unwrap();
        let options = PostgresOptions::new(&url).with_max_connections(WRITERS as u32);
        let postgres = Arc::new(PostgresStore::connect_with(options).await.unwrap());
        let middle = fill(Arc::clone(&postgres)).await;
        pages(&*postgres, "postgres", middle).await;
        postgres.close().await;
    });
}
