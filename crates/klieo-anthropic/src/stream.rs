//! The [`ChunkStream`] of a streamed reply: klieo-provider decodes the
//! event stream, and [`Events`] reads Anthropic's events: text deltas are
//! forwarded as they come, tool input is assembled from its partial JSON
//! and emitted whole with the finish reason and usage on the last chunk.

use crate::error::from_event;
use crate::response::{finish_reason, parse_message, text_of, WireUsage};
use klieo_http::secret::Hidden;
use klieo_provider::sse::SseEvent;
use klieo_provider::status::decoding_from;
use klieo_provider::streamed::{
    event_stream, one_chunk, stream_body, EventReader, Progress, Step, StreamBody, StreamReading,
};
use klieo_provider::tool_calls::{ToolCallFragment, ToolCallParts, TOOL_CALLS_LIMIT};
use klieo_types::{ChatChunk, ChunkStream, LlmError, ReplyInfo, Usage};
use serde::Deserialize;
use serde_json::Value;
use std::borrow::Cow;

/// One event's data; fields of events klieo does not read are ignored.
/// Texts are read as [`Text`]: borrowed, unless a server escaped a
/// character of them (`"end\u005fturn"` is JSON's `"end_turn"`).
#[derive(Deserialize)]
struct WireEvent<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default)]
    index: Option<u32>,
    #[serde(default)]
    message: Option<StartMessage>,
    #[serde(default)]
    content_block: Option<StartBlock>,
    #[serde(default, borrow)]
    delta: Option<Delta<'a>>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct StartMessage {
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    model: Option<Value>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct StartBlock {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    input: Option<Value>,
}

#[derive(Deserialize)]
struct Delta<'a> {
    #[serde(rename = "type", default, borrow)]
    kind: Option<Text<'a>>,
    #[serde(default, borrow)]
    text: Option<Text<'a>>,
    #[serde(default, borrow)]
    partial_json: Option<Text<'a>>,
    #[serde(default, borrow)]
    stop_reason: Option<Text<'a>>,
}

/// A text of an event, borrowed from it unless escaped: serde borrows a
/// bare `Cow` field, never one inside an `Option`, so each text a delta
/// carries would be a copy.
#[derive(Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

impl std::ops::Deref for Text<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

/// The state of one streamed reply.
pub(crate) struct Events {
    calls: ToolCallParts,
    /// Tool-use blocks whose input came whole in their start event and no
    /// delta followed, by block index (so it is not sent twice).
    whole_inputs: Vec<(u32, String)>,
    /// Bytes held in `whole_inputs`, bounded like the assembled calls.
    whole_bytes: usize,
    /// The usage `message_start` gave, with each count a later
    /// `message_delta` gave over it (cumulative: the delta's are the
    /// reply's totals, input included where it says).
    usage: Option<WireUsage>,
    stop_reason: Option<String>,
    /// The reply's id and model, from `message_start`.
    info: ReplyInfo,
    hidden: Hidden,
    /// The reply's request id (its `request-id` header), for an error
    /// event that gives none.
    request_id: Option<String>,
}

impl Events {
    pub(crate) fn new(hidden: Hidden, request_id: Option<String>) -> Self {
        Self {
            request_id,
            calls: ToolCallParts::new(),
            whole_inputs: Vec::new(),
            whole_bytes: 0,
            usage: None,
            stop_reason: None,
            info: ReplyInfo::default(),
            hidden,
        }
    }

    /// The reply's usage: the counts of `message_start`, each one a
    /// `message_delta` gave since in its place.
    fn usage(&self) -> Option<Usage> {
        self.usage.map(WireUsage::usage)
    }

    /// The last chunk: every tool call in block order, the finish reason
    /// and the usage; an error when the calls hold more than the bound.
    fn last_chunk(&mut self) -> Result<ChatChunk, LlmError> {
        for (index, input) in std::mem::take(&mut self.whole_inputs) {
            let fragment = ToolCallFragment {
                index: Some(index),
                arguments: Some(&input),
                ..ToolCallFragment::default()
            };
            self.calls.add(&fragment)?;
        }
        let mut calls = self.calls.finish();
        for call in &mut calls {
            if call.arguments().trim().is_empty() {
                call.set_arguments("{}");
            }
        }
        let reason = finish_reason(self.stop_reason.as_deref(), !calls.is_empty());
        let mut chunk = ChatChunk::tool_calls(calls).with_finish_reason(reason);
        if let Some(usage) = self.usage() {
            chunk = chunk.with_usage(usage);
        }
        Ok(chunk.with_info(std::mem::take(&mut self.info)))
    }

    /// The end of a whole reply: its last chunk, or the error that stops it.
    fn finished(&mut self) -> Step {
        match self.last_chunk() {
            Ok(chunk) => Step::Done(chunk),
            Err(e) => Step::Fail(e),
        }
    }

