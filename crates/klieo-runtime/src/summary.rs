//! What a run did, as a user reads it: [`RunEvent`]s as they happen, and the
//! [`Answer`] with its [`RunSummary`] at the end. Both loops note their
//! steps and tool calls here ([`Progress`]), so a blocking and a streamed
//! run summarise alike.

use klieo_types::{FinishReason, RunId, ThreadId, ToolCall, ToolOutcome, Usage};
use std::collections::VecDeque;
use std::sync::Mutex;

/// One thing that happened in a run, in the order it happened, as an
/// [`Agent`](crate::Agent)'s stream hands it out.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RunEvent {
    /// New text from the model.
    Text(String),
    /// The model asked for a tool call (whole, with its id).
    ToolCall(ToolCall),
    /// A tool call ended; `outcome` is what the model is told.
    ToolResult {
        /// The call's id, as the model gave it.
        call_id: String,
        /// The tool's name.
        name: String,
        /// Its output, or the error the model reads.
        outcome: ToolOutcome,
    },
    /// A model call finished.
    StepFinished {
        /// The cycle, counting from 1.
        step: u32,
        /// Tokens it used, when the provider reported them.
        usage: Option<Usage>,
        /// Why the model stopped.
        finish_reason: FinishReason,
    },
    /// The run answered: the same value [`Agent::run`](crate::Agent::run)
    /// returns. It is the last event.
    Finished(Answer),
}

/// A run's answer and what it took.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Answer {
    /// The model's final text.
    pub text: String,
    /// What the run did.
    pub summary: RunSummary,
}

/// A typed run's answer: the value, and the answer it was read from.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Typed<T> {
    /// The answer, parsed.
    pub value: T,
    /// The answer's text and what the run did.
    pub answer: Answer,
}

/// What one run did: its id, steps, tokens and tool calls.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RunSummary {
    /// The run, as its episodes are filed.
    pub run_id: RunId,
    /// The conversation it belongs to.
    pub thread: ThreadId,
    /// Model calls made.
    pub steps: u32,
    /// Tokens of the model calls that reported usage; `None` when none did.
    pub usage: Option<Usage>,
    /// Model calls whose usage the provider did not report.
    pub steps_without_usage: u32,
    /// Every tool call, in the model's order.
    pub tool_calls: Vec<ToolCallRecord>,
}

/// One tool call of a run.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ToolCallRecord {
    /// The cycle that asked for it.
    pub step: u32,
    /// The call's id, as the model gave it.
    pub call_id: String,
    /// The tool's name.
    pub name: String,
    /// How it ended.
    pub outcome: ToolOutcome,
}

/// A run's running tally, and the queue of events for a consumer that
/// wants them (`None` for the chunk stream of `run_steps_streaming`).
pub(crate) struct Progress {
    inner: Mutex<Tally>,
}

struct Tally {
    summary: RunSummary,
    events: Option<VecDeque<RunEvent>>,
    /// The answer, kept for a consumer of events (a blocking run
    /// returns it instead).
    answer: Option<String>,
}

impl Progress {
    pub(crate) fn new(run_id: RunId, thread: ThreadId, events: bool) -> Self {
        Self {
            inner: Mutex::new(Tally {
                summary: RunSummary {
                    run_id,
                    thread,
                    steps: 0,
                    usage: None,
                    steps_without_usage: 0,
                    tool_calls: Vec::new(),
                },
                events: events.then(VecDeque::new),
                answer: None,
            }),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Tally) -> T) -> T {
        // A poisoned tally only means a panic elsewhere; its data is whole.
        let mut tally = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut tally)
    }

    /// A model call of cycle `step` finished.
    pub(crate) fn step(&self, step: u32, usage: Option<Usage>, finish_reason: FinishReason) {
        self.with(|t| {
            t.summary.steps = t.summary.steps.max(step);
            match usage {
                Some(u) => t.summary.usage = Some(t.summary.usage.unwrap_or_default() + u),
                None => t.summary.steps_without_usage += 1,
            }
            if let Some(events) = &mut t.events {
                events.push_back(RunEvent::StepFinished {
                    step,
                    usage,
                    finish_reason,
                });
            }
        });
    }

    /// A tool call of cycle `step` ended with `outcome`.
    pub(crate) fn tool(&self, step: u32, call: &ToolCall, outcome: &ToolOutcome) {
        self.with(|t| {
            if let Some(events) = &mut t.events {
                events.push_back(RunEvent::ToolResult {
                    call_id: call.id.clone(),
                    name: call.name.clone(),
                    outcome: outcome.clone(),
                });
            }
            t.summary.tool_calls.push(ToolCallRecord {
                step,
                call_id: call.id.clone(),
                name: call.name.clone(),
                outcome: outcome.clone(),
            });
        });
    }

    /// The model answered `text`.
    pub(crate) fn answered(&self, text: &str) {
        self.with(|t| {
            if t.events.is_some() {
                t.answer = Some(text.to_owned());
            }
        });
    }

    /// The answer, for a consumer of events.
    pub(crate) fn answer(&self) -> Option<String> {
        self.with(|t| t.answer.take())
    }

    /// Whether this run queues events.
    pub(crate) fn queues_events(&self) -> bool {
        self.with(|t| t.events.is_some())
    }

    /// The next queued event, if any.
    pub(crate) fn next_event(&self) -> Option<RunEvent> {
        self.with(|t| t.events.as_mut().and_then(VecDeque::pop_front))
    }

    /// The summary so far.
    pub(crate) fn summary(&self) -> RunSummary {
        self.with(|t| t.summary.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn usage_sums_what_was_reported_and_counts_what_was_not() {
        let p = Progress::new(RunId::new(), ThreadId::new("t"), false);
        p.step(1, Some(Usage::new(10, 2)), FinishReason::ToolCalls);
        p.step(2, None, FinishReason::ToolCalls);
        p.step(3, Some(Usage::new(5, 1)), FinishReason::Stop);
        let s = p.summary();
        assert_eq!(s.steps, 3);
        assert_eq!(s.usage, Some(Usage::new(15, 3)));
        assert_eq!(s.steps_without_usage, 1);
        assert_eq!(p.next_event(), None, "no queue unless asked for");
    }

    #[test]
    fn events_queue_in_order_when_asked_for() {
        let p = Progress::new(RunId::new(), ThreadId::new("t"), true);
        let call = ToolCall::new("c1", "echo", json!({}));
        let ok = ToolOutcome::Ok { output: json!(1) };
        p.step(1, None, FinishReason::ToolCalls);
        p.tool(1, &call, &ok);
        assert!(matches!(
            p.next_event(),
            Some(RunEvent::StepFinished { step: 1, .. })
        ));
        assert!(
            matches!(p.next_event(), Some(RunEvent::ToolResult { call_id, .. }) if call_id == "c1")
        );
        assert_eq!(p.next_event(), None);
        assert_eq!(p.summary().tool_calls.len(), 1);
        assert_eq!(p.summary().usage, None);
    }
}
