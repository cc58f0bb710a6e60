//! Two worker processes share one PostgreSQL database and 200 submitted
//! runs; one is killed with SIGKILL while it drives runs. Every run
//! completes exactly once, and no run's side effect happens twice.
//!
//! A worker is this test binary re-run as `worker_child`: a
//! [`Worker`](klieo::runtime::Worker) on the database, with leases of 1 s,
//! until it is killed. It prints its lease holder's name first.
#![allow(
    clippy::print_stdout,
    reason = "a worker tells the parent on stdout who it is"
)]
#![allow(clippy::panic, reason = "a broken worker fails the test")]

use klieo::postgres::testing::fresh_database;
use klieo::postgres::PostgresStore;
use klieo::prelude::*;
use klieo::runtime::wait;
use klieo::types::testing::CallThenAnswer;
use klieo::types::{async_trait, EpisodicMemory, ToolContext};
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const RUNS: usize = 200;

/// A non-idempotent tool whose effect is a row per call.
struct Charge {
    def: ToolDef,
    db: sqlx::PgPool,
}

#[async_trait]
impl Tool for Charge {
    fn def(&self) -> &ToolDef {
        &self.def
    }
    async fn invoke(
        &self,
        _args: serde_json::Value,
        ctx: ToolContext<'_>,
    ) -> Result<serde_json::Value, ToolError> {
        sqlx::query("INSERT INTO charges (run) VALUES ($1)")
            .bind(ctx.run_id.to_string())
            .execute(&self.db)
            .await
            .map_err(|e| ToolError::Permanent(e.to_string()))?;
        Ok(json!("charged"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a worker process of the two-worker test: run only by it"]
async fn worker_child() {
    let url = std::env::var("KLIEO_WORKERS_DB").expect("set by two_workers_share_200_runs");
    let store = PostgresStore::connect(&url).await.expect("the store");
    let db = sqlx::PgPool::connect(&url).await.expect("the effects pool");
    let charge = Charge {
        def: ToolDef::new("charge", "charges once", json!({"type": "object"})),
        db,
    };
    let agent = Agent::builder(CallThenAnswer::new("charge", "done"))
        .with_tool(charge)
        .with_memory(store.clone())
        .build()
        .expect("the options are valid");
    let options = WorkerOptions::new()
        .with_lease_ttl(Duration::from_secs(1))
        .with_poll_interval(Duration::from_millis(50));
    let worker = Worker::builder(store)
        .with_agent("billing", agent)
        .with_options(options)
        .build()
        .expect("the worker's options are valid");
    println!("holder {}", worker.holder());
    // Until the parent kills this process.
    worker.run(CancellationToken::new()).await;
}

/// Starts a worker; returns it and its lease holder's name.
fn worker(url: &str) -> (Child, String) {
    let mut child = Command::new(std::env::current_exe().expect("this test binary"))
        .args(["--ignored", "--exact", "worker_child", "--nocapture"])
        .env("KLIEO_WORKERS_DB", url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("a worker starts");
    let stdout = child.stdout.take().expect("its stdout");
    let (lines, seen) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    // A bound, not a timing: a worker that says nothing in a minute is
    // broken.
    let holder = loop {
        match seen.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => {
                if let Some(holder) = line.strip_prefix("holder ") {
                    break holder.to_owned();
                }
            }
            Err(_) => panic!("the worker did not say who it is"),
        }
    };
    (child, holder)
}

/// How many live leases `holder` has: runs it is driving now.
async fn driving(db: &sqlx::PgPool, holder: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM klieo_leases WHERE holder = $1 AND until_at > now()")
        .bind(holder)
        .fetch_one(db)
        .await
        .expect("the leases")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a PostgreSQL server: cargo xtask ci starts one (KLIEO_POSTGRES_URL)"]
async fn two_workers_share_200_runs() {
    let server = std::env::var("KLIEO_POSTGRES_URL")
        .expect("KLIEO_POSTGRES_URL names a PostgreSQL server: cargo xtask ci sets it");
    let url = fresh_database(&server)
        .await
        .expect("a database of its own");
    let store = PostgresStore::connect(&url).await.expect("the store");
    let db = sqlx::PgPool::connect(&url).await.expect("raw");
    sqlx::query("CREATE TABLE charges (run TEXT NOT NULL)")
        .execute(&db)
        .await
        .expect("the effects table");
    let mut runs = Vec::with_capacity(RUNS);
    for i in 0..RUNS {
        let submission =
            Submission::new("billing", format!("charge {i}")).with_key(format!("c{i}"));
        runs.push(store.submit(&submission).await.expect("a queued run"));
    }

    let (mut first, first_holder) = worker(&url);
    let (mut second, _) = worker(&url);
    // The first 20 runs (claims take the oldest first) are over, and the
    // first worker is driving runs: it dies in the middle of its work.
    for run in &runs[..20] {
        let state = wait(&store, *run, Duration::from_secs(120)).await;
        assert!(
            matches!(state, Ok(RunState::Completed { .. })),
            "run {run}: {state:?}"
        );
    }
    let mut got_going = false;
    for _ in 0..1_000 {
        if driving(&db, &first_holder).await > 0 {
            first.kill().expect("SIGKILL");
            got_going = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    let _ = first.kill();
    first.wait().expect("reaped");
    assert!(got_going, "the first worker was driving runs when killed");

    // The second worker finishes every run, the killed one's taken over
    // once their leases ran out.
    for run in &runs {
        let state = wait(&store, *run, Duration::from_secs(120)).await;
        assert!(
            matches!(state, Ok(RunState::Completed { .. })),
            "the second worker finished run {run}: {state:?}"
        );
    }
    let _ = second.kill();
    second.wait().expect("reaped");

    for run in &runs {
        let log = store.replay(*run).await.expect("replay");
        let completed = log
            .iter()
            .filter(|e| matches!(e, Episode::Completed { .. }))
            .count();
        assert_eq!(completed, 1, "run {run} completed once: {log:?}");
        assert_eq!(log.last().map(Episode::kind), Some("completed"), "{log:?}");
    }
    let charges: Vec<(String, i64)> =
        sqlx::query_as("SELECT run, COUNT(*) FROM charges GROUP BY run HAVING COUNT(*) > 1")
            .fetch_all(&db)
            .await
            .expect("the charges");
    assert!(charges.is_empty(), "charged twice: {charges:?}");
}
