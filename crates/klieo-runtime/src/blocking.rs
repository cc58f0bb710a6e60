//! [`run_steps`]: a run driven to its answer, on the engine (`engine.rs`)
//! in blocking mode.

use crate::context::AgentContext;
use crate::engine::{start, Mode};
use crate::options::RunOptions;
use crate::run::{Extras, Run};
use klieo_types::{Error, Message, ThreadId};
use std::sync::Arc;

/// Runs the agent until the model answers: call the model with the
/// thread's recent history, run the tools it asks for, record their
/// results, and call it again; returns the answer's text.
///
/// The thread must already hold the user's message. Each cycle checks
/// cancellation and `max_steps` first. Model calls are retried under
/// `opts.retry`. The event log gets `Started`, one `LlmCall` per cycle, one
/// `ToolCall` per tool call and `Completed`; a run that fails records
/// `Failed` with the same texts as a streamed run.
///
/// ```
/// use klieo_runtime::{run_steps, AgentContext, RunOptions};
/// use klieo_types::testing::ScriptedLlm;
/// use klieo_types::{FnTool, Message, ThreadId, ToolCall, ToolDef, ToolSet};
/// use serde_json::json;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build()?.block_on(async {
/// let llm = ScriptedLlm::new()
///     .then_tool_calls(vec![ToolCall::new("c1", "double", json!({"n": 21}))])
///     .then_text("42");
/// let double = FnTool::new(
///     ToolDef::new("double", "Doubles n.", json!({"type": "object"})),
///     |args| Ok(json!(args["n"].as_i64().unwrap_or(0) * 2)),
/// );
/// let ctx = AgentContext::new(llm).with_tools(ToolSet::new().add_tool(double));
/// let thread = ThreadId::new("t");
/// ctx.short_term().append(&thread, vec![Message::user("Double 21.")]).await?;
///
/// let answer = run_steps(&ctx, "You are terse.", thread, RunOptions::default()).await?;
/// assert_eq!(answer, "42");
/// assert_eq!(ctx.episodic().replay(ctx.run_id()).await?.len(), 5);
/// # Ok::<(), klieo_types::Error>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub async fn run_steps(
    ctx: &AgentContext,
    system_prompt: &str,
    thread: ThreadId,
    opts: RunOptions,
) -> Result<String, Error> {
    let run = Run::new(ctx.clone(), system_prompt, thread, opts, Extras::default())?;
    run_blocking(Arc::new(run), None).await
}

/// Drives `run` to its answer on the engine in blocking mode, recording
/// `Failed` when it ends without one. A `prompt` is appended to the thread
/// in the same commit as `Started`.
pub(crate) async fn run_blocking(run: Arc<Run>, prompt: Option<Message>) -> Result<String, Error> {
    start(run, prompt, Mode::Blocking).await?.finish().await
}
