//! One blocking run of the seed's workload (a scripted model calling one
//! echo tool a step, default options), for counting what a step costs in
//! instructions: `cargo xtask bench` runs it under callgrind, collecting
//! only inside `run_steps`, at two lengths, and prints the difference per
//! step. Run alone, it prints the wall time. Callgrind collects inside
//! [`measured`] (`--toggle-collect='*step_cost*measured*'`), which polls
//! the run and nothing else.
//!
//! With `HISTORY`, the thread holds that many messages before the run
//! (about 12 estimated tokens each) and the model says its window is
//! 4,096 tokens, so each request is fitted to it: what fitting a long
//! thread costs a step.
//!
//! `step_cost STEPS [HISTORY]`
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::panic)]

use klieo_runtime::{run_steps, AgentContext, RunOptions};
use klieo_types::testing::ScriptedLlm;
use klieo_types::{Capabilities, FnTool, Message, ThreadId, ToolCall, ToolDef, ToolSet};
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
    let history: usize = std::env::args()
        .nth(2)
        .map(|s| s.parse().expect("HISTORY is a whole number"))
        .unwrap_or(0);
    let (ctx, thread) = runtime.block_on(setup(steps, history));
    let opts = RunOptions::default().with_max_steps(steps as u32 + 1);
    let run = run_steps(&ctx, "You are a bench.", thread, opts);
    let t = Instant::now();
    let answer = measured(&runtime, run);
    let ns = t.elapsed().as_nanos() as f64 / steps as f64;
    assert_eq!(answer.unwrap(), "done");
    println!("{{\"impl\":\"klieo\",\"workload\":\"step_cost\",\"steps\":{steps},\"history\":{history},\"ns_per_step\":{ns:.0}}}");
}

/// Drives `run` to its end: the only code callgrind counts.
#[inline(never)]
fn measured<F: std::future::Future>(runtime: &tokio::runtime::Runtime, run: F) -> F::Output {
    runtime.block_on(run)
}

/// The scripted model, the echo tool and the thread with `history`
/// messages and the user's; with a history, the model's window is known.
async fn setup(steps: usize, history: usize) -> (AgentContext, ThreadId) {
    let mut llm = ScriptedLlm::new().without_recording();
    if history > 0 {
        let window = Capabilities::default().with_max_context_tokens(4_096);
        llm = llm.with_capabilities(window);
    }
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
        .with_tools(ToolSet::new().add_tool(echo))
        .with_agent_name("bench");
    let thread = ThreadId::new("t");
    let mut messages: Vec<Message> = (0..history)
        .map(|i| match i % 2 {
            0 => Message::user(format!("question {i} about the lighthouse")),
            _ => Message::assistant(format!("answer {i} about the keeper")),
        })
        .collect();
    messages.push(Message::user("go"));
    ctx.short_term().append(&thread, messages).await.unwrap();
    (ctx, thread)
}
