//! klieo, a Rust framework for LLM agents: this crate is the one to add to
//! `Cargo.toml`. It re-exports klieo's layers, each behind a Cargo feature
//! of the same name.
//!
//! | feature | module | what it adds |
//! |---------|--------|--------------|
//! | (always) | [`types`], and the crate root | messages, `LlmClient`, errors, episodes, memory and tool traits |
//! | `retry` | `retry` | a generic backoff policy and retry driver |
//!
//! The step loop (`klieo-runtime`), the streaming layer (`klieo-stream`) and
//! the OpenAI-compatible provider (`klieo-openai`) are not built yet; they
//! will join this table as features of the same names.
//!
//! # Example
//!
//! ```
//! use klieo::{ChatRequest, Message, ToolCall};
//!
//! let req = ChatRequest::new(vec![Message::user("Compute 17*23.")]);
//! assert_eq!(req.messages.len(), 1);
//! let call = ToolCall::new("c1", "calculator", serde_json::json!({"expression": "17*23"}));
//! assert_eq!(call.name, "calculator");
//! ```
#![deny(missing_docs)]

pub use klieo_types as types;
pub use klieo_types::*;

#[cfg(feature = "retry")]
pub use klieo_retry as retry;
