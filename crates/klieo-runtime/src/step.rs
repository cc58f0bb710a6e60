//! What both loops do with a model's reply: record it, keep it, and either
//! finish or dispatch the tools it asked for.

use crate::dispatch::dispatch_tools;
use crate::run::{Run, Verdict};
use klieo_types::{ChatResponse, Episode, Error, FinishReason, LlmError};
use std::time::Duration;

/// What a step led to.
pub(crate) enum StepEnd {
    /// The model answered; the run is over.
    Answer(String),
    /// Tools ran; the model is called again.
    Continue,
}

/// Records the `LlmCall`, appends the reply to the thread, and acts on its
/// finish reason.
pub(crate) async fn finish_step(
    run: &Run,
    step: u32,
    reply: ChatResponse,
    latency: Duration,
) -> Result<StepEnd, Error> {
    let ChatResponse {
        message,
        usage,
        finish_reason,
        ..
    } = reply;
    run.record(Episode::LlmCall {
        step,
        tokens: usage,
        latency_ms: u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
        finish_reason,
        tool_calls: u32::try_from(message.tool_calls.len()).unwrap_or(u32::MAX),
    })
    .await?;
    run.progress.step(step, usage, finish_reason);

    let calls_tools = !message.tool_calls.is_empty()
        && matches!(finish_reason, FinishReason::ToolCalls | FinishReason::Stop);
    if calls_tools {
        run.repeats.note(&message.tool_calls);
        // The assistant message and its results land together, so a
        // concurrent reader never sees calls without their results.
        let dispatched = dispatch_tools(run, step, &message.tool_calls).await?;
        let mut messages = Vec::with_capacity(1 + dispatched.messages.len());
        messages.push(message);
        messages.extend(dispatched.messages);
        run.ctx.short_term.append(&run.thread, messages).await?;
        return match dispatched.fatal {
            Some(e) => Err(e),
            None => Ok(StepEnd::Continue),
        };
    }

    // Tool calls that will not run (a reply cut by `length`, filtered, or
    // failed) are not kept: every call in a thread needs a result.
    let mut message = message;
    message.tool_calls.clear();
    let answer = message.content.clone();
    run.ctx
        .short_term
        .append(&run.thread, vec![message])
        .await?;
    match finish_reason {
        FinishReason::Stop | FinishReason::Length => {
            if let Verdict::Repair(ask) = run.judge(&answer)? {
                run.ctx.short_term.append(&run.thread, vec![ask]).await?;
                return Ok(StepEnd::Continue);
            }
            run.progress.answered(&answer);
            run.record(Episode::Completed { steps: step }).await?;
            Ok(StepEnd::Answer(answer))
        }
        FinishReason::ToolCalls => Err(Error::BadResponse(
            "the model's finish reason was tool_calls, but it asked for no tool".into(),
        )),
        FinishReason::ContentFilter => Err(Error::Llm(LlmError::bad_request(
            "the provider's content filter withheld the reply",
        ))),
        FinishReason::Error => Err(Error::Llm(LlmError::server(
            "the provider reported an error finish reason",
        ))),
        other => Err(Error::BadResponse(format!(
            "unexpected finish reason `{}`",
            other.as_str()
        ))),
    }
}
