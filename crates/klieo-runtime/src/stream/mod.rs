//! The streaming half of a run: the pump that relays a provider's chunks
//! to the consumer while rebuilding the reply, and the mapping from a
//! run's terminal error to what the consumer and the event log are told.
//!
//! It was the crate `klieo-stream` until issue 22: its one user was this
//! crate, so its `#[non_exhaustive]` events forced match arms here for
//! events that cannot happen. [`terminal_for`] and the episode texts stay
//! public (as `klieo_runtime::terminal_for`, …); the pump is the engine's
//! own.

mod cancel;
mod pump;
mod reply;
mod terminal;
mod whole;

pub use pump::STREAM_ENDED_EARLY;
pub(crate) use pump::{ChunkPump, PumpEvent};
pub use reply::RESPONSE_OVER_CAP;
pub(crate) use terminal::DROPPED;
pub use terminal::{terminal_for, Terminal, CANCELLED, CONSUMER_DROPPED, EPISODE_CHARS};
pub(crate) use whole::whole_reply;
