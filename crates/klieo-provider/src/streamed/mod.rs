//! A streamed reply as a [`ChunkStream`]: the body checked to be an event
//! stream, decoded as Server-Sent Events under an idle bound, each event
//! handed to the provider's [`EventReader`], and the body drained after
//! the last chunk so the connection can go back to the pool.

use crate::body::{interrupted, read_bounded, read_reply};
use crate::sse::{SseDecoder, SseError, SseEvent, SseStream};
use crate::status::decoding;
use crate::watch::{BodyError, Watched};
use futures_core::Stream;
use klieo_http::secret::Hidden;
use klieo_types::{ChatChunk, ChunkStream, LlmError, TimeLimit};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Sleep;

/// How long, after the reply's last chunk, the stream waits for the body to
/// end when polled again, so the connection can go back to the pool. A
/// server that keeps the body open past it only costs its connection.
const DRAIN_GRACE: Duration = Duration::from_millis(500);
/// Events read after the reply's last chunk, at most, for the same purpose.
const DRAIN_EVENTS: usize = 16;

/// Bytes of a reply that is not an event stream kept for its excerpt.
const NOT_SSE_EXCERPT: usize = 4096;

/// The most events one poll reads that yield nothing (empty deltas,
/// pings, a tool call's fragments) before it lets its task go, waking it
/// at once: a server that sends only such events, as fast as they are
/// read, would otherwise hold the thread, and the run would never look
/// at its cancellation or its timers.
const QUIET_EVENTS_PER_POLL: usize = 64;

/// What a provider's reader does after an event or the end of the body.
#[derive(Debug)]
pub enum Step {
    /// Yield this chunk and go on.
    Emit(ChatChunk),
    /// Nothing to yield yet; go on.
    Continue,
    /// The reply is over: yield this last chunk, then end.
    Done(ChatChunk),
    /// Yield this error, then end.
    Fail(LlmError),
}

/// How far a body got: its bytes and events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Progress {
    /// Bytes of the body read.
    pub bytes: u64,
    /// Events decoded.
    pub events: u64,
}

/// A provider's reading of its event stream: each event to at most one
/// [`Step`]. The kit does the rest (decoding, bounds, transport errors,
/// draining).
pub trait EventReader: Send + Unpin + 'static {
    /// Handles one event.
    fn on_event(&mut self, event: &SseEvent) -> Step;

    /// The stream failed with `error` (the body broke off, stalled, or an
    /// event could not be decoded). A reader whose reply is complete ends
    /// with its last chunk; otherwise it fails with `error`.
    fn on_error(&mut self, error: LlmError) -> Step;

    /// The body ended, after `progress`. [`Step::Continue`] here ends the
    /// stream with nothing more.
    fn on_end(&mut self, progress: Progress) -> Step;
}

/// How a streamed reply is read.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StreamReading {
    /// Bytes of a whole JSON reply (from a server that ignored the request
    /// to stream) read at most, and of one line or one event of an event
    /// stream: a reply streamed may hold in one event (a tool call sent
    /// whole) what it could hold sent whole.
    pub reply_limit: usize,
    /// The longest wait for a line of the event stream.
    pub idle: Duration,
    /// The deadline for reading a whole JSON reply.
    pub whole: Duration,
    /// What to scrub out of every text.
    pub hidden: Hidden,
}

impl StreamReading {
    /// Reading under these bounds, what to scrub being `hidden`.
    pub fn new(reply_limit: usize, idle: Duration, whole: Duration, hidden: Hidden) -> Self {
        Self {
            reply_limit,
            idle,
            whole,
            hidden,
        }
    }
}

/// The body of a 2xx reply to a streamed request. Its `Debug` shows the
/// status and the body's length only: a reply's URL may carry a key.
pub enum StreamBody {
    /// An event stream (or a body without a content type, read as one):
    /// hand it to [`event_stream`].
    Events(reqwest::Response),
    /// A whole JSON reply: the server ignored the request to stream.
    Whole(Vec<u8>),
}

impl std::fmt::Debug for StreamBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Events(resp) => f
                .debug_struct("Events")
                .field("status", &resp.status())
                .finish_non_exhaustive(),
            Self::Whole(body) => f.debug_struct("Whole").field("bytes", &body.len()).finish(),
        }
    }
}

/// Tells an event stream from a whole JSON reply by its content type.
///
/// # Errors
///
/// A reply of any other type but `text/event-stream` or `text/plain` (an
/// HTML page from a proxy, say) is a [`LlmError::Decoding`] naming the
/// type, with an excerpt; a JSON reply longer than `reply_limit` is too,
/// and one not read within `whole` is a `Timeout`.
pub async fn stream_body(
    resp: reqwest::Response,
    reading: &StreamReading,
) -> Result<StreamBody, LlmError> {
    let content_type = resp.headers().get(reqwest::header::CONTENT_TYPE).map(|v| {
        String::from_utf8_lossy(v.as_bytes())
            .trim()
            .to_ascii_lowercase()
    });
    let media = content_type
        .as_deref()
        .map(|t| t.split(';').next().unwrap_or_default().trim());
    let hidden = &reading.hidden;
    match media {
        None | Some("text/event-stream" | "text/plain") => Ok(StreamBody::Events(resp)),
        Some("application/json") => {
            let read = read_reply(resp, reading.reply_limit, hidden);
            let body = tokio::time::timeout(reading.whole, read)
                .await
                .map_err(|_| LlmError::timeout(TimeLimit::Call, reading.whole))??;
            Ok(StreamBody::Whole(body))
        }
        Some(other) => {
            let read = read_bounded(resp, NOT_SSE_EXCERPT);
            let body = tokio::time::timeout(reading.idle, read)
                .await
                .unwrap_or_default();
            let reason = format!(
                "not an event stream: the server answered a streamed request with content-type \
                 `{other}`; check the base URL (a proxy or login page answers this way)"
            );
            Err(decoding(reason, &body, hidden))
        }
    }
}

