//! [`run_steps`]: the blocking step loop.

use crate::context::AgentContext;
use crate::guardrail::check_post_llm;
use crate::lease;
use crate::options::RunOptions;
use crate::run::{Extras, Run};
use crate::step::{finish_step, StepEnd};
use crate::telemetry::{self, record_reply};
use klieo_types::{Episode, Error, Message, ThreadId};
use std::future::Future;
use std::time::Instant;
use tracing::Instrument;

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
/// let ctx = AgentContext::new(llm).with_tools(ToolSet::new().with(double));
/// let thread = ThreadId::new("t");
/// ctx.short_term.append(&thread, vec![Message::user("Double 21.")]).await?;
///
/// let answer = run_steps(&ctx, "You are terse.", thread, RunOptions::default()).await?;
/// assert_eq!(answer, "42");
/// assert_eq!(ctx.episodic.replay(ctx.run_id).await?.len(), 5);
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
    run_blocking(&run, None).await
}

/// Drives `run` to its answer, recording `Failed` when it ends without one.
/// A `prompt` is appended to the thread in the same commit as `Started`.
pub(crate) async fn run_blocking(run: &Run, prompt: Option<Message>) -> Result<String, Error> {
    run_blocking_with(run, || drive(run, prompt)).await
}

/// Runs `body` in the run's span, recording `Failed` when it ends without
/// an answer.
pub(crate) async fn run_blocking_with<F, Fut>(run: &Run, body: F) -> Result<String, Error>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<String, Error>>,
{
    let span = run.span.clone();
    async {
        let lease = lease::hold(run).await?;
        let outcome = body().await;
        if let Err(e) = &outcome {
            run.record_failure(e).await;
        }
        if let Some(lease) = lease {
            lease.release().await;
        }
        outcome
    }
    .instrument(span)
    .await
}

async fn drive(run: &Run, prompt: Option<Message>) -> Result<String, Error> {
    let started = Episode::Started {
        agent: run.ctx.agent_name.to_string(),
    };
    run.fence_new();
    run.write(
        run.commit()
            .with_messages(prompt.into_iter().collect())
            .with_episodes(vec![started]),
    )
    .await?;
    steps_from(run, 0).await
}

/// The loop, from the step after `step` until an answer.
pub(crate) async fn steps_from(run: &Run, mut step: u32) -> Result<String, Error> {
    loop {
        run.check_next_step(step)?;
        step += 1;
        let req = run.request(step).await?;
        let span = run.chat_span(&req, step, false);
        let started = Instant::now();
        let reply = match run.complete(&req).instrument(span.clone()).await {
            Ok(reply) => reply,
            Err(e) => {
                telemetry::record_error(&span, &e, run.captures_content());
                return Err(e);
            }
        };
        record_reply(&run.span, &span, &reply, run.captures_content());
        drop(span);
        check_post_llm(&run.opts.guardrails, &req, &reply).await?;
        // The request shares the thread's newest history block; letting it
        // go first lets the append below extend that block in place.
        drop(req);
        if let StepEnd::Answer(answer) = finish_step(run, step, reply, started.elapsed()).await? {
            return Ok(answer);
        }
    }
}
