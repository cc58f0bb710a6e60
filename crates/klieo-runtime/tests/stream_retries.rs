//! The seed's retry contracts for a streamed run that `retries.rs` does
//! not reach: a cancel while a stream's open waits to retry, in its
//! first cycle and in a later one; a later cycle's retryable failure.

use crate::support::{asked, collect, context, echo_call, errors, start, terminal, text};
use klieo_runtime::{run_steps_streaming, RunOptions};
use klieo_types::testing::ScriptedLlm;
use klieo_types::{Error, LlmError};

#[tokio::test(start_paused = true)]
async fn a_stream_cancelled_while_its_first_open_waits_to_retry_returns_cancelled() {
    let llm = ScriptedLlm::new()
        .then_error(LlmError::server("503"))
        .then_text("never");
    let (ctx, thread) = context(&llm).await;
    let run = {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            run_steps_streaming(&ctx, "", thread, RunOptions::default())
                .await
                .map(|_| ())
        })
    };
    asked(&llm, 1).await;
    ctx.cancel().cancel();
    assert_eq!(run.await.unwrap(), Err(Error::Cancelled));
    assert_eq!(llm.requests().len(), 1, "no attempt after the cancellation");
}

#[tokio::test(start_paused = true)]
async fn a_stream_cancelled_while_a_later_open_waits_to_retry_ends_with_one_cancelled_item() {
    let llm = ScriptedLlm::new()
        .then_tool_calls(vec![echo_call("c1")])
        .then_error(LlmError::server("503"))
        .then_text("never");
    let (ctx, thread) = context(&llm).await;
    let stream = start(&ctx, thread, RunOptions::default()).await;
    let items = tokio::spawn(collect(stream));
    asked(&llm, 2).await;
    ctx.cancel().cancel();
    let items = items.await.unwrap();
    assert_eq!(terminal(&items), LlmError::Cancelled);
    assert_eq!(llm.requests().len(), 2, "no attempt after the cancellation");
}

#[tokio::test(start_paused = true)]
async fn a_later_cycles_retryable_open_failure_is_retried() {
    let llm = ScriptedLlm::new()
        .then_tool_calls(vec![echo_call("c1")])
        .then_error(LlmError::network("connection reset"))
        .then_text("done");
    let (ctx, thread) = context(&llm).await;
    let items = collect(start(&ctx, thread, RunOptions::default()).await).await;
    assert!(errors(&items).is_empty(), "{items:?}");
    assert_eq!(text(&items), "done");
    assert_eq!(llm.requests().len(), 3);
}
