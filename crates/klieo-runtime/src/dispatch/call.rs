//! One tool call under the run's bounds: raced against cancellation, each
//! attempt under the tool's timeout, retried when the tool asks to be.

use super::bound::bounded;
use crate::options::{RunOptions, ToolErrorPolicy, MAX_TOOL_RETRY_DELAY};
use crate::repeats::Parsed;
use crate::run::Run;
use klieo_types::{Error, ToolCall, ToolContext, ToolError, ToolOutcome, WaitingOn};
use serde_json::Value;
use std::time::Instant;

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
    pub(super) args: Value,
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
        matches!(
            self.fatal,
            Some(Error::Suspended { .. } | Error::InDoubt { .. })
        )
    }
}

impl Ran {
    fn new(args: Value, outcome: Outcome, started: Instant, opts: &RunOptions) -> Self {
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

/// Runs the tool under the run's bounds: raced against cancellation, each
/// attempt under the tool's timeout, and retried after the delay a
/// `ToolError::Retryable` asks for, at most `tool_retries` times.
async fn invoke_bounded(run: &Run, step: u32, call: &ToolCall, args: &Value) -> Outcome {
    let limit = run
        .ctx
        .tools
        .policy(&call.name)
        .timeout()
        .unwrap_or(run.opts.tool_timeout);
    let cancel = &run.ctx.cancel;
    let mut retries = 0;
    loop {
        if cancel.is_cancelled() {
            return Outcome::Cancelled;
        }
        // A child run the call starts (an agent used as a tool) finds this
        // run in the context: it is cancelled with it and covered by its
        // budget.
        let ctx = ToolContext::new(run.ctx.run_id, &call.id, &run.ctx.agent_name)
            .with_step(step)
            .with_runtime(&run.caller);
        let invoked = run.ctx.tools.invoke(&call.name, args.clone(), ctx);
        let attempt = tokio::time::timeout(limit, invoked);
        // The attempt is polled first: a tool that is done at once never
        // registers with the token.
        let result = tokio::select! {
            biased;
            result = attempt => result.unwrap_or_else(|_| Err(ToolError::Timeout {
                tool: call.name.clone(),
                after: limit,
            })),
            () = cancel.cancelled() => return Outcome::Cancelled,
        };
        match result {
            Err(ToolError::Retryable {
                retry_after: Some(delay),
                ..
            }) if retries < run.opts.tool_retries => {
                retries += 1;
                tokio::select! {
                    biased;
                    () = cancel.cancelled() => return Outcome::Cancelled,
                    () = tokio::time::sleep(delay.min(MAX_TOOL_RETRY_DELAY)) => {}
                }
            }
            other => return Outcome::Done(other),
        }
    }
}

/// Runs one call of cycle `step` to its end, with its arguments as the
/// run parsed them.
pub(super) async fn run_one(run: &Run, step: u32, call: &ToolCall, parsed: Parsed) -> Ran {
    let started = Instant::now();
    let opts = &run.opts;
    match parsed {
        Ok(args) => {
            let outcome = invoke_bounded(run, step, call, &args).await;
            Ran::new(args, outcome, started, opts)
        }
        Err(e) => {
            let invalid = ToolError::InvalidArgs {
                tool: call.name.clone(),
                reason: format!(
                    "the arguments are not valid JSON ({e}); send one JSON object that matches the tool's parameters"
                ),
            };
            let args = Value::String(call.arguments.clone());
            Ran::new(args, Outcome::Done(Err(invalid)), started, opts)
        }
    }
}
