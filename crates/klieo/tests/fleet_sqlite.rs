//! Workers on one SQLite file: three workers (each with its own
//! connections to the file, as separate processes have) drive 60
//! submitted runs; every run completes exactly once and its
//! non-idempotent tool runs at most once, as its log says. One worker is drained part way: its
//! runs are given up and the others finish them.
#![allow(clippy::unwrap_used, clippy::panic)]

use klieo::prelude::*;
use klieo::runtime::wait;
use klieo::sqlite::SqliteStore;
use klieo::types::testing::CallThenAnswer;
use klieo::types::{async_trait, EpisodicMemory, ToolContext, ToolOutcome};
use serde_json::json;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const RUNS: usize = 60;

/// A non-idempotent tool that counts its calls per run.
struct Charge {
    def: ToolDef,
    calls: Arc<Mutex<HashMap<RunId, usize>>>,
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
        *self.calls.lock().unwrap().entry(ctx.run_id).or_default() += 1;
        // Long enough that a drain finds runs going.
        tokio::time::sleep(Duration::from_millis(20)).await;
        Ok(json!("charged"))
    }
}

async fn worker(path: &Path, calls: &Arc<Mutex<HashMap<RunId, usize>>>) -> Worker {
    let store = SqliteStore::open(path).await.unwrap();
    let charge = Charge {
        def: ToolDef::new("charge", "charges once", json!({"type": "object"})),
        calls: Arc::clone(calls),
    };
    let agent = Agent::builder(CallThenAnswer::new("charge", "did {prompt}"))
        .add_tool(charge)
        .with_memory(store.clone())
        .build()
        .unwrap();
    let options = WorkerOptions::new()
        .with_concurrency(8)
        .with_poll_interval(Duration::from_millis(20))
        .with_drain_deadline(Duration::ZERO);
    Worker::builder(store)
        .add_agent("billing", agent)
        .with_options(options)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_drive_every_run_once_and_a_drained_ones_runs_are_finished() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleet.db");
    let submitter = SqliteStore::open(&path).await.unwrap();
    let mut runs = Vec::new();
    for i in 0..RUNS {
        let submission =
            Submission::new("billing", format!("job {i}")).with_key(format!("job-{i}"));
        runs.push(submitter.submit(&submission).await.unwrap());
    }
    let retried = Submission::new("billing", "job 0").with_key("job-0");
    assert_eq!(submitter.submit(&retried).await.unwrap(), runs[0]);

    let calls = Arc::new(Mutex::new(HashMap::new()));
    let mut tokens = Vec::new();
    let mut working = Vec::new();
    for _ in 0..3 {
        let worker = worker(&path, &calls).await;
        let token = CancellationToken::new();
        let shutdown = token.clone();
        working.push(tokio::spawn(async move { worker.run(shutdown).await }));
        tokens.push(token);
    }
    // Drain the first worker once a third of the runs are over.
    let mut done = 0;
    for (i, run) in runs.iter().enumerate() {
        if i == RUNS / 3 {
            tokens[0].cancel();
        }
        let state = wait(&submitter, *run, Duration::from_secs(120))
            .await
            .unwrap();
        assert_eq!(
            state,
            RunState::Completed {
                answer: format!("did job {i}")
            },
            "run {run}"
        );
        done += 1;
    }
    assert_eq!(done, RUNS);
    for token in &tokens {
        token.cancel();
    }
    let mut finished = 0;
    let mut reports = Vec::new();
    for handle in working {
        let report = handle.await.unwrap();
        finished += report.finished;
        reports.push(report);
    }
    // A charge is run once, or not at all when the drain stopped its run
    // after the call was recorded as begun: the log then says so, and the
    // worker that finished the run did not charge again.
    let calls = calls.lock().unwrap().clone();
    for run in &runs {
        let charged = calls.get(run).copied().unwrap_or(0);
        let log = submitter.replay(*run).await.unwrap();
        let outcomes: Vec<&ToolOutcome> = log
            .iter()
            .filter_map(|e| match e {
                Episode::ToolCall { name, result, .. } if name.as_ref() == "charge" => Some(result),
                _ => None,
            })
            .collect();
        match outcomes.as_slice() {
            [ToolOutcome::Ok { .. }] => assert_eq!(charged, 1, "run {run} charged once"),
            [ToolOutcome::Interrupted] => assert!(charged <= 1, "run {run} charged twice"),
            other => panic!("run {run}'s charge ended {other:?}"),
        }
    }
    assert_eq!(
        finished, RUNS as u64,
        "each run finished by one worker: {reports:?}"
    );
}
