//! One tool call under the run's bounds: raced against cancellation, each
//! attempt under the tool's timeout, retried when the tool asks to be.

use super::bound::bounded;
use super::Prepared;
use crate::options::{RunOptions, ToolErrorPolicy, MAX_TOOL_RETRY_DELAY};
use crate::race::{race, Raced};
use crate::run::Run;
use klieo_types::{Error, JsonText, ToolCall, ToolContext, ToolError, ToolOutcome, WaitingOn};
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How one call ended.
enum Outcome {
    /// The tool returned, failed, or timed out.
    Done(Result<Value, ToolError>),
    /// The run was cancelled while it ran.
    Cancelled,
}

/// What a call that ended produced: the facts of its end, and what it
/// ends.
pub(super) struct Ran {
    /// The arguments as the tool got them (the raw text when they were not
    /// JSON).
    pub(super) args: JsonText,
    pub(super) outcome: ToolOutcome,
    /// The text the model reads of `outcome`.
    pub(super) text: String,
    /// The kind of the tool's error, for its span (`error.type`).
    pub(super) error_kind: Option<&'static str>,
    pub(super) latency_ms: u64,
    /// What ends the run instead of going back to the model: cancellation,
    /// or a tool error the policy does not let the model see.
    pub(super) fatal: Option<Error>,
}

impl Ran {
    /// Whether the call waits with another run for a person
    /// (`ToolError::Waiting`, which alone stops a call as `Suspended` or
    /// `InDoubt`): it has no end, and runs again when the run goes on.
    pub(super) fn waits(&self) -> bool {
        self.fatal.as_ref().is_some_and(Error::waits_for_person)
    }
}

impl Ran {
    fn new(args: JsonText, outcome: Outcome, started: Instant, opts: &RunOptions) -> Self {
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let error_kind = match &outcome {
            Outcome::Done(Err(e)) => Some(e.kind()),
            _ => None,
        };
        let (outcome, fatal) = match outcome {
            Outcome::Cancelled => (ToolOutcome::Cancelled, Some(Error::Cancelled)),
            Outcome::Done(Err(ToolError::Waiting { on, .. })) => {
                let WaitingOn {
                    ticket,
                    tool,
                    in_doubt,
                    ..
                } = *on;
                let message = format!("waits for a person to decide call {ticket}");
                let stopped = if in_doubt {
                    Error::InDoubt { ticket, tool }
                } else {
                    Error::Suspended { ticket, tool }
                };
                (ToolOutcome::Error { message }, Some(stopped))
            }
            Outcome::Done(Ok(output)) => (ToolOutcome::Ok { output }, None),
            Outcome::Done(Err(e)) => {
                let fatal = match &e {
                    ToolError::UnknownTool { .. } | ToolError::InvalidArgs { .. } => {
                        opts.tool_errors == ToolErrorPolicy::Strict
                    }
                    other => other.ends_run(),
                };
                let message = e.to_string();
                (
                    ToolOutcome::Error { message },
                    fatal.then_some(Error::Tool(e)),
                )
            }
        };
        let (outcome, text) = bounded(outcome, opts.max_tool_result_bytes);
        Self {
            args,
            outcome,
            text,
            error_kind,
            latency_ms,
            fatal,
        }
    }
}

/// One attempt of a call: the tool's result, or its panic's message, raced
/// (see [`race`]) against `limit`, counted from before its first poll, and
/// against `cancel`. A limit past what the clock holds is no limit.
async fn attempt<F>(
    invoked: F,
    limit: Duration,
    cancel: &CancellationToken,
) -> Raced<Result<F::Output, String>>
where
    F: Future + Unpin,
{
    let deadline = tokio::time::Instant::now().checked_add(limit);
    let mut caught = Caught(invoked);
    race(Pin::new(&mut caught), deadline, Some(cancel)).await
}

/// What an attempt of `tool`'s, bounded by `limit`, gave: its result, a
/// panic or its limit as the tool's error; `None` when the run was
/// cancelled first.
fn tool_result(
    raced: Raced<Result<Result<Value, ToolError>, String>>,
    tool: &str,
    limit: Duration,
) -> Option<Result<Value, ToolError>> {
    Some(match raced {
        Raced::Done(Ok(result)) => result,
        Raced::Done(Err(panicked)) => Err(ToolError::Failed {
            tool: tool.to_owned(),
            message: format!("the tool panicked ({panicked}): its effect is unknown"),
        }),
        Raced::TimedOut => Err(ToolError::Timeout {
            tool: tool.to_owned(),
            after: limit,
        }),
        Raced::Cancelled => return None,
    })
}

