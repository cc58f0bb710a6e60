//! Errors: the top-level [`Error`] and one enum per domain ([`LlmError`],
//! [`ToolError`], [`MemoryError`], [`ConfigError`]), each variant a distinct
//! thing a caller can act on, each classifying itself as retryable or not.

mod budget;
mod chain;
mod config;
mod llm;
mod memory;
mod retry_hint;
mod time_limit;
mod tool;

pub use budget::BudgetLimit;
pub use chain::ErrorChain;
pub use config::ConfigError;
pub use llm::LlmError;
pub use memory::MemoryError;
pub use retry_hint::RetryHint;
pub use time_limit::TimeLimit;
pub use tool::{ToolError, WaitingOn};

use std::time::Duration;
use thiserror::Error;

/// Everything that can end an agent run.
///
/// Domain errors convert into it with `?`. [`retryable`](Self::retryable)
/// delegates to the domain error.
///
/// ```
/// use klieo_types::{Error, LlmError};
///
/// let e: Error = LlmError::server("overloaded").into();
/// assert!(e.retryable());
/// let e: Error = LlmError::unauthorized("bad key").into();
/// assert!(!e.retryable());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Error {
    /// A model call failed.
    #[error(transparent)]
    Llm(#[from] LlmError),
    /// A tool call failed (its text names the tool).
    #[error(transparent)]
    Tool(#[from] ToolError),
    /// A memory backend failed.
    #[error(transparent)]
    Memory(#[from] MemoryError),
    /// The configuration is missing something or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The run used its step budget without the model answering.
    #[error("the run reached its limit of {steps} steps without an answer; raise max_steps or change the tool-choice policy")]
    MaxStepsExceeded {
        /// The limit that was reached.
        steps: u32,
    },
    /// The run was cancelled.
    #[error("the run was cancelled")]
    Cancelled,
    /// The model's reply cannot be used (for example, it is empty).
    #[error("the model's reply cannot be used: {0}")]
    BadResponse(String),
    /// A streamed reply's text and tool calls passed the run's
    /// `max_response_bytes`; the chunk that crossed it was not relayed.
    #[error("the model's streamed reply passed {limit} bytes (RunOptions::max_response_bytes); raise the limit or ask for shorter replies")]
    ResponseTooLarge {
        /// The limit that was passed, in bytes.
        limit: usize,
    },
    /// The model's answer did not fit the requested output type, and
    /// asking again did not help.
    #[error("the model's answer does not fit the requested output ({reason}) after {attempts} answer(s); allow more repairs (RunOptions::output_repairs), simplify the output type, or use a stronger model")]
    InvalidOutput {
        /// Why the last answer does not fit.
        reason: String,
        /// The last answer, as the model wrote it.
        reply: String,
        /// Answers the model gave.
        attempts: u32,
    },
    /// A guardrail refused to continue.
    #[error("a guardrail refused: {reason}")]
    Refused {
        /// The guardrail's reason.
        reason: String,
    },
    /// The run handed the conversation to another agent: a guardrail's
    /// decision, for an agent that is not of the run's team (a `Team`
    /// goes on with the agents it has).
    #[error("the run handed off to agent `{agent}`: {reason}")]
    Handoff {
        /// The agent to continue with.
        agent: String,
        /// The guardrail's reason.
        reason: String,
    },
    /// A team's run was to hand off once more than its team allows: its
    /// agents hand the conversation back and forth.
    #[error(
        "the run handed off {limit} times, its team's limit, and was to hand off again \
         to agent `{agent}`: read its log for agents handing the conversation back and \
         forth, or raise the limit (TeamBuilder::with_max_handoffs)"
    )]
    HandoffLimit {
        /// The team's limit on hand-offs in one run.
        limit: u32,
        /// The agent the refused hand-off was to.
        agent: String,
    },
    /// The run stopped to wait for a person to approve a tool call: not a
    /// failure. Keep the ticket (it prints as text) and go on with
    /// `Agent::approve` or `Agent::deny`, in this process or another.
    #[error("the run waits for approval of a call to tool `{tool}` (ticket {ticket}): approve or deny it")]
    Suspended {
        /// What to approve or deny.
        ticket: crate::Ticket,
        /// The tool the call is for.
        tool: String,
    },
    /// The run's process stopped while a call of a tool a person watches
    /// ran, and the call's outcome is unknown: the run waits for a person
    /// to settle it (`klieo_runtime::decisions::record_settlement`, the
    /// `klieo settle` command or the console) and goes on where its agent
    /// is.
    #[error("the run waits for a person to settle a call to tool `{tool}` whose outcome a stop lost (ticket {ticket}): say whether it happened")]
    InDoubt {
        /// What to settle.
        ticket: crate::Ticket,
        /// The tool the call is for.
        tool: String,
    },
    /// An approval or denial was refused, and nothing ran: the run is not
    /// waiting on that call, or the call pending is not the one the ticket
    /// was given for (its digest differs).
    #[error("ticket {ticket} was refused, and nothing ran: {reason}")]
    TicketRejected {
        /// The ticket.
        ticket: crate::Ticket,
        /// Why.
        reason: String,
    },
    /// The newest turn of the conversation (the prompt, or a tool call and
    /// its results) is larger than the history sent with each request may
    /// be, so a request would have to leave it out: the run stops rather
    /// than send the model a conversation without it.
    #[error(
        "the newest turn of thread `{thread}` is about {tokens} tokens, more than the \
         {max_history_tokens} the history of a request may hold (the model's window less \
         what the request holds besides, at most RunOptions::max_history_tokens): raise \
         RunOptions::max_history_tokens, use a model with a larger window, or bound tool \
         results lower (RunOptions::max_tool_result_bytes)"
    )]
    NewestTurnTooLarge {
        /// The conversation.
        thread: crate::ThreadId,
        /// The newest turn's estimated tokens.
        tokens: usize,
        /// The history budget of a request.
        max_history_tokens: usize,
    },
    /// The request cannot fit the model's context window even with no
    /// history: what it must hold besides (each counted as the run
    /// estimates the server counts it) and the room kept for the reply
    /// leave nothing. No call was made.
    #[error(
        "the request cannot fit the model's window of {window} tokens even with no history: \
         about {system} tokens of system prompt, {tools} of tools' schemas and {schema} of \
         the answer's schema, and {reply} kept for the reply; shorten the largest, offer \
         fewer tools, lower RunOptions::max_tokens, or use a model with a larger window"
    )]
    ContextWindowExceeded {
        /// The model's window.
        window: u32,
        /// The system prompt's tokens.
        system: u64,
        /// The tools' definitions' tokens.
        tools: u64,
        /// The answer's schema's tokens.
        schema: u64,
        /// The room kept for the reply (the request's `max_tokens`, or a
        /// quarter of the window up to 1,024).
        reply: u32,
    },
    /// The next model call, or the tool calls a reply asked for, would
    /// pass a limit of the run's budget: it was not made. `needed` is what
    /// it would have taken at most (a call's tokens: the request's
    /// estimated size and the reply it may generate).
    #[error(
        "the run would pass its budget of {max} {limit}: {spent} spent, and what comes \
         next needs up to {needed}; raise the limit (RunOptions::with_budget) or give the \
         run less to do"
    )]
    BudgetExceeded {
        /// The limit.
        limit: BudgetLimit,
        /// Its value.
        max: u64,
        /// What the run spent of it so far.
        spent: u64,
        /// What the refused call (or calls) would have taken, at most.
        needed: u64,
    },
    /// The next model call would pass a limit of the key its run's budget
    /// names (a tenant, a user), counted over the key's runs on every
    /// worker that shares the store: it was not made.
    #[error(
        "key `{key}` would pass its budget of {max} {limit}: its runs have settled or \
         reserved {spent} (a reservation is what a call in flight may take, and settles at \
         what it took), and the next call needs up to {needed}; raise the key's limit \
         (KeyBudget), or try again once its calls in flight have settled or, for a key \
         counted by period, in its next period"
    )]
    KeyBudgetExceeded {
        /// The key.
        key: String,
        /// The limit.
        limit: BudgetLimit,
        /// Its value.
        max: u64,
        /// What the key's runs have settled and reserved of it.
        spent: u64,
        /// What the refused call would have taken, at most.
        needed: u64,
    },
    /// A run asked to be resumed cannot be: its store is not a journal,
    /// the journal does not know it, or it already ended without an answer.
    #[error("run {run} cannot be resumed: {reason}")]
    NotResumable {
        /// The run.
        run: crate::RunId,
        /// Why, and what to do.
        reason: String,
    },
}

