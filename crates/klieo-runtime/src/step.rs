//! What the engine does with a model's reply: record it, keep it, and either
//! finish or dispatch the tools it asked for.

use crate::call_ids::usable_call_ids;
use crate::dispatch::{dispatch_tools, PreparedCalls};
use crate::fact::Fact;
use crate::options::AfterToolCalls;
use crate::run::{Run, Verdict};
use klieo_types::{
    BudgetLimit, ChatResponse, Episode, Error, FinishReason, LlmError, Message, PendingStep, Ticket,
};

/// What a step led to.
pub(crate) enum StepEnd {
    /// The model answered; the run is over.
    Answer(String),
    /// Tools ran; the model is called again.
    Continue,
}

/// Writes the reply (`episodes`, the journal's view of its facts: the
/// step's list, which the step goes on filling) and acts on its finish
/// reason: runs the tools it asked for, or ends the run with its answer.
///
/// On a journal, a step that calls tools is two commits: the `LlmCall`
/// with the reply as the run's pending step, before the first tool runs;
/// then the reply, its results and their `ToolCall` episodes, clearing
/// it; a result that is in while other calls still run has its episode
/// written at once, the step still pending. A step that answers is one
/// commit. So a crash at any instant leaves either no trace of the step,
/// its tool calls as intents (with the results that were in), or all of
/// it. Separate memories, which keep no pending step, get the `LlmCall`
/// in the second write.
///
/// `cut_by` is the budget's limit the reply ran out of (see
/// `spend::ran_out`), which an answer so cut names
/// (`RunSummary::cut_by_budget`). The step's messages go to memory in
/// `spare` (an emptied list of an earlier step), which holds the list
/// again, emptied, when memories in this process took them out of it.
pub(crate) async fn finish_step(
    run: &Run,
    step: u32,
    reply: ChatResponse,
    mut episodes: Vec<Episode>,
    cut_by: Option<BudgetLimit>,
    spare: &mut Vec<Message>,
) -> Result<StepEnd, Error> {
    let ChatResponse {
        message,
        finish_reason,
        ..
    } = reply;
    let mut message = message;
    usable_call_ids(&mut message.tool_calls);

    let calls_tools = !message.tool_calls.is_empty()
        && matches!(finish_reason, FinishReason::ToolCalls | FinishReason::Stop);
    if calls_tools {
        if let Err(over) = run.check_tool_calls(message.tool_calls.len()) {
            // The model call is spent and kept; its calls are not (every
            // call in a thread needs a result).
            run.write(&mut run.commit().with_episodes(episodes)).await?;
            return Err(over);
        }
        let args = PreparedCalls::prepare(&mut message.tool_calls, run.ctx.tools.as_ref());
        if run.opts.after_tool_calls == AfterToolCalls::AutoUntilRepeat {
            run.repeats.note(&message.tool_calls, args.parsed());
        }
        if let Some(call) = args.first_needing_approval(&message.tool_calls) {
            let ticket = Ticket::for_call(run.ctx.run_id, step, call);
            let suspended = run.emit(Fact::Suspended {
                step,
                call,
                ticket: &ticket,
            });
            let waiting = PendingStep::awaiting_approval(step, message.clone());
            episodes.extend(suspended.episode);
            run.write(&mut run.commit().with_episodes(episodes).with_pending(waiting))
                .await?;
            return Err(Error::Suspended {
                ticket,
                tool: call.name.to_string(),
            });
        }
        // Separate memories keep no pending step and outlive no crash, so
        // the call is written with its results, in one write.
        if run.journaled() {
            let written = std::mem::replace(
                &mut episodes,
                Vec::with_capacity(1 + message.tool_calls.len()),
            );
            let mut intent = run
                .commit()
                .with_episodes(written)
                .with_pending(PendingStep::new(step, message.clone()));
            run.write(&mut intent).await?;
        }
        // The assistant message and its results land together, so a
        // reader never sees calls without their results; its calls are
        // lent to dispatch meanwhile.
        let calls = std::mem::take(&mut message.tool_calls);
        let mut messages = std::mem::take(spare);
        messages.reserve(1 + calls.len());
        messages.push(message);
        let mut dispatched =
            dispatch_tools(run, step, &calls, args, &mut messages, &mut episodes).await;
        // A call waits with another run for a person: the step stays open,
        // to go on once the person decides (looked at only when a call
        // waits: no future is made for the others).
        if !dispatched.waiting.is_empty() {
            let waiting = dispatched.stop_if_waiting(run, step, &calls, &mut episodes);
            if let Some(stopped) = waiting.await {
                return Err(stopped);
            }
        }
        // A hand-off is written with the step that asked for it.
        let handoff = run.handoff_unless_failed(&calls, dispatched.fatal.as_ref());
        if let Some(asked) = messages.first_mut() {
            asked.tool_calls = calls;
        }
        // Filled where it lies: a commit is 304 bytes, and each builder
        // call moves it.
        let mut commit = run.commit();
        (commit.messages, commit.episodes) = (messages, episodes);
        if dispatched.waiting.is_empty() && handoff.is_none() {
            // The common step: written, then ended by its first error
            // that ends the run, if any. One that waits for a person or
            // hands off is written by `write_step`.
            run.write(&mut commit).await?;
            *spare = std::mem::take(&mut commit.messages);
            return dispatched.fatal.map_or(Ok(StepEnd::Continue), Err);
        }
        dispatched.write_step(run, commit, handoff).await?;
        return Ok(StepEnd::Continue);
    }

    // Tool calls that will not run (a reply cut by `length`, filtered, or
    // failed) are not kept: every call in a thread needs a result.
    message.tool_calls.clear();
    let answer = message.content.clone();
    // Only an answer is kept: a reply that ends the run without one
    // (withheld by the provider's filter, failed, or of a finish reason
    // it cannot take) would be sent back by a session's next turn as the
    // model's words. Its episodes say what happened.
    let mut messages = Vec::new();
    let end = match finish_reason {
        FinishReason::Stop | FinishReason::Length => {
            messages.push(message);
            match run.judge(&answer, step) {
                Ok(Verdict::Repair(ask)) => {
                    messages.push(ask);
                    Ok(StepEnd::Continue)
                }
                Ok(Verdict::Fits) => {
                    let answered = run.emit(Fact::Answered {
                        step,
                        text: &answer,
                        cut_by,
                        finish: finish_reason,
                    });
                    episodes.extend(answered.episode);
                    Ok(StepEnd::Answer(answer))
                }
                Err(e) => Err(e),
            }
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
    };
    run.write(&mut run.commit().with_messages(messages).with_episodes(episodes))
        .await?;
    end
}
