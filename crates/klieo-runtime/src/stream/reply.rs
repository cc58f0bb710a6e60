//! [`ReplyBuilder`]: rebuilds a whole reply from the chunks of a stream.

use crate::call_ids::CallIds;
use klieo_types::{ChatChunk, ChatResponse, FinishReason, Message, ReplyInfo, ToolCall, Usage};

/// Rebuilds the assistant message of a streamed reply: its text, its tool
/// calls, the reported usage and the finish reason, counting the bytes of
/// text and tool-call payloads against a cap.
#[derive(Debug, Clone)]
pub(crate) struct ReplyBuilder {
    content: String,
    tool_calls: Vec<ToolCall>,
    usage: Option<Usage>,
    finish_reason: Option<FinishReason>,
    info: Option<Box<ReplyInfo>>,
    /// The calls' ids so far, made usable as they come.
    ids: CallIds,
    bytes: usize,
    max_bytes: usize,
    /// Whether a chunk came: the provider began its reply, and is paid
    /// for it whatever comes next.
    received: bool,
}

/// A reply grew past its byte cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OverCap {
    /// The cap that was passed.
    pub(crate) max_bytes: usize,
}

/// The text of the terminal item and episode when a reply passes
/// `max_response_bytes` ([`Error::ResponseTooLarge`](klieo_types::Error::ResponseTooLarge)).
pub const RESPONSE_OVER_CAP: &str = "response exceeded max_response_bytes cap";

fn payload_bytes(call: &ToolCall) -> usize {
    call.id.len() + call.name.len() + call.arguments().len()
}

impl ReplyBuilder {
    /// An empty reply allowed `max_bytes` of text and tool-call payloads.
    pub(crate) fn new(max_bytes: usize) -> Self {
        Self {
            content: String::new(),
            tool_calls: Vec::new(),
            usage: None,
            finish_reason: None,
            info: None,
            ids: CallIds::default(),
            bytes: 0,
            max_bytes,
            received: false,
        }
    }

    /// Adds a chunk. Fails, adding nothing but that a chunk came, when the
    /// chunk would take the reply past its cap, counted as it is kept. The chunk's tool calls,
    /// their ids made usable ([`CallIds`]: what the consumer reads is what
    /// the log keeps), move into the reply, a copy of each left in the
    /// chunk for its consumer: a call built from a value keeps it for the
    /// tool ([`ToolCall::take_arguments`]).
    // Inlined into the pump's loop, where it runs once a chunk (left to
    // the compiler, it was inlined in one build and not the next: 31
    // instructions a chunk of the relay).
    #[inline]
    pub(crate) fn absorb(&mut self, chunk: &mut ChatChunk) -> Result<(), OverCap> {
        // Ids made usable first (a repeated one grows, `c~2`): the cap
        // counts what the reply keeps.
        for call in &mut chunk.tool_calls {
            self.ids.usable(call);
        }
        // Paid for, even past the cap.
        self.received = true;
        let added = chunk.delta.len() + chunk.tool_calls.iter().map(payload_bytes).sum::<usize>();
        let bytes = self.bytes.saturating_add(added);
        if bytes > self.max_bytes {
            return Err(OverCap {
                max_bytes: self.max_bytes,
            });
        }
        self.bytes = bytes;
        self.content.push_str(&chunk.delta);
        for call in &mut chunk.tool_calls {
            let copy = call.clone();
            self.tool_calls.push(std::mem::replace(call, copy));
        }
        if chunk.usage.is_some() {
            self.usage = chunk.usage;
        }
        if chunk.finish_reason.is_some() {
            self.finish_reason = chunk.finish_reason;
        }
        if chunk.info.is_some() {
            self.info.clone_from(&chunk.info);
        }
        Ok(())
    }

    /// Bytes of text and tool-call payloads so far.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether a chunk came.
    pub(crate) fn received(&self) -> bool {
        self.received
    }

    /// Whether any tool call arrived.
    pub(crate) fn has_tool_calls(&self) -> bool {
        !self.tool_calls.is_empty()
    }

    /// The finish reason, once a chunk carried one.
    pub(crate) fn finish_reason(&self) -> Option<FinishReason> {
        self.finish_reason
    }

