//! What a run did, as a user reads it: [`RunEvent`]s as they happen, and the
//! [`Answer`] with its [`RunSummary`] at the end: the user's view of a
//! run's facts ([`Progress`]), the same for a blocking and a streamed run.

mod event;

pub use event::RunEvent;

use crate::fact::Fact;
use klieo_types::{
    BudgetLimit, ChatChunk, FinishReason, RunId, ThreadId, ToolCall, ToolOutcome, Usage,
};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

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
    /// Model calls made: the number of the run's last step. A run taken
    /// up again (resumed, approved, denied) counts its steps through the
    /// run, but its `usage`, `steps_without_usage` and `tool_calls` only
    /// for what it did since it was taken up (its `tool_calls` with the
    /// calls of the step it finished whose results its log held, not run
    /// again); its log holds every call.
    pub steps: u32,
    /// Tokens of the steps' model calls that reported usage; `None` when
    /// none did. A compaction's calls are on its `Episode::Compacted`.
    pub usage: Option<Usage>,
    /// Model calls whose usage the provider did not report.
    pub steps_without_usage: u32,
    /// Every tool call, in the model's order.
    pub tool_calls: Vec<ToolCallRecord>,
    /// The limit of a budget (the run's, its caller's or its key's) the
    /// answer ran out of: its reply was cut (finish reason `length`) at
    /// the `max_tokens` that limit left it, so it may be incomplete.
    /// `None` for an answer the model ended, or cut at the run's own
    /// `max_tokens`.
    pub cut_by_budget: Option<BudgetLimit>,
}

impl RunSummary {
    /// This summary of a part of a run, followed by the summary of the
    /// part after it (a team's run, one part per agent). Steps are
    /// numbered through the run, so the later part's count them all.
    pub(crate) fn followed_by(mut self, later: RunSummary) -> RunSummary {
        self.steps = self.steps.max(later.steps);
        self.usage = match (self.usage, later.usage) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        self.steps_without_usage = self
            .steps_without_usage
            .saturating_add(later.steps_without_usage);
        self.tool_calls.extend(later.tool_calls);
        // The answer is the later part's.
        self.cut_by_budget = later.cut_by_budget;
        self
    }
}

/// One tool call of a run.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ToolCallRecord {
    /// The cycle that asked for it.
    pub step: u32,
    /// The call's id, as the model gave it.
    pub call_id: Arc<str>,
    /// The tool's name.
    pub name: Arc<str>,
    /// How it ended.
    pub outcome: ToolOutcome,
}

/// The user's view of a run: its running tally, and the one queue of
/// events for a consumer that wants them (none for the chunk stream of
/// `run_steps_streaming`, whose chunks are handed back as they come).
pub(crate) struct Progress {
    /// Whether events are queued (fixed for the run; read without the
    /// lock on every chunk).
    events: bool,
    /// Whether a summary is kept (fixed for the run): a run with neither
    /// keeps nothing, and never takes the lock.
    summary: bool,
    inner: Arc<Mutex<Tally>>,
}

/// The way into a run's queue of events for the child runs its tool calls
/// start (an agent used as a tool): each child event goes in as
/// [`RunEvent::Child`], between the run's own.
#[derive(Clone)]
pub(crate) struct Relay(Arc<Mutex<Tally>>);

impl Relay {
    /// Queues `event`, of the child run `run` of the agent `agent`.
    pub(crate) fn push(&self, run: RunId, agent: &str, event: RunEvent) {
        let child = RunEvent::Child {
            run,
            agent: agent.to_owned(),
            event: Box::new(event),
        };
        let mut tally = self.0.lock().unwrap_or_else(|e| e.into_inner());
        tally.events.push_back(child);
    }
}

struct Tally {
    summary: RunSummary,
    /// By tool call record: its step and its place among the calls
    /// dispatched with it, which keep the records in the model's order.
    order: Vec<(u32, usize)>,
    events: VecDeque<RunEvent>,
    /// The answer, kept for a consumer of events (a blocking run
    /// returns it instead).
    answer: Option<String>,
}

