//! A key's budget under kill -9: four worker processes share 100 runs of
//! one key whose total limit fits about half of them, while workers are
//! killed with SIGKILL at random points of their runs and replaced. What
//! the store's ledger says the key settled never passes the limit, and
//! at the end equals what the runs' journals record; every run ends,
//! answered or refused by the key's budget.
//!
//! A worker is this test binary re-run as `budget_worker_child`: a
//! [`Worker`](klieo::runtime::Worker) on the store named by
//! `KLIEO_BUDGET_DB` (a SQLite file's path, or a PostgreSQL URL) whose
//! agent's budget names the key. Its tool prints `working` as it starts,
//! so the parent kills it mid-run.
#![allow(
    clippy::print_stdout,
    reason = "a worker tells the parent on stdout what it does"
)]
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "a broken worker fails the test"
)]

use klieo::postgres::testing::fresh_database;
use klieo::postgres::PostgresStore;
use klieo::prelude::*;
use klieo::runtime::{wait, Budget, KeyBudget};
use klieo::sqlite::SqliteStore;
use klieo::types::testing::CallThenAnswer;
use klieo::types::{async_trait, Episode, Journal, KeySpend, RunQueue, ToolContext};
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio_util::sync::CancellationToken;

/// The key every run counts against.
const KEY: &str = "tenant-7";
/// Its limit: about half of the 100 runs' tokens.
const LIMIT: u64 = 30_000;
const RUNS: usize = 100;
const KILLS: usize = 8;
/// Runs submitted before each kill's look for a working worker.
const RUNS_A_KILL: usize = 4;
/// How long any one thing the test waits for may take before it counts
/// as never: a bound, not a timing.
const BOUND: Duration = Duration::from_secs(300);

/// A tool that says it started, then works a moment.
struct Work {
    def: ToolDef,
}

#[async_trait]
impl Tool for Work {
    fn def(&self) -> &ToolDef {
        &self.def
    }
    async fn invoke(
        &self,
        _args: serde_json::Value,
        _ctx: ToolContext<'_>,
    ) -> Result<serde_json::Value, ToolError> {
        println!("working");
        // The work's length, so a kill lands inside runs.
        tokio::time::sleep(Duration::from_millis(20)).await;
        Ok(json!("done"))
    }
}

/// A worker of `store` whose runs count against the key.
fn worker(store: impl RunQueue + Clone + 'static) -> Worker {
    let budget = Budget::new().with_key(
        KeyBudget::new(KEY)
            .with_total_tokens(LIMIT)
            .with_reservation_ttl(Duration::from_secs(5)),
    );
    let agent = Agent::builder(CallThenAnswer::new("work", "did {prompt}").add_call("work"))
        .add_tool(Work {
            def: ToolDef::new("work", "works", json!({"type": "object"})),
        })
        .with_memory(store.clone())
        .with_options(
            RunOptions::default()
                .with_budget(budget)
                .with_max_tokens(Some(32)),
        )
        .build()
        .unwrap();
    let options = WorkerOptions::new()
        .with_concurrency(2)
        .with_lease_ttl(Duration::from_secs(1))
        .with_poll_interval(Duration::from_millis(50));
    Worker::builder(store)
        .add_agent("tenant", agent)
        .with_options(options)
        .build()
        .unwrap()
}

/// The worker process the kill tests start; it runs until killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a worker process of the key budget tests: run only by them"]
async fn budget_worker_child() {
    let db = std::env::var("KLIEO_BUDGET_DB").expect("set by the key budget tests");
    let worker = if db.starts_with("postgres") {
        worker(PostgresStore::connect(&db).await.unwrap())
    } else {
        worker(SqliteStore::open(&db).await.unwrap())
    };
    println!("started");
    worker.run(CancellationToken::new()).await;
}

/// The worker processes, and the lines they print, each with the number
/// of the process that printed it.
struct Processes {
    db: String,
    live: Vec<(usize, Child)>,
    started: usize,
    send: mpsc::Sender<(usize, String)>,
    lines: mpsc::Receiver<(usize, String)>,
}

impl Processes {
    fn new(db: &str) -> Self {
        let (send, lines) = mpsc::channel();
        Self {
            db: db.to_owned(),
            live: Vec::new(),
            started: 0,
            send,
            lines,
        }
    }