/// A tool's future whose panic is caught, as its message (a tool's bug
/// must not take the run, and the worker driving it, down: a run taken
/// up again would call it again, and panic again).
struct Caught<F>(F);

impl<F: Future + Unpin> Future for Caught<F> {
    type Output = Result<F::Output, String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        let invoked = &mut self.0;
        let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            Pin::new(&mut *invoked).poll(cx)
        }));
        match polled {
            Ok(poll) => poll.map(Ok),
            Err(panic) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|text| (*text).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "no message".to_owned());
                Poll::Ready(Err(klieo_types::text::bounded(&message, 500)))
            }
        }
    }
}

/// Runs one call of cycle `step` to its end, with its arguments as the
/// run parsed them: under the run's bounds, raced against cancellation,
/// each attempt under the tool's timeout, and retried after the delay a
/// `ToolError::Retryable` asks for, at most `tool_retries` times. The
/// first attempt gets the parsed arguments; a retry gets them again from
/// their text. (One function, not two: the layer between cost a step
/// about 190 instructions; see docs/PERFORMANCE.md.)
pub(super) async fn run_one(run: &Run, step: u32, call: &ToolCall, prepared: Prepared) -> Ran {
    let started = Instant::now();
    let opts = &run.opts;
    match prepared.parsed {
        Ok((args, text)) => {
            let limit = prepared.policy.timeout().unwrap_or(run.opts.tool_timeout);
            let cancel = &run.ctx.cancel;
            let mut retries = 0;
            let mut first = Some(args);
            let outcome = loop {
                if cancel.is_cancelled() {
                    break Outcome::Cancelled;
                }
                // A child run the call starts (an agent used as a tool) finds this
                // run in the context: it is cancelled with it and covered by its
                // budget.
                let ctx = ToolContext::new(run.ctx.run_id, &call.id, &run.ctx.agent_name)
                    .with_step(step)
                    .with_runtime(&run.caller);
                let args = first.take().unwrap_or_else(|| text.to_value());
                let invoked = run.ctx.tools.invoke(&call.name, args, ctx);
                let raced = attempt(invoked, limit, cancel).await;
                let Some(result) = tool_result(raced, &call.name, limit) else {
                    break Outcome::Cancelled;
                };
                match result {
                    Err(ToolError::Retryable {
                        retry_after: Some(delay),
                        ..
                    }) if retries < run.opts.tool_retries => {
                        retries += 1;
                        tokio::select! {
                            biased;
                            () = cancel.cancelled() => break Outcome::Cancelled,
                            () = tokio::time::sleep(delay.min(MAX_TOOL_RETRY_DELAY)) => {}
                        }
                    }
                    other => break Outcome::Done(other),
                }
            };
            Ran::new(text, outcome, started, opts)
        }
        Err(e) => {
            let invalid = ToolError::InvalidArgs {
                tool: call.name.to_string(),
                reason: format!(
                    "the arguments are not valid JSON ({e}); send one JSON object that matches the tool's parameters"
                ),
            };
            Ran::new(
                call.recorded_arguments(),
                Outcome::Done(Err(invalid)),
                started,
                opts,
            )
        }
    }
}

/// The end of a call that is not run: the model is `told` why, as a
/// tool's error.
pub(super) fn told(run: &Run, call: &ToolCall, prepared: Prepared, told: ToolError) -> Ran {
    let args = match prepared.parsed {
        Ok((_, text)) => text,
        Err(_) => call.recorded_arguments(),
    };
    Ran::new(args, Outcome::Done(Err(told)), Instant::now(), &run.opts)
}

#[cfg(test)]
#[allow(clippy::panic)]
mod tests {
    use super::*;
    use crate::race::cancelled_after;
    use std::future::{pending, ready};

    #[tokio::test(start_paused = true)]
    async fn a_limit_past_the_clock_is_no_limit_but_cancellation_still_stops() {
        let cancel = cancelled_after(Duration::from_secs(3_600));
        let waited = attempt(pending::<()>(), Duration::MAX, &cancel).await;
        assert_eq!(waited, Raced::Cancelled);
    }

    #[tokio::test(start_paused = true)]
    async fn a_tools_panic_is_its_message() {
        let panics = Box::pin(async {
            if ready(true).await {
                panic!("no such row");
            }
        });
        let done = attempt(panics, Duration::from_secs(1), &CancellationToken::new()).await;
        assert_eq!(done, Raced::Done(Err("no such row".to_owned())));
    }
}
