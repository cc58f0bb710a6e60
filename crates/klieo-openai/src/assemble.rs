//! Streaming assembly: each SSE event of a Chat Completions stream turned
//! into at most one [`ChatChunk`], tool-call fragments put together by
//! `index`, and the end of the stream judged (finished, cut, empty).

use crate::chunk::{FunctionFragment, ToolCallFragment, WireChunk};
use crate::config::{scrub, Secret};
use crate::error::{bounded, decoding, from_stream_error, ErrorField, WireError};
use crate::response::{fallback_id, finish_reason};
use klieo_stream::SseEvent;
use klieo_types::{ChatChunk, LlmError, ToolCall, Usage};

/// What the stream does after an event or the end of its input.
#[derive(Debug)]
pub(crate) enum Step {
    /// Yield this chunk and go on.
    Emit(ChatChunk),
    /// Nothing to yield yet; go on.
    Continue,
    /// The reply is over: yield this last chunk, then end.
    Done(ChatChunk),
    /// Yield this error, then end.
    Fail(LlmError),
}

/// A tool call being put together from fragments.
#[derive(Debug, Default)]
struct PartialCall {
    index: u32,
    id: String,
    name: String,
    arguments: String,
}

impl PartialCall {
    /// Adds a fragment. The first non-empty id and name win: llama.cpp's
    /// server repeats both in every fragment, OpenAI sends them once.
    /// Arguments are appended as they come.
    fn absorb(&mut self, id: Option<&str>, function: Option<&FunctionFragment<'_>>) {
        if self.id.is_empty() {
            if let Some(id) = id {
                self.id.push_str(id);
            }
        }
        if let Some(f) = function {
            if self.name.is_empty() {
                if let Some(name) = f.name.as_deref() {
                    self.name.push_str(name);
                }
            }
            if let Some(args) = &f.arguments {
                self.arguments.push_str(&args.0);
            }
        }
    }

    fn into_call(self, position: usize) -> ToolCall {
        let id = if self.id.is_empty() {
            fallback_id(position)
        } else {
            self.id
        };
        ToolCall::from_raw(id, self.name, self.arguments)
    }
}

/// The state of one streamed reply.
///
/// Content deltas are forwarded, never kept: memory grows only with the
/// arguments of tool calls being assembled. The chunk carrying the finish
/// reason is held back until the usage chunk, `[DONE]` or the end of the
/// body, so that it is the last chunk and carries the usage.
pub(crate) struct Assembler {
    calls: Vec<PartialCall>,
    /// A legacy `function_call`, kept only while no `tool_calls` came.
    legacy: Option<PartialCall>,
    saw_tool_calls: bool,
    finish: Option<ChatChunk>,
    usage: Option<Usage>,
    events: u64,
    secret: Option<Secret>,
}

impl Assembler {
    pub(crate) fn new(secret: Option<Secret>) -> Self {
        Self {
            calls: Vec::new(),
            legacy: None,
            saw_tool_calls: false,
            finish: None,
            usage: None,
            events: 0,
            secret,
        }
    }

