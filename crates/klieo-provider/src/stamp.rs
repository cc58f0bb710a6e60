//! A stream whose replies a client wrapping another says something of
//! (who answered, how long the call waited): its first chunk always
//! carries the reply's info, stamped, and every later chunk that carries
//! info (which replaces earlier info) is stamped too.

use futures_core::Stream;
use klieo_types::{ChatChunk, ChunkStream, LlmError, ReplyInfo};
use std::pin::Pin;
use std::task::{Context, Poll};

/// What a wrapping client writes into a reply's info.
pub(crate) type Stamp = Box<dyn Fn(&mut ReplyInfo) + Send + Sync>;

/// Writes `stamp` into `info`, made if there is none.
pub(crate) fn stamp_info(info: &mut Option<Box<ReplyInfo>>, stamp: &Stamp) {
    stamp(info.get_or_insert_with(Default::default));
}

/// A stream, its first item possibly pulled already, stamped.
pub(crate) struct Stamped {
    first: Option<Result<ChatChunk, LlmError>>,
    rest: ChunkStream,
    stamp: Stamp,
    stamped_one: bool,
}

impl Stamped {
    /// `rest`, after `first` when it was pulled already.
    pub(crate) fn new(
        first: Option<Result<ChatChunk, LlmError>>,
        rest: ChunkStream,
        stamp: Stamp,
    ) -> Self {
        Self {
            first,
            rest,
            stamp,
            stamped_one: false,
        }
    }
}

impl Stream for Stamped {
    type Item = Result<ChatChunk, LlmError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let item = match this.first.take() {
            Some(first) => first,
            None => match this.rest.as_mut().poll_next(cx) {
                Poll::Ready(Some(item)) => item,
                other => return other,
            },
        };
        Poll::Ready(Some(item.map(|mut chunk| {
            if !this.stamped_one || chunk.info.is_some() {
                stamp_info(&mut chunk.info, &this.stamp);
                this.stamped_one = true;
            }
            chunk
        })))
    }
}
