//! What every HTTP provider of klieo needs, so that a provider crate holds
//! only its wire format: the Server-Sent-Events decoder, API keys that
//! never show, bounded body reads, HTTP statuses and retry headers as
//! [`LlmError`](klieo_types::LlmError)s, a streamed reply as a
//! [`ChunkStream`](klieo_types::ChunkStream) (idle bound, transport errors,
//! draining), tool calls assembled from fragments by index, and the TLS
//! settings. With the `testing` feature, the conformance suite every
//! provider runs against its own fake server.
//!
//! Depends on `klieo-types` and the HTTP stack (reqwest with rustls on
//! ring, tokio's timers); nothing of klieo's runtime.
//!
//! # Brief overview
//!
//! - [`SseDecoder`] and [`SseStream`] decode `text/event-stream` bodies
//!   following the WHATWG rules.
//! - [`Secret`] holds an API key: `Debug` shows `***`, and [`redacted`]
//!   scrubs it out of server text before cutting that to length;
//!   [`safe_url`] drops a URL's credentials and query.
//! - [`read_reply`] and [`read_bounded`] read bodies within a byte bound;
//!   [`from_send`] and [`interrupted`] tell transport failures apart.
//! - [`ErrorReply`] reads a non-2xx reply (status, [`retry_hint`], request
//!   id, bounded body); [`status_error`] maps its status to an error kind;
//!   [`decoding`] is the error of a reply that cannot be read.
//! - [`stream_body`], [`event_stream`] and an [`EventReader`] make a
//!   provider's streamed reply; [`ToolCallParts`] assembles its tool calls.
//! - [`tls_config`] is the client's TLS settings; [`base_url`] checks a
//!   configured URL; [`within`] bounds a wait by a [`TimeLimit`](klieo_types::TimeLimit).
#![deny(missing_docs)]

mod body;
mod config;
mod events;
mod hint;
mod secret;
mod settings;
mod sse;
mod status;
#[cfg(feature = "testing")]
pub mod testing;
mod tls;
mod tool_calls;
mod watch;

pub use body::{error_chain, from_send, interrupted, read_bounded, read_reply};
pub use config::{base_url, check_timeouts, http_client, sensitive_header, within};
pub use events::{
    event_stream, one_chunk, stream_body, EventReader, Progress, Step, StreamBody, StreamReading,
};
pub use hint::retry_hint;
pub use secret::{bounded, redacted, safe_url, scrub, shown_base_url, shown_raw_url, Secret};
pub use settings::{
    ClientSettings, DEFAULT_CONNECT_TIMEOUT, DEFAULT_FIRST_BYTE_TIMEOUT, DEFAULT_IDLE_TIMEOUT,
    DEFAULT_REQUEST_TIMEOUT,
};
pub use sse::{SseDecoder, SseError, SseEvent, SseStream};
pub use status::{
    decoding, status_error, ErrorReply, ERROR_BODY_LIMIT, MESSAGE_LIMIT, REPLY_LIMIT,
};
pub use tls::tls_config;
pub use tool_calls::{fallback_id, ToolCallFragment, ToolCallParts, TOOL_CALLS_LIMIT};
pub use watch::{BodyError, Watched};
