//! A Messages API reply, and the pieces streamed events share with it
//! (stop reasons, usage), turned into klieo's [`ChatResponse`].

use klieo_http::secret::Hidden;
use klieo_provider::status::{decoding, decoding_from};
use klieo_types::{ChatResponse, FinishReason, LlmError, Message, ReplyInfo, ToolCall, Usage};
use serde::Deserialize;
use serde_json::Value;

/// A whole reply.
#[derive(Deserialize)]
struct WireMessage {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    model: Option<Value>,
    #[serde(default)]
    content: Vec<WireBlock>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

/// A content block; kinds klieo does not use (thinking, server tools) are
/// skipped.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireBlock {
    Text {
        #[serde(default)]
        text: String,
    },
    ToolUse {
        #[serde(default)]
        id: String,
        #[serde(default)]
        name: String,
        #[serde(default)]
        input: Option<Value>,
    },
    #[serde(other)]
    Other,
}

/// Reported token counts; missing counts are zero, oversized ones
/// saturate, and a count that is not a whole number is read as
/// [`token_count`](klieo_provider::count::token_count) reads it.
#[derive(Deserialize, Clone, Copy, Default)]
pub(crate) struct WireUsage {
    #[serde(default, deserialize_with = "klieo_provider::count::token_count")]
    pub(crate) input_tokens: Option<u64>,
    #[serde(default, deserialize_with = "klieo_provider::count::token_count")]
    pub(crate) output_tokens: Option<u64>,
    #[serde(default, deserialize_with = "klieo_provider::count::token_count")]
    pub(crate) cache_read_input_tokens: Option<u64>,
    #[serde(default, deserialize_with = "klieo_provider::count::token_count")]
    pub(crate) cache_creation_input_tokens: Option<u64>,
}

fn clamp(n: Option<u64>) -> u32 {
    u32::try_from(n.unwrap_or(0)).unwrap_or(u32::MAX)
}

impl WireUsage {
    /// Each count `later` gives, in place of this one's.
    pub(crate) fn update(&mut self, later: WireUsage) {
        let counts = [
            (&mut self.input_tokens, later.input_tokens),
            (&mut self.output_tokens, later.output_tokens),
            (
                &mut self.cache_read_input_tokens,
                later.cache_read_input_tokens,
            ),
            (
                &mut self.cache_creation_input_tokens,
                later.cache_creation_input_tokens,
            ),
        ];
        for (count, later) in counts {
            if later.is_some() {
                *count = later;
            }
        }
    }

    /// klieo's usage: `input_tokens` is the whole prompt (Anthropic's
    /// uncached input plus the cache reads and writes), of which the cache
    /// counts are parts.
    pub(crate) fn usage(self) -> Usage {
        let (read, created) = (
            clamp(self.cache_read_input_tokens),
            clamp(self.cache_creation_input_tokens),
        );
        let input = clamp(self.input_tokens)
            .saturating_add(read)
            .saturating_add(created);
        Usage::new(input, clamp(self.output_tokens)).with_cache(read, created)
    }
}

/// Maps a `stop_reason`: `end_turn` and `stop_sequence` → `Stop`,
/// `max_tokens` and `model_context_window_exceeded` → `Length`, `tool_use`
/// → `ToolCalls`, `refusal` → `ContentFilter`, `pause_turn` (only with
/// Anthropic's server tools, which klieo does not send) → `Error`, which
/// ends the run with a server error. An unknown or missing reason is
/// `ToolCalls` beside tool calls, else `Stop`.
pub(crate) fn finish_reason(reason: Option<&str>, has_tool_calls: bool) -> FinishReason {
    match reason {
        Some("max_tokens" | "model_context_window_exceeded") => FinishReason::Length,
        Some("tool_use") => FinishReason::ToolCalls,
        Some("refusal") => FinishReason::ContentFilter,
        Some("pause_turn") => FinishReason::Error,
        Some("end_turn" | "stop_sequence") if !has_tool_calls => FinishReason::Stop,
        _ if has_tool_calls => FinishReason::ToolCalls,
        _ => FinishReason::Stop,
    }
}

