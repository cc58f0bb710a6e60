//! [`SseError`], why decoding a Server-Sent-Events stream stopped.

use std::error::Error;
use std::fmt;

/// Why decoding a Server-Sent-Events stream stopped.
///
/// Every variant ends the stream: an [`SseDecoder`](super::SseDecoder) that
/// returned one keeps returning it, and an [`SseStream`](super::SseStream)
/// yields nothing after it.
#[derive(Debug)]
#[non_exhaustive]
pub enum SseError {
    /// A line grew past the decoder's bound before it ended: the server is
    /// not sending an event stream, or sends lines longer than expected
    /// (raise the bound with
    /// [`SseDecoder::with_max_line_len`](super::SseDecoder::with_max_line_len)).
    LineTooLong {
        /// The bound, in bytes, not counting the line end.
        limit: usize,
    },
    /// An event's data and type together grew past the decoder's bound
    /// before a blank line ended it: the server sends events larger than
    /// expected, or `data` lines that never end in an event (raise the
    /// bound with
    /// [`SseDecoder::with_max_event_len`](super::SseDecoder::with_max_event_len)).
    EventTooLong {
        /// The bound, in bytes, on the event's data (its lines joined with
        /// `\n`) and event type together.
        limit: usize,
    },
    /// A field's text is not valid UTF-8, and the decoder was made strict
    /// about it ([`SseDecoder::with_strict_utf8`](super::SseDecoder::with_strict_utf8)).
    InvalidUtf8,
    /// Reading the underlying byte stream failed; the cause is the
    /// [`source`](Error::source).
    Transport(Box<dyn Error + Send + Sync>),
}

impl fmt::Display for SseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SseError::LineTooLong { limit } => write!(
                f,
                "an SSE line passed the decoder's bound of {limit} bytes without ending; \
                 the body is not an event stream, or the bound must be raised"
            ),
            SseError::EventTooLong { limit } => write!(
                f,
                "an SSE event's data and type passed the decoder's bound of {limit} bytes \
                 before the event ended; the events are larger than expected, or the \
                 bound must be raised"
            ),
            SseError::InvalidUtf8 => f.write_str(
                "an SSE line is not valid UTF-8 text; the server sent bytes that are not \
                 text where an event's data belongs",
            ),
            SseError::Transport(_) => f.write_str("reading the SSE byte stream failed"),
        }
    }
}

impl Error for SseError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            SseError::LineTooLong { .. }
            | SseError::EventTooLong { .. }
            | SseError::InvalidUtf8 => None,
            SseError::Transport(cause) => Some(cause.as_ref()),
        }
    }
}
