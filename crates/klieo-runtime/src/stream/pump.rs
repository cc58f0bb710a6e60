//! [`ChunkPump`]: relays a provider's chunks one by one while rebuilding
//! the reply, enforcing the byte cap and honouring cancellation.

use super::cancel::CancelWatch;
use super::reply::ReplyBuilder;
use klieo_types::{ChatChunk, ChatResponse, ChunkStream, Error};
use std::future::poll_fn;
use std::task::{Context, Poll};
use tokio_util::sync::CancellationToken;

/// The message when a provider's stream ends without a finish reason.
pub const STREAM_ENDED_EARLY: &str =
    "the provider's stream ended before the model finished its reply";

/// What [`ChunkPump::poll_event`] produced.
#[derive(Debug)]
pub(crate) enum PumpEvent {
    /// A chunk to hand to the consumer as it is.
    Chunk(ChatChunk),
    /// The provider's stream ended after a finish reason: the whole reply.
    Finished(ChatResponse),
    /// The reply failed: a provider error (kept as its own variant),
    /// [`Error::Cancelled`], [`Error::ResponseTooLarge`] for a reply over
    /// its byte cap, or [`Error::BadResponse`] for one that ended without
    /// a finish reason.
    Failed(Error),
}

/// Pulls chunks from a provider stream only as fast as its consumer asks
/// for them (so a slow consumer slows the provider down), rebuilding the
/// reply on the way.
///
/// The pump runs in the consumer's own task: no channel, no extra task, no
/// hop between threads for each chunk.
pub(crate) struct ChunkPump {
    provider: Option<ChunkStream>,
    reply: ReplyBuilder,
    cancel: CancelWatch,
}

impl std::fmt::Debug for ChunkPump {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkPump")
            .field("open", &self.provider.is_some())
            .field("bytes", &self.reply.bytes())
            .finish()
    }
}

impl ChunkPump {
    /// A pump over `provider`, stopping when `cancel` fires or the reply
    /// passes `max_response_bytes` of text and tool-call payloads.
    ///
    /// The token is looked at before every chunk: once `cancel()` has
    /// returned, the next event is [`PumpEvent::Failed`] with
    /// [`Error::Cancelled`], whether the provider has chunks ready or is
    /// waiting.
    pub(crate) fn new(
        provider: ChunkStream,
        cancel: CancellationToken,
        max_response_bytes: usize,
    ) -> Self {
        Self {
            provider: Some(provider),
            reply: ReplyBuilder::new(max_response_bytes),
            cancel: CancelWatch::new(cancel),
        }
    }

    /// The reply rebuilt so far.
    pub(crate) fn reply(&self) -> &ReplyBuilder {
        &self.reply
    }

    /// Spends the pump on `error`.
    fn fail(&mut self, error: Error) -> PumpEvent {
        self.provider = None;
        PumpEvent::Failed(error)
    }

    /// Polls for the next event. After `Finished` or `Failed` the pump is
    /// spent, and polling again yields `Failed` with [`Error::BadResponse`].
    pub(crate) fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<PumpEvent> {
        let Some(provider) = self.provider.as_mut() else {
            return Poll::Ready(PumpEvent::Failed(Error::BadResponse(
                "the chunk pump was polled after its stream ended".into(),
            )));
        };
        if self.cancel.is_cancelled() {
            return Poll::Ready(self.fail(Error::Cancelled));
        }
        match provider.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(mut chunk))) => {
                if let Err(over) = self.reply.absorb(&mut chunk) {
                    return Poll::Ready(self.fail(Error::ResponseTooLarge {
                        limit: over.max_bytes,
                    }));
                }
                Poll::Ready(PumpEvent::Chunk(chunk))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(self.fail(Error::Llm(e))),
            Poll::Ready(None) => {
                self.provider = None;
                // A stream that ends with no finish reason keeps what it
                // brought, which was paid for.
                let ended_early =
                    || PumpEvent::Failed(Error::BadResponse(STREAM_ENDED_EARLY.into()));
                if self.reply.finish_reason().is_none() {
                    return Poll::Ready(ended_early());
                }
                let reply = std::mem::replace(&mut self.reply, ReplyBuilder::new(0));
                Poll::Ready(
                    reply
                        .into_response()
                        .map_or_else(ended_early, PumpEvent::Finished),
                )
            }
            Poll::Pending => match self.cancel.poll_cancelled(cx) {
                Poll::Ready(()) => Poll::Ready(self.fail(Error::Cancelled)),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    /// `opened`, the event the stream opened with, unless the run was
    /// cancelled since: then the cancel, as the next poll would give.
    pub(crate) fn unless_cancelled(&mut self, opened: PumpEvent) -> PumpEvent {
        if self.cancel.is_cancelled() {
            return self.fail(Error::Cancelled);
        }
        opened
    }

    /// Waits for the next event.
    pub(crate) async fn next_event(&mut self) -> PumpEvent {
        poll_fn(|cx| self.poll_event(cx)).await
    }
}

#[cfg(test)]
#[path = "pump_tests.rs"]
mod tests;
