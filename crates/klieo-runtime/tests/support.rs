//! Shared helpers: contexts with an echo tool, stream collection, episode
//! summaries.

use klieo_runtime::{run_steps_streaming, AgentContext, RunOptions};
use klieo_types::testing::{self, next, ScriptedLlm};
use klieo_types::{
    ChatChunk, ChunkStream, Episode, FnTool, LlmError, Message, ThreadId, ToolCall, ToolDef,
    ToolSet,
};
use serde_json::json;

/// One item of a streamed run.
pub(crate) type Item = Result<ChatChunk, LlmError>;

/// The user's message every helper context starts its thread with.
pub(crate) const USER_TEXT: &str = "hello";

/// A tool set with `echo`, which answers `{"echo": args}`.
pub(crate) fn echo_tools() -> ToolSet {
    ToolSet::new().add_tool(FnTool::new(
        ToolDef::new("echo", "Returns its arguments.", json!({"type": "object"})),
        |args| Ok(json!({ "echo": args })),
    ))
}

/// A call of `echo` with id `id`.
pub(crate) fn echo_call(id: &str) -> ToolCall {
    ToolCall::new(id, "echo", json!({ "id": id }))
}

/// `ctx` with a thread `t` holding one user message `text`.
pub(crate) async fn with_user(ctx: AgentContext, text: &str) -> (AgentContext, ThreadId) {
    let thread = ThreadId::new("t");
    ctx.short_term()
        .append(&thread, vec![Message::user(text)])
        .await
        .unwrap();
    (ctx, thread)
}

/// A context over (a clone of) `llm` with the echo tool and a thread
/// holding [`USER_TEXT`].
pub(crate) async fn context(llm: &ScriptedLlm) -> (AgentContext, ThreadId) {
    let ctx = AgentContext::new(llm.clone()).with_tools(echo_tools());
    with_user(ctx, USER_TEXT).await
}

/// Starts a streamed run, panicking when it fails to start.
pub(crate) async fn start(ctx: &AgentContext, thread: ThreadId, opts: RunOptions) -> ChunkStream {
    match run_steps_streaming(ctx, "", thread, opts).await {
        Ok(stream) => stream,
        Err(e) => panic!("the streamed run did not start: {e}"),
    }
}

/// Every item up to the end of the stream; checks that the stream stays
/// ended.
pub(crate) async fn collect(mut stream: ChunkStream) -> Vec<Item> {
    let items = testing::collect(&mut stream).await;
    assert!(
        next(&mut stream).await.is_none(),
        "an ended stream stays ended"
    );
    items
}

/// The text of the `Ok` items.
pub(crate) fn text(items: &[Item]) -> String {
    items
        .iter()
        .filter_map(|i| i.as_ref().ok())
        .map(|c| c.delta.as_str())
        .collect()
}

/// The `Err` items.
pub(crate) fn errors(items: &[Item]) -> Vec<LlmError> {
    items.iter().filter_map(|i| i.clone().err()).collect()
}

/// Checks that the stream ended with exactly one `Err`, its last item, and
/// returns it.
pub(crate) fn terminal(items: &[Item]) -> LlmError {
    let errs = errors(items);
    assert_eq!(errs.len(), 1, "exactly one Err item, got {items:?}");
    match items.last() {
        Some(Err(e)) => e.clone(),
        other => panic!("the last item is not the Err: {other:?}"),
    }
}

/// Checks that `item` is a streamed run's own ending told as `message`:
/// `LlmError::Server` with that text and the run's typed cause, as
/// retryable as the cause. Returns the cause.
pub(crate) fn ended<'a>(item: &'a LlmError, message: &str) -> &'a klieo_types::Error {
    match item {
        LlmError::Server {
            status: None,
            message: text,
            cause: Some(cause),
            ..
        } => {
            assert_eq!(text, message);
            assert_eq!(item.retryable(), cause.retryable(), "{item:?}");
            cause
        }
        other => panic!("expected the run's own ending `{message}`, got {other:?}"),
    }
}

/// The run's episodes.
pub(crate) async fn episodes(ctx: &AgentContext) -> Vec<Episode> {
    ctx.episodic().replay(ctx.run_id()).await.unwrap()
}

/// The kind of each episode, as in their JSON `type`.
pub(crate) fn kinds(episodes: &[Episode]) -> Vec<&'static str> {
    episodes.iter().map(Episode::kind).collect()
}

/// The text of the run's last episode when it is `Failed`.
pub(crate) fn failed_text(episodes: &[Episode]) -> Option<String> {
    match episodes.last() {
        Some(Episode::Failed { error }) => Some(error.clone()),
        _ => None,
    }
}

/// Waits, by yielding, until the run has a `Failed` episode (recorded by a
/// spawned task); returns the episodes.
pub(crate) async fn wait_for_failed(ctx: &AgentContext) -> Vec<Episode> {
    for _ in 0..1000 {
        let log = episodes(ctx).await;
        if failed_text(&log).is_some() {
            return log;
        }
        tokio::task::yield_now().await;
    }
    panic!("no Failed episode: {:?}", episodes(ctx).await);
}

/// Yields (paused time stands still meanwhile) until `llm` has been
/// asked `calls` times: a run then waits in its retry's backoff.
pub(crate) async fn asked(llm: &ScriptedLlm, calls: usize) {
    for _ in 0..1000 {
        if llm.requests().len() >= calls {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!(
        "the model was asked {} times, not {calls}",
        llm.requests().len()
    );
}
