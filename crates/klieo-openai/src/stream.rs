//! The [`ChunkStream`] of a streamed reply: the response body decoded as
//! Server-Sent Events by klieo-stream, each event handed to the
//! [`Assembler`].

use crate::assemble::{Assembler, Step};
use crate::body::{interrupted, read_bounded, read_reply};
use crate::error::decoding;
use crate::redact::Secret;
use crate::response::parse_completion;
use crate::watch::{BodyError, Watched};
use futures_core::Stream;
use klieo_stream::{SseDecoder, SseError, SseStream};
use klieo_types::{ChatChunk, ChunkStream, LlmError, TimeLimit};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::AtomicBool;
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

/// How a streamed call's reply is read.
pub(crate) struct Reading {
    /// Bytes of a reply that is not an event stream read at most.
    pub(crate) reply_limit: usize,
    /// The longest wait for a line of an event stream.
    pub(crate) idle: Duration,
    /// The deadline for reading a whole JSON reply.
    pub(crate) whole: Duration,
    pub(crate) secret: Option<Secret>,
    /// The client's flag for streamed tool calls under `auto`, when the
    /// request let the model choose tools: an empty stream clears it.
    pub(crate) auto_tools: Option<Arc<AtomicBool>>,
}

/// The chunks of a streamed reply whose status was 2xx.
///
/// A server that ignored `stream: true` and answered with one JSON reply
/// still works: the reply (at most `reply_limit` bytes, read within
/// `whole`) becomes one chunk. A reply of any other content type but
/// `text/event-stream` or `text/plain` (an HTML page from a proxy, say) is
/// a [`LlmError::Decoding`] naming the type, with an excerpt; one without
/// a content type is read as an event stream.
pub(crate) async fn chunk_stream(
    resp: reqwest::Response,
    reading: Reading,
) -> Result<ChunkStream, LlmError> {
    let content_type = resp.headers().get(reqwest::header::CONTENT_TYPE).map(|v| {
        String::from_utf8_lossy(v.as_bytes())
            .trim()
            .to_ascii_lowercase()
    });
    let media = content_type
        .as_deref()
        .map(|t| t.split(';').next().unwrap_or_default().trim());
    let secret = reading.secret;
    match media {
        None | Some("text/event-stream" | "text/plain") => {}
        Some("application/json") => {
            let read = read_reply(resp, reading.reply_limit, secret.as_ref());
            let body = tokio::time::timeout(reading.whole, read)
                .await
                .map_err(|_| LlmError::timeout(TimeLimit::Call, reading.whole))??;
            return Ok(Box::pin(Once(Some(one_chunk(&body, secret.as_ref())?))));
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
            return Err(decoding(reason, &body, secret.as_ref()));
        }
    }
    let mut assembler = Assembler::new(secret.clone());
    if let Some(flag) = reading.auto_tools {
        assembler = assembler.with_auto_tools(flag);
    }
    let body = Watched::new(resp.bytes_stream(), reading.idle);
    Ok(Box::pin(ChatStream {
        events: Box::pin(SseStream::with_decoder(
            body,
            SseDecoder::new().with_strict_utf8(),
        )),
        assembler,
        secret,
        state: State::Reading,
    }))
}

/// A whole JSON reply as one chunk.
fn one_chunk(body: &[u8], secret: Option<&Secret>) -> Result<ChatChunk, LlmError> {
    let reply = parse_completion(body, secret)?;
    let mut chunk =
        ChatChunk::tool_calls(reply.message.tool_calls).with_finish_reason(reply.finish_reason);
    // klieo-types has a constructor for text or for calls, not both.
    chunk.delta = reply.message.content;
    if let Some(usage) = reply.usage {
        chunk = chunk.with_usage(usage);
    }
    Ok(chunk)
}

/// A stream of exactly one chunk.
struct Once(Option<ChatChunk>);

impl Stream for Once {
    type Item = Result<ChatChunk, LlmError>;
    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Poll::Ready(self.0.take().map(Ok))
    }
}

/// Chat chunks from SSE events.
struct ChatStream<S> {
    events: Pin<Box<SseStream<Watched<S>>>>,
    assembler: Assembler,
    secret: Option<Secret>,
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

impl<S, B> ChatStream<S>
where
    S: Stream<Item = Result<B, reqwest::Error>>,
    B: AsRef<[u8]>,
{
    /// The error a failed read of the body stands for, after what came.
    fn transport(&self, cause: Box<dyn std::error::Error + Send + Sync>) -> LlmError {
        let bytes = self.events.get_ref().bytes();
        let events = self.assembler.events();
        match cause.downcast::<BodyError>().map(|e| *e) {
            Ok(BodyError::Idle(after)) => LlmError::timeout(TimeLimit::Idle, after),
            Ok(BodyError::Transport(e)) => interrupted(e, bytes, events, self.secret.as_ref()),
            Err(other) => LlmError::Interrupted {
                bytes,
                events,
                reason: crate::redact::scrub(self.secret.as_ref(), other.to_string()),
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
        loop {
            let step = match self.events.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(event))) => self.assembler.on_event(&event),
                Poll::Ready(Some(Err(SseError::Transport(cause)))) => {
                    let error = self.transport(cause);
                    self.assembler.on_error(error)
                }
                Poll::Ready(Some(Err(other))) => {
                    let error = decoding(other.to_string(), b"", self.secret.as_ref());
                    self.assembler.on_error(error)
                }
                Poll::Ready(None) => {
                    let bytes = self.events.get_ref().bytes();
                    self.assembler.on_end(bytes)
                }
            };
            match step {
                Step::Continue => {}
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

impl<S, B> Stream for ChatStream<S>
where
    S: Stream<Item = Result<B, reqwest::Error>>,
    B: AsRef<[u8]>,
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
mod tests {
    //! Compile-time check that the stream is what `ChunkStream` needs.
    use super::*;

    type Bytes = Pin<Box<dyn Stream<Item = Result<Vec<u8>, reqwest::Error>> + Send>>;

    #[allow(dead_code)]
    fn chat_stream_is_send(s: ChatStream<Bytes>) -> impl Send {
        s
    }
}
