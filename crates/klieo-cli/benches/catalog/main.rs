//! Benchmark of the catalog of runs and the console's pages, run by
//! `cargo xtask bench` (`cargo xtask bench catalog`): a store of 100,000
//! runs and one of 1,000 steps (see `fill`), on SQLite and, with
//! `KLIEO_POSTGRES_URL` (xtask starts a server), on PostgreSQL. Then:
//!
//! - a page of 50 runs read through `RunCatalog`: the newest, the newest
//!   of a rare status, of an agent and a status, and one half way down;
//! - the same pages as the console serves them, and the 1,000-step run's
//!   page, asked over HTTP of a `klieo console` process over the store.
//!
//! Each is read 33 times, the first 3 not counted; one JSON object per
//! figure gives the median and the slowest of the 30.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::panic)]

mod fill;

use fill::{fill, long_run, RUNS, STEPS, WRITERS};
use klieo::postgres::testing::fresh_database;
use klieo::postgres::{PostgresOptions, PostgresStore};
use klieo::sqlite::{SqliteOptions, SqliteStore, Synchronous};
use klieo::types::{RunCatalog, RunId, RunQuery, RunStatus};
use std::future::Future;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOKEN: &str = "bench-token-0123456789";

/// The median and slowest of 30 timings of `read`, after 3.
async fn time<F, Fut>(mut read: F) -> (f64, f64)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut times = Vec::new();
    for round in 0..33 {
        let started = Instant::now();
        read().await;
        if round >= 3 {
            times.push(started.elapsed());
        }
    }
    times.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1_000.0;
    (ms(times[times.len() / 2]), ms(times[times.len() - 1]))
}

fn print(workload: &str, backend: &str, page: &str, (median, max): (f64, f64), target: u32) {
    println!(
        "{{\"impl\":\"klieo\",\"workload\":\"{workload}\",\"store\":\"{backend}\",\"runs\":{RUNS},\"page\":\"{page}\",\"median_ms\":{median:.2},\"max_ms\":{max:.2},\"target_ms\":{target}}}"
    );
}

/// The pages measured: (name, query, the console's path for it).
fn pages(middle: RunId) -> Vec<(&'static str, RunQuery, String)> {
    vec![
        ("newest", RunQuery::new(), "/".to_owned()),
        (
            "suspended",
            RunQuery::new().with_status(RunStatus::Suspended),
            "/?status=suspended".to_owned(),
        ),
        (
            "agent_and_status",
            RunQuery::new()
                .with_agent("billing")
                .with_status(RunStatus::Failed),
            "/?status=failed&agent=billing".to_owned(),
        ),
        (
            "half_way",
            RunQuery::new().with_before(middle),
            format!("/?before={middle}"),
        ),
    ]
}

/// Every figure of one store, `spec` being how `klieo` opens it.
async fn measure(store: &dyn RunCatalog, backend: &str, spec: &str, middle: RunId, long: RunId) {
    for (name, query, _) in pages(middle) {
        let figure = time(|| async {
            assert_eq!(store.runs(&query).await.unwrap().runs.len(), 50);
        })
        .await;
        print("catalog_page", backend, name, figure, 100);
    }
    let console = Console::start(spec);
    for (name, _, path) in pages(middle) {
        let figure = time(|| async {
            console.get(&path);
        })
        .await;
        print("console_runs_page", backend, name, figure, 100);
    }
    let path = format!("/runs/{long}");
    let bytes = console.get(&path);
    let figure = time(|| async {
        console.get(&path);
    })
    .await;
    let (median, max) = figure;
    println!(
        "{{\"impl\":\"klieo\",\"workload\":\"console_run_page\",\"store\":\"{backend}\",\"steps\":{STEPS},\"bytes\":{bytes},\"median_ms\":{median:.2},\"max_ms\":{max:.2},\"target_ms\":200}}"
    );
}

/// `klieo console` over a store, killed when dropped.
struct Console {
    child: Child,
    addr: String,
}

impl Console {
    fn start(spec: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_klieo"))
            .args([
                "--store",
                spec,
                "console",
                "--bind",
                "127.0.0.1:0",
                "--token",
                TOKEN,
            ])
            .env_remove("KLIEO_STORE")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap();
        let addr = url
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap()
            .to_owned();
        Self { child, addr }
    }

    /// The page at `path`, whole; its size in bytes. Blocking: the
    /// console is another process, and the read is what is timed.
    fn get(&self, path: &str) -> usize {
        let mut stream = TcpStream::connect(&self.addr).unwrap();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n",
            self.addr
        );
        stream.write_all(request.as_bytes()).unwrap();
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).unwrap();
        assert!(
            reply.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&reply[..reply.len().min(300)])
        );
        reply.len()
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.db");
        let options = SqliteOptions::new(&path).with_synchronous(Synchronous::Normal);
        let sqlite = Arc::new(SqliteStore::open_with(options).await.unwrap());
        let middle = fill(Arc::clone(&sqlite)).await;
        let long = long_run(&*sqlite).await;
        let spec = format!("sqlite://{}", path.display());
        measure(&*sqlite, "sqlite", &spec, middle, long).await;
        sqlite.close().await;

        let Ok(server) = std::env::var("KLIEO_POSTGRES_URL") else {
            println!("{{\"skipped\":\"postgres\",\"reason\":\"KLIEO_POSTGRES_URL is not set\"}}");
            return;
        };
        let url = fresh_database(&server).await.unwrap();
        let options = PostgresOptions::new(&url).with_max_connections(WRITERS as u32);
        let postgres = Arc::new(PostgresStore::connect_with(options).await.unwrap());
        let middle = fill(Arc::clone(&postgres)).await;
        let long = long_run(&*postgres).await;
        measure(&*postgres, "postgres", &url, middle, long).await;
        postgres.close().await;
    });
}
