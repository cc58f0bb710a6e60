//! Benchmark of durable runs, run by `cargo xtask bench`: the disk's
//! fsync latency (the floor); the per-step cost of a run on SQLite
//! (`synchronous` FULL and NORMAL) beside the in-memory one, the number of
//! commits per step, the steps a second of 1,000 runs at once on SQLite,
//! the cost of a step governed by a budget and a rate limiter in the
//! file, and the time to resume an interrupted run of 100 and of 1,000
//! steps;
//! with `KLIEO_POSTGRES_URL` (xtask starts a server), the per-step cost on
//! PostgreSQL, the steps per second of 1, 8 and 64 runs at once in one
//! process and of 1, 2 and 4 worker processes (beside pgbench), and the
//! takeover times after SIGKILL and SIGTERM. A stateless model calls one
//! echo tool a step. Prints one JSON object per figure.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::panic)]

mod fleet;
mod floor;
mod governed;

use klieo::postgres::testing::fresh_database;
use klieo::postgres::PostgresStore;
use klieo::prelude::*;
use klieo::runtime::AgentBuilder;
use klieo::sqlite::{SqliteOptions, SqliteStore, Synchronous};
use klieo::types::{
    async_trait, Capabilities, Commit, EpisodicMemory, FinishReason, Journal, MemoryError,
    RunRecord, ShortTermMemory, Transcript,
};
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Notify;

/// Calls `echo` (ids c0, c1, …) until `steps - 1` calls have results,
/// then answers;
/// with `stall`, waits for ever instead of answering (and says so).
pub(crate) struct Model {
    steps: usize,
    stall: AtomicBool,
    stalled: Notify,
}

#[async_trait]
impl LlmClient for Model {
    fn name(&self) -> &str {
        "bench"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }
    async fn complete(&self, req: ChatRequest) -> Result<ChatResponse, LlmError> {
        // The history window may not hold every result: read the last id.
        let results = req
            .messages
            .iter()
            .rev()
            .find_map(|m| {
                m.tool_call_id
                    .as_deref()?
                    .strip_prefix('c')?
                    .parse::<usize>()
                    .ok()
            })
            .map_or(0, |n| n + 1);
        if results + 1 < self.steps {
            let call = ToolCall::new(format!("c{results}"), "echo", json!({"i": results}));
            let reply = Message::assistant_tool_calls("", vec![call]);
            return Ok(ChatResponse::new(reply, FinishReason::ToolCalls));
        }
        if self.stall.load(Ordering::SeqCst) {
            self.stalled.notify_one();
            std::future::pending::<()>().await;
        }
        Ok(ChatResponse::new(
            Message::assistant("done"),
            FinishReason::Stop,
        ))
    }
}

/// Counts the writes that reach the store.
#[derive(Clone)]
struct Counted<S>(S, Arc<AtomicUsize>);

#[async_trait]
impl<S: Journal> ShortTermMemory for Counted<S> {
    async fn append(&self, t: &ThreadId, m: Vec<Message>) -> Result<(), MemoryError> {
        self.1.fetch_add(1, Ordering::Relaxed);
        self.0.append(t, m).await
    }
    async fn load(&self, t: &ThreadId, n: usize) -> Result<Transcript, MemoryError> {
        self.0.load(t, n).await
    }
    async fn clear(&self, t: &ThreadId) -> Result<(), MemoryError> {
        self.0.clear(t).await
    }
}

#[async_trait]
impl<S: Journal> EpisodicMemory for Counted<S> {
    async fn record(&self, r: RunId, e: Episode) -> Result<(), MemoryError> {
        self.1.fetch_add(1, Ordering::Relaxed);
        self.0.record(r, e).await
    }
    async fn replay(&self, r: RunId) -> Result<Vec<Episode>, MemoryError> {
        self.0.replay(r).await
    }
    async fn list_runs(&self) -> Result<Vec<RunId>, MemoryError> {
        self.0.list_runs().await
    }
}

#[async_trait]
impl<S: Journal> Journal for Counted<S> {
    async fn commit(&self, c: Commit) -> Result<(), MemoryError> {
        self.1.fetch_add(1, Ordering::Relaxed);
        self.0.commit(c).await
    }
    async fn run(&self, r: RunId) -> Result<Option<RunRecord>, MemoryError> {
        self.0.run(r).await
    }
    fn ledger(&self) -> Option<&dyn klieo::types::SpendLedger> {
        self.0.ledger()
    }
}

