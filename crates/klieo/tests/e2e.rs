//! End-to-end runs against a real OpenAI-compatible model server: a blocking
//! and a streaming run that each call the calculator and answer, and an
//! embeddings call. `cargo xtask ci` starts the local model (llama-cpp-python
//! with SmolLM2-135M) and runs these with `--ignored`; against another
//! server, set `OPENAI_BASE_URL` (and `OPENAI_API_KEY`) and run
//! `cargo test -p klieo --features openai --test e2e -- --ignored`.
#![allow(clippy::unwrap_used, clippy::panic)]

#[path = "../examples/agent/calculator.rs"]
mod calculator;

use klieo::openai::OpenAiClient;
use klieo::prelude::*;
use klieo::{Episode, FinishReason, LlmClient, ToolOutcome};
use serde_json::json;
use std::future::poll_fn;

const SYSTEM: &str = "You are a calculator assistant. Use the calculator tool for arithmetic.";

fn client() -> OpenAiClient {
    OpenAiClient::from_env().unwrap_or_else(|e| {
        panic!("set OPENAI_BASE_URL to a model server (cargo xtask ci starts one): {e}")
    })
}

async fn context() -> (AgentContext, ThreadId) {
    let ctx = AgentContext::new(client())
        .with_tools(ToolSet::new().with(calculator::tool()))
        .with_agent_name("e2e");
    let thread = ThreadId::new("e2e");
    ctx.short_term
        .append(&thread, vec![Message::user("Compute 17*23.")])
        .await
        .unwrap();
    (ctx, thread)
}

/// A forced calculator call first, then a text answer: this server keeps
/// calling tools otherwise, and streams tool calls only when forced.
fn options() -> RunOptions {
    RunOptions {
        max_steps: 4,
        temperature: Some(0.0),
        max_tokens: Some(128),
        tool_choice: Some(ToolChoice::Function("calculator".into())),
        after_tool_calls: AfterToolCalls::None,
        ..RunOptions::default()
    }
}

/// Checks the episode log of a run that called the calculator once and
/// answered: Started, LlmCall (tool_calls), ToolCall = 391, LlmCall (stop),
/// Completed. Returns whether the model calls reported token usage.
fn check_log(episodes: &[Episode]) -> Vec<bool> {
    assert!(
        matches!(episodes.first(), Some(Episode::Started { agent }) if agent == "e2e"),
        "{episodes:#?}"
    );
    let calls: Vec<&Episode> = episodes
        .iter()
        .filter(|e| matches!(e, Episode::ToolCall { .. }))
        .collect();
    match calls.as_slice() {
        [Episode::ToolCall { name, result, .. }] => {
            assert_eq!(name, "calculator");
            assert_eq!(
                result,
                &ToolOutcome::Ok { output: json!(391) },
                "{episodes:#?}"
            );
        }
        other => panic!("expected one calculator call, got {other:#?}"),
    }
    let finishes: Vec<FinishReason> = episodes
        .iter()
        .filter_map(|e| match e {
            Episode::LlmCall { finish_reason, .. } => Some(*finish_reason),
            _ => None,
        })
        .collect();
    assert_eq!(finishes, [FinishReason::ToolCalls, FinishReason::Stop]);
    assert!(
        matches!(episodes.last(), Some(Episode::Completed { steps: 2 })),
        "{episodes:#?}"
    );
    episodes
        .iter()
        .filter_map(|e| match e {
            Episode::LlmCall { tokens, .. } => Some(tokens.is_some()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
#[ignore = "needs a model server: `cargo xtask ci` starts one and runs this"]
async fn blocking_run_calls_the_calculator_and_answers() {
    let (ctx, thread) = context().await;
    let answer = run_steps(&ctx, SYSTEM, thread, options()).await.unwrap();
    assert!(!answer.trim().is_empty());
    let reported = check_log(&ctx.episodic.replay(ctx.run_id).await.unwrap());
    assert_eq!(reported, [true, true], "blocking replies carry usage");
}

#[tokio::test]
#[ignore = "needs a model server: `cargo xtask ci` starts one and runs this"]
async fn streaming_run_calls_the_calculator_and_answers() {
    let (ctx, thread) = context().await;
    let mut stream = run_steps_streaming(&ctx, SYSTEM, thread, options())
        .await
        .unwrap();
    let (mut text, mut calls) = (String::new(), Vec::new());
    while let Some(item) = poll_fn(|cx| stream.as_mut().poll_next(cx)).await {
        let chunk = item.unwrap();
        text.push_str(&chunk.delta);
        calls.extend(chunk.tool_calls);
    }
    let episodes = ctx.episodic.replay(ctx.run_id).await.unwrap();
    assert_eq!(calls.len(), 1, "text: {text:?}\nepisodes: {episodes:#?}");
    assert_eq!(calls[0].name, "calculator");
    assert!(!text.trim().is_empty(), "the answer is streamed as text");
    check_log(&episodes);
}

#[tokio::test]
#[ignore = "needs a model server: `cargo xtask ci` starts one and runs this"]
async fn embeddings_give_one_vector_per_input() {
    let inputs = ["hello world".to_owned(), "17*23".to_owned()];
    let vectors = client().embed(&inputs).await.unwrap();
    assert_eq!(vectors.len(), 2);
    assert!(!vectors[0].is_empty());
    assert_eq!(vectors[0].len(), vectors[1].len());
    assert!(vectors.iter().flatten().all(|x| x.is_finite()));
    assert_ne!(vectors[0], vectors[1]);
}
