//! klieo's streaming layer: the pump that relays a provider's chunks to a
//! consumer while rebuilding the reply, and the mapping from a run's
//! terminal error to what the consumer and the event log are told.
//!
//! Depends on `klieo-types` (with tokio-util and futures-util for
//! cancellation); knows nothing of HTTP or of the step loop.
//! `klieo-runtime` drives the pump. Providers decode their wire formats
//! with `klieo-provider`, not with this crate.
//!
//! # Brief overview
//!
//! - [`ChunkPump`] pulls a provider's [`ChunkStream`](klieo_types::ChunkStream)
//!   at the consumer's pace, yielding [`PumpEvent`]s; [`ReplyBuilder`]
//!   rebuilds the whole reply from the chunks and enforces the byte cap.
//! - [`terminal_for`] maps the [`Error`](klieo_types::Error) that ended a
//!   streamed run to its single terminal `Err` item and `Episode::Failed`
//!   text ([`Terminal`]).
//! - [`whole_reply`] turns a blocking reply into the chunks of a stream.
//!
//! # Example
//!
//! ```
//! use klieo_stream::{ChunkPump, PumpEvent};
//! use klieo_types::testing::{text_chunks, ScriptedLlm};
//! use klieo_types::{ChatRequest, LlmClient, Usage};
//! use tokio_util::sync::CancellationToken;
//!
//! # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
//! let llm = ScriptedLlm::new().then_chunks(text_chunks(&["3", "91"], Some(Usage::new(9, 2))));
//! let mut pump = ChunkPump::new(llm.stream(ChatRequest::default()).await?, CancellationToken::new(), 4096);
//! let reply = loop {
//!     match pump.next_event().await {
//!         PumpEvent::Chunk(chunk) => print!("{}", chunk.delta),
//!         PumpEvent::Finished(reply) => break reply,
//!         PumpEvent::Failed(e) => return Err(e.into()),
//!         _ => continue,
//!     }
//! };
//! assert_eq!(reply.message.content, "391");
//! assert_eq!(reply.usage, Some(Usage::new(9, 2)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod cancel;
mod pump;
mod reply;
mod terminal;
mod whole;

pub use pump::{ChunkPump, PumpEvent, STREAM_ENDED_EARLY};
pub use reply::{OverCap, ReplyBuilder, RESPONSE_OVER_CAP};
pub use terminal::{terminal_for, Terminal, CANCELLED, CONSUMER_DROPPED};
pub use whole::whole_reply;