impl Progress {
    pub(crate) fn new(run_id: RunId, thread: ThreadId, events: bool, summary: bool) -> Self {
        Self {
            events,
            summary,
            inner: Arc::new(Mutex::new(Tally {
                summary: RunSummary {
                    run_id,
                    thread,
                    steps: 0,
                    usage: None,
                    steps_without_usage: 0,
                    tool_calls: Vec::new(),
                    cut_by_budget: None,
                },
                order: Vec::new(),
                events: VecDeque::new(),
                answer: None,
            })),
        }
    }

    /// The way into this run's queue of events for its child runs; `None`
    /// for a run that queues none.
    pub(crate) fn relay(&self) -> Option<Relay> {
        self.events.then(|| Relay(Arc::clone(&self.inner)))
    }

    fn with<T>(&self, f: impl FnOnce(&mut Tally) -> T) -> T {
        // A poisoned tally only means a panic elsewhere; its data is whole.
        let mut tally = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut tally)
    }

    /// Keeps what the user sees of `fact`: nothing, when the user reads
    /// neither events nor a summary (looked at where the fact is emitted,
    /// so such a run makes no call for each fact).
    #[inline]
    pub(crate) fn observe(&self, fact: &Fact<'_>) {
        if self.events || self.summary {
            self.keep(fact);
        }
    }

    fn keep(&self, fact: &Fact<'_>) {
        match fact {
            Fact::ModelCallEnded { step, reply, .. } => {
                self.step(*step, reply.usage, reply.finish_reason);
            }
            Fact::ToolCallEnded(end) => self.tool(end.step, end.index, end.call, &end.outcome),
            // Read back from the log: after the calls that ran again.
            Fact::ToolResultRead {
                step,
                call,
                outcome,
            } => self.tool(*step, usize::MAX, call, outcome),
            Fact::BudgetSettled { step, spent, .. } if self.events => {
                let event = RunEvent::BudgetSpent {
                    step: *step,
                    spent: **spent,
                };
                self.with(|t| t.events.push_back(event));
            }
            Fact::BudgetReserved {
                step,
                tokens,
                cost_micros,
                ..
            } if self.events => {
                let event = RunEvent::BudgetReserved {
                    step: *step,
                    tokens: *tokens,
                    cost_micros: *cost_micros,
                };
                self.with(|t| t.events.push_back(event));
            }
            Fact::RateLimitWaited { step, wait } if self.events => {
                let event = RunEvent::RateLimitWaited {
                    step: *step,
                    wait: (*wait).clone(),
                };
                self.with(|t| t.events.push_back(event));
            }
            Fact::ProviderSwitched { step, switch } if self.events => {
                let event = RunEvent::ProviderSwitched {
                    step: *step,
                    switch: (*switch).clone(),
                };
                self.with(|t| t.events.push_back(event));
            }
            Fact::Compacted { step, summary, .. } if self.events => {
                let event = RunEvent::Compacted {
                    step: *step,
                    from: summary.from,
                    through: summary.through,
                    summary: summary.text.clone(),
                };
                self.with(|t| t.events.push_back(event));
            }
            Fact::CompactionFailed { step, error, .. } if self.events => {
                let event = RunEvent::CompactionFailed {
                    step: *step,
                    reason: crate::compaction::reason(error),
                };
                self.with(|t| t.events.push_back(event));
            }
            Fact::BudgetRefused {
                limit,
                max,
                spent,
                needed,
                key,
            } if self.events => {
                let event = RunEvent::BudgetRefused {
                    limit: *limit,
                    max: *max,
                    spent: *spent,
                    needed: *needed,
                    key: key.map(str::to_owned),
                };
                self.with(|t| t.events.push_back(event));
            }
            Fact::HandedOff { from, to, reason } if self.events => {
                let event = RunEvent::HandedOff {
                    from: (*from).to_owned(),
                    to: (*to).to_owned(),
                    reason: (*reason).to_owned(),
                };
                self.with(|t| t.events.push_back(event));
            }
            Fact::Answered { text, cut_by, .. } => self.with(|t| {
                t.summary.cut_by_budget = *cut_by;
                if self.events {
                    t.answer = Some((*text).to_owned());
                }
            }),
            _ => {}
        }
    }

    /// Whether this run queues events; one that does not hands the model's
    /// chunks to its consumer as they are.
    pub(crate) fn queues_events(&self) -> bool {
        self.events
    }

    /// The user's view of a chunk, for a consumer of events: queued as its
    /// text and tool calls.
    pub(crate) fn queue_chunk(&self, chunk: ChatChunk) {
        self.with(|t| {
            if !chunk.delta.is_empty() {
                t.events.push_back(RunEvent::Text(chunk.delta));
            }
            t.events
                .extend(chunk.tool_calls.into_iter().map(RunEvent::ToolCall));
        });
    }

    /// A model call of cycle `step` finished.
    fn step(&self, step: u32, usage: Option<Usage>, finish_reason: FinishReason) {
        self.with(|t| {
            if self.summary {
                t.summary.steps = t.summary.steps.max(step);
                match usage {
                    Some(u) => t.summary.usage = Some(t.summary.usage.unwrap_or_default() + u),
                    None => t.summary.steps_without_usage += 1,
                }
            }
            if self.events {
                t.events.push_back(RunEvent::StepFinished {
                    step,
                    usage,
                    finish_reason,
                });
            }
        });
    }

    /// A tool call of cycle `step`, the `index`th of its dispatch, ended
    /// with `outcome`.
    fn tool(&self, step: u32, index: usize, call: &ToolCall, outcome: &ToolOutcome) {
        self.with(|t| {
            if self.events {
                t.events.push_back(RunEvent::ToolResult {
                    call_id: Arc::clone(&call.id),
                    name: Arc::clone(&call.name),
                    outcome: outcome.clone(),
                });
            }
            if !self.summary {
                return;
            }
            let key = (step, index);
            let at = t.order.iter().rposition(|k| *k <= key).map_or(0, |i| i + 1);
            t.order.insert(at, key);
            t.summary.tool_calls.insert(
                at,
                ToolCallRecord {
                    step,
                    call_id: Arc::clone(&call.id),
                    name: Arc::clone(&call.name),
                    outcome: outcome.clone(),
                },
            );
        });
    }

    /// The answer, for a consumer of events.
    pub(crate) fn answer(&self) -> Option<String> {
        self.with(|t| t.answer.take())
    }

    /// The next queued event, if any.
    pub(crate) fn next_event(&self) -> Option<RunEvent> {
        if !self.events {
            return None;
        }
        self.with(|t| t.events.pop_front())
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
        let p = Progress::new(RunId::new(), ThreadId::new("t"), false, true);
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
        let p = Progress::new(RunId::new(), ThreadId::new("t"), true, true);
        let call = ToolCall::new("c1", "echo", json!({}));
        let ok = ToolOutcome::Ok { output: json!(1) };
        p.step(1, None, FinishReason::ToolCalls);
        p.tool(1, 0, &call, &ok);
        assert!(matches!(
            p.next_event(),
            Some(RunEvent::StepFinished { step: 1, .. })
        ));
        assert!(
            matches!(p.next_event(), Some(RunEvent::ToolResult { call_id, .. }) if call_id == "c1".into())
        );
        assert_eq!(p.next_event(), None);
        assert_eq!(p.summary().tool_calls.len(), 1);
        assert_eq!(p.summary().usage, None);
    }

    #[test]
    fn tool_calls_keep_the_models_order_whatever_order_they_end_in() {
        let p = Progress::new(RunId::new(), ThreadId::new("t"), true, true);
        let ok = ToolOutcome::Ok { output: json!(1) };
        let call = |id: &str| ToolCall::new(id, "echo", json!({}));
        p.tool(1, 1, &call("b"), &ok);
        p.tool(1, 0, &call("a"), &ok);
        p.tool(2, 0, &call("c"), &ok);
        p.tool(2, usize::MAX, &call("read"), &ok);
        let ids: Vec<String> = p
            .summary()
            .tool_calls
            .into_iter()
            .map(|r| r.call_id.to_string())
            .collect();
        assert_eq!(ids, ["a", "b", "c", "read"]);
        let ended: Vec<String> = std::iter::from_fn(|| p.next_event())
            .filter_map(|e| match e {
                RunEvent::ToolResult { call_id, .. } => Some(call_id.to_string()),
                _ => None,
            })
            .collect();
        assert_eq!(ended, ["b", "a", "c", "read"], "events as they happen");
    }
}
