//! [`Fact`]: one thing a run did, emitted once by the engine
//! ([`Run::emit`](crate::run::Run::emit)). Three views derive what they
//! keep from it, each in its own module:
//!
//! - the journal's [`Episode`](klieo_types::Episode) (`journal.rs`), which
//!   the engine writes in the commit the fact belongs to;
//! - the user's [`RunEvent`](crate::RunEvent)s and
//!   [`RunSummary`](crate::RunSummary) (`summary.rs`);
//! - the GenAI spans (`telemetry/view.rs`).
//!
//! A new fact is a variant here, one emission in the engine, and one arm
//! in each view that keeps something of it.

use crate::compaction::CompactionError;
use crate::spend::BudgetSpend;
use crate::stream::Terminal;
use klieo_types::{
    BudgetLimit, CallSpend, ChatRequest, ChatResponse, Episode, Error, FinishReason, JsonText,
    LlmError, ProviderSwitch, RateWait, RunId, ThreadSummary, Ticket, ToolCall, ToolOutcome, Usage,
};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tracing::Span;

/// One thing a run did; see the module docs.
pub(crate) enum Fact<'a> {
    /// The run began (a new run, not a resumed one), on behalf of
    /// `agent`.
    Started { agent: &'a str },
    /// The run asks for an answer of this shape (a typed run).
    Shaped { name: &'a str, schema: &'a Value },
    /// Where the run's own messages begin in its thread (see
    /// `Episode::PromptAt`).
    PromptAt { index: u64 },
    /// A run stopped after `steps` model calls is taken up again.
    Resumed { steps: u32 },
    /// The agent `from` handed the run to `to`, of its team.
    HandedOff {
        from: &'a str,
        to: &'a str,
        reason: &'a str,
    },
    /// Cycle `step` calls the model with `req` (`streamed` when its
    /// chunks are relayed).
    ModelCallBegan {
        step: u32,
        req: &'a ChatRequest,
        streamed: bool,
        /// Whether it is the first of the run's part: of a fresh run, or
        /// of an agent a team's run was handed to (not of a run taken up
        /// again, which goes on where it was).
        first: bool,
    },
    /// One attempt of a model call failed; `retried` when another
    /// follows it.
    AttemptFailed { error: &'a LlmError, retried: bool },
    /// Cycle `step`'s model call (told by `span`) replied after `latency`;
    /// a run with a budget counted it as `spend`.
    ModelCallEnded {
        step: u32,
        reply: &'a ChatResponse,
        latency: Duration,
        span: &'a Span,
        spend: Option<&'a CallSpend>,
    },
    /// Cycle `step`'s model call waited for a shared rate limit before it
    /// was sent (told by the reply's info).
    RateLimitWaited { step: u32, wait: &'a RateWait },
    /// Cycle `step`'s model call moved from one provider to the next
    /// before its reply (told by the reply's info).
    ProviderSwitched {
        step: u32,
        switch: &'a ProviderSwitch,
    },
    /// Cycle `step`'s model call (told by `span`) was reserved as `tokens`
    /// (its input's bound and its `max_tokens`), costing at most
    /// `cost_micros` when calls are priced.
    BudgetReserved {
        step: u32,
        tokens: u64,
        cost_micros: Option<u64>,
        span: &'a Span,
    },
    /// Cycle `step`'s model call (told by `span`) was counted against the
    /// run's budget as `settled`; the run has spent `spent` so far.
    BudgetSettled {
        step: u32,
        settled: &'a CallSpend,
        spent: &'a BudgetSpend,
        span: &'a Span,
    },
    /// A model call, or a reply's tool calls, would have passed `limit`
    /// of the run's budget (or, with `key`, of its key's): it was not
    /// made, and the run ends.
    BudgetRefused {
        limit: BudgetLimit,
        max: u64,
        spent: u64,
        needed: u64,
        key: Option<&'a str>,
    },
    /// The thread is being compacted before cycle `step`.
    CompactionBegan { step: u32 },
    /// Before cycle `step`, the thread was compacted into `summary` (by a
    /// model call that reported `usage`), kept in the same commit as the
    /// fact's episode; `span` is the compaction's.
    Compacted {
        step: u32,
        summary: &'a ThreadSummary,
        usage: Option<Usage>,
        span: &'a Span,
    },
    /// Compacting the thread before cycle `step` failed; its history was
    /// left as it was.
    CompactionFailed {
        step: u32,
        error: &'a CompactionError,
        span: &'a Span,
    },
    /// A model call (told by `span`) failed for good.
    ModelCallFailed { error: &'a Error, span: &'a Span },
    /// A tool call starts.
    ToolCallBegan { call: &'a ToolCall },
    /// A tool call of cycle `step`, the `index`th of those dispatched
    /// together, ended (its span, when it ran under one).
    ToolCallEnded(ToolCallEnd<'a>),
    /// A tool call's result was read back from the journal by a resumed
    /// run: it is not recorded again.
    ToolResultRead {
        step: u32,
        call: &'a ToolCall,
        outcome: &'a ToolOutcome,
    },
    /// The run stops at cycle `step` until a person decides `call`.
    Suspended {
        step: u32,
        call: &'a ToolCall,
        ticket: &'a Ticket,
    },
    /// The run stops at cycle `step` until a person settles `call`, which
    /// ran when its process stopped.
    InDoubt {
        step: u32,
        call: &'a ToolCall,
        ticket: &'a Ticket,
    },
    /// Cycle `step`'s `call` waits with the run `child` for a person (an
    /// agent used as a tool waits on an approval): the run stops, its step
    /// left open.
    WaitingOnChild {
        step: u32,
        call: &'a ToolCall,
        child: RunId,
    },
    /// The run is a child run, started by call `call_id` of cycle `step`
    /// of the run `parent`.
    ChildOf {
        parent: RunId,
        step: u32,
        call_id: &'a str,
    },
    /// A person decided the call `call_id`: approved, or denied for the
    /// reason given.
    Decided {
        call_id: Arc<str>,
        denial: Option<String>,
    },
    /// The model answered `text` at cycle `step`; the run is complete.
    /// `cut_by`: the budget's limit the answer ran out of (cut at the
    /// `max_tokens` it left), if it did.
    Answered {
        step: u32,
        text: &'a str,
        cut_by: Option<BudgetLimit>,
        /// How the reply that gave it ended (`stop`, or `length`).
        finish: FinishReason,
    },
    /// The run ended (or stopped, to be resumed) with `error`, told as
    /// `terminal`.
    Failed {
        error: &'a Error,
        terminal: &'a Terminal,
    },
    /// The consumer of a streamed run went away before its end.
    ConsumerDropped,
    /// A blocking run's future was dropped before its end: as a process
    /// that stopped, nothing more of it is recorded.
    Dropped,
    /// The run did not start, or was not taken up, with `error` (another
    /// process holds its lease, a person's decision was refused, its
    /// store failed first): nothing of it is recorded.
    NotStarted { error: &'a Error },
}

/// How one tool call ended; see [`Fact::ToolCallEnded`].
pub(crate) struct ToolCallEnd<'a> {
    pub(crate) step: u32,
    /// Its place among the calls dispatched with it (the summary keeps
    /// the model's order whatever order they end in).
    pub(crate) index: usize,
    pub(crate) call: &'a ToolCall,
    /// The arguments as the tool got them (the raw text when they were
    /// not JSON).
    pub(crate) args: JsonText,
    pub(crate) outcome: ToolOutcome,
    /// The kind of the tool's error, for its span.
    pub(crate) error_kind: Option<&'static str>,
    pub(crate) latency_ms: u64,
    /// The call's span; none for a call that never ran.
    pub(crate) span: Option<&'a Span>,
}

/// What the views kept of a fact that the engine still needs: the
/// journal's episode, to write in the fact's commit, and the span a fact
/// that begins some work opened, to run it under.
#[must_use = "a fact's episode is recorded only when the engine writes it"]
pub(crate) struct Emitted {
    pub(crate) episode: Option<Episode>,
    pub(crate) span: Option<Span>,
}

impl Emitted {
    /// The span opened, or a disabled one.
    pub(crate) fn span(self) -> Span {
        self.span.unwrap_or_else(Span::none)
    }
}
