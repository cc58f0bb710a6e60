//! One blocking run of the seed's workload (a scripted model calling one
//! echo tool a step, default options), for counting what a step costs in
//! instructions: `cargo xtask bench` runs it under callgrind, collecting
//! only inside `run_steps`, at two lengths, and prints the difference per
//! step. Run alone, it prints the wall time. Callgrind collects inside
//! [`measured`] (`--toggle-collect='*step_cost*measured*'`), which polls
//! the run and nothing else.
//!
//! `step_cost STEPS`
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::panic)]

use klieo_runtime::{run_steps, AgentContext, RunOptions};
use klieo_types::testing::ScriptedLlm;
use klieo_types::{FnTool, Message, ThreadId, ToolCall, ToolDef, ToolSet};
use serde_json::json;
use std::time::Instant;

fn main() {
    let steps: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("STEPS is a whole number"))
        .unwrap_or(10)
        .max(1);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let (ctx, thread) = runtime.block_on(setup(steps));
    let opts = RunOptions::default().with_max_steps(steps as u32 + 1);
    let run = run_steps(&ctx, "You are a bench.", thread, opts);
    let t = Instant::now();
    let answer = measured(&runtime, run);
    let ns = t.elapsed().as_nanos() as f64 / steps as f64;
    assert_eq!(answer.unwrap(), "done");
    println!("{{\"impl\":\"klieo\",\"workload\":\"step_cost\",\"steps\":{steps},\"ns_per_step\":{ns:.0}}}");
}

/// Drives `run` to its end: the only code callgrind counts.
#[inline(never)]
fn measured<F: std::future::Future>(runtime: &tokio::runtime::Runtime, run: F) -> F::Output {
    runtime.block_on(run)
}

/// The scripted model, the echo tool and the thread with the user's message.
async fn setup(steps: usize) -> (AgentContext, ThreadId) {
    let mut llm = ScriptedLlm::new().without_recording();
    for i in 0..steps - 1 {
        let args = json!({"i": i, "text": "lorem ipsum dolor sit amet"});
        llm = llm.then_tool_calls(vec![ToolCall::new(format!("c{i}"), "echo", args)]);
    }
    let llm = llm.then_text("done");
    let echo = FnTool::new(
        ToolDef::new("echo", "echoes", json!({"type": "object"})),
        Ok,
    );
    let ctx = AgentContext::new(llm)
        .with_tools(ToolSet::new().with(echo))
        .with_agent_name("bench");
    let thread = ThreadId::new("t");
    ctx.short_term()
        .append(&thread, vec![Message::user("go")])
        .await
        .unwrap();
    (ctx, thread)
}
