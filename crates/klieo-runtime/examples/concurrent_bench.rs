//! Benchmark of many runs at once, run by `cargo xtask bench`: 1,000
//! ten-step runs on a 2-worker runtime, three ways: one after another,
//! all at once sharing the context's memories, and all at once each with
//! private memories. Prints one JSON object per way, with steps per second
//! and the ratio to one after another (medians of 15 rounds each).
//!
//! The model is stateless, like a server: it calls the echo tool until the
//! thread holds nine tool results, then answers. So the runs share nothing
//! but the context's memories, tools and cancel token.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::panic)]

use async_trait::async_trait;
use klieo_runtime::{run_steps, AgentContext, InMemoryEpisodic, InMemoryShortTerm, RunOptions};
use klieo_types::{
    Capabilities, ChatRequest, ChatResponse, FinishReason, FnTool, LlmClient, LlmError, Message,
    Role, ThreadId, ToolCall, ToolDef, ToolSet,
};
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;

const RUNS: usize = 1_000;
const STEPS: usize = 10;
const ROUNDS: usize = 15;

/// Calls `echo` until the request holds `STEPS - 1` tool results.
struct EchoUntilDone;

#[async_trait]
impl LlmClient for EchoUntilDone {
    fn name(&self) -> &str {
        "echo-until-done"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }

    async fn complete(&self, req: ChatRequest) -> Result<ChatResponse, LlmError> {
        let results = req.messages.iter().filter(|m| m.role == Role::Tool).count();
        let message = if results + 1 < STEPS {
            let args = json!({"i": results, "text": "lorem ipsum dolor sit amet"});
            let call = ToolCall::new(format!("c{results}"), "echo", args);
            Message::assistant_tool_calls("", vec![call])
        } else {
            Message::assistant("done")
        };
        let reason = if message.tool_calls.is_empty() {
            FinishReason::Stop
        } else {
            FinishReason::ToolCalls
        };
        Ok(ChatResponse::new(message, reason))
    }
}

fn context() -> AgentContext {
    let echo = FnTool::new(
        ToolDef::new("echo", "echoes", json!({"type": "object"})),
        Ok,
    );
    AgentContext::new(EchoUntilDone)
        .with_tools(ToolSet::new().add_tool(echo))
        .with_agent_name("bench")
}

#[derive(Clone, Copy, PartialEq)]
enum Way {
    OneAfterAnother,
    SharedMemories,
    PrivateMemories,
}

/// One run on its own thread of `ctx`, checked.
async fn one_run(ctx: AgentContext, i: usize) {
    let thread = ThreadId::new(format!("t{i}"));
    ctx.short_term()
        .append(&thread, vec![Message::user("go")])
        .await
        .unwrap();
    let opts = RunOptions::default().with_max_steps(STEPS as u32 + 1);
    let out = run_steps(&ctx, "You are a bench.", thread, opts)
        .await
        .unwrap();
    assert_eq!(out, "done");
}

/// Seconds for `RUNS` runs done `way`.
async fn round(way: Way) -> f64 {
    let ctx = context();
    let start = Instant::now();
    if way == Way::OneAfterAnother {
        for i in 0..RUNS {
            one_run(ctx.next_run(), i).await;
        }
    } else {
        let tasks: Vec<_> = (0..RUNS)
            .map(|i| {
                let mut run = ctx.next_run();
                if way == Way::PrivateMemories {
                    run = run
                        .with_short_term(Arc::new(InMemoryShortTerm::new()))
                        .with_episodic(Arc::new(InMemoryEpisodic::new()));
                }
                tokio::spawn(one_run(run, i))
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    if way != Way::PrivateMemories {
        assert_eq!(ctx.episodic().list_runs().await.unwrap().len(), RUNS);
    }
    elapsed
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let ways = [
        ("one_after_another", Way::OneAfterAnother),
        ("shared_memories", Way::SharedMemories),
        ("private_memories", Way::PrivateMemories),
    ];
    let mut seconds: [Vec<f64>; 3] = Default::default();
    // Rounds alternate between the ways, so drift in the machine's speed
    // touches each alike.
    for _ in 0..ROUNDS {
        for (times, (_, way)) in seconds.iter_mut().zip(ways) {
            // On a worker, like the spawned runs, not on this thread.
            times.push(runtime.block_on(runtime.spawn(round(way))).unwrap());
        }
    }
    let median = seconds.map(|mut times| {
        times.sort_by(f64::total_cmp);
        times[times.len() / 2]
    });
    let steps = (RUNS * STEPS) as f64;
    for ((name, _), seconds) in ways.iter().zip(median) {
        let rate = steps / seconds;
        let ratio = median[0] / seconds;
        println!(
            "{{\"impl\":\"klieo\",\"workload\":\"concurrent_runs\",\"way\":\"{name}\",\"runs\":{RUNS},\"steps_per_run\":{STEPS},\"workers\":2,\"steps_per_s\":{rate:.0},\"vs_one_after_another\":{ratio:.2}}}"
        );
    }
}
