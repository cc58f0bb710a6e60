//! The tools of Model Context Protocol servers, for klieo agents.
//!
//! Built on `rmcp`, the official Rust SDK. An [`McpServer`] connects to one
//! server, as a child process over stdio or over streamable HTTP, and is a
//! `klieo_types::ToolInvoker` over its tools: an agent uses them next to its
//! own tools.
//!
//! ```no_run
//! # async fn demo(llm: std::sync::Arc<dyn klieo_types::LlmClient>) -> Result<(), Box<dyn std::error::Error>> {
//! use klieo_mcp::{McpServer, McpOptions};
//!
//! let everything = McpServer::connect(
//!     McpOptions::stdio("everything", "npx")
//!         .with_args(["-y", "@modelcontextprotocol/server-everything"]),
//! )
//! .await?;
//! // With the runtime (`klieo-runtime`):
//! // let agent = Agent::builder_shared(llm).add_invoker("everything_", everything).build()?;
//! # drop((llm, everything));
//! # Ok(())
//! # }
//! ```
//!
//! What a call does, and how each failure reaches the model, is in
//! [`McpServer`]'s documentation; the settings and their defaults in
//! [`McpOptions`]; the `mcpServers` file in [`config`].
//!
//! # Protocol
//!
//! klieo offers the versions in [`PROTOCOL_VERSIONS`] (it asks for the
//! newest and accepts any of them) and the `initialize` handshake. It
//! offers the server no client capability (no sampling, roots or
//! elicitation), and uses the server's tools only: a server without the
//! `tools` capability is not asked for them. Prompts, resources and OAuth
//! are not supported; a bearer token or other header is.

#![deny(missing_docs)]

mod catalogue;
pub mod config;
mod describe;
mod environment;
mod error;
mod line_scan;
mod link;
mod listing;
mod options;
mod refresh;
mod reply;
mod restart;
mod scrub;
mod server;
mod servers;
mod stderr;
mod stdio;

pub use catalogue::{DESCRIPTION_LIMIT, SCHEMA_LIMIT};
pub use environment::PASSED_ENV;
pub use error::{ListFault, McpError, ReplyFault};
pub use line_scan::{MAX_REPLY_DEPTH, MAX_REPLY_VALUES};
pub use link::PROTOCOL_VERSIONS;
pub use listing::{MAX_LIST_BYTES, MAX_LIST_PAGES, MAX_LIST_TOOLS};
pub use options::{Approval, McpOptions, DEFAULT_CALL_TIMEOUT, DEFAULT_HANDSHAKE_TIMEOUT};
pub use server::McpServer;
pub use servers::McpServers;
pub use stdio::{EXIT_GRACE, MAX_REPLY_BYTES};
