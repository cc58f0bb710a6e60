//! The fleet tests' harness: a fresh database with runs submitted to it,
//! worker processes started, signalled and watched, and the checks on
//! what the runs left.

use crate::effects::{Effect, TABLE};
use klieo::postgres::testing::fresh_database;
use klieo::postgres::PostgresStore;
use klieo::prelude::*;
use klieo::runtime::wait;
use klieo::types::testing::CallThenAnswer;
use klieo::types::{Episode, EpisodicMemory};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long any one thing the tests wait for may take before it counts
/// as never: a bound, not a timing.
const BOUND: Duration = Duration::from_secs(300);

/// A database of its own, its store, and a plain pool for the checks.
pub(crate) struct Fleet {
    url: String,
    pub(crate) store: PostgresStore,
    pub(crate) db: sqlx::PgPool,
}

/// A worker process and what it prints.
pub(crate) struct WorkerProcess {
    child: Child,
    holder: String,
    lines: mpsc::Receiver<String>,
}

impl Fleet {
    /// A fresh database on `KLIEO_POSTGRES_URL`'s server.
    pub(crate) async fn new() -> Self {
        let server = std::env::var("KLIEO_POSTGRES_URL")
            .expect("KLIEO_POSTGRES_URL names a PostgreSQL server: cargo xtask ci sets it");
        let url = fresh_database(&server)
            .await
            .expect("a database of its own");
        let store = PostgresStore::connect(&url).await.expect("the store");
        let db = sqlx::PgPool::connect(&url).await.expect("raw");
        sqlx::query(TABLE)
            .execute(&db)
            .await
            .expect("the effects table");
        Self { url, store, db }
    }

    /// Submits a run of `billing` for each number of `keys`, keyed by it.
    pub(crate) async fn submit(&self, keys: std::ops::Range<usize>) -> Vec<RunId> {
        let mut runs = Vec::with_capacity(keys.len());
        for i in keys {
            let submission =
                Submission::new("billing", format!("charge {i}")).with_key(format!("c{i}"));
            runs.push(self.store.submit(&submission).await.expect("a queued run"));
        }
        runs
    }

    /// Starts a worker process with `env` set.
    pub(crate) fn worker(&self, env: &[(&str, &str)]) -> WorkerProcess {
        let mut child = Command::new(std::env::current_exe().expect("this test binary"))
            .args(["--ignored", "--exact", "worker_child", "--nocapture"])
            .env("KLIEO_WORKERS_DB", &self.url)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("a worker starts");
        let stdout = child.stdout.take().expect("its stdout");
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let mut worker = WorkerProcess {
            child,
            holder: String::new(),
            lines,
        };
        worker.holder = worker.said("holder ").expect("the worker says who it is");
        worker
    }