/// The chunks `reader` makes of an event stream's events. The body is cut
/// with a `Timeout` of [`TimeLimit::Idle`] when no line ends within
/// `reading.idle` while it is polled, and must be UTF-8; a line and an
/// event may be as long as `reading.reply_limit`.
pub fn event_stream<R: EventReader>(
    resp: reqwest::Response,
    reader: R,
    reading: &StreamReading,
) -> ChunkStream {
    let body = Watched::new(resp.bytes_stream(), reading.idle);
    Box::pin(EventChunks {
        events: Box::pin(SseStream::with_decoder(
            body,
            SseDecoder::with_max_line_len(reading.reply_limit)
                .with_max_event_len(reading.reply_limit)
                .with_strict_utf8(),
        )),
        reader,
        hidden: reading.hidden.clone(),
        count: 0,
        state: State::Reading,
    })
}

/// A stream of exactly one chunk: a whole reply where a stream was asked.
pub fn one_chunk(chunk: ChatChunk) -> ChunkStream {
    Box::pin(Once(Some(chunk)))
}

struct Once(Option<ChatChunk>);

impl Stream for Once {
    type Item = Result<ChatChunk, LlmError>;
    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Poll::Ready(self.0.take().map(Ok))
    }
}

struct EventChunks<S, R> {
    events: Pin<Box<SseStream<Watched<S>>>>,
    reader: R,
    hidden: Hidden,
    /// Events decoded so far.
    count: u64,
    state: State,
}

enum State {
    /// Turning events into chunks.
    Reading,
    /// The reply is complete; reading what is left of the body (until the
    /// deadline, or this many more events) before ending.
    Draining(Pin<Box<Sleep>>, usize),
    /// Nothing more to yield.
    Ended,
}

impl<S, B, R> EventChunks<S, R>
where
    S: Stream<Item = Result<B, reqwest::Error>>,
    B: AsRef<[u8]>,
    R: EventReader,
{
    fn progress(&self) -> Progress {
        Progress {
            bytes: self.events.get_ref().bytes(),
            events: self.count,
        }
    }

    /// The error a failed read of the body stands for, after what came.
    fn transport(&self, cause: Box<dyn std::error::Error + Send + Sync>) -> LlmError {
        let Progress { bytes, events } = self.progress();
        match cause.downcast::<BodyError>().map(|e| *e) {
            Ok(BodyError::Idle(after)) => LlmError::timeout(TimeLimit::Idle, after),
            Ok(BodyError::Transport(e)) => interrupted(e, bytes, events, &self.hidden),
            Err(other) => LlmError::Interrupted {
                bytes,
                events,
                reason: "reading the reply".to_owned(),
                cause: Some(Arc::from(other)),
            },
        }
    }

    /// After the last chunk: `Ready` once the body ended, the grace period
    /// passed or the event budget ran out.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let State::Draining(deadline, budget) = &mut self.state else {
            return Poll::Ready(());
        };
        loop {
            match self.events.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(_))) if *budget > 0 => *budget -= 1,
                Poll::Ready(_) => return Poll::Ready(()),
                Poll::Pending => return deadline.as_mut().poll(cx),
            }
        }
    }

    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<ChatChunk, LlmError>>> {
        let mut quiet = 0;
        loop {
            let step = match self.events.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(event))) => {
                    self.count += 1;
                    self.reader.on_event(&event)
                }
                Poll::Ready(Some(Err(SseError::Transport(cause)))) => {
                    let error = self.transport(cause);
                    self.reader.on_error(error)
                }
                Poll::Ready(Some(Err(SseError::LineTooLong { limit }))) => {
                    self.reader.on_error(LlmError::LineTooLong { limit })
                }
                Poll::Ready(Some(Err(SseError::EventTooLong { limit }))) => {
                    self.reader.on_error(LlmError::EventTooLong { limit })
                }
                Poll::Ready(Some(Err(other))) => {
                    let error = decoding(other.to_string(), b"", &self.hidden);
                    self.reader.on_error(error)
                }
                Poll::Ready(None) => {
                    let progress = self.progress();
                    match self.reader.on_end(progress) {
                        // Nothing more comes: the stream ends here.
                        Step::Continue => {
                            self.state = State::Ended;
                            return Poll::Ready(None);
                        }
                        step => step,
                    }
                }
            };
            match step {
                Step::Continue => {
                    quiet += 1;
                    if quiet >= QUIET_EVENTS_PER_POLL {
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                }
                Step::Emit(chunk) => return Poll::Ready(Some(Ok(chunk))),
                Step::Done(last) => {
                    let deadline = Box::pin(tokio::time::sleep(DRAIN_GRACE));
                    self.state = State::Draining(deadline, DRAIN_EVENTS);
                    return Poll::Ready(Some(Ok(last)));
                }
                Step::Fail(error) => {
                    self.state = State::Ended;
                    return Poll::Ready(Some(Err(error)));
                }
            }
        }
    }
}

impl<S, B, R> Stream for EventChunks<S, R>
where
    S: Stream<Item = Result<B, reqwest::Error>>,
    B: AsRef<[u8]>,
    R: EventReader,
{
    type Item = Result<ChatChunk, LlmError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        match this.state {
            State::Reading => this.poll_chunk(cx),
            State::Draining(..) => {
                std::task::ready!(this.poll_drain(cx));
                this.state = State::Ended;
                Poll::Ready(None)
            }
            State::Ended => Poll::Ready(None),
        }
    }
}

#[cfg(test)]
mod tests;
