//! Server-Sent-Events decoding: [`SseDecoder`] for bytes pushed by hand,
//! [`SseStream`] over a byte stream, and the [`SseEvent`]s they yield.
//!
//! The rules followed are listed on [`SseDecoder`].

mod decoder;
mod error;
mod fields;
mod lines;
mod stream;

pub use decoder::{SseDecoder, MAX_ID_LEN};
pub use error::SseError;
pub use stream::SseStream;

/// One event of a Server-Sent-Events stream, dispatched by a blank line.
///
/// # Example
///
/// ```
/// use klieo_provider::sse::SseEvent;
///
/// let event = SseEvent { data: "hello".into(), ..SseEvent::default() };
/// assert_eq!(event.event_type(), "message");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The type set by the event's `event:` field; `None` (no field, or an
    /// empty one) means the default type, `message`.
    pub event: Option<String>,
    /// The values of the event's `data:` lines joined with `\n`, without a
    /// trailing newline.
    pub data: String,
    /// The last event ID when the event was dispatched, as the spec defines
    /// it: set by an `id:` field of this event or of an earlier one (it
    /// carries over), cleared by an empty `id:`. `None` when no ID is set.
    pub id: Option<String>,
}

impl SseEvent {
    /// The event type: the `event:` field's value, or `"message"` without
    /// one.
    pub fn event_type(&self) -> &str {
        self.event.as_deref().unwrap_or("message")
    }
}