    /// The reply so far as a response, with `finish_reason` standing in
    /// for a missing one (for guardrails that look at a partial reply).
    pub(crate) fn snapshot(&self, finish_reason: FinishReason) -> ChatResponse {
        let reply = self.clone();
        let finish_reason = reply.finish_reason.unwrap_or(finish_reason);
        reply.response(finish_reason)
    }

    /// The whole reply, or `None` when no chunk carried a finish reason.
    pub(crate) fn into_response(self) -> Option<ChatResponse> {
        let finish_reason = self.finish_reason?;
        Some(self.response(finish_reason))
    }

    fn response(self, finish_reason: FinishReason) -> ChatResponse {
        let message = Message::assistant_tool_calls(self.content, self.tool_calls);
        let mut response = ChatResponse::new(message, finish_reason);
        response.usage = self.usage;
        response.info = self.info;
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_past_the_cap_is_not_added_but_was_received() {
        let mut reply = ReplyBuilder::new(4);
        assert!(!reply.received());
        assert!(reply.absorb(&mut ChatChunk::delta("too long")).is_err());
        assert!(reply.received(), "the provider began its reply");
        assert_eq!(reply.bytes(), 0);
    }

    #[test]
    fn chunks_rebuild_the_text_usage_and_finish() {
        let mut reply = ReplyBuilder::new(1024);
        assert!(reply.absorb(&mut ChatChunk::delta("Hel")).is_ok());
        assert!(reply.absorb(&mut ChatChunk::delta("lo")).is_ok());
        let mut finish = ChatChunk::finish(FinishReason::Stop).with_usage(Usage::new(5, 2));
        assert!(reply.absorb(&mut finish).is_ok());
        let response = reply.into_response().expect("finished");
        assert_eq!(response.message.content, "Hello");
        assert_eq!(response.usage, Some(Usage::new(5, 2)));
    }

    #[test]
    fn cap_counts_text_and_tool_payloads_and_rejects_the_crossing_chunk() {
        let mut reply = ReplyBuilder::new(10);
        assert!(reply.absorb(&mut ChatChunk::delta("12345")).is_ok());
        let call = ToolCall::from_raw("i", "n", "{}");
        assert!(reply.absorb(&mut ChatChunk::tool_calls(vec![call])).is_ok());
        assert_eq!(reply.bytes(), 9);
        assert_eq!(
            reply.absorb(&mut ChatChunk::delta("ab")),
            Err(OverCap { max_bytes: 10 })
        );
        assert_eq!(reply.bytes(), 9, "a rejected chunk adds nothing");
    }

    #[test]
    fn cap_counts_call_ids_as_they_are_kept() {
        // `c`, `c~2`, `c~3`: the repeated ids grow past what came.
        let mut reply = ReplyBuilder::new(8);
        let call = || ToolCall::from_raw("c", "n", "");
        let mut calls = ChatChunk::tool_calls(vec![call(), call(), call()]);
        assert_eq!(reply.absorb(&mut calls), Err(OverCap { max_bytes: 8 }));
        let mut kept = ReplyBuilder::new(10);
        let mut calls = ChatChunk::tool_calls(vec![call(), call(), call()]);
        assert!(kept.absorb(&mut calls).is_ok());
        assert_eq!(kept.bytes(), 10);
    }

    #[test]
    fn no_finish_reason_means_no_response() {
        let mut reply = ReplyBuilder::new(100);
        assert!(reply.absorb(&mut ChatChunk::delta("cut")).is_ok());
        assert_eq!(reply.finish_reason(), None);
        assert_eq!(reply.snapshot(FinishReason::Stop).message.content, "cut");
        assert!(reply.into_response().is_none());
    }

    #[test]
    fn last_reported_usage_wins_and_unknown_stays_unknown() {
        let mut reply = ReplyBuilder::new(100);
        assert!(reply.absorb(&mut ChatChunk::delta("a")).is_ok());
        let unknown = reply.clone();
        assert!(reply
            .absorb(&mut ChatChunk::finish(FinishReason::Stop).with_usage(Usage::new(3, 1)))
            .is_ok());
        assert_eq!(
            reply.into_response().and_then(|r| r.usage),
            Some(Usage::new(3, 1))
        );
        let mut unknown = unknown;
        assert!(unknown
            .absorb(&mut ChatChunk::finish(FinishReason::Stop))
            .is_ok());
        assert_eq!(unknown.into_response().and_then(|r| r.usage), None);
    }
}
