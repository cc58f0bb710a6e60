//! [`RunEvent`]: one thing that happened in a run, as its stream hands
//! it out.

use super::Answer;
use crate::spend::BudgetSpend;
use klieo_types::{
    BudgetLimit, FinishReason, ProviderSwitch, RateWait, RunId, ToolCall, ToolOutcome, Usage,
};
use std::sync::Arc;

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
        call_id: Arc<str>,
        /// The tool's name.
        name: Arc<str>,
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
    /// A model call of a run with a budget is reserved before it is made
    /// (under a token or cost limit or a key's budget): its input's bound
    /// and the `max_tokens` it is sent with, and what they would cost at
    /// the dearest prices when calls are priced.
    BudgetReserved {
        /// The cycle whose call it is.
        step: u32,
        /// The tokens reserved.
        tokens: u64,
        /// Their cost at most, in millionths of a US dollar.
        cost_micros: Option<u64>,
    },
    /// A model call of a run with a budget was counted: what the run has
    /// spent so far, after the step's
    /// [`StepFinished`](Self::StepFinished).
    BudgetSpent {
        /// The cycle whose call it was.
        step: u32,
        /// The run's spend, this call included.
        spent: BudgetSpend,
    },
    /// A model call waited for a shared rate limit before it was sent (a
    /// client limited by a `RateLimiter`), before the step's
    /// [`StepFinished`](Self::StepFinished).
    RateLimitWaited {
        /// The cycle whose call waited.
        step: u32,
        /// The limit's scope and how long the call waited.
        wait: RateWait,
    },
    /// A model call moved from one provider to the next (a client made of
    /// several, such as `klieo_provider::fallback::Fallback`), before the
    /// step's [`StepFinished`](Self::StepFinished).
    ProviderSwitched {
        /// The cycle whose call moved.
        step: u32,
        /// From which provider to which, and why.
        switch: ProviderSwitch,
    },
    /// A model call, or a reply's tool calls, would have passed a limit of
    /// the run's budget or of its key's, and was not made: the run ends
    /// with the error that says so, right after this event.
    BudgetRefused {
        /// The limit.
        limit: BudgetLimit,
        /// Its value.
        max: u64,
        /// What the run (for a key's limit, the key's runs) had spent and
        /// reserved of it.
        spent: u64,
        /// What the refused call would have taken, at most.
        needed: u64,
        /// The key, when the limit was the key's.
        key: Option<String>,
    },
    /// The run's thread was compacted before cycle `step`: its messages
    /// `from..through` are read as `summary` from now on (see
    /// [`compaction`](crate::compaction)).
    Compacted {
        /// The cycle whose request first reads the summary.
        step: u32,
        /// The first message newly replaced.
        from: u64,
        /// The first message after the summary.
        through: u64,
        /// The summary.
        summary: String,
    },
    /// Compacting the run's thread before cycle `step` failed: its history
    /// was left as it was, and the run goes on.
    CompactionFailed {
        /// The cycle whose request was being made.
        step: u32,
        /// What went wrong, with its causes.
        reason: String,
    },
    /// What a child run did while the call that runs it ran (an agent
    /// used as a tool, [`AgentTool`](crate::AgentTool)): its event, with
    /// the child's run and agent. A child's own children's events come
    /// nested the same way. The call's end is the run's own
    /// [`ToolResult`](Self::ToolResult).
    Child {
        /// The child run.
        run: RunId,
        /// Its agent's name.
        agent: String,
        /// What it did.
        event: Box<RunEvent>,
    },
    /// The agent `from` handed the run to `to`, another agent of its
    /// [`Team`](crate::Team): what follows is `to`'s, on the same thread.
    HandedOff {
        /// The agent that handed off.
        from: String,
        /// The agent that goes on.
        to: String,
        /// Why, as the model or the guardrail said.
        reason: String,
    },
    /// The run answered: the same value [`Agent::run`](crate::Agent::run)
    /// returns. It is the last event.
    Finished(Answer),
}
