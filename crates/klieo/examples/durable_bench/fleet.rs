//! Worker processes on one PostgreSQL database: steps a second with 1, 2
//! and 4 processes of 64 runs at once each (beside pgbench's inserts at
//! as many clients), and how long another worker takes to take a run over
//! after its worker is killed (SIGKILL) or stopped (SIGTERM).
//!
//! A worker is this program re-run as `durable_bench worker URL
//! CONCURRENCY LEASE_MS DRAIN_MS STALL`.

use crate::{builder, model, STEPS_PER_RUN};
use klieo::postgres::testing::fresh_database;
use klieo::postgres::{PostgresOptions, PostgresStore};
use klieo::prelude::*;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// The agent's name in the queue.
const AGENT: &str = "bench";

/// Runs a worker until SIGTERM (it drains) or SIGKILL; prints its lease
/// holder's name once it is connected.
pub(crate) async fn worker(args: &[String]) {
    let [url, concurrency, lease_ms, drain_ms, stall] = args else {
        panic!("worker URL CONCURRENCY LEASE_MS DRAIN_MS STALL");
    };
    let concurrency: usize = concurrency.parse().unwrap();
    let ms = |s: &String| Duration::from_millis(s.parse().unwrap());
    // A run holds a connection only while it writes: half as many as
    // runs, so four processes stay within the server's 200.
    let pool = u32::try_from(concurrency / 2 + 2).unwrap();
    let options = PostgresOptions::new(url.as_str()).with_max_connections(pool);
    let store = PostgresStore::connect_with(options).await.unwrap();
    let agent = builder(model(STEPS_PER_RUN, stall == "stall"))
        .with_memory(store.clone())
        .build()
        .unwrap();
    let options = WorkerOptions::new()
        .with_concurrency(concurrency)
        .with_lease_ttl(ms(lease_ms))
        .with_drain_deadline(ms(drain_ms));
    let worker = Worker::builder(store)
        .add_agent(AGENT, agent)
        .with_options(options)
        .build()
        .unwrap();
    println!("holder {}", worker.holder());
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).unwrap();
    tokio::spawn(async move {
        terminate.recv().await;
        stop.cancel();
    });
    worker.run(shutdown).await;
}

/// A worker process and its holder's name.
struct Process {
    child: Child,
    holder: String,
}

impl Process {
    fn start(url: &str, concurrency: usize, lease: Duration, drain: Duration, stall: bool) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .arg("worker")
            .arg(url)
            .arg(concurrency.to_string())
            .arg(lease.as_millis().to_string())
            .arg(drain.as_millis().to_string())
            .arg(if stall { "stall" } else { "answer" })
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let holder = line.trim().strip_prefix("holder ").unwrap().to_owned();
        Self { child, holder }
    }

    fn signal(&mut self, signal: &str) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-s", signal, &pid])
            .status()
            .unwrap()
            .success());
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `query` (one integer, with `binds`) every 2 ms until `done`
/// says so; panics after ten minutes.
async fn until(db: &sqlx::PgPool, query: &'static str, binds: &[&str], done: impl Fn(i64) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut look = tokio::time::interval(Duration::from_millis(2));
    loop {
        look.tick().await;
        let mut asked = sqlx::query_scalar(query);
        for bind in binds {
            asked = asked.bind(*bind);
        }
        let n: i64 = asked.fetch_one(db).await.unwrap();
        if done(n) {
            return;
        }
        assert!(Instant::now() < deadline, "{query} never came true");
    }
}

/// Steps a second of `processes` workers of `concurrency` runs each,
/// driving `processes * concurrency * rounds` submitted runs of
/// [`STEPS_PER_RUN`] steps: from the first submit to the last run's end.
pub(crate) async fn throughput(
    server: &str,
    processes: usize,
    concurrency: usize,
    rounds: usize,
) -> f64 {
    let url = fresh_database(server).await.unwrap();
    let store = PostgresStore::connect(&url).await.unwrap();
    let db = sqlx::PgPool::connect(&url).await.unwrap();
    let minute = Duration::from_secs(60);
    let _workers: Vec<Process> = (0..processes)
        .map(|_| Process::start(&url, concurrency, minute, minute, false))
        .collect();
    let runs = processes * concurrency * rounds;
    let t = Instant::now();
    let mut submitting = tokio::task::JoinSet::new();
    for chunk in 0..16 {
        let store = store.clone();
        submitting.spawn(async move {
            for i in (chunk..runs).step_by(16) {
                store
                    .submit(&Submission::new(AGENT, format!("run {i}")))
                    .await
                    .unwrap();
            }
        });
    }
    while let Some(done) = submitting.join_next().await {
        done.unwrap();
    }
    let all = runs as i64;
    until(
        &db,
        "SELECT COUNT(*) FROM klieo_runs WHERE state = $1",
        &["completed"],
        |n| n >= all,
    )
    .await;
    (runs * STEPS_PER_RUN) as f64 / t.elapsed().as_secs_f64()
}

/// How long a second worker takes to hold a run after the first, driving
/// it, gets `signal`: with leases of `lease`, and a drain deadline of
/// `drain` for SIGTERM. The run's model stalls, so only a takeover moves
/// it.
pub(crate) async fn takeover(
    server: &str,
    signal: &str,
    lease: Duration,
    drain: Duration,
) -> Duration {
    let url = fresh_database(server).await.unwrap();
    let store = PostgresStore::connect(&url).await.unwrap();
    let db = sqlx::PgPool::connect(&url).await.unwrap();
    let mut first = Process::start(&url, 1, lease, drain, true);
    let run = store
        .submit(&Submission::new(AGENT, "stall"))
        .await
        .unwrap()
        .to_string();
    let held_by = "SELECT COUNT(*) FROM klieo_leases WHERE run = $1 AND holder = $2";
    until(&db, held_by, &[&run, &first.holder], |n| n > 0).await;
    let second = Process::start(&url, 1, lease, drain, true);
    let t = Instant::now();
    first.signal(signal);
    until(&db, held_by, &[&run, &second.holder], |n| n > 0).await;
    t.elapsed()
}

/// Prints the fleet's figures on the server at `server`: steps a second
/// of 1, 2 and 4 worker processes beside pgbench, and the takeover times.
pub(crate) async fn figures(server: &str) {
    let url = fresh_database(server).await.unwrap();
    const CONCURRENCY: usize = 64;
    for processes in [1, 2, 4] {
        let rate = throughput(server, processes, CONCURRENCY, 8).await;
        // pgbench at as many connections as the workers' pools hold.
        let clients = processes * (CONCURRENCY / 2 + 2);
        let floor = crate::floor::pgbench_inserts(&url, clients, 5)
            .map_or("null".into(), |tps| format!("{tps:.0}"));
        println!("{{\"impl\":\"klieo\",\"workload\":\"fleet_throughput\",\"store\":\"postgres\",\"worker_processes\":{processes},\"runs_at_once\":{},\"pgbench_clients\":{clients},\"steps_per_s\":{rate:.0},\"pgbench_insert_tps\":{floor}}}", processes * CONCURRENCY);
    }
    let second = Duration::from_secs(1);
    for (signal, lease, drain) in [
        ("KILL", 2 * second, second),
        ("TERM", 30 * second, second / 10),
    ] {
        let took = takeover(server, signal, lease, drain).await;
        println!("{{\"impl\":\"klieo\",\"workload\":\"takeover\",\"store\":\"postgres\",\"signal\":\"SIG{signal}\",\"lease_ms\":{},\"drain_ms\":{},\"ms\":{:.0}}}", lease.as_millis(), drain.as_millis(), took.as_secs_f64() * 1e3);
    }
}
