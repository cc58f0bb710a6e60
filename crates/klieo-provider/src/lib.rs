//! What every HTTP provider of klieo needs, so that a provider crate holds
//! only its wire format: the Server-Sent-Events decoder, API keys that
//! never show, bounded body reads, HTTP statuses and retry headers as
//! [`LlmError`](klieo_types::LlmError)s, a streamed reply as a
//! [`ChunkStream`](klieo_types::ChunkStream) (idle bound, transport errors,
//! draining), tool calls assembled from fragments by index, and the
//! settings every provider's builder holds. With the `testing` feature, the conformance suite every
//! provider runs against its own fake server.
//!
//! Provider authors depend on this crate, `klieo-http` (API keys, URLs,
//! the pooled client and its TLS settings) and `klieo-types`, nothing of
//! klieo's runtime. It brings the HTTP stack (reqwest, tokio's timers).
//!
//! # Brief overview
//!
//! The root holds modules only, one per role:
//!
//! - [`sse`] — [`SseDecoder`](sse::SseDecoder) and
//!   [`SseStream`](sse::SseStream) decode `text/event-stream` bodies
//!   following the WHATWG rules.
//! - [`body`] — [`body::read_reply`] and [`body::read_bounded`] read bodies
//!   within a byte bound; [`body::from_send`] and [`body::interrupted`]
//!   tell transport failures apart.
//! - [`status`] — [`ErrorReply`](status::ErrorReply) reads a non-2xx
//!   reply; [`status::status_error`] maps its status to an error kind;
//!   [`status::decoding`] is the error of a reply that cannot be read.
//! - [`hint`] — [`hint::retry_hint`] reads a reply's retry headers.
//! - [`streamed`] — [`streamed::stream_body`], [`streamed::event_stream`]
//!   and an [`EventReader`](streamed::EventReader) make a provider's
//!   streamed reply; [`watch`] bounds its idle time.
//! - [`tool_calls`] — [`ToolCallParts`](tool_calls::ToolCallParts)
//!   assembles streamed tool calls; [`tool_calls::object_schema`] is a
//!   tool's parameters as the APIs take them.
//! - [`options`] — [`ClientOptions`](options::ClientOptions), what
//!   every provider's builder holds, its defaults, and
//!   [`options::within`], a wait bounded by one of its time limits.
//! - [`builder`] — [`ClientBuilder`](builder::ClientBuilder), the setters
//!   of those settings, written once for every provider's builder.
//!
//! # Example
//!
//! ```
//! use klieo_provider::sse::SseDecoder;
//! use klieo_provider::status::status_error;
//! use klieo_types::{LlmError, RetryHint};
//!
//! let e = status_error(429, "slow down".into(), RetryHint::new());
//! assert!(matches!(e, LlmError::RateLimit { .. }) && e.retryable());
//!
//! let mut decoder = SseDecoder::new();
//! decoder.push(b"data: hello\n\n");
//! let event = decoder.next_event()?.expect("one event");
//! assert_eq!(event.data, "hello");
//! Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! `klieo-openai` and `klieo-anthropic` are two providers built on it.
#![deny(missing_docs)]

pub mod body;
pub mod builder;
pub mod count;
pub mod fallback;
pub mod hint;
pub mod options;
pub mod rate_limit;
pub mod sse;
mod stamp;
pub mod status;
pub mod streamed;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tool_calls;
pub mod watch;
