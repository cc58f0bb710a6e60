//! Streaming assembly: each SSE event of a Chat Completions stream turned
//! into at most one [`ChatChunk`], tool calls put together in [`Calls`],
//! and the end of the stream judged (finished, cut, empty).

use crate::calls::Calls;
use crate::chunk::{ChunkInfo, WireChunk};
use crate::response::{finish_reason, refused};
use klieo_http::secret::Hidden;
use klieo_provider::sse::SseEvent;
use klieo_provider::status::{decoding_from, MESSAGE_LIMIT};
use klieo_provider::streamed::{EventReader, Progress, Step};
use klieo_types::{ChatChunk, LlmError, ReplyInfo, Usage};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// How many of a stream's first chunks are read for the reply's id and
/// model: Azure's first chunk (its content filter's results) has them
/// empty.
const INFO_CHUNKS: u8 = 4;

/// The state of one streamed reply.
///
/// Content deltas are forwarded, never kept: memory grows only with the
/// tool calls being assembled, up to
/// [`TOOL_CALLS_LIMIT`](klieo_provider::tool_calls::TOOL_CALLS_LIMIT). The chunk carrying
/// the finish reason is held back until `[DONE]`, the end of the body or a
/// failure, so that it is the last chunk; a usage chunk that comes in the
/// meantime does not release it but adds its usage to it.
pub(crate) struct Assembler {
    calls: Calls,
    finish: Option<ChatChunk>,
    usage: Option<Usage>,
    /// The reply's id and model, from the first chunks that give them.
    info: ReplyInfo,
    /// Chunks read for them so far (at most [`INFO_CHUNKS`]).
    info_reads: u8,
    events: u64,
    hidden: Hidden,
    /// Set when the request let the model choose tools (`tool_choice`
    /// auto): an empty stream then means the server cannot stream such
    /// calls, and this flag (the client's) remembers it.
    auto_tools: Option<Arc<AtomicBool>>,
    /// The model's refusal so far (structured outputs), its first
    /// [`MESSAGE_LIMIT`] bytes: the reply then ends as
    /// [`FinishReason::ContentFilter`](klieo_types::FinishReason::ContentFilter), never as an answer.
    refusal: Option<String>,
}

impl Assembler {
    pub(crate) fn new(hidden: Hidden) -> Self {
        Self {
            calls: Calls::default(),
            finish: None,
            usage: None,
            info: ReplyInfo::default(),
            info_reads: 0,
            events: 0,
            hidden,
            auto_tools: None,
            refusal: None,
        }
    }

    /// Marks the request as letting the model choose tools; `flag` is
    /// cleared if the server answers with an empty stream.
    pub(crate) fn with_auto_tools(mut self, flag: Arc<AtomicBool>) -> Self {
        self.auto_tools = Some(flag);
        self
    }