    /// Starts one more worker.
    fn start(&mut self) {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", "budget_worker_child", "--nocapture"])
            .env("KLIEO_BUDGET_DB", &self.db)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (number, send) = (self.started, self.send.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if send.send((number, line)).is_err() {
                    break;
                }
            }
        });
        self.live.push((number, child));
        self.started += 1;
    }

    /// The number of a live worker that said `working` (since the last
    /// call), once one does; `None` when none does within `within`.
    fn one_working(&self, within: Duration) -> Option<usize> {
        loop {
            let (number, line) = self.lines.recv_timeout(within).ok()?;
            if line == "working" && self.live.iter().any(|(n, _)| *n == number) {
                return Some(number);
            }
        }
    }

    /// Drops the lines printed so far: the next `working` is one printed
    /// after this call, by a worker at work now.
    fn forget_lines(&self) {
        while self.lines.try_recv().is_ok() {}
    }

    /// Kills worker `number`.
    fn kill(&mut self, number: usize) {
        if let Some(at) = self.live.iter().position(|(n, _)| *n == number) {
            let (_, mut child) = self.live.remove(at);
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn kill_all(&mut self) {
        for (_, mut child) in self.live.drain(..) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A small random number generator (xorshift), seeded from the clock;
/// the seed is printed, so a failure can be replayed by hand.
struct Chaos(u64);

impl Chaos {
    fn new() -> Self {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
            | 1;
        println!("chaos seed {seed}");
        Self(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// What the key settled, as the store's ledger says.
async fn settled(store: &dyn Journal) -> KeySpend {
    let ledger = store.ledger().expect("the store keeps a ledger");
    ledger.standing(KEY, 0, RunId::new()).await.unwrap().settled
}

/// What the runs' journals record of the calls they made.
async fn journaled(store: &dyn Journal, runs: &[RunId]) -> KeySpend {
    let mut sum = KeySpend::default();
    for run in runs {
        for episode in store.replay(*run).await.unwrap() {
            if let Episode::LlmCall {
                spend: Some(spend), ..
            } = episode
            {
                sum = sum.plus(KeySpend::of_call(&spend));
            }
        }
    }
    sum
}

/// Submits `n` more runs of the key, numbered on from `runs`.
async fn submit(store: &dyn RunQueue, runs: &mut Vec<RunId>, n: usize) {
    for _ in 0..n {
        let submission = Submission::new("tenant", format!("job {}", runs.len()));
        runs.push(store.submit(&submission).await.unwrap());
    }
}

/// Four workers on `db` (opened as `store` here too) share 100 runs of
/// one key through eight kills.
async fn never_overspent_through_kills(store: &dyn RunQueue, db: &str) {
    let mut runs = Vec::with_capacity(RUNS);
    let mut chaos = Chaos::new();
    let mut workers = Processes::new(db);
    for _ in 0..4 {
        workers.start();
    }
    let mut kills = 0;
    // Each kill lands in a run a worker is working on, or just past it.
    // A few runs are submitted before each look, so a fast fleet has
    // work then (the 32 stay inside what the key admits, even with the
    // killed runs' reservations held); the rest after the kills.
    while kills < KILLS {
        workers.forget_lines();
        submit(store, &mut runs, RUNS_A_KILL).await;
        let Some(victim) = workers.one_working(Duration::from_secs(10)) else {
            break;
        };
        tokio::time::sleep(Duration::from_millis(chaos.below(8))).await;
        workers.kill(victim);
        kills += 1;
        workers.start();
        let now = settled(store).await;
        assert!(now.tokens <= LIMIT, "settled {now:?} past {LIMIT}");
    }
    let rest = RUNS - runs.len();
    submit(store, &mut runs, rest).await;
    let (mut answered, mut refused) = (0, 0);
    for run in &runs {
        match wait(store, *run, BOUND).await.unwrap() {
            RunState::Completed { .. } => answered += 1,
            RunState::Failed { error } if error.contains(KEY) => refused += 1,
            other => panic!("run {run} ended {other:?}"),
        }
    }
    workers.kill_all();
    println!("{answered} answered, {refused} refused by the key's budget, {kills} kills");
    assert_eq!(kills, KILLS, "every kill landed while runs were going");
    assert!(
        answered > 0 && refused > 0,
        "the limit fits some runs, not all"
    );
    let settled = settled(store).await;
    assert!(settled.tokens <= LIMIT, "settled {settled:?} past {LIMIT}");
    assert_eq!(
        settled,
        journaled(store, &runs).await,
        "the ledger settled what the journals hold"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keys_budget_is_never_overspent_through_kills_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("budget.db");
    let store = SqliteStore::open(&path).await.unwrap();
    never_overspent_through_kills(&store, path.to_str().unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a PostgreSQL server: cargo xtask ci starts one (KLIEO_POSTGRES_URL)"]
async fn a_keys_budget_is_never_overspent_through_kills_on_postgres() {
    let server = std::env::var("KLIEO_POSTGRES_URL")
        .expect("KLIEO_POSTGRES_URL names a PostgreSQL server: cargo xtask ci sets it");
    let url = fresh_database(&server).await.unwrap();
    let store = PostgresStore::connect(&url).await.unwrap();
    never_overspent_through_kills(&store, &url).await;
}
