//! klieo's step loop: the code that drives an agent. A model is called
//! with the thread's recent history, it may ask for tools, the tools run,
//! their results go back to it, and so on until it answers, with retries,
//! guardrails, cancellation and an event log of every run.
//!
//! Depends on `klieo-types` (the vocabulary) and `klieo-retry` (backoff
//! for model calls); the chunk pump and the terminal mapping of a streamed
//! run are its own (they were `klieo-stream`).
//! Applications usually reach it through the `klieo` facade.
//!
//! # Brief overview
//!
//! - [`run_steps`] drives a run to its answer and returns it;
//!   [`run_steps_streaming`] hands out the model's chunks as they arrive.
//! - [`AgentContext`] holds the model, memories, tools, run id, cancel token
//!   and agent name; [`RunOptions`] the limits and policies
//!   ([`AfterToolCalls`], [`ToolErrorPolicy`]).
//! - [`Guardrail`]s check each model call ([`DenyKeywords`] and
//!   [`MaxResponseLength`] are ready).
//! - [`InMemoryShortTerm`] and [`InMemoryEpisodic`] are memories for one
//!   process, safe under concurrent runs.
//!
//! # Example
//!
//! ```
//! use klieo_runtime::{run_steps, AgentContext, RunOptions};
//! use klieo_types::testing::ScriptedLlm;
//! use klieo_types::{Episode, Message, ThreadId};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build()?.block_on(async {
//! let ctx = AgentContext::new(ScriptedLlm::new().then_text("Hello!"));
//! let thread = ThreadId::new("greeting");
//! ctx.short_term().append(&thread, vec![Message::user("Hi")]).await?;
//!
//! let answer = run_steps(&ctx, "Be friendly.", thread, RunOptions::default()).await?;
//! assert_eq!(answer, "Hello!");
//! let log = ctx.episodic().replay(ctx.run_id()).await?;
//! assert!(matches!(log.last(), Some(Episode::Completed { steps: 1 })));
//! # Ok::<(), klieo_types::Error>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod agent;
mod approval;
mod blocking;
mod builder;
mod call_ids;
pub mod compaction;
mod context;
pub mod decisions;
mod dispatch;
mod engine;
mod events;
mod fact;
mod guardrail;
mod in_doubt;
mod journal;
mod lease;
mod memory;
mod options;
mod output;
mod race;
mod repeats;
mod resume;
mod run;
mod schema;
mod spend;
mod step;
mod stream;
mod streaming;
mod summary;
mod team;
mod telemetry;
mod typed_events;
mod typed_tool;
mod worker;

pub use agent::{Agent, PendingApproval, Session};
pub use builder::{AgentBuilder, Journaled, SeparateMemories};
pub use events::RunEvents;
pub use spend::BudgetSpend;
pub use summary::{Answer, RunEvent, RunSummary, ToolCallRecord, Typed};
pub use team::{
    AgentTool, HandoffHistory, Team, TeamBuilder, AGENT_TOOL_TIMEOUT, DEFAULT_MAX_HANDOFFS,
};
pub use typed_events::{TypedEvent, TypedEvents};
pub use typed_tool::TypedTool;
pub use worker::{wait, Worker, WorkerBuilder, WorkerOptions, WorkerReport};

pub use blocking::run_steps;
pub use context::AgentContext;
pub use guardrail::{DenyKeywords, Guardrail, GuardrailOutcome, MaxResponseLength};
pub use memory::{InMemoryEpisodic, InMemoryShortTerm};
pub use options::{
    AfterToolCalls, Budget, KeyBudget, ModelPrice, Prices, RunOptions, ToolErrorPolicy,
    DEFAULT_MAX_TOOL_RESULT_BYTES, DEFAULT_RETRY_BUDGET, MAX_TOOL_RETRY_DELAY, MIN_LEASE_TTL,
};
pub use resume::resume_steps;
pub use stream::{
    terminal_for, Terminal, CANCELLED, CONSUMER_DROPPED, EPISODE_CHARS, RESPONSE_OVER_CAP,
    STREAM_ENDED_EARLY,
};
pub use streaming::run_steps_streaming;