    fn read(&mut self, event: &SseEvent) -> Result<Step, LlmError> {
        let data = event.data.trim();
        if data == "[DONE]" {
            return Ok(self.on_done());
        }
        if data.is_empty() {
            return Ok(Step::Continue);
        }
        let error_event = event.event.as_deref() == Some("error");
        let chunk: WireChunk<'_> = match serde_json::from_str(data) {
            Ok(chunk) => chunk,
            Err(_) if error_event => return Err(self.error_text(data)),
            Err(e) => {
                let reason = "not a chat completion chunk";
                let hidden = &self.hidden;
                return Err(decoding_from(reason, &e, data.as_bytes(), hidden));
            }
        };
        if let Some(error) = chunk.error {
            return Err(error.into_error(&self.hidden));
        }
        if error_event {
            return Err(self.error_text(data));
        }
        if self.info == ReplyInfo::default() && self.info_reads < INFO_CHUNKS {
            self.info_reads += 1;
            if let Ok(head) = serde_json::from_str::<ChunkInfo<'_>>(data) {
                self.info = ReplyInfo::new(
                    head.id.map(|t| t.0.into_owned()),
                    head.model.map(|t| t.0.into_owned()),
                );
            }
        }
        if let Some(usage) = chunk.usage {
            let usage = Usage::from(usage);
            self.usage = Some(usage);
            if let Some(finish) = &mut self.finish {
                finish.usage = Some(usage);
            }
        }
        let Some(choice) = chunk.choices.0 else {
            return Ok(Step::Continue);
        };
        if self.finish.is_some() {
            // The reply is over; later choices carry nothing we use.
            return Ok(Step::Continue);
        }
        let mut text = String::new();
        if let Some(delta) = choice.delta {
            if let Some(content) = delta.content {
                text = content.into_owned();
            }
            if let Some(piece) = delta.refusal.filter(|r| !r.is_empty()) {
                let refusal = self.refusal.get_or_insert_with(String::new);
                let room = MESSAGE_LIMIT.saturating_sub(refusal.len());
                refusal.push_str(klieo_types::text::prefix_bytes(&piece, room));
            }
            if let Some(fragments) = delta.tool_calls {
                self.calls.add(fragments)?;
            }
            if let Some(legacy) = delta.function_call {
                self.calls.add_legacy(&legacy)?;
            }
        }
        Ok(
            match choice.finish_reason.as_deref().filter(|r| !r.is_empty()) {
                Some(reason) => {
                    self.finish = Some(self.finish_chunk(text, Some(reason)));
                    Step::Continue
                }
                None if text.is_empty() => Step::Continue,
                None => Step::Emit(ChatChunk::delta(text)),
            },
        )
    }

    /// An `event: error` whose data is not an error object.
    fn error_text(&self, data: &str) -> LlmError {
        LlmError::server(self.hidden.redacted(data, MESSAGE_LIMIT))
    }

    /// The last chunk: `text`, every assembled call in index order, the
    /// mapped finish reason and the usage seen so far.
    fn finish_chunk(&mut self, text: String, reason: Option<&str>) -> ChatChunk {
        let calls = self.calls.finish();
        let reason = finish_reason(reason, !calls.is_empty());
        let refusal = self.refusal.take();
        let (reason, text) = refused(reason, text, refusal.as_deref(), !calls.is_empty());
        let mut chunk = ChatChunk::tool_calls(calls).with_finish_reason(reason);
        // klieo-types has a constructor for text or for calls, not both.
        chunk.delta = text;
        if let Some(usage) = self.usage {
            chunk = chunk.with_usage(usage);
        }
        chunk.with_info(std::mem::take(&mut self.info))
    }

    /// `[DONE]`: the held finish chunk. Without a finish reason the reply
    /// is not known to be whole (llama-cpp-python, under concurrent
    /// requests, sometimes sends a role chunk and `[DONE]` and nothing
    /// else), so that is a retryable server error, never an empty success.
    fn on_done(&mut self) -> Step {
        match self.finish.take() {
            Some(finish) => Step::Done(finish),
            None => Step::Fail(LlmError::server(
                "the server ended the stream with [DONE] before the model finished \
                 (no finish reason came)",
            )),
        }
    }
}

impl EventReader for Assembler {
    /// Handles one SSE event. An error event, an undecodable event or too
    /// much tool-call text fails the stream, unless the finish reason came
    /// already (see [`on_error`](Self::on_error)).
    fn on_event(&mut self, event: &SseEvent) -> Step {
        self.events += 1;
        match self.read(event) {
            Ok(step) => step,
            Err(error) => self.on_error(error),
        }
    }

    /// The stream failed with `error`: reading the body broke off, or an
    /// event was an error or could not be read. After a finish reason the
    /// reply is complete and ends normally with the held chunk; before one,
    /// the error is the last item.
    fn on_error(&mut self, error: LlmError) -> Step {
        if let Some(finish) = self.finish.take() {
            return Step::Done(finish);
        }
        Step::Fail(error)
    }

