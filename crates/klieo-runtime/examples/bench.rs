//! Benchmark of the step loop, run by `cargo xtask bench`: per-step
//! overhead of `run_steps` and the relay rate of `run_steps_streaming`,
//! with a scripted model that answers at once. Prints one JSON object per
//! workload, in the shape of the reference programs in `shared/bench/`.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::panic)]

use klieo_runtime::{run_steps, run_steps_streaming, AgentContext, RunOptions};
use klieo_types::testing::ScriptedLlm;
use klieo_types::{
    ChatChunk, FinishReason, FnTool, LlmError, Message, ThreadId, ToolCall, ToolDef, ToolSet,
};
use serde_json::json;
use std::future::poll_fn;
use std::time::Instant;

/// A context with the echo tool, and a thread holding the user's message.
async fn ctx(llm: ScriptedLlm) -> (AgentContext, ThreadId) {
    let echo = FnTool::new(
        ToolDef::new("echo", "echoes", json!({"type": "object"})),
        Ok,
    );
    let ctx = AgentContext::new(llm)
        .with_tools(ToolSet::new().add_tool(echo))
        .with_agent_name("bench");
    let thread = ThreadId::new("t");
    ctx.short_term()
        .append(&thread, vec![Message::user("go")])
        .await
        .unwrap();
    (ctx, thread)
}

fn script(steps: usize) -> ScriptedLlm {
    let mut llm = ScriptedLlm::new().without_recording();
    for i in 0..steps - 1 {
        let args = json!({"i": i, "text": "lorem ipsum dolor sit amet"});
        llm = llm.then_tool_calls(vec![ToolCall::new(format!("c{i}"), "echo", args)]);
    }
    llm.then_text("done")
}

async fn blocking(steps: usize, reps: usize) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..reps {
        let (c, thread) = ctx(script(steps)).await;
        let opts = RunOptions::default().with_max_steps(steps as u32 + 1);
        let t = Instant::now();
        let out = run_steps(&c, "You are a bench.", thread, opts)
            .await
            .unwrap();
        let el = t.elapsed().as_secs_f64();
        assert_eq!(out, "done");
        best = best.min(el / steps as f64);
    }
    best * 1e9
}

fn token_chunks(chunks: usize) -> Vec<Result<ChatChunk, LlmError>> {
    let mut items: Vec<Result<ChatChunk, LlmError>> = (0..chunks)
        .map(|_| Ok(ChatChunk::delta("token ")))
        .collect();
    items.push(Ok(ChatChunk::finish(FinishReason::Stop)));
    items
}

async fn streaming(chunks: usize, reps: usize) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..reps {
        let llm = ScriptedLlm::new()
            .without_recording()
            .then_chunks(token_chunks(chunks));
        let (c, thread) = ctx(llm).await;
        let opts = RunOptions::default().with_max_response_bytes(usize::MAX);
        let t = Instant::now();
        let mut s = run_steps_streaming(&c, "sys", thread, opts).await.unwrap();
        let mut n = 0usize;
        while let Some(item) = poll_fn(|cx| s.as_mut().poll_next(cx)).await {
            item.unwrap();
            n += 1;
        }
        let el = t.elapsed().as_secs_f64();
        assert_eq!(n, chunks + 1);
        best = best.min(el);
    }
    chunks as f64 / best
}

/// The floor of any relay: the same chunks pulled straight from the
/// scripted model's stream, each delta appended to a String.
async fn pull_floor(chunks: usize, reps: usize) -> f64 {
    use klieo_types::{ChatRequest, LlmClient};
    let mut best = f64::MAX;
    for _ in 0..reps {
        let llm = ScriptedLlm::new()
            .without_recording()
            .then_chunks(token_chunks(chunks));
        let mut s = llm.stream(ChatRequest::default()).await.unwrap();
        let t = Instant::now();
        let mut text = String::new();
        let mut n = 0usize;
        while let Some(item) = poll_fn(|cx| s.as_mut().poll_next(cx)).await {
            text.push_str(&item.unwrap().delta);
            n += 1;
        }
        assert_eq!(n, chunks + 1);
        assert_eq!(text.len(), chunks * 6);
        best = best.min(t.elapsed().as_secs_f64());
    }
    chunks as f64 / best
}

#[tokio::main]
async fn main() {
    for steps in [10usize, 100, 1000] {
        let reps = if steps >= 1000 { 5 } else { 30 };
        let ns = blocking(steps, reps).await;
        println!("{{\"impl\":\"klieo\",\"workload\":\"blocking_steps\",\"steps\":{steps},\"ns_per_step\":{ns:.0}}}");
    }
    let cps = streaming(200_000, 5).await;
    println!("{{\"impl\":\"klieo\",\"workload\":\"streaming_chunks\",\"chunks\":200000,\"chunks_per_s\":{cps:.0}}}");
    let pull = pull_floor(200_000, 5).await;
    println!("{{\"impl\":\"pull\",\"workload\":\"pull_floor\",\"chunks\":200000,\"chunks_per_s\":{pull:.0}}}");
}