/// The steps of each run in the many-runs figures.
pub(crate) const STEPS_PER_RUN: usize = 10;

pub(crate) fn model(steps: usize, stall: bool) -> Arc<Model> {
    Arc::new(Model {
        steps,
        stall: AtomicBool::new(stall),
        stalled: Notify::new(),
    })
}

pub(crate) fn builder(llm: Arc<Model>) -> AgentBuilder {
    let echo = FnTool::new(
        ToolDef::new("echo", "echoes", json!({"type": "object"})),
        Ok,
    );
    Agent::builder_shared(llm)
        .add_tool(echo)
        .with_options(RunOptions::default().with_max_steps(2_000))
}

async fn store(dir: &std::path::Path, name: &str, sync: Synchronous) -> SqliteStore {
    let options = SqliteOptions::new(dir.join(name)).with_synchronous(sync);
    SqliteStore::open_with(options).await.unwrap()
}

/// Nanoseconds per step and commits per step of one `steps`-step run.
async fn per_step(agent: &Agent, steps: usize, commits: &AtomicUsize) -> (f64, f64) {
    let before = commits.load(Ordering::Relaxed);
    let t = Instant::now();
    let answer = agent
        .session(format!("t{}", RunId::new()))
        .run("go")
        .await
        .unwrap();
    let ns = t.elapsed().as_nanos() as f64 / steps as f64;
    assert_eq!(answer.text, "done");
    let made = commits.load(Ordering::Relaxed) - before;
    (ns, made as f64 / steps as f64)
}

/// [`per_step`] of the fastest of three runs.
async fn best_of_three(agent: &Agent, steps: usize, commits: &AtomicUsize) -> (f64, f64) {
    let mut best = (f64::MAX, 0.0);
    for _ in 0..3 {
        let (ns, per) = per_step(agent, steps, commits).await;
        if ns < best.0 {
            best = (ns, per);
        }
    }
    best
}

/// Seconds to resume a run stopped before its last model call.
async fn resume_time(dir: &std::path::Path, steps: usize) -> f64 {
    let path_store = store(dir, &format!("resume{steps}.db"), Synchronous::Normal).await;
    let stalling = model(steps, true);
    let agent = builder(Arc::clone(&stalling))
        .with_memory(path_store.clone())
        .build()
        .expect("the options are valid");
    let chat = agent.session("t");
    let run = chat.run("go");
    tokio::select! {
        ended = run => panic!("the run cannot end while the model stalls: {ended:?}"),
        () = stalling.stalled.notified() => {}
    }
    let id = path_store.list_runs().await.unwrap()[0];
    // The stopped run's lease outlives it (as a killed process's does) for
    // its 30 s; the resume measured is the one after it ran out.
    let again = builder(model(steps, false))
        .with_options(
            RunOptions::default()
                .with_max_steps(2_000)
                .with_lease_ttl(None),
        )
        .with_memory(path_store)
        .build()
        .expect("the options are valid");
    let t = Instant::now();
    let answer = again.resume(id).await.unwrap();
    assert_eq!(answer.text, "done");
    t.elapsed().as_secs_f64()
}

