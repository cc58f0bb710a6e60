//! The [`ChunkStream`] of a streamed reply: the response body decoded as
//! Server-Sent Events by klieo-stream, each event handed to the
//! [`Assembler`].

use crate::assemble::{Assembler, Step};
use crate::config::Secret;
use crate::error::{decoding, from_reqwest, from_stream_transport};
use crate::response::parse_completion;
use futures_core::Stream;
use klieo_stream::{SseError, SseEvent, SseStream};
use klieo_types::{ChatChunk, ChunkStream, LlmError};
use std::pin::Pin;
use std::task::{Context, Poll};

/// Events read after the reply's last chunk, at most, to let the body end
/// (so its connection can go back to the pool) without waiting for it.
const DRAIN_LIMIT: usize = 8;

/// The chunks of a streamed reply whose status was 2xx.
///
/// A server that ignored `stream: true` and answered with one JSON reply
/// still works: the reply becomes one chunk.
pub(crate) async fn chunk_stream(
    resp: reqwest::Response,
    secret: Option<Secret>,
) -> Result<ChunkStream, LlmError> {
    let is_json = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"));
    if is_json {
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| from_reqwest(&e, secret.as_ref()))?;
        let reply = parse_completion(&bytes, secret.as_ref())?;
        let mut chunk = ChatChunk::tool_calls(reply.message.tool_calls);
        chunk.delta = reply.message.content;
        chunk.finish_reason = Some(reply.finish_reason);
        chunk.usage = reply.usage;
        return Ok(Box::pin(Once(Some(chunk))));
    }
    Ok(Box::pin(ChatStream {
        events: Box::pin(SseStream::new(resp.bytes_stream())),
        assembler: Assembler::new(secret.clone()),
        secret,
        done: false,
        ended: false,
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
    done: bool,
    ended: bool,
}

impl<E> ChatStream<E>
where
    E: Stream<Item = Result<SseEvent, SseError>>,
{
    /// Reads what is left of the body if it is already there, so the
    /// connection can be reused; stops at the first wait.
    fn drain(&mut self, cx: &mut Context<'_>) {
        for _ in 0..DRAIN_LIMIT {
            match self.events.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(_))) => {}
                Poll::Ready(Some(Err(_)) | None) | Poll::Pending => return,
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
        loop {
            if this.ended {
                return Poll::Ready(None);
            }
            if this.done {
                // Read the body to its end (the server ends it right after
                // `[DONE]`), so the pooled connection can be reused.
                return match this.events.as_mut().poll_next(cx) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(Some(Ok(_))) => continue,
                    Poll::Ready(Some(Err(_)) | None) => {
                        this.ended = true;
                        Poll::Ready(None)
                    }
                };
            }
            let step = match this.events.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(event))) => this.assembler.on_event(&event),
                Poll::Ready(Some(Err(SseError::Transport(cause)))) => {
                    let error = from_stream_transport(cause.as_ref(), this.secret.as_ref());
                    this.assembler.on_error(error)
                }
                Poll::Ready(Some(Err(other))) => {
                    let error = decoding(other.to_string(), b"", this.secret.as_ref());
                    this.assembler.on_error(error)
                }
                Poll::Ready(None) => this.assembler.on_end(),
            };
            match step {
                Step::Continue => {}
                Step::Emit(chunk) => return Poll::Ready(Some(Ok(chunk))),
                Step::Done(last) => {
                    this.done = true;
                    this.drain(cx);
                    return Poll::Ready(last.map(Ok));
                }
                Step::Fail(error) => {
                    this.done = true;
                    this.ended = true;
                    return Poll::Ready(Some(Err(error)));
                }
            }
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
