//! Two worker processes share one PostgreSQL database and 200 runs; one is
//! killed with SIGKILL part way. Every run completes exactly once, and no
//! run's side effect happens twice.
//!
//! A worker is this test binary re-run as `worker_child`: it resumes every
//! run that is not finished, skipping those another worker holds, until
//! none is left.
#![allow(
    clippy::print_stdout,
    reason = "a worker tells the parent on stdout what it finished"
)]

use klieo::postgres::testing::fresh_database;
use klieo::postgres::PostgresStore;
use klieo::prelude::*;
use klieo::types::testing::CallThenAnswer;
use klieo::types::{async_trait, Commit, EpisodicMemory, Journal, MemoryError, ToolContext};
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

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

fn finished(log: &[Episode]) -> bool {
    matches!(
        log.last(),
        Some(Episode::Completed { .. } | Episode::Failed { .. })
    )
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
        .with_options(RunOptions::default().with_lease_ttl(Some(Duration::from_secs(1))))
        .build()
        .expect("the options are valid");
    loop {
        let mut left = 0;
        for run in store.list_runs().await.expect("list") {
            if finished(&store.replay(run).await.expect("replay")) {
                continue;
            }
            left += 1;
            match agent.resume(run).await {
                Ok(_) => println!("done {run}"),
                // Another worker holds it, finished it, or moved it first.
                Err(Error::Memory(MemoryError::Conflict(_)) | Error::NotResumable { .. }) => {}
                Err(e) => {
                    // The parent sees no "all done", and fails.
                    println!("failed {run}: {e}");
                    return;
                }
            }
        }
        if left == 0 {
            println!("all done");
            return;
        }
        // Runs are left that another worker holds (or held, until its
        // lease runs out): look again shortly.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Starts a worker and a thread forwarding its stdout lines.
fn worker(url: &str) -> (Child, mpsc::Receiver<String>) {
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
    (child, seen)
}

/// Reads `lines` until `stop` says so; false if the worker went quiet for
/// a minute (a bound, not a timing) or ended first.
fn read_until(lines: &mpsc::Receiver<String>, mut stop: impl FnMut(&str) -> bool) -> bool {
    loop {
        match lines.recv_timeout(Duration::from_secs(60)) {
            Ok(line) if stop(&line) => return true,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
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
    // 200 runs, started (the prompt in the thread) and not yet driven.
    for i in 0..RUNS {
        let commit = Commit::new(RunId::new(), ThreadId::new(format!("t{i}")))
            .with_messages(vec![Message::user(format!("charge {i}"))])
            .with_episodes(vec![Episode::Started {
                agent: "billing".into(),
            }]);
        store.commit(commit).await.expect("a queued run");
    }

    let first_url = url.clone();
    let second_url = url.clone();
    let both = tokio::task::spawn_blocking(move || {
        let (mut first, first_lines) = worker(&first_url);
        let (mut second, second_lines) = worker(&second_url);
        let mut done = 0;
        let first_got_going = read_until(&first_lines, |line| {
            done += usize::from(line.starts_with("done "));
            done >= 20
        });
        first.kill().expect("SIGKILL");
        first.wait().expect("reaped");
        let second_finished = read_until(&second_lines, |line| line.ends_with("all done"));
        let _ = second.kill();
        second.wait().expect("reaped");
        (first_got_going, second_finished)
    });
    let (first_got_going, second_finished) = both.await.expect("the workers ran");
    assert!(
        first_got_going,
        "the first worker finished 20 runs before it was killed"
    );
    assert!(second_finished, "the second worker finished every run");

    for run in store.list_runs().await.expect("list") {
        let log = store.replay(run).await.expect("replay");
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