    /// Handles one SSE event.
    pub(crate) fn on_event(&mut self, event: &SseEvent) -> Step {
        self.events += 1;
        let data = event.data.trim();
        if data == "[DONE]" {
            return self.on_done();
        }
        if data.is_empty() {
            return Step::Continue;
        }
        let error_event = event.event.as_deref() == Some("error");
        let chunk: WireChunk<'_> = match serde_json::from_str(data) {
            Ok(chunk) => chunk,
            Err(_) if error_event => return Step::Fail(self.error_text(data)),
            Err(e) => {
                let reason = format!("not a chat completion chunk: {e}");
                return Step::Fail(decoding(reason, data.as_bytes(), self.secret.as_ref()));
            }
        };
        if let Some(error) = chunk.error {
            let error = match error {
                ErrorField::Object(e) => e,
                ErrorField::Text(t) => WireError {
                    message: Some(t),
                    ..WireError::default()
                },
            };
            return Step::Fail(from_stream_error(&error, self.secret.as_ref()));
        }
        if error_event {
            return Step::Fail(self.error_text(data));
        }
        if let Some(usage) = chunk.usage {
            let usage = Usage::from(usage);
            self.usage = Some(usage);
            if let Some(finish) = &mut self.finish {
                finish.usage = Some(usage);
            }
        }
        let Some(choice) = chunk.choices.0 else {
            return Step::Continue;
        };
        if self.finish.is_some() {
            // The reply is over; later choices carry nothing we use.
            return Step::Continue;
        }
        let mut out = ChatChunk::default();
        if let Some(delta) = choice.delta {
            if let Some(content) = delta.content {
                out.delta = content.into_owned();
            }
            if let Some(fragments) = delta.tool_calls {
                self.absorb_tool_calls(fragments);
            }
            if let Some(legacy) = delta.function_call {
                if !self.saw_tool_calls {
                    self.legacy
                        .get_or_insert_with(PartialCall::default)
                        .absorb(None, Some(&legacy));
                }
            }
        }
        match choice.finish_reason.as_deref().filter(|r| !r.is_empty()) {
            Some(reason) => {
                self.finish = Some(self.finish_chunk(out, Some(reason)));
                Step::Continue
            }
            None if out.delta.is_empty() => Step::Continue,
            None => Step::Emit(out),
        }
    }

    /// An `event: error` whose data is not an error object.
    fn error_text(&self, data: &str) -> LlmError {
        LlmError::server(scrub(self.secret.as_ref(), bounded(data, 1000)))
    }

    fn absorb_tool_calls(&mut self, fragments: Vec<ToolCallFragment<'_>>) {
        if !fragments.is_empty() {
            self.saw_tool_calls = true;
            self.legacy = None;
        }
        for fragment in fragments {
            let id = fragment.id.as_deref().filter(|id| !id.is_empty());
            let slot = match (fragment.index, id) {
                (Some(index), _) => self.calls.iter().position(|c| c.index == index),
                (None, Some(id)) => self.calls.iter().position(|c| c.id == id),
                (None, None) => self.calls.len().checked_sub(1),
            };
            let slot = match slot {
                Some(slot) => slot,
                None => {
                    let index = fragment.index.unwrap_or_else(|| {
                        self.calls
                            .iter()
                            .map(|c| c.index.saturating_add(1))
                            .max()
                            .unwrap_or(0)
                    });
                    self.calls.push(PartialCall {
                        index,
                        ..PartialCall::default()
                    });
                    self.calls.len() - 1
                }
            };
            if let Some(call) = self.calls.get_mut(slot) {
                call.absorb(id, fragment.function.as_ref());
            }
        }
    }

    /// The last chunk: `out`'s text, every assembled call in index order,
    /// the mapped finish reason and the usage seen so far.
    fn finish_chunk(&mut self, mut out: ChatChunk, reason: Option<&str>) -> ChatChunk {
        let mut calls = std::mem::take(&mut self.calls);
        calls.sort_by_key(|c| c.index);
        let mut calls: Vec<ToolCall> = calls
            .into_iter()
            .enumerate()
            .map(|(i, c)| c.into_call(i))
            .collect();
        if let Some(legacy) = self.legacy.take().filter(|l| !l.name.is_empty()) {
            if calls.is_empty() {
                calls.push(legacy.into_call(0));
            }
        }
        out.finish_reason = Some(finish_reason(reason, !calls.is_empty()));
        out.tool_calls = calls;
        out.usage = self.usage;
        out
    }

    /// `[DONE]`: the held finish chunk. Without a finish reason, the server
    /// still said the reply is complete: the reason is inferred (tool calls
    /// if any were assembled, else stop).
    fn on_done(&mut self) -> Step {
        match self.finish.take() {
            Some(finish) => Step::Done(finish),
            None => Step::Done(self.finish_chunk(ChatChunk::default(), None)),
        }
    }

    /// The body ended without an error.
    pub(crate) fn on_end(&mut self) -> Step {
        if let Some(finish) = self.finish.take() {
            return Step::Done(finish);
        }
        if self.events == 0 {
            return Step::Fail(LlmError::bad_request(
                "the server sent an empty stream (no event at all); it probably does not \
                 support streaming with tools: force a tool with tool_choice, or use the \
                 blocking call (complete)",
            ));
        }
        Step::Fail(LlmError::Network(
            "the stream ended before the model finished (no finish reason, no [DONE])".to_owned(),
        ))
    }

    /// Reading the body failed with `error`. After a finish reason the reply
    /// is complete and ends normally; before one, the error is the last item.
    pub(crate) fn on_error(&mut self, error: LlmError) -> Step {
        if let Some(finish) = self.finish.take() {
            return Step::Done(finish);
        }
        Step::Fail(match error {
            LlmError::Network(m) => {
                LlmError::Network(format!("the stream ended before the model finished: {m}"))
            }
            other => other,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(events: &[&str]) -> Vec<Step> {
        let mut a = Assembler::new(None);
        let mut steps: Vec<Step> = events
            .iter()
            .map(|data| {
                a.on_event(&SseEvent {
                    data: (*data).to_owned(),
                    ..SseEvent::default()
                })
            })
            .collect();
        steps.push(a.on_end());
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
            "[DONE]",
        ]);
        assert_eq!(last_chunk(&steps).map(|c| c.tool_calls.len()), Some(2));
    }
}
