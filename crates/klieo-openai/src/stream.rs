//! The [`ChunkStream`] of a streamed reply: the response body decoded as
//! Server-Sent Events by klieo-stream, each event handed to the
//! [`Assembler`].

use crate::assemble::{Assembler, Step};
use crate::error::{decoding, from_stream_transport, read_reply};
use crate::redact::Secret;
use crate::response::parse_completion;
use futures_core::Stream;
use klieo_stream::{SseError, SseEvent, SseStream};
use klieo_types::{ChatChunk, ChunkStream, LlmError};
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

/// The chunks of a streamed reply whose status was 2xx.
///
/// A server that ignored `stream: true` and answered with one JSON reply
/// still works: the reply (at most `reply_limit` bytes) becomes one chunk.
///
/// `auto_tools` is the client's flag for streamed tool calls under `auto`,
/// when the request let the model choose tools: an empty stream clears it.
pub(crate) async fn chunk_stream(
    resp: reqwest::Response,
    reply_limit: usize,
    secret: Option<Secret>,
    auto_tools: Option<Arc<AtomicBool>>,
) -> Result<ChunkStream, LlmError> {
    let is_json = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"));
    if is_json {
        let body = read_reply(resp, reply_limit, secret.as_ref()).await?;
        let reply = parse_completion(&body, secret.as_ref())?;
        let mut chunk =
            ChatChunk::tool_calls(reply.message.tool_calls).with_finish_reason(reply.finish_reason);
        // klieo-types has a constructor for text or for calls, not both.
        chunk.delta = reply.message.content;
        if let Some(usage) = reply.usage {
            chunk = chunk.with_usage(usage);
        }
        return Ok(Box::pin(Once(Some(chunk))));
    }
    let mut assembler = Assembler::new(secret.clone());
    if let Some(flag) = auto_tools {
        assembler = assembler.with_auto_tools(flag);
    }
    Ok(Box::pin(ChatStream {
        events: Box::pin(SseStream::new(resp.bytes_stream())),
        assembler,
        secret,
        state: State::Reading,
    }))
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
struct ChatStream<E> {
    events: Pin<Box<E>>,
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

impl<E> ChatStream<E>
where
    E: Stream<Item = Result<SseEvent, SseError>>,
{
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
                    let error = from_stream_transport(cause, self.secret.as_ref());
                    self.assembler.on_error(error)
                }
                Poll::Ready(Some(Err(other))) => {
                    let error = decoding(other.to_string(), b"", self.secret.as_ref());
                    self.assembler.on_error(error)
                }
                Poll::Ready(None) => self.assembler.on_end(),
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

impl<E> Stream for ChatStream<E>
where
    E: Stream<Item = Result<SseEvent, SseError>>,
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

    type Bytes = Pin<Box<dyn Stream<Item = Result<Vec<u8>, std::io::Error>> + Send>>;

    #[allow(dead_code)]
    fn chat_stream_is_send(s: ChatStream<SseStream<Bytes>>) -> impl Send {
        s
    }
}
