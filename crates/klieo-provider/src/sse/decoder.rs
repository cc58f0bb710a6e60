//! [`SseDecoder`]: bytes pushed in, [`SseEvent`]s taken out.

use std::fmt;
use std::time::Duration;

use super::fields::{Fields, LineError};
use super::lines::{Lines, Next};
use super::{SseError, SseEvent};

/// The default bound on a line's length: 1 MiB.
const DEFAULT_MAX_LINE_LEN: usize = 1 << 20;

/// The default bound on an event's length (its data and type): 16 MiB.
const DEFAULT_MAX_EVENT_LEN: usize = 16 << 20;

/// The longest `id` field taken, in bytes (1 KiB): a longer one is
/// ignored, as one holding NUL is. An id is carried into every event after
/// it, so a long one would cost each small event its length again.
pub const MAX_ID_LEN: usize = 1024;

/// An incremental Server-Sent-Events decoder: push bytes as they arrive,
/// take events as they complete.
///
/// After each [`push`](Self::push), call [`next_event`](Self::next_event)
/// until it returns `Ok(None)`; at the end of the input, call
/// [`finish`](Self::finish) the same way. Bytes may be split anywhere,
/// inside a line end or a UTF-8 character included: the events are the
/// same.
///
/// # Rules
///
/// The decoder follows the WHATWG rules for interpreting an event stream
/// (<https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation>):
///
/// - Lines end with LF, CRLF or a lone CR. A CR at the end of one push and
///   an LF at the start of the next are one line end.
/// - A UTF-8 byte-order mark at the very start of the stream is skipped,
///   once. Text is decoded as UTF-8 once a line is complete, invalid bytes
///   becoming U+FFFD.
/// - A line starting with `:` is a comment (servers send them as
///   keep-alives) and is ignored.
/// - `name:value` sets field `name`; one space after the colon is dropped.
///   A line without a colon is a field with an empty value. Names are
///   case-sensitive.
/// - `data` lines are joined with `\n`; `event` sets the event type; `id`
///   sets the last event ID (ignored if it contains NUL or is longer than
///   [`MAX_ID_LEN`] bytes, as it is carried into every event after it);
///   `retry` sets the
///   reconnection time in milliseconds (ignored unless all ASCII digits).
///   Other fields are ignored.
/// - A blank line dispatches the event, unless no `data` line came since
///   the previous one: such an event (an `id:` or `retry:` alone, say) is
///   dropped, as the spec says.
/// - At the end of the input ([`finish`](Self::finish)), an event not yet
///   ended by a blank line is discarded, and so is an unterminated last
///   line.
///
/// A line longer than its bound is [`SseError::LineTooLong`], raised as
/// soon as the bytes buffered for the line pass the bound, without waiting
/// for its end: a server that never ends a line cannot make the decoder
/// buffer without limit. An event is bounded the same way, since its `data`
/// grows by one line after another: once its data (the lines' values joined
/// with `\n`, as decoded UTF-8) and its event type together would pass the
/// event bound, the decoder fails with [`SseError::EventTooLong`], without
/// waiting for the blank line.
///
/// The decoder keeps one byte buffer and parses complete lines in place; an
/// event with one `data` line and no ID costs one allocation, its `data`
/// string.
///
/// # Default
///
/// - A line may be at most 1 MiB long, not counting its line end
///   ([`with_max_line_len`](Self::with_max_line_len) sets another bound).
/// - An event's data and type together may be at most 16 MiB long
///   ([`with_max_event_len`](Self::with_max_event_len) sets another bound).
///
/// # Example
///
/// ```
/// use klieo_provider::sse::SseDecoder;
///
/// // Two network reads; the first ends in the middle of an event.
/// let reads: [&[u8]; 2] = [
///     b": keep-alive\n\ndata: {\"n\"",
///     b":1}\n\nevent: done\ndata: [DONE]\r\n\r\n",
/// ];
/// let mut decoder = SseDecoder::new();
/// let mut data = Vec::new();
/// for read in reads {
///     decoder.push(read);
///     while let Some(event) = decoder.next_event()? {
///         data.push(event.data);
///     }
/// }
/// while let Some(event) = decoder.finish()? {
///     data.push(event.data);
/// }
/// assert_eq!(data, ["{\"n\":1}", "[DONE]"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SseDecoder {
    lines: Lines,
    fields: Fields,
    max_line_len: usize,
    max_event_len: usize,
    /// [`finish`](Self::finish) was called: once the complete lines are
    /// used up, what remains is discarded.
    eof: bool,
    /// Invalid UTF-8 fails the decoder instead of becoming U+FFFD.
    strict_utf8: bool,
    /// A bound was passed: the decoder is stuck on that error.
    failed: Option<Failure>,
}

