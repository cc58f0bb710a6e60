//! The vocabulary of klieo: messages, the [`LlmClient`] trait, errors,
//! episodes, and the memory and tool traits.
//!
//! Provider authors depend on this crate alone: it is everything needed to
//! connect another model API to klieo, and it pulls in no async runtime and
//! no HTTP stack (its world is serde, serde_json, thiserror, async-trait,
//! futures-core and foldhash). Applications usually depend on the `klieo`
//! facade, which re-exports it.
//!
//! # Brief overview
//!
//! - Conversations: [`Message`] (with [`Role`] and [`ToolCall`]), kept in a
//!   [`Transcript`] that is cheap to clone and cut from a [`MessageLog`] by
//!   token budget.
//! - Requests and replies: [`ChatRequest`] (with [`ToolDef`],
//!   [`ToolChoice`], [`ResponseFormat`]), [`ChatResponse`], the
//!   [`ChatChunk`]s of a [`ChunkStream`], [`Usage`], [`FinishReason`].
//! - Providers implement [`LlmClient`] and declare [`Capabilities`].
//! - Errors: [`Error`], converting from [`LlmError`], [`ToolError`],
//!   [`MemoryError`] and [`ConfigError`]; each says whether it is
//!   `retryable()`. [`ErrorChain`] shows one with its causes in a line.
//! - Runs: [`RunId`], [`ThreadId`], the [`Episode`] log, and the
//!   [`ShortTermMemory`], [`EpisodicMemory`] and [`Journal`] traits (the
//!   store kit, with an in-memory journal, is `klieo-store`), and the
//!   [`RunQueue`] a fleet of workers drives runs from ([`Submission`],
//!   [`RunState`], [`Claimed`]).
//! - Tools implement [`Tool`] (or are a [`FnTool`] closure); the runtime
//!   calls a [`ToolInvoker`], such as a [`ToolSet`].
//! - With the `testing` feature, `testing::ScriptedLlm` plays back a script
//!   of replies, streams and errors, for tests of code built on klieo, and
//!   `testing::next` and `testing::collect` read a stream.
//!
//! The step loop that drives these lives in `klieo-runtime`; the
//! OpenAI-compatible provider in `klieo-openai`.
//!
//! # Example
//!
//! ```
//! use klieo_types::{ChatRequest, Error, LlmError, Message, ToolCall, ToolChoice, ToolDef};
//! use serde_json::json;
//!
//! let calculator = ToolDef::new(
//!     "calculator",
//!     "Evaluates an arithmetic expression.",
//!     json!({"type": "object", "properties": {"expression": {"type": "string"}}}),
//! );
//! let req = ChatRequest::new(vec![
//!     Message::system("Use the calculator for arithmetic."),
//!     Message::user("Compute 17*23."),
//! ])
//! .with_tools(vec![calculator])
//! .with_tool_choice(ToolChoice::Function("calculator".into()));
//! assert_eq!(req.tools.len(), 1);
//!
//! // What a model might answer, and how a run would record it.
//! let call = ToolCall::new("c1", "calculator", json!({"expression": "17*23"}));
//! assert_eq!(call.parse_arguments()?["expression"], "17*23");
//!
//! let failure: Error = LlmError::server("overloaded").into();
//! assert!(failure.retryable());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod approval;
mod call_spend;
mod catalog;
pub mod digest;
mod episode;
mod error;
mod failover;
mod ids;
mod journal;
mod json_text;
mod ledger;
mod llm;
mod memory;
mod message;
mod queue;
mod rate;
mod request;
mod response;
mod run_state;
mod shared_str;
mod summary;
pub mod text;
mod tool;
mod tool_call;
mod tool_policy;
mod toolbox;
mod transcript;

#[cfg(feature = "testing")]
pub mod testing;

pub use approval::{ParseTicketError, Ticket};
pub use call_spend::{CallSpend, InputCalibration};
pub use catalog::{
    ParseStatusError, RunCatalog, RunChange, RunChanges, RunEntry, RunPage, RunQuery, RunStatus,
    RunTally,
};
pub use episode::{Episode, ToolOutcome};
pub use error::{
    BudgetLimit, ConfigError, Error, ErrorChain, LlmError, MemoryError, RetryHint, TimeLimit,
    ToolError, WaitingOn,
};
pub use failover::{ProviderFailure, ProviderSwitch};
pub use ids::{ParseIdError, RunId, ThreadId};
pub use journal::{Commit, Journal, PendingStep, RunRecord};
pub use json_text::JsonText;
pub use ledger::{
    KeyLimits, KeyShortfall, KeySpend, KeyStanding, Reservation, Reserved, Settlement, SpendLedger,
};
pub use llm::{Capabilities, ChunkStream, Embedding, LlmClient};
pub use memory::{EpisodicMemory, ShortTermMemory};
pub use message::{estimated_text_tokens, Message, Role};
pub use queue::{Claimed, RunQueue, Submission, Wakeups};
pub use rate::{RateLimiter, RateWait};
pub use request::{schema_in_instructions, ChatRequest, ResponseFormat, ToolChoice, ToolDef};
pub use response::{ChatChunk, ChatResponse, FinishReason, ReplyInfo, Usage};
pub use run_state::RunState;
pub use summary::{History, ThreadSummary, SUMMARY_PREFIX};
pub use tool::{FnTool, OwnedToolContext, Tool, ToolContext, ToolInvoker, ToolSet};
pub use tool_call::ToolCall;
pub use tool_policy::ToolPolicy;
pub use toolbox::Toolbox;
pub use transcript::{MessageLog, Transcript};

/// Re-exported so implementors of the async traits use the same version.
pub use async_trait::async_trait;

#[cfg(test)]
mod dyn_compat {
    //! Compile-time checks that the traits stay usable as `dyn`.
    use super::*;

    #[allow(dead_code)]
    fn traits_are_dyn_compatible(
        _: &dyn LlmClient,
        _: &dyn Tool,
        _: &dyn ToolInvoker,
        _: &dyn ShortTermMemory,
        _: &dyn EpisodicMemory,
        _: &dyn Journal,
        _: &dyn RunQueue,
    ) {
    }

    #[allow(dead_code)]
    fn chunk_stream_is_send(s: ChunkStream) -> impl Send {
        s
    }
}
