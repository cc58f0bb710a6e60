//! klieo, a Rust framework for LLM agents: this crate is the one to add to
//! `Cargo.toml`. It re-exports klieo's layers, each behind a Cargo feature
//! of the same name.
//!
//! | feature | module | what it adds |
//! |---------|--------|--------------|
//! | (always) | [`types`] | messages, `LlmClient`, errors, episodes, memory and tool traits |
//! | `retry` | `retry` | a generic backoff policy and retry driver |
//! | `runtime` (default) | `runtime` | `Agent`, sessions, typed tools and output, the step loop (`run_steps`, `run_steps_streaming`) with its chunk pump and terminal-error mapping, guardrails, in-memory memories |
//! | `openai` | `openai`, `provider` | an OpenAI-compatible provider (OpenAI, llama.cpp, vLLM, Ollama); its environment variables are in [its docs](openai#environment); its builder's shared setters are `provider::builder::ClientBuilder`'s (in the prelude) |
//! | `anthropic` | `anthropic`, `provider` | Anthropic's Messages API (Anthropic, llama.cpp's `llama-server`); its environment variables are in [its docs](anthropic#environment) |
//! | `store` | `store` | the store kit: an in-memory journal (resume, approvals and leases with no database, for tests of durable agents), the row layout the database stores share |
//! | `sqlite` | `sqlite` | a store keeping conversations and event logs in one SQLite file, across restarts |
//! | `postgres` | `postgres` | the same in PostgreSQL, for many processes sharing one database |
//! | `mcp` | `mcp` | the tools of Model Context Protocol servers, over stdio or streamable HTTP, next to an agent's own |
//! | `otel` | `otel` | OpenTelemetry export of the runs' GenAI spans over OTLP/HTTP, from the `OTEL_*` variables (`klieo::otel::init()`) |
//! | `testing` | `types::testing` | a scripted model for tests of agents; with `store`, `store::testing` too: the checks every memory and journal passes, and the golden fixtures; with `postgres`, `postgres::testing` (a fresh database a test); with `openai` or `anthropic`, `provider::testing` (the provider conformance suite) |
//!
//! [`prelude`] gathers the items most programs use. `examples/agent` is a
//! streaming agent with two tools against a real model (`cargo xtask demo`
//! runs it against a local one).
//!
//! # Example
//!
//! ```
//! # #[cfg(feature = "runtime")]
//! # tokio::runtime::Builder::new_current_thread().enable_time().build()?.block_on(async {
//! use klieo::prelude::*;
//! use klieo::types::testing::ScriptedLlm;
//!
//! let llm = ScriptedLlm::new().then_text("Hello!");
//! let ctx = AgentContext::new(llm);
//! let thread = ThreadId::new("greeting");
//! ctx.short_term().append(&thread, vec![Message::user("Hi")]).await?;
//! let answer = run_steps(&ctx, "Be friendly.", thread, RunOptions::default()).await?;
//! assert_eq!(answer, "Hello!");
//! # Ok::<(), klieo::types::Error>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

#[doc(inline)]
pub use klieo_types as types;

#[cfg(feature = "retry")]
#[doc(inline)]
pub use klieo_retry as retry;

#[cfg(feature = "runtime")]
#[doc(inline)]
pub use klieo_runtime as runtime;

#[cfg(any(feature = "openai", feature = "anthropic"))]
#[doc(inline)]
pub use klieo_provider as provider;

#[cfg(feature = "openai")]
#[doc(inline)]
pub use klieo_openai as openai;

#[cfg(feature = "anthropic")]
#[doc(inline)]
pub use klieo_anthropic as anthropic;

#[cfg(feature = "store")]
#[doc(inline)]
pub use klieo_store as store;

#[cfg(feature = "sqlite")]
#[doc(inline)]
pub use klieo_sqlite as sqlite;

#[cfg(feature = "postgres")]
#[doc(inline)]
pub use klieo_postgres as postgres;

#[cfg(feature = "mcp")]
#[doc(inline)]
pub use klieo_mcp as mcp;

#[cfg(feature = "otel")]
#[doc(inline)]
pub use klieo_otel as otel;

/// docs/RETRY.md, whose examples run as doctests.
#[cfg(all(doctest, feature = "retry"))]
#[doc = include_str!("../../../docs/RETRY.md")]
pub struct RetryDoc;

/// docs/STREAMING.md, whose examples run as doctests.
#[cfg(all(doctest, feature = "runtime"))]
#[doc = include_str!("../../../docs/STREAMING.md")]
pub struct StreamingDoc;

/// docs/FAULTS.md, whose examples run as doctests.
#[cfg(all(doctest, feature = "runtime", feature = "openai"))]
#[doc = include_str!("../../../docs/FAULTS.md")]
pub struct FaultsDoc;

/// docs/AGENTS.md, whose examples run as doctests.
#[cfg(all(doctest, feature = "runtime", feature = "openai", feature = "store"))]
#[doc = include_str!("../../../docs/AGENTS.md")]
pub struct AgentsDoc;

/// docs/FLEET.md, whose example runs as a doctest.
#[cfg(all(doctest, feature = "runtime", feature = "store"))]
#[doc = include_str!("../../../docs/FLEET.md")]
pub struct FleetDoc;

/// docs/LOCAL_MODELS.md, whose example runs as a doctest.
#[cfg(all(doctest, feature = "openai"))]
#[doc = include_str!("../../../docs/LOCAL_MODELS.md")]
pub struct LocalModelsDoc;

/// docs/MCP.md, whose examples compile as doctests.
#[cfg(all(doctest, feature = "runtime", feature = "mcp"))]
#[doc = include_str!("../../../docs/MCP.md")]
pub struct McpDoc;

/// docs/TELEMETRY.md, whose examples compile as doctests.
#[cfg(all(doctest, feature = "otel"))]
#[doc = include_str!("../../../docs/TELEMETRY.md")]
pub struct TelemetryDoc;

/// The README, whose examples compile (and, but for the quick start, which
/// needs a server, run) as doctests.
#[cfg(all(
    doctest,
    feature = "runtime",
    feature = "openai",
    feature = "sqlite",
    feature = "mcp",
    feature = "otel"
))]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoc;

/// The items most agent programs use, for `use klieo::prelude::*`.
///
/// It includes `futures_util`'s `StreamExt`, so `stream.next().await` works
/// on a [`ChunkStream`](types::ChunkStream) with nothing else in
/// `Cargo.toml` (an agent's `RunEvents` has an inherent `next` too).
pub mod prelude {
    pub use futures_util::StreamExt;
    pub use klieo_types::{
        ChatChunk, ChatRequest, ChatResponse, Episode, Error, FnTool, LlmClient, LlmError, Message,
        Role, RunId, RunQueue, RunState, Submission, ThreadId, Tool, ToolCall, ToolChoice, ToolDef,
        ToolError, ToolSet, Toolbox,
    };

    #[cfg(feature = "runtime")]
    pub use klieo_runtime::{
        run_steps, run_steps_streaming, AfterToolCalls, Agent, AgentContext, AgentTool, Answer,
        Budget, KeyBudget, RunEvent, RunOptions, Session, Team, TypedTool, Worker, WorkerOptions,
    };

    #[cfg(any(feature = "openai", feature = "anthropic"))]
    pub use klieo_provider::{builder::ClientBuilder, fallback::Fallback};

    #[cfg(feature = "openai")]
    pub use klieo_openai::OpenAiClient;
}