impl Error {
    /// Whether this waits for a person (`Suspended`, `InDoubt`): no failure.
    pub fn waits_for_person(&self) -> bool {
        matches!(self, Self::Suspended { .. } | Self::InDoubt { .. })
    }

    /// The kind of failure, in snake case, for traces (`error.type`): a model or tool
    /// failure gives its own kind (`"rate_limit"`, `"unknown_tool"`), the others their
    /// variant's (`"cancelled"`, `"max_steps_exceeded"`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Llm(e) => e.kind(),
            Self::Tool(e) => e.kind(),
            Self::Memory(_) => "memory",
            Self::Config(_) => "config",
            Self::MaxStepsExceeded { .. } => "max_steps_exceeded",
            Self::Cancelled => "cancelled",
            Self::BadResponse(_) => "bad_response",
            Self::ResponseTooLarge { .. } => "response_too_large",
            Self::InvalidOutput { .. } => "invalid_output",
            Self::Refused { .. } => "refused",
            Self::Handoff { .. } => "handoff",
            Self::HandoffLimit { .. } => "handoff_limit",
            Self::Suspended { .. } => "suspended",
            Self::InDoubt { .. } => "in_doubt",
            Self::TicketRejected { .. } => "ticket_rejected",
            Self::NotResumable { .. } => "not_resumable",
            Self::NewestTurnTooLarge { .. } => "newest_turn_too_large",
            Self::BudgetExceeded { .. } => "budget_exceeded",
            Self::KeyBudgetExceeded { .. } => "key_budget_exceeded",
            Self::ContextWindowExceeded { .. } => "context_window_exceeded",
        }
    }

    /// Whether trying the failed operation again may succeed.
    pub fn retryable(&self) -> bool {
        match self {
            Self::Llm(e) => e.retryable(),
            Self::Tool(e) => e.retryable(),
            Self::Memory(_)
            | Self::Config(_)
            | Self::MaxStepsExceeded { .. }
            | Self::Cancelled
            | Self::BadResponse(_)
            | Self::ResponseTooLarge { .. }
            | Self::InvalidOutput { .. }
            | Self::Refused { .. }
            | Self::Handoff { .. }
            | Self::HandoffLimit { .. }
            | Self::Suspended { .. }
            | Self::InDoubt { .. }
            | Self::TicketRejected { .. }
            | Self::NotResumable { .. }
            | Self::NewestTurnTooLarge { .. }
            | Self::BudgetExceeded { .. }
            | Self::KeyBudgetExceeded { .. }
            | Self::ContextWindowExceeded { .. } => false,
        }
    }

    /// The delay a server asked for before the next attempt, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Llm(e) => e.retry_after(),
            Self::Tool(ToolError::Retryable { retry_after, .. }) => *retry_after,
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
