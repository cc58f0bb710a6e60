//! The stream a fallback hands out once a provider's first item is in:
//! that item, then the rest of the provider's stream, each chunk that
//! says who wrote the reply also naming the provider that answered and
//! the ones passed over first.

use futures_core::Stream;
use klieo_types::{ChatChunk, ChunkStream, LlmError, ProviderSwitch, ReplyInfo};
use std::pin::Pin;
use std::task::{Context, Poll};

/// Who answered: stamped on the reply's info.
pub(super) struct Answerer {
    pub(super) provider: String,
    pub(super) switches: Vec<ProviderSwitch>,
}

impl Answerer {
    /// Names the provider and its switches in `info`, made if there is
    /// none.
    pub(super) fn stamp(&self, info: &mut Option<Box<ReplyInfo>>) {
        let info = info.get_or_insert_with(Default::default);
        info.provider = Some(self.provider.clone());
        info.switches.clone_from(&self.switches);
    }
}

/// The provider's first item, held, then the rest of its stream.
pub(super) struct Relay {
    first: Option<Result<ChatChunk, LlmError>>,
    rest: ChunkStream,
    answerer: Answerer,
}

impl Relay {
    /// Relays `rest` after `first`. The first chunk always names the
    /// answerer (the consumer may see no other chunk with info); later
    /// chunks do when they carry info, which replaces earlier info.
    pub(super) fn new(
        first: Result<ChatChunk, LlmError>,
        rest: ChunkStream,
        answerer: Answerer,
    ) -> Self {
        let first = first.map(|mut chunk| {
            answerer.stamp(&mut chunk.info);
            chunk
        });
        Self {
            first: Some(first),
            rest,
            answerer,
        }
    }
}

impl Stream for Relay {
    type Item = Result<ChatChunk, LlmError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let Some(first) = this.first.take() {
            return Poll::Ready(Some(first));
        }
        match this.rest.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(mut chunk))) => {
                if chunk.info.is_some() {
                    this.answerer.stamp(&mut chunk.info);
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            other => other,
        }
    }
}
