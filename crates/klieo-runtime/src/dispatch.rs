//! Tool dispatch: the calls of one step run concurrently up to a bound;
//! their results reach memory and the event log in the model's order.

use crate::options::{ToolErrorPolicy, MAX_TOOL_RETRY_DELAY};
use crate::run::Run;
use crate::telemetry;
use klieo_types::{Episode, Error, Message, ToolCall, ToolContext, ToolError, ToolOutcome};
use serde_json::Value;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::Poll;
use std::time::Instant;
use tracing::Instrument;

/// The message a call that was never started gets, so the thread keeps a
/// result for every call the model made (providers reject it otherwise).
const NOT_RUN: &str = "error: not run, because another tool call of this step failed";

/// How one call ended.
enum Outcome {
    /// The tool returned, failed, or timed out.
    Done(Result<Value, ToolError>),
    /// The run was cancelled while it ran.
    Cancelled,
}

struct CallRecord {
    args: Value,
    outcome: Outcome,
    latency_ms: u64,
}

impl CallRecord {
    /// Whether this result ends the run rather than going back to the model.
    fn is_fatal(&self, policy: ToolErrorPolicy) -> bool {
        match &self.outcome {
            Outcome::Cancelled => true,
            Outcome::Done(Ok(_)) => false,
            Outcome::Done(Err(ToolError::UnknownTool { .. } | ToolError::InvalidArgs { .. })) => {
                policy == ToolErrorPolicy::Strict
            }
            Outcome::Done(Err(e)) => !e.retryable(),
        }
    }

    /// What the model reads as the tool's result.
    fn content(&self) -> String {
        match &self.outcome {
            Outcome::Done(Ok(Value::String(text))) => text.clone(),
            Outcome::Done(Ok(value)) => value.to_string(),
            Outcome::Done(Err(e)) => format!("error: {e}"),
            Outcome::Cancelled => CANCELLED.to_owned(),
        }
    }
}

/// The result a call stopped by cancellation leaves in the thread.
const CANCELLED: &str = "error: cancelled, because the run was cancelled";

/// Runs the tool under the run's bounds: raced against cancellation, each
/// attempt under the tool's timeout, and retried after the delay a
/// `ToolError::Retryable` asks for, at most `tool_retries` times.
async fn invoke_bounded(run: &Run, call: &ToolCall, args: &Value) -> Outcome {
    let limit = run
        .ctx
        .tools
        .timeout(&call.name)
        .unwrap_or(run.opts.tool_timeout);
    let cancel = &run.ctx.cancel;
    let mut retries = 0;
    loop {
        let ctx = ToolContext::new(run.ctx.run_id, &call.id, &run.ctx.agent_name);
        let attempt =
            tokio::time::timeout(limit, run.ctx.tools.invoke(&call.name, args.clone(), ctx));
        let result = tokio::select! {
            biased;
            () = cancel.cancelled() => return Outcome::Cancelled,
            result = attempt => result.unwrap_or_else(|_| Err(ToolError::Timeout {
                tool: call.name.clone(),
                after: limit,
            })),
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

async fn run_one(run: &Run, call: &ToolCall) -> CallRecord {
    let started = Instant::now();
    let (args, outcome) = match call.parse_arguments() {
        Ok(args) => {
            let outcome = invoke_bounded(run, call, &args).await;
            (args, outcome)
        }
        Err(e) => (
            Value::String(call.arguments.clone()),
            Outcome::Done(Err(ToolError::InvalidArgs {
                tool: call.name.clone(),
                reason: format!(
                    "the arguments are not valid JSON ({e}); send one JSON object that matches the tool's parameters"
                ),
            })),
        ),
    };
    CallRecord {
        args,
        outcome,
        latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    }
}

type CallFuture<'a> = Pin<Box<dyn Future<Output = CallRecord> + Send + 'a>>;

/// Runs the calls, at most `limit` at once, starting none after a fatal
/// result; returns each started call's record at its index.
async fn run_bounded<'a>(
    run: &'a Run,
    calls: &'a [ToolCall],
    limit: usize,
) -> Vec<Option<CallRecord>> {
    let policy = run.opts.tool_errors;
    let start = |call: &'a ToolCall| -> CallFuture<'a> {
        let span = telemetry::tool_span(call, run.run_id());
        Box::pin(run_one(run, call).instrument(span))
    };
    if let [call] = calls {
        return vec![Some(start(call).await)];
    }
    let mut records: Vec<Option<CallRecord>> = calls.iter().map(|_| None).collect();
    let mut running: Vec<(usize, CallFuture<'a>)> = Vec::with_capacity(limit);
    let mut next = 0;
    let mut stop = false;
    poll_fn(|cx| loop {
        while !stop && running.len() < limit {
            let Some(call) = calls.get(next) else { break };
            running.push((next, start(call)));
            next += 1;
        }
        let mut progressed = false;
        let mut i = 0;
        while i < running.len() {
            if let Poll::Ready(record) = running[i].1.as_mut().poll(cx) {
                let (index, _) = running.swap_remove(i);
                stop |= record.is_fatal(policy);
                if let Some(slot) = records.get_mut(index) {
                    *slot = Some(record);
                }
                progressed = true;
            } else {
                i += 1;
            }
        }
        if running.is_empty() && (stop || next >= calls.len()) {
            return Poll::Ready(());
        }
        if !progressed {
            return Poll::Pending;
        }
    })
    .await;
    records
}

/// The results of one step's tool calls.
pub(crate) struct Dispatched {
    /// One tool message per call, in the model's order.
    pub(crate) messages: Vec<Message>,
    /// One `ToolCall` episode per call that ran, in the model's order.
    pub(crate) episodes: Vec<Episode>,
    /// What ends the run: cancellation while a call ran, else the first
    /// error, in call order, that the model is not told.
    pub(crate) fatal: Option<Error>,
}

/// Runs the tool calls of cycle `step` and returns their results and
/// episodes in the model's order, for the caller to write. When a call
/// fails for good, every call already started still has its result; the
/// caller then ends the run with the first such error in call order.
pub(crate) async fn dispatch_tools(run: &Run, step: u32, calls: &[ToolCall]) -> Dispatched {
    let limit = run.opts.tool_concurrency.max(1);
    let records = run_bounded(run, calls, limit).await;
    let policy = run.opts.tool_errors;

    let mut messages = Vec::with_capacity(calls.len());
    let mut episodes = Vec::with_capacity(calls.len());
    let mut fatal: Option<Error> = None;
    for (call, record) in calls.iter().zip(records) {
        let Some(record) = record else {
            messages.push(Message::tool_result(call.id.clone(), NOT_RUN));
            continue;
        };
        messages.push(Message::tool_result(call.id.clone(), record.content()));
        let is_fatal = record.is_fatal(policy);
        let result = match record.outcome {
            Outcome::Done(Ok(output)) => ToolOutcome::Ok { output },
            Outcome::Done(Err(e)) => {
                let message = e.to_string();
                if is_fatal && fatal.is_none() {
                    fatal = Some(Error::Tool(e));
                }
                ToolOutcome::Error { message }
            }
            Outcome::Cancelled => {
                fatal = Some(Error::Cancelled);
                ToolOutcome::Cancelled
            }
        };
        run.progress.tool(step, call, &result);
        episodes.push(Episode::ToolCall {
            step,
            call_id: call.id.clone(),
            name: call.name.clone(),
            args: record.args,
            result,
            latency_ms: record.latency_ms,
        });
    }
    Dispatched {
        messages,
        episodes,
        fatal,
    }
}