    fn read(&mut self, event: &SseEvent) -> Result<Step, LlmError> {
        let data = event.data.trim();
        if data.is_empty() {
            return Ok(Step::Continue);
        }
        if event.event.as_deref() == Some("error") {
            return Err(from_event(data, self.request_id.as_deref(), &self.hidden));
        }
        let wire: WireEvent<'_> = serde_json::from_str(data).map_err(|e| {
            let reason = "not a Messages API stream event";
            decoding_from(reason, &e, data.as_bytes(), &self.hidden)
        })?;
        match &*wire.kind {
            "message_start" => {
                if let Some(message) = wire.message {
                    self.usage = message.usage;
                    self.info = ReplyInfo::new(text_of(message.id), text_of(message.model));
                }
                Ok(Step::Continue)
            }
            "content_block_start" => {
                if let Some(block) = wire.content_block.filter(|b| b.kind == "tool_use") {
                    let index = wire.index.unwrap_or(0);
                    self.calls.add(&ToolCallFragment {
                        index: Some(index),
                        id: block.id.as_deref(),
                        name: block.name.as_deref(),
                        arguments: None,
                    })?;
                    match block.input {
                        Some(Value::Object(o)) if !o.is_empty() => {
                            let input = Value::Object(o).to_string();
                            self.whole_bytes = self.whole_bytes.saturating_add(input.len());
                            if self.whole_bytes > TOOL_CALLS_LIMIT {
                                return Err(LlmError::ToolCallsTooLarge {
                                    limit: TOOL_CALLS_LIMIT,
                                });
                            }
                            self.whole_inputs.push((index, input));
                        }
                        _ => {}
                    }
                }
                Ok(Step::Continue)
            }
            "content_block_delta" => {
                let Some(delta) = wire.delta else {
                    return Ok(Step::Continue);
                };
                match delta.kind.as_deref() {
                    Some("text_delta") => match delta.text {
                        Some(text) if !text.is_empty() => {
                            Ok(Step::Emit(ChatChunk::delta(text.0.into_owned())))
                        }
                        _ => Ok(Step::Continue),
                    },
                    Some("input_json_delta") => {
                        let index = wire.index.unwrap_or(0);
                        // Deltas are the input: one given whole at the start
                        // is dropped once a delta says something.
                        if delta
                            .partial_json
                            .as_deref()
                            .is_some_and(|j| !j.trim().is_empty())
                        {
                            self.whole_inputs.retain(|(i, _)| *i != index);
                        }
                        self.calls.add(&ToolCallFragment {
                            index: Some(index),
                            arguments: delta.partial_json.as_deref(),
                            ..ToolCallFragment::default()
                        })?;
                        Ok(Step::Continue)
                    }
                    // Thinking and signature deltas are not part of the answer.
                    _ => Ok(Step::Continue),
                }
            }
            "message_delta" => {
                if let Some(reason) = wire.delta.and_then(|d| d.stop_reason) {
                    self.stop_reason = Some(reason.0.into_owned());
                }
                if let Some(later) = wire.usage {
                    let usage = self.usage.get_or_insert_with(WireUsage::default);
                    usage.update(later);
                }
                Ok(Step::Continue)
            }
            "message_stop" => Ok(self.finished()),
            "error" => Err(from_event(data, self.request_id.as_deref(), &self.hidden)),
            // ping, content_block_stop, and event types added later.
            _ => Ok(Step::Continue),
        }
    }
}

impl EventReader for Events {
    /// Handles one event. An error event or an undecodable one fails the
    /// stream, unless the stop reason came already.
    fn on_event(&mut self, event: &SseEvent) -> Step {
        match self.read(event) {
            Ok(step) => step,
            Err(error) => self.on_error(error),
        }
    }

    /// After `message_delta` brought the stop reason, the reply is whole:
    /// it ends with its last chunk. Before, `error` is the last item.
    fn on_error(&mut self, error: LlmError) -> Step {
        if self.stop_reason.is_some() {
            return self.finished();
        }
        Step::Fail(error)
    }

    /// The body ended without `message_stop`. After the stop reason the
    /// reply is whole; before any event the server sent nothing (a
    /// retryable `Server` error); otherwise the reply is incomplete
    /// (`Interrupted`).
    fn on_end(&mut self, progress: Progress) -> Step {
        if self.stop_reason.is_some() {
            return self.finished();
        }
        if progress.events == 0 {
            return Step::Fail(LlmError::server(format!(
                "the server ended the stream without sending any event ({} bytes came)",
                progress.bytes
            )));
        }
        Step::Fail(LlmError::Interrupted {
            bytes: progress.bytes,
            events: progress.events,
            reason: "the body ended before the model finished (no stop reason, no message_stop)"
                .to_owned(),
            cause: None,
        })
    }
}

