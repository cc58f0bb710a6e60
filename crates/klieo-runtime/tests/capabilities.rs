//! What the runtime does with a provider's capabilities: a streamed run
//! with tools the model chooses works on a server that cannot stream such
//! calls, with default options.

use crate::support::{collect, context, echo_call, episodes, start, text};
use klieo_runtime::RunOptions;
use klieo_types::testing::ScriptedLlm;
use klieo_types::{Capabilities, ChatChunk, Episode, LlmError, ToolChoice};

fn tool_calls_of(items: &[crate::support::Item]) -> Vec<String> {
    items
        .iter()
        .filter_map(|i| i.as_ref().ok())
        .flat_map(|c: &ChatChunk| c.tool_calls.iter().map(|t| t.id.to_string()))
        .collect()
}

/// An echo call then "done", from a provider that cannot stream tool
/// calls under `auto`.
fn cannot_stream_auto_tools() -> ScriptedLlm {
    let caps = Capabilities::default().with_streamed_auto_tool_calls(false);
    ScriptedLlm::new()
        .with_capabilities(caps)
        .then_tool_calls(vec![echo_call("c1")])
        .then_text("done")
}

fn completed(log: &[Episode]) -> bool {
    matches!(log.last(), Some(Episode::Completed { steps: 2 }))
}

#[tokio::test]
async fn a_provider_that_cannot_stream_auto_tool_calls_gets_blocking_calls_relayed_as_chunks() {
    let llm = cannot_stream_auto_tools();
    let (ctx, thread) = context(&llm).await;
    let items = collect(start(&ctx, thread, RunOptions::default()).await).await;

    assert_eq!(tool_calls_of(&items), ["c1"]);
    assert_eq!(text(&items), "done");
    assert_eq!(llm.pulled_chunks(), 0, "both cycles were blocking calls");
    assert!(items.iter().all(Result::is_ok), "{items:?}");
    let req = &llm.requests()[0];
    assert_eq!(req.tool_choice, None, "the model keeps its choice");
    assert!(completed(&episodes(&ctx).await));
}

#[tokio::test]
async fn a_forced_tool_still_streams_on_such_a_provider() {
    let llm = cannot_stream_auto_tools();
    let (ctx, thread) = context(&llm).await;
    let opts = RunOptions::default()
        .with_tool_choice(Some(ToolChoice::Function("echo".into())))
        .with_after_tool_calls(klieo_runtime::AfterToolCalls::None);
    let items = collect(start(&ctx, thread, opts).await).await;
    assert_eq!(text(&items), "done");
    assert!(llm.pulled_chunks() > 0, "forced and text cycles stream");
}

#[tokio::test]
async fn an_unsupported_stream_under_auto_is_made_blocking() {
    let unsupported = LlmError::Unsupported("empty stream under tool_choice auto".into());
    let llm = ScriptedLlm::new()
        .then_chunks(vec![Err(unsupported)])
        .then_tool_calls(vec![echo_call("c1")])
        .then_text("done");
    let (ctx, thread) = context(&llm).await;
    let items = collect(start(&ctx, thread, RunOptions::default()).await).await;

    assert!(items.iter().all(Result::is_ok), "{items:?}");
    assert_eq!(tool_calls_of(&items), ["c1"]);
    assert_eq!(text(&items), "done");
    assert_eq!(
        llm.requests().len(),
        3,
        "stream, then blocking, then stream"
    );
    assert!(completed(&episodes(&ctx).await));
}

#[tokio::test]
async fn a_provider_that_does_not_stream_answers_a_streamed_run_with_blocking_calls() {
    let caps = Capabilities::default().with_streaming(false);
    let llm = ScriptedLlm::new()
        .with_capabilities(caps)
        .then_tool_calls(vec![echo_call("c1")])
        .then_text("done");
    let (ctx, thread) = context(&llm).await;
    // A forced tool, then none: neither cycle is one the model chooses in.
    let opts = RunOptions::default()
        .with_tool_choice(Some(ToolChoice::Function("echo".into())))
        .with_after_tool_calls(klieo_runtime::AfterToolCalls::None);
    let items = collect(start(&ctx, thread, opts).await).await;
    assert!(items.iter().all(Result::is_ok), "{items:?}");
    assert_eq!(tool_calls_of(&items), ["c1"]);
    assert_eq!(text(&items), "done");
    assert_eq!(llm.pulled_chunks(), 0, "both cycles were blocking calls");
    assert!(completed(&episodes(&ctx).await));
}