/// Steps per second of `runs` concurrent runs of `steps` steps on `store`.
async fn throughput<S: Journal + Clone + 'static>(store: &S, runs: usize, steps: usize) -> f64 {
    let agent = builder(model(steps, false))
        .with_memory(store.clone())
        .build()
        .expect("the options are valid");
    let t = Instant::now();
    let tasks: Vec<_> = (0..runs)
        .map(|_| {
            let agent = agent.clone();
            tokio::spawn(async move {
                let chat = agent.session(format!("t{}", RunId::new()));
                assert_eq!(chat.run("go").await.unwrap().text, "done");
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    (runs * steps) as f64 / t.elapsed().as_secs_f64()
}

async fn postgres(server: &str) {
    const STEPS: usize = 100;
    let url = fresh_database(server).await.unwrap();
    let commits = Arc::new(AtomicUsize::new(0));
    let store = PostgresStore::connect(&url).await.unwrap();
    let agent = builder(model(STEPS, false))
        .with_memory(Counted(store.clone(), Arc::clone(&commits)))
        .build()
        .expect("the options are valid");
    let (ns, per) = best_of_three(&agent, STEPS, &commits).await;
    println!("{{\"impl\":\"klieo\",\"workload\":\"durable_steps\",\"store\":\"postgres\",\"steps\":{STEPS},\"ns_per_step\":{ns:.0},\"commits_per_step\":{per:.2}}}");
    let one = throughput(&store, 1, 20).await;
    for runs in [1, 8, 64] {
        let rate = if runs == 1 {
            one
        } else {
            throughput(&store, runs, 20).await
        };
        println!("{{\"impl\":\"klieo\",\"workload\":\"durable_throughput\",\"store\":\"postgres\",\"runs\":{runs},\"steps_per_s\":{rate:.0},\"vs_one\":{:.2}}}", rate / one);
    }
}

/// The figures by name; `durable_bench NAME…` prints only those named.
const FIGURES: [&str; 7] = [
    "fsync",
    "steps",
    "governed",
    "sqlite_many",
    "postgres",
    "fleet",
    "resume",
];

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("worker") {
        return fleet::worker(&args[1..]).await;
    }
    if args.first().map(String::as_str) == Some("governed_run") {
        return governed::run_once(&args[1..]).await;
    }
    for arg in &args {
        assert!(
            FIGURES.contains(&arg.as_str()),
            "{arg}: the figures are {FIGURES:?}"
        );
    }
    let wanted = |figure: &str| args.is_empty() || args.iter().any(|a| a == figure);
    let dir = tempfile::tempdir().unwrap();
    if wanted("fsync") {
        let fsync = floor::fsync(dir.path(), 200);
        println!(
            "{{\"impl\":\"floor\",\"workload\":\"fsync_4k\",\"us\":{:.0}}}",
            fsync.as_secs_f64() * 1e6
        );
    }
    if wanted("steps") {
        steps(dir.path()).await;
    }
    if wanted("governed") {
        governed::figure(dir.path()).await;
    }
    if wanted("sqlite_many") {
        sqlite_many(dir.path()).await;
    }
    let server = std::env::var("KLIEO_POSTGRES_URL").ok();
    if let Some(server) = server.as_deref() {
        if wanted("postgres") {
            postgres(server).await;
        }
        if wanted("fleet") {
            fleet::figures(server).await;
        }
    }
    if wanted("resume") {
        for steps in [100, 1_000] {
            let secs = resume_time(dir.path(), steps).await;
            println!("{{\"impl\":\"klieo\",\"workload\":\"resume\",\"store\":\"sqlite\",\"steps\":{steps},\"ms\":{:.1}}}", secs * 1e3);
        }
    }
}

/// A step's cost in one run: in memory, and on SQLite in both modes.
async fn steps(dir: &std::path::Path) {
    const STEPS: usize = 100;
    let memory = builder(model(STEPS, false))
        .build()
        .expect("the options are valid");
    let (ns, _) = per_step(&memory, STEPS, &AtomicUsize::new(0)).await;
    println!("{{\"impl\":\"klieo\",\"workload\":\"durable_steps\",\"store\":\"in-memory\",\"steps\":{STEPS},\"ns_per_step\":{ns:.0}}}");
    for (name, sync) in [("full", Synchronous::Full), ("normal", Synchronous::Normal)] {
        let commits = Arc::new(AtomicUsize::new(0));
        let counted = Counted(
            store(dir, &format!("{name}.db"), sync).await,
            Arc::clone(&commits),
        );
        let agent = builder(model(STEPS, false))
            .with_memory(counted)
            .build()
            .expect("the options are valid");
        let (ns, per) = best_of_three(&agent, STEPS, &commits).await;
        println!("{{\"impl\":\"klieo\",\"workload\":\"durable_steps\",\"store\":\"sqlite\",\"synchronous\":\"{name}\",\"steps\":{STEPS},\"ns_per_step\":{ns:.0},\"commits_per_step\":{per:.2}}}");
    }
}

/// Steps a second of 1,000 runs at once on one SQLite file.
async fn sqlite_many(dir: &std::path::Path) {
    const RUNS: usize = 1_000;
    let many = store(dir, "many.db", Synchronous::Full).await;
    let commits = Arc::new(AtomicUsize::new(0));
    let counted = Counted(many, Arc::clone(&commits));
    let rate = throughput(&counted, RUNS, STEPS_PER_RUN).await;
    let per = commits.load(Ordering::Relaxed) as f64 / (RUNS * STEPS_PER_RUN) as f64;
    println!("{{\"impl\":\"klieo\",\"workload\":\"durable_throughput\",\"store\":\"sqlite\",\"synchronous\":\"full\",\"runs\":{RUNS},\"steps\":{STEPS_PER_RUN},\"steps_per_s\":{rate:.0},\"commits_per_step\":{per:.2}}}");
}
