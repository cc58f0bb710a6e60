//! The stores the benchmark reads: 100,000 runs written through the queue
//! and the journal as workers write them (four agents; of every 100
//! runs, one left queued, one cancelled, one running, one suspended, six
//! failed and 90 completed, each of those after three model calls), and
//! one run of 1,000 steps, each a model call and a tool call.

use klieo::types::{
    Commit, Episode, FinishReason, RunId, RunQueue, Submission, ThreadId, ToolOutcome, Usage,
};
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;

/// Runs in the store.
pub(crate) const RUNS: usize = 100_000;
/// Tasks writing at once while the store is filled.
pub(crate) const WRITERS: usize = 32;
const AGENTS: [&str; 4] = ["billing", "support", "research", "mail"];
/// Steps of the long run.
pub(crate) const STEPS: u32 = 1_000;

/// Fills `store` with [`RUNS`] runs; the cursor of a page half way down.
pub(crate) async fn fill<S: RunQueue + 'static>(store: Arc<S>) -> RunId {
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

/// Writes a completed run of [`STEPS`] steps, each a model call and a
/// tool call with its arguments and result, one commit a step.
pub(crate) async fn long_run<S: RunQueue + ?Sized>(store: &S) -> RunId {
    let run = store
        .submit(&Submission::new("research", "a long task"))
        .await
        .unwrap();
    let thread = ThreadId::new("long");
    let started = Commit::new(run, thread.clone()).with_episodes(vec![Episode::Started {
        agent: "research".into(),
    }]);
    store.commit(started).await.unwrap();
    for step in 1..=STEPS {
        let mut episodes = vec![
            Episode::LlmCall {
                step,
                tokens: Some(Usage::new(900, 60)),
                latency_ms: 700,
                finish_reason: FinishReason::ToolCalls,
                tool_calls: 1,
                spend: None,
            },
            Episode::ToolCall {
                step,
                call_id: format!("c{step}").into(),
                name: "search".into(),
                args: json!({"query": format!("page {step} of the report")}).into(),
                result: ToolOutcome::Ok {
                    output: json!(format!("found {step} results about the report")),
                },
                latency_ms: 120,
            },
        ];
        if step == STEPS {
            episodes.push(Episode::Completed { steps: STEPS });
        }
        let commit = Commit::new(run, thread.clone()).with_episodes(episodes);
        store.commit(commit).await.unwrap();
    }
    run
}
