//! The spec's field buffers: one line of an event stream at a time, an
//! event at each blank line.

use std::borrow::Cow;

use super::decoder::{non_empty, MAX_ID_LEN};
use super::SseEvent;

/// The spec's buffers for the event being read, and what outlives events.
#[derive(Default)]
pub(super) struct Fields {
    /// The `data` lines so far, joined with `\n`. The spec appends `\n`
    /// after every line and drops the last at dispatch; putting it between
    /// lines instead lets a one-line event cost a single allocation.
    pub(super) data: String,
    /// A `data` line was seen: the spec's "data buffer is not empty".
    pub(super) has_data: bool,
    /// The event type buffer.
    pub(super) event: String,
    /// The last event ID buffer.
    pub(super) id: String,
    /// The last event ID string, copied from `id` at each blank line.
    pub(super) last_event_id: String,
    /// The reconnection time, in milliseconds.
    pub(super) retry: Option<u64>,
}

/// Why a line cannot be taken.
pub(super) enum LineError {
    /// It would take the event past the decoder's bound on event length.
    EventTooLong,
    /// Its text is not UTF-8, and the decoder is strict about it.
    NotUtf8,
}

impl Fields {
    /// Processes one line; returns the event a blank line dispatches. A
    /// `data` or `event` line that would make the event's data and type
    /// longer than `max_event_len` bytes is refused, and nothing is
    /// appended; so is one whose text is not UTF-8 when `strict`.
    pub(super) fn line(
        &mut self,
        line: &[u8],
        max_event_len: usize,
        strict: bool,
    ) -> Result<Option<SseEvent>, LineError> {
        let utf8 = |bytes| match utf8(bytes) {
            Cow::Owned(_) if strict => Err(LineError::NotUtf8),
            text => Ok(text),
        };
        let (name, value): (&[u8], &[u8]) = match line.iter().position(|&b| b == b':') {
            None if line.is_empty() => return Ok(self.dispatch()),
            None => (line, b""),
            Some(0) => return Ok(None),
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
        };
        match name {
            b"data" => {
                let value = utf8(value)?;
                let joint = usize::from(self.has_data);
                if self.data.len() + joint + value.len() + self.event.len() > max_event_len {
                    return Err(LineError::EventTooLong);
                }
                if self.has_data {
                    self.data.push('\n');
                }
                self.has_data = true;
                self.data.push_str(&value);
            }
            b"event" => {
                let value = utf8(value)?;
                if self.data.len() + value.len() > max_event_len {
                    return Err(LineError::EventTooLong);
                }
                self.event.clear();
                self.event.push_str(&value);
            }
            // An id past its bound would be copied into every event
            // after it: ignored, as one holding NUL is.
            b"id" if !value.contains(&0) && value.len() <= MAX_ID_LEN => {
                self.id.clear();
                self.id.push_str(&utf8(value)?);
            }
            b"retry" => {
                if let Some(millis) = digits(value) {
                    self.retry = Some(millis);
                }
            }
            _ => {}
        }
        Ok(None)
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        if self.last_event_id != self.id {
            self.last_event_id.clone_from(&self.id);
        }
        if !self.has_data {
            self.event.clear();
            return None;
        }
        self.has_data = false;
        let event = if self.event.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut self.event))
        };
        Some(SseEvent {
            event,
            data: std::mem::take(&mut self.data),
            id: non_empty(&self.last_event_id).map(str::to_owned),
        })
    }
}

/// Decodes UTF-8, invalid bytes becoming U+FFFD; borrows when valid.
/// (`from_utf8` first: it checks valid text several times faster than
/// `from_utf8_lossy`, which walks it chunk by chunk.)
fn utf8(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// A `retry` value: one or more ASCII digits, fitting in a `u64`.
fn digits(value: &[u8]) -> Option<u64> {
    if value.is_empty() {
        return None;
    }
    value.iter().try_fold(0u64, |acc, &b| {
        if !b.is_ascii_digit() {
            return None;
        }
        acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}
