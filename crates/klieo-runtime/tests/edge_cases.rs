//! Edges of the contracts: cancellation with chunks ready, a consumer that
//! stops at the finish chunk, a truncated reply that asks for tools.

use crate::support::{
    collect, context, episodes, errors, failed_text, kinds, start, text, wait_for_failed,
};
use futures_util::Stream;
use klieo_runtime::{run_steps, RunOptions};
use klieo_types::testing::{next, text_chunks, ScriptedLlm};
use klieo_types::{ChatChunk, ChatResponse, FinishReason, LlmError, Message, Role, ToolCall};
use std::collections::HashSet;

/// The items up to the one that says the model finished, as a common
/// consumer reads them before it stops.
async fn read_to_finish<S>(stream: &mut S) -> Vec<Result<ChatChunk, LlmError>>
where
    S: Stream<Item = Result<ChatChunk, LlmError>> + Unpin,
{
    let mut seen = Vec::new();
    while let Some(item) = next(stream).await {
        let finished = item.as_ref().is_ok_and(|c| c.finish_reason.is_some());
        seen.push(item);
        if finished {
            break;
        }
    }
    seen
}

/// Lets a dropped run's spawned ending run (the runtime has no other task).
async fn settle() {
    for _ in 0..1000 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn cancellation_with_chunks_ready_is_seen_on_the_next_item() {
    let pieces: Vec<String> = (0..100).map(|i| format!("{i} ")).collect();
    let pieces: Vec<&str> = pieces.iter().map(String::as_str).collect();
    let llm = ScriptedLlm::new().then_chunks(text_chunks(&pieces, None));
    let (ctx, thread) = context(&llm).await;
    let mut stream = start(&ctx, thread, RunOptions::default()).await;
    assert!(next(&mut stream).await.is_some_and(|i| i.is_ok()));
    ctx.cancel().cancel();
    let rest = collect(stream).await;

    // 99 chunks were ready; not one of them follows the cancel.
    assert_eq!(errors(&rest), [LlmError::Cancelled]);
    assert_eq!(rest.len(), 1, "the item after cancel() is the error");
    assert_eq!(
        kinds(&episodes(&ctx).await),
        ["started", "llm_call", "failed"],
        "a cancelled run does not complete; the call it cut off is kept"
    );
}

#[tokio::test]
async fn cancellation_before_the_first_item_is_the_first_item() {
    let llm = ScriptedLlm::new().then_chunks(text_chunks(&["Hel", "lo"], None));
    let (ctx, thread) = context(&llm).await;
    // The stream opened with its first chunk read, to tell an error.
    let stream = start(&ctx, thread, RunOptions::default()).await;
    ctx.cancel().cancel();
    let rest = collect(stream).await;
    assert_eq!(errors(&rest), [LlmError::Cancelled]);
    assert_eq!(rest.len(), 1, "the item after cancel() is the error");
}

#[tokio::test]
async fn dropping_after_the_finish_chunk_keeps_the_answer() {
    let llm = ScriptedLlm::new().then_chunks(text_chunks(&["Hel", "lo"], None));
    let (ctx, thread) = context(&llm).await;
    let mut stream = start(&ctx, thread.clone(), RunOptions::default()).await;
    let seen = read_to_finish(&mut stream).await;
    drop(stream);
    assert_eq!(text(&seen), "Hello");
    settle().await;

    let history = ctx.short_term().load(&thread, 100_000).await.unwrap();
    assert_eq!(
        history.last().map(|m| (m.role, m.content.as_str())),
        Some((Role::Assistant, "Hello")),
        "the answer the consumer read is kept in the thread"
    );
    assert_eq!(kinds(&episodes(&ctx).await).last(), Some(&"completed"));
}

/// Cancelled, then dropped after the finish chunk: the run ends
/// `cancelled`, as reading on would have told.
#[tokio::test]
async fn cancelling_then_dropping_after_the_finish_chunk_records_cancelled() {
    let llm = ScriptedLlm::new().then_chunks(text_chunks(&["Hel", "lo"], None));
    let (ctx, thread) = context(&llm).await;
    let mut stream = start(&ctx, thread, RunOptions::default()).await;
    read_to_finish(&mut stream).await;
    ctx.cancel().cancel();
    drop(stream);
    let log = wait_for_failed(&ctx).await;
    assert_eq!(failed_text(&log).as_deref(), Some("cancelled"));
    assert!(!kinds(&log).contains(&"completed"), "{log:?}");
}

/// A reply cut by its length that asks for tools is an answer (its calls
/// do not run), read on or dropped after its finish chunk alike.
#[tokio::test]
async fn dropping_after_a_length_reply_with_tool_calls_keeps_its_text() {
    let call = ToolCall::from_raw("c1", "echo", "{\"id\": \"c");
    let reply = ChatResponse::new(
        Message::assistant_tool_calls("partial", vec![call]),
        FinishReason::Length,
    );
    let llm = ScriptedLlm::new().then_reply(reply);
    let (ctx, thread) = context(&llm).await;
    let mut stream = start(&ctx, thread.clone(), RunOptions::default()).await;
    read_to_finish(&mut stream).await;
    drop(stream);
    settle().await;
    let history = ctx.short_term().load(&thread, 100_000).await.unwrap();
    assert_eq!(
        history.last().map(|m| (m.role, m.content.as_str())),
        Some((Role::Assistant, "partial"))
    );
    assert_eq!(kinds(&episodes(&ctx).await).last(), Some(&"completed"));
}

#[tokio::test]
async fn a_truncated_reply_with_tool_calls_leaves_no_call_without_result() {
    let call = ToolCall::from_raw("c1", "echo", "{\"id\": \"c");
    let reply = ChatResponse::new(
        Message::assistant_tool_calls("Let me check", vec![call]),
        FinishReason::Length,
    );
    let llm = ScriptedLlm::new().then_reply(reply).then_text("fallback");
    let (ctx, thread) = context(&llm).await;
    let _outcome = run_steps(&ctx, "", thread.clone(), RunOptions::default()).await;

    let history = ctx.short_term().load(&thread, 100_000).await.unwrap();
    let answered: HashSet<&str> = history
        .iter()
        .filter_map(|m| m.tool_call_id.as_deref())
        .collect();
    for message in history.iter() {
        for call in &message.tool_calls {
            assert!(
                answered.contains(call.id.as_ref()),
                "call {} has no result in the thread: {:?}",
                call.id,
                history.to_vec()
            );
        }
    }
}

#[tokio::test]
async fn retryable_tool_errors_go_back_to_the_model() {
    let flaky = klieo_types::FnTool::new(
        klieo_types::ToolDef::new("flaky", "Busy.", serde_json::json!({"type": "object"})),
        |_| {
            Err(klieo_types::ToolError::Retryable {
                message: "busy".into(),
                retry_after: None,
            })
        },
    );
    let llm = ScriptedLlm::new()
        .then_tool_calls(vec![ToolCall::new("c1", "flaky", serde_json::json!({}))])
        .then_text("gave up");
    let (ctx, thread) = context(&llm).await;
    let ctx = ctx.with_tools(klieo_types::ToolSet::new().add_tool(flaky));
    let answer = run_steps(&ctx, "", thread, RunOptions::default()).await;
    assert_eq!(answer, Ok("gave up".into()));
    let fed_back = llm.requests()[1].messages.last().cloned();
    let fed_back = fed_back.map(|m| (m.role, m.content));
    assert!(
        matches!(&fed_back, Some((Role::Tool, text)) if text.starts_with("error: ") && text.contains("busy")),
        "{fed_back:?}"
    );
}