/// Which bound a failed decoder passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    Line,
    Event,
    Utf8,
}

impl SseDecoder {
    /// A decoder whose lines may be up to 1 MiB long, and events up to
    /// 16 MiB.
    pub fn new() -> Self {
        Self::with_max_line_len(DEFAULT_MAX_LINE_LEN)
    }

    /// A decoder whose lines may be up to `limit` bytes long, not counting
    /// the line end; a longer one is [`SseError::LineTooLong`]. Events may
    /// be up to 16 MiB long.
    pub fn with_max_line_len(limit: usize) -> Self {
        SseDecoder {
            lines: Lines::default(),
            fields: Fields::default(),
            max_line_len: limit,
            max_event_len: DEFAULT_MAX_EVENT_LEN,
            eof: false,
            strict_utf8: false,
            failed: None,
        }
    }

    /// This decoder, with events bounded to `limit` bytes: an event whose
    /// data (its `data` lines' values joined with `\n`, as decoded UTF-8)
    /// and event type would together be longer is
    /// [`SseError::EventTooLong`]. The line end of each `data` line is not
    /// counted, the `\n` joining two of them is.
    ///
    /// ```
    /// use klieo_provider::sse::{SseDecoder, SseError};
    ///
    /// let mut decoder = SseDecoder::new().with_max_event_len(8);
    /// decoder.push(b"data: 1234\ndata: 567\n");
    /// assert_eq!(decoder.next_event()?, None); // "1234\n567": 8 bytes.
    /// decoder.push(b"data: 8\n\n");
    /// assert!(matches!(
    ///     decoder.next_event(),
    ///     Err(SseError::EventTooLong { limit: 8 })
    /// ));
    /// # Ok::<(), SseError>(())
    /// ```
    #[must_use]
    pub fn with_max_event_len(mut self, limit: usize) -> Self {
        self.max_event_len = limit;
        self
    }

    /// This decoder, failing with [`SseError::InvalidUtf8`] on a field whose
    /// text is not valid UTF-8, instead of replacing the bad bytes with
    /// U+FFFD as the spec does: for protocols (an LLM API, say) where a
    /// reply that is not text is an error, not something to show.
    ///
    /// ```
    /// use klieo_provider::sse::{SseDecoder, SseError};
    ///
    /// let mut decoder = SseDecoder::new().with_strict_utf8();
    /// decoder.push(b"data: Hel\xfflo\n\n");
    /// assert!(matches!(decoder.next_event(), Err(SseError::InvalidUtf8)));
    /// ```
    #[must_use]
    pub fn with_strict_utf8(mut self) -> Self {
        self.strict_utf8 = true;
        self
    }

    /// The bound on a line's length, in bytes.
    pub fn max_line_len(&self) -> usize {
        self.max_line_len
    }

    /// The bound on an event's length (data and event type), in bytes.
    pub fn max_event_len(&self) -> usize {
        self.max_event_len
    }