    /// The body ended without an error, after `bytes` bytes. Before any
    /// event that is a retryable `Server` error saying so (or, when the
    /// model could choose tools, `Unsupported`: the server cannot stream
    /// such calls); after some, but before a finish reason, the reply is
    /// incomplete (`Interrupted`).
    fn on_end(&mut self, progress: Progress) -> Step {
        let bytes = progress.bytes;
        if let Some(finish) = self.finish.take() {
            return Step::Done(finish);
        }
        if self.events == 0 {
            if let Some(flag) = &self.auto_tools {
                flag.store(false, Ordering::Relaxed);
                return Step::Fail(LlmError::Unsupported(
                    "the server sent an empty stream (no event at all) for a request whose \
                     tools the model may choose (tool_choice auto): it cannot stream such tool \
                     calls (llama-cpp-python's server cannot). klieo's runtime makes those \
                     calls blocking from now on; with a bare client, force a tool with \
                     tool_choice and set the run's after_tool_calls to AfterToolCalls::None, \
                     or use blocking calls"
                        .to_owned(),
                ));
            }
            return Step::Fail(LlmError::server(format!(
                "the server ended the stream without sending any event ({bytes} bytes came)"
            )));
        }
        Step::Fail(LlmError::Interrupted {
            bytes,
            events: self.events,
            reason: "the body ended before the model finished (no finish reason, no [DONE])"
                .to_owned(),
            cause: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use klieo_types::{FinishReason, ToolCall};

    fn feed(events: &[&str]) -> Vec<Step> {
        feed_to(Assembler::new(Hidden::default()), events)
    }

    fn feed_to(mut a: Assembler, events: &[&str]) -> Vec<Step> {
        let mut steps: Vec<Step> = events
            .iter()
            .map(|data| {
                a.on_event(&SseEvent {
                    data: (*data).to_owned(),
                    ..SseEvent::default()
                })
            })
            .collect();
        steps.push(a.on_end(Progress::default()));
        steps
    }

    fn last_chunk(steps: &[Step]) -> Option<&ChatChunk> {
        steps.iter().find_map(|s| match s {
            Step::Done(c) => Some(c),
            _ => None,
        })
    }

    #[test]
    fn fragments_without_index_follow_ids() {
        let steps = feed(&[
            r#"{"choices":[{"delta":{"tool_calls":[{"id":"a","function":{"name":"f","arguments":"{"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"function":{"arguments":"}"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"id":"b","function":{"name":"g","arguments":"[]"}}]}}]}"#,
            r#"{"choices":[{"delta":{},"finish_reason":"tool_calls"}]}"#,
        ]);
        let calls = &last_chunk(&steps).map(|c| c.tool_calls.clone());
        assert_eq!(
            calls.as_deref(),
            Some(
                &[
                    ToolCall::from_raw("a", "f", "{}"),
                    ToolCall::from_raw("b", "g", "[]")
                ][..]
            )
        );
    }

    #[test]
    fn legacy_function_call_alone_becomes_a_call() {
        let steps = feed(&[
            r#"{"choices":[{"delta":{"function_call":{"name":"f","arguments":"{\"x\""}}}]}"#,
            r#"{"choices":[{"delta":{"function_call":{"arguments":":1}"}}}]}"#,
            r#"{"choices":[{"delta":{},"finish_reason":"function_call"}]}"#,
        ]);
        let last = last_chunk(&steps);
        assert_eq!(
            last.map(|c| c.tool_calls.clone()),
            Some(vec![ToolCall::from_raw("call_0", "f", "{\"x\":1}")])
        );
        assert_eq!(
            last.and_then(|c| c.finish_reason),
            Some(klieo_types::FinishReason::ToolCalls)
        );
    }

    #[test]
    fn usage_before_the_finish_and_other_choices_are_handled() {
        let steps = feed(&[
            r#"{"choices":[{"index":1,"delta":{"content":"other"}},{"index":0,"delta":{"content":"mine"}}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":3}}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"ignored"}}]}"#,
        ]);
        assert!(matches!(&steps[0], Step::Emit(c) if c.delta == "mine"));
        let last = last_chunk(&steps);
        assert_eq!(last.and_then(|c| c.usage), Some(Usage::new(3, 0)));
        assert_eq!(last.map(|c| c.delta.as_str()), Some(""));
    }

    #[test]
    fn huge_index_does_not_overflow() {
        let steps = feed(&[
            r#"{"choices":[{"delta":{"tool_calls":[{"index":4294967295,"id":"a","function":{"name":"f"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"id":"b","function":{"name":"g"}}]}}]}"#,
            r#"{"choices":[{"delta":{},"finish_reason":"tool_calls"}]}"#,
            "[DONE]",
        ]);
        assert_eq!(last_chunk(&steps).map(|c| c.tool_calls.len()), Some(2));
    }

    #[test]
    fn usage_after_the_finish_joins_the_held_chunk() {
        let mut a = Assembler::new(Hidden::default());
        let mut on = |data: &str| {
            a.on_event(&SseEvent {
                data: data.to_owned(),
                ..SseEvent::default()
            })
        };
        let finish = on(r#"{"choices":[{"delta":{"content":"a"},"finish_reason":"stop"}]}"#);
        assert!(matches!(finish, Step::Continue), "{finish:?}");
        let usage = on(r#"{"choices":[],"usage":{"prompt_tokens":2,"completion_tokens":1}}"#);
        assert!(matches!(usage, Step::Continue), "{usage:?}");
        let done = on("[DONE]");
        assert!(
            matches!(&done, Step::Done(c) if c.delta == "a" && c.usage == Some(Usage::new(2, 1))),
            "{done:?}"
        );
    }

    #[test]
    fn failures_after_the_finish_end_the_reply_normally() {
        let finish = r#"{"choices":[{"delta":{"content":"ok"},"finish_reason":"stop"}]}"#;
        for late in [
            r#"{"error":{"message":"boom","type":"server_error"}}"#,
            "{not json",
        ] {
            let steps = feed(&[finish, late]);
            assert!(
                matches!(&steps[1], Step::Done(c) if c.delta == "ok"
                    && c.finish_reason == Some(FinishReason::Stop)),
                "{late}: {steps:?}"
            );
        }
        let mut a = Assembler::new(Hidden::default());
        a.on_event(&SseEvent {
            data: finish.to_owned(),
            ..SseEvent::default()
        });
        let cut = a.on_error(LlmError::network("reset"));
        assert!(matches!(cut, Step::Done(_)), "{cut:?}");
    }

    #[test]
    fn tool_call_text_past_the_limit_fails_the_stream() {
        use klieo_provider::tool_calls::{CALL_RECORD, FRAGMENT_RECORD};
        // Room for the call's record, five pieces' records, and 200 bytes
        // of its text: the fifth piece of 40 bytes more is past it.
        let limit = CALL_RECORD + 5 * FRAGMENT_RECORD + 200;
        let mut a = Assembler::new(Hidden::default());
        a.calls = Calls::with_limit(limit);
        let piece = format!(
            r#"{{"choices":[{{"delta":{{"tool_calls":[{{"index":0,"id":"c","function":{{"name":"f","arguments":"{}"}}}}]}}}}]}}"#,
            "x".repeat(40)
        );
        let steps = feed_to(a, &[&piece, &piece, &piece, &piece, &piece]);
        let failed = steps.iter().position(|s| matches!(s, Step::Fail(_)));
        assert_eq!(
            failed,
            Some(4),
            "the text fails it, at the fifth: {steps:?}"
        );
        let told = match failed.and_then(|i| steps.get(i)) {
            Some(Step::Fail(LlmError::ToolCallsTooLarge { limit })) => Some(*limit),
            _ => None,
        };
        assert_eq!(told, Some(limit), "{steps:?}");
        let mut legacy = Assembler::new(Hidden::default());
        let limit = CALL_RECORD + FRAGMENT_RECORD + 16;
        legacy.calls = Calls::with_limit(limit);
        let steps = feed_to(
            legacy,
            &[
                r#"{"choices":[{"delta":{"function_call":{"name":"f","arguments":"0123456789abcdef"}}}]}"#,
            ],
        );
        assert!(
            matches!(
                &steps[0],
                Step::Fail(LlmError::ToolCallsTooLarge { limit: l }) if *l == limit
            ),
            "the name's byte is past it: {steps:?}"
        );
    }
}