/// A reply's `id` or `model` as text: a string as it is, another JSON
/// value as its JSON (an odd one never fails the reply).
pub(crate) fn text_of(value: Option<Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// A tool call from its `tool_use` block: its `input` kept as the
/// arguments' value (rendered as their text), `{}` for none.
fn tool_call(id: String, name: String, input: Option<Value>) -> ToolCall {
    match input {
        Some(Value::Null) | None => ToolCall::from_raw(id, name, "{}"),
        Some(value) => ToolCall::new(id, name, value),
    }
}

/// Parses a whole reply.
pub(crate) fn parse_message(
    body: &[u8],
    request_id: Option<&str>,
    hidden: &Hidden,
) -> Result<ChatResponse, LlmError> {
    let reply: WireMessage = serde_json::from_slice(body)
        .map_err(|e| decoding_from("not a Messages API reply", &e, body, hidden))?;
    if reply.kind.as_deref() == Some("error") {
        // An error object with a 2xx status (some gateways answer so),
        // told with its reply's request id when it has none of its own.
        return Err(crate::error::from_event(
            &String::from_utf8_lossy(body),
            request_id,
            hidden,
        ));
    }
    if reply.content.is_empty() && reply.stop_reason.is_none() {
        let reason = "not a Messages API reply: no content and no stop_reason";
        return Err(decoding(reason, body, hidden));
    }
    let mut text = String::new();
    let mut calls = Vec::new();
    for block in reply.content {
        match block {
            WireBlock::Text { text: piece } => text.push_str(&piece),
            WireBlock::ToolUse { id, name, input } => {
                let id = if id.is_empty() {
                    ToolCall::fallback_id(calls.len())
                } else {
                    id
                };
                calls.push(tool_call(id, name, input));
            }
            WireBlock::Other => {}
        }
    }
    let finish = finish_reason(reply.stop_reason.as_deref(), !calls.is_empty());
    let message = if calls.is_empty() {
        Message::assistant(text)
    } else {
        Message::assistant_tool_calls(text, calls)
    };
    let mut response = ChatResponse::new(message, finish)
        .with_info(ReplyInfo::new(text_of(reply.id), text_of(reply.model)));
    if let Some(usage) = reply.usage {
        response = response.with_usage(usage.usage());
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_reasons_map_to_finish_reasons() {
        assert_eq!(finish_reason(Some("end_turn"), false), FinishReason::Stop);
        assert_eq!(
            finish_reason(Some("stop_sequence"), false),
            FinishReason::Stop
        );
        assert_eq!(
            finish_reason(Some("max_tokens"), false),
            FinishReason::Length
        );
        assert_eq!(
            finish_reason(Some("tool_use"), true),
            FinishReason::ToolCalls
        );
        assert_eq!(
            finish_reason(Some("refusal"), false),
            FinishReason::ContentFilter
        );
        assert_eq!(
            finish_reason(Some("pause_turn"), false),
            FinishReason::Error
        );
        assert_eq!(
            finish_reason(Some("end_turn"), true),
            FinishReason::ToolCalls
        );
        assert_eq!(finish_reason(None, false), FinishReason::Stop);
    }

    #[test]
    fn an_error_or_an_empty_object_with_a_2xx_status_is_not_an_answer() {
        let error = br#"{"type":"error","error":{"type":"overloaded_error","message":"busy"}}"#;
        let e = parse_message(error, Some("req_7"), &Hidden::default()).expect_err("an error");
        assert!(e.retryable() && e.to_string().contains("busy"), "{e}");
        assert!(
            e.to_string().contains("req_7"),
            "the reply's request id: {e}"
        );
        let e = parse_message(b"{}", None, &Hidden::default()).expect_err("not a reply");
        assert!(matches!(e, LlmError::Decoding { .. }), "{e:?}");
    }

    #[test]
    fn a_reply_whose_counts_are_written_oddly_is_still_the_answer() {
        let body = br#"{"type":"message","role":"assistant",
            "content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn",
            "usage":{"input_tokens":1e2,"output_tokens":-5}}"#;
        let reply = parse_message(body, None, &Hidden::default()).expect("the answer");
        assert_eq!(reply.message.content, "hi");
        let usage = reply.usage.expect("its usage");
        assert_eq!((usage.input_tokens, usage.output_tokens), (100, 0));
    }

    #[test]
    fn cache_tokens_are_parts_of_the_input() {
        let usage = WireUsage {
            input_tokens: Some(10),
            output_tokens: Some(3),
            cache_read_input_tokens: Some(80),
            cache_creation_input_tokens: Some(5),
        };
        assert_eq!(usage.usage(), Usage::new(95, 3).with_cache(80, 5));
    }
}