    /// Appends bytes read from the stream. Nothing is parsed until
    /// [`next_event`](Self::next_event) is called; the bounds on line and
    /// event length are checked there too, so call it after each push.
    /// Ignored once the decoder has failed.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.failed.is_none() {
            self.lines.push(bytes);
        }
    }

    /// The next complete event, or `Ok(None)` when more bytes are needed.
    ///
    /// # Errors
    ///
    /// [`SseError::LineTooLong`] when the line being read passed the line
    /// bound, ended or not; [`SseError::EventTooLong`] when a line took the
    /// event being read past the event bound, whether a blank line would
    /// have ended the event or not. The buffered bytes are then dropped,
    /// and every later call returns the same error.
    pub fn next_event(&mut self) -> Result<Option<SseEvent>, SseError> {
        if let Some(failure) = self.failed {
            return Err(self.error(failure));
        }
        loop {
            match self.lines.next_line(self.max_line_len) {
                Next::Line(line) => {
                    match self.fields.line(line, self.max_event_len, self.strict_utf8) {
                        Ok(Some(event)) => return Ok(Some(event)),
                        Ok(None) => {}
                        Err(LineError::EventTooLong) => return Err(self.fail(Failure::Event)),
                        Err(LineError::NotUtf8) => return Err(self.fail(Failure::Utf8)),
                    }
                }
                Next::NeedMore => {
                    if self.eof {
                        self.restart();
                    }
                    return Ok(None);
                }
                Next::TooLong => return Err(self.fail(Failure::Line)),
            }
        }
    }

    /// Ends the input: returns the events still complete in the buffer one
    /// per call, like [`next_event`](Self::next_event), then `Ok(None)`.
    ///
    /// As the spec says, an event not yet ended by a blank line is then
    /// discarded, and so is an unterminated last line. Once `Ok(None)` has
    /// been returned, the decoder is ready for a new stream (a reconnection):
    /// the next bytes pushed start it, while [`last_event_id`] and
    /// [`retry`] carry over, as they do in a browser's `EventSource`.
    ///
    /// # Errors
    ///
    /// As for [`next_event`](Self::next_event).
    ///
    /// [`last_event_id`]: Self::last_event_id
    /// [`retry`]: Self::retry
    pub fn finish(&mut self) -> Result<Option<SseEvent>, SseError> {
        self.eof = true;
        self.next_event()
    }

    /// The last event ID set by the stream, as of the last blank line
    /// decoded (what a reconnection sends as `Last-Event-ID`); `None` if
    /// none is set.
    pub fn last_event_id(&self) -> Option<&str> {
        non_empty(&self.fields.last_event_id)
    }

    /// The reconnection time the stream last asked for with a `retry:`
    /// field, if any (a value that is not all ASCII digits, or too large
    /// for a `u64` of milliseconds, is ignored).
    pub fn retry(&self) -> Option<Duration> {
        self.fields.retry.map(Duration::from_millis)
    }

    /// Sticks the decoder on `failure`, dropping what it buffered.
    fn fail(&mut self, failure: Failure) -> SseError {
        self.failed = Some(failure);
        self.lines = Lines::default();
        self.fields.data = String::new();
        self.fields.event = String::new();
        self.error(failure)
    }

    fn error(&self, failure: Failure) -> SseError {
        match failure {
            Failure::Line => SseError::LineTooLong {
                limit: self.max_line_len,
            },
            Failure::Event => SseError::EventTooLong {
                limit: self.max_event_len,
            },
            Failure::Utf8 => SseError::InvalidUtf8,
        }
    }

    /// Discards the rest of the stream, keeping what carries over to the
    /// next one.
    fn restart(&mut self) {
        self.eof = false;
        self.lines.restart();
        let fields = &mut self.fields;
        fields.data.clear();
        fields.has_data = false;
        fields.event.clear();
        fields.id.clone_from(&fields.last_event_id);
    }
}

impl Default for SseDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for SseDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SseDecoder")
            .field("max_line_len", &self.max_line_len)
            .field("max_event_len", &self.max_event_len)
            .field("buffered", &self.lines.buffered())
            .field("last_event_id", &self.last_event_id())
            .field("retry", &self.retry())
            .field("strict_utf8", &self.strict_utf8)
            .field("failed", &self.failed.is_some())
            .finish_non_exhaustive()
    }
}

pub(super) fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}