/// The chunks of a streamed reply whose status was 2xx (a whole JSON
/// reply from a server that ignored `stream` becomes one chunk).
pub(crate) async fn chunk_stream(
    resp: reqwest::Response,
    reading: StreamReading,
) -> Result<ChunkStream, LlmError> {
    let request_id = klieo_provider::status::request_id(resp.headers());
    match stream_body(resp, &reading).await? {
        StreamBody::Whole(body) => {
            let reply = parse_message(&body, request_id.as_deref(), &reading.hidden)?;
            Ok(one_chunk(ChatChunk::from(reply)))
        }
        StreamBody::Events(resp) => {
            let events = Events::new(reading.hidden.clone(), request_id);
            Ok(event_stream(resp, events, &reading))
        }
    }
}

#[cfg(test)]
#[allow(clippy::panic)]
mod tests {
    use super::*;

    fn feed(events: &[&str]) -> Step {
        let mut reader = Events::new(Hidden::default(), None);
        let mut last = Step::Continue;
        for data in events {
            last = reader.on_event(&SseEvent {
                data: (*data).to_owned(),
                ..SseEvent::default()
            });
        }
        last
    }

    #[test]
    fn an_input_given_whole_survives_an_empty_delta() {
        let last = feed(&[
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t1","name":"add","input":{"a":1}}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":""}}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":7}}"#,
            r#"{"type":"message_stop"}"#,
        ]);
        let done = match &last {
            Step::Done(chunk) => Some((chunk.tool_calls[0].arguments(), chunk.usage)),
            _ => None,
        };
        // Usage only in message_delta is kept too.
        assert_eq!(
            done,
            Some((r#"{"a":1}"#, Some(Usage::new(0, 7)))),
            "{last:?}"
        );
    }

    #[test]
    fn the_counts_of_message_delta_are_the_replys_totals() {
        let done = |events: &[&str]| match feed(events) {
            Step::Done(chunk) => chunk.usage,
            _ => None,
        };
        let start = r#"{"type":"message_start","message":{"id":"m","model":"c","usage":{"input_tokens":10,"output_tokens":1}}}"#;
        let stop = r#"{"type":"message_stop"}"#;
        // Input only at the end (a server whose message_start has none).
        let usage = done(&[
            r#"{"type":"message_start","message":{"id":"m","model":"c"}}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"input_tokens":12,"output_tokens":7}}"#,
            stop,
        ]);
        assert_eq!(usage, Some(Usage::new(12, 7)));
        // The delta's input, when it gives one, is the total (a server
        // tool added input meanwhile); else message_start's stands.
        let usage = done(&[
            start,
            r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"input_tokens":30,"output_tokens":7}}"#,
            stop,
        ]);
        assert_eq!(usage, Some(Usage::new(30, 7)));
        let usage = done(&[
            start,
            r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":7}}"#,
            stop,
        ]);
        assert_eq!(usage, Some(Usage::new(10, 7)));
    }

    #[test]
    fn names_a_server_escaped_are_read_as_they_mean() {
        let last = feed(&[
            r#"{"type":"message\u005fstart","message":{"id":"m","model":"c"}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text\u005fdelta","text":"Hi"}}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":"end\u005fturn"},"usage":{"output_tokens":1}}"#,
            r#"{"type":"message\u005fstop"}"#,
        ]);
        let Step::Done(chunk) = &last else {
            panic!("the reply ends: {last:?}");
        };
        assert_eq!(chunk.finish_reason, Some(klieo_types::FinishReason::Stop));
        let mut reader = Events::new(Hidden::default(), None);
        let text = reader.on_event(&SseEvent {
            data: r#"{"type":"content_block_delta","index":0,"delta":{"type":"text\u005fdelta","text":"Hi"}}"#.to_owned(),
            ..SseEvent::default()
        });
        assert!(
            matches!(&text, Step::Emit(c) if c.delta == "Hi"),
            "{text:?}"
        );
    }

    #[test]
    fn an_error_event_without_a_request_id_is_told_with_the_replys() {
        let mut reader = Events::new(Hidden::default(), Some("req_X".to_owned()));
        let failed = reader.on_event(&SseEvent {
            event: Some("error".to_owned()),
            data: r#"{"type":"error","error":{"type":"overloaded_error","message":"busy"}}"#
                .to_owned(),
            ..SseEvent::default()
        });
        let Step::Fail(error) = &failed else {
            panic!("the stream fails: {failed:?}");
        };
        assert!(error.to_string().contains("req_X"), "{error}");
        assert!(error.retryable());
    }

    #[test]
    fn a_deltas_texts_are_borrowed_unless_escaped() {
        let delta: Delta<'_> =
            serde_json::from_str(r#"{"type":"text_delta","text":"Hi"}"#).expect("a delta");
        assert!(matches!(
            delta.kind.map(|t| t.0),
            Some(Cow::Borrowed("text_delta"))
        ));
        assert!(matches!(delta.text.map(|t| t.0), Some(Cow::Borrowed("Hi"))));
        let escaped: Delta<'_> = serde_json::from_str(r#"{"text":"H\u0069"}"#).expect("a delta");
        assert!(matches!(escaped.text.map(|t| t.0), Some(Cow::Owned(t)) if t == "Hi"));
    }
}
