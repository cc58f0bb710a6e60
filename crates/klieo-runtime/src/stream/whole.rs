//! [`whole_reply`]: a reply that came whole, as the chunks a stream of it
//! would have carried, for a cycle that had to be made blocking.

use futures_core::Stream;
use klieo_types::{ChatChunk, ChatResponse, ChunkStream, LlmError};
use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The chunks of `reply`: its text (if any), its tool calls (if any), then
/// the finish chunk with its usage.
pub(crate) fn whole_reply(reply: ChatResponse) -> ChunkStream {
    let ChatResponse {
        message,
        usage,
        finish_reason,
        info,
        ..
    } = reply;
    let mut chunks = VecDeque::with_capacity(3);
    if !message.content.is_empty() {
        chunks.push_back(ChatChunk::delta(message.content));
    }
    if !message.tool_calls.is_empty() {
        chunks.push_back(ChatChunk::tool_calls(message.tool_calls));
    }
    let mut last = ChatChunk::finish(finish_reason);
    last.usage = usage;
    last.info = info;
    chunks.push_back(last);
    Box::pin(Chunks(chunks))
}

struct Chunks(VecDeque<ChatChunk>);

impl Stream for Chunks {
    type Item = Result<ChatChunk, LlmError>;

    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Poll::Ready(self.0.pop_front().map(Ok))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use klieo_types::testing::collect;
    use klieo_types::{FinishReason, Message, Usage};

    #[tokio::test]
    async fn a_whole_reply_is_its_text_then_its_finish_with_usage() {
        let reply = ChatResponse::new(Message::assistant("391"), FinishReason::Stop)
            .with_usage(Usage::new(9, 2));
        let chunks = collect(&mut whole_reply(reply)).await;
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0].as_ref().unwrap().delta, "391");
        assert_eq!(chunks[1].as_ref().unwrap().usage, Some(Usage::new(9, 2)));
    }
}