    /// Returns once `worker` holds a live lease: it is driving a run.
    /// The caller makes sure runs are queued: a worker that finds none
    /// never drives.
    pub(crate) async fn once_driving(&self, worker: &WorkerProcess) {
        let mut look = tokio::time::interval(Duration::from_millis(5));
        let deadline = tokio::time::Instant::now() + BOUND;
        while tokio::time::Instant::now() < deadline {
            look.tick().await;
            let driving: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM klieo_leases WHERE holder = $1 AND until_at > now()",
            )
            .bind(&worker.holder)
            .fetch_one(&self.db)
            .await
            .expect("the leases");
            if driving > 0 {
                return;
            }
        }
        panic!("worker {} never drove a run", worker.holder);
    }

    /// Every run of `runs` completes.
    pub(crate) async fn completed(&self, runs: &[RunId]) {
        for run in runs {
            let state = wait(&self.store, *run, BOUND).await;
            assert!(
                matches!(state, Ok(RunState::Completed { .. })),
                "run {run}: {state:?}"
            );
        }
    }

    /// Every log of `runs` starts, completes once, and ends there.
    pub(crate) async fn logs_are_whole(&self, runs: &[RunId]) {
        for run in runs {
            let log = self.store.replay(*run).await.expect("replay");
            let completed = log
                .iter()
                .filter(|e| matches!(e, Episode::Completed { .. }))
                .count();
            assert_eq!(completed, 1, "run {run} completed once: {log:?}");
            assert_eq!(log.first().map(Episode::kind), Some("started"), "{log:?}");
            assert_eq!(log.last().map(Episode::kind), Some("completed"), "{log:?}");
        }
    }

    /// An in-process worker of this fleet polling every `poll`.
    fn idle_worker(&self, poll: Duration) -> (CancellationToken, tokio::task::JoinHandle<()>) {
        let agent = Agent::builder(CallThenAnswer::new("lookup", "done").add_call("charge"))
            .add_tool(Effect::lookup(&self.db))
            .add_tool(Effect::charge(&self.db))
            .with_memory(self.store.clone())
            .build()
            .expect("the options are valid");
        let worker = Worker::builder(self.store.clone())
            .add_agent("billing", agent)
            .with_options(WorkerOptions::new().with_poll_interval(poll))
            .build()
            .expect("the worker's options are valid");
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        let working = tokio::spawn(async move {
            worker.run(stop).await;
        });
        (shutdown, working)
    }

    /// Statements this database ran, other than these counts, since the
    /// last reset (`pg_stat_statements`, which the server preloads).
    async fn statements(&self) -> i64 {
        sqlx::query_scalar(
            "SELECT COALESCE(SUM(calls), 0)::BIGINT FROM pg_stat_statements \
             WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
             AND query NOT LIKE '%pg_stat_statements%'",
        )
        .fetch_one(&self.db)
        .await
        .expect("pg_stat_statements: cargo xtask ci preloads it")
    }

    /// Clears the statement counts.
    async fn reset_statements(&self) {
        sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            .execute(&self.db)
            .await
            .expect("pg_stat_statements: cargo xtask ci preloads it");
        sqlx::query("SELECT pg_stat_statements_reset()")
            .execute(&self.db)
            .await
            .expect("the counts reset");
    }

    /// The statements an idle worker polling every `poll` makes over
    /// three polls, and that window.
    pub(crate) async fn idle_statements(&self, poll: Duration) -> (i64, Duration) {
        let (shutdown, working) = self.idle_worker(poll);
        self.reset_statements().await;
        let window = poll * 3;
        // A measurement's window, not a wait for something to happen.
        tokio::time::sleep(window).await;
        let made = self.statements().await;
        shutdown.cancel();
        working.await.expect("the worker stops");
        (made, window)
    }

    /// A run submitted once an in-process worker polling every `poll` is
    /// idle (its first claim made), driven by it; returned when it is
    /// over or the bound ran out.
    pub(crate) async fn woken_run(&self, poll: Duration) -> RunId {
        self.reset_statements().await;
        let (shutdown, working) = self.idle_worker(poll);
        let mut look = tokio::time::interval(Duration::from_millis(5));
        let deadline = tokio::time::Instant::now() + BOUND;
        loop {
            look.tick().await;
            assert!(
                tokio::time::Instant::now() < deadline,
                "the worker never claimed"
            );
            let claims: i64 = sqlx::query_scalar(
                "SELECT COALESCE(SUM(calls), 0)::BIGINT FROM pg_stat_statements \
                 WHERE query LIKE '%SKIP LOCKED%' \
                 AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
            )
            .fetch_one(&self.db)
            .await
            .expect("the claims");
            if claims > 0 {
                break;
            }
        }
        let run = self
            .store
            .submit(&Submission::new("billing", "wake up"))
            .await
            .expect("a queued run");
        let state = wait(&self.store, run, Duration::from_secs(60)).await;
        shutdown.cancel();
        working.await.expect("the worker stops");
        assert!(
            matches!(state, Ok(RunState::Completed { .. })),
            "the submit woke the idle worker: {state:?}"
        );
        run
    }
}

impl WorkerProcess {
    /// The rest of the first line it prints starting with `prefix`.
    fn said(&self, prefix: &str) -> Option<String> {
        loop {
            let line = self.lines.recv_timeout(BOUND).ok()?;
            if let Some(rest) = line.strip_prefix(prefix) {
                return Some(rest.to_owned());
            }
        }
    }

    /// Sends `signal` (`KILL` or `TERM`); a killed worker is reaped.
    pub(crate) fn signal(&mut self, signal: &str) {
        if signal == "KILL" {
            let _ = self.child.kill();
            let _ = self.child.wait();
            return;
        }
        let sent = Command::new("kill")
            .args(["-s", signal, &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "SIG{signal} sent");
    }

    /// After SIGTERM: the runs it finished and gave up as it drained, and
    /// it exited; `None` when it never said.
    pub(crate) fn drained(&mut self) -> Option<(u64, u64)> {
        let said = self.said("drained ")?;
        let _ = self.child.wait();
        let (finished, released) = said.split_once(' ')?;
        Some((finished.parse().ok()?, released.parse().ok()?))
    }
}
