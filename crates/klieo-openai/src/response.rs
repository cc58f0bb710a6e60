//! Replies on the wire: a Chat Completions reply and the pieces it shares
//! with streamed chunks (raw argument text, usage, finish reasons), turned
//! into klieo's [`ChatResponse`].

use crate::error::ErrorField;
use klieo_http::secret::Hidden;
use klieo_provider::status::{decoding, decoding_from, MESSAGE_LIMIT};
use klieo_types::{ChatResponse, FinishReason, LlmError, Message, ReplyInfo, ToolCall, Usage};
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::borrow::Cow;
use std::fmt;

/// Text kept as sent. A JSON string gives its text (borrowed when it has
/// no escapes); any other JSON value gives its compact JSON text, so tool
/// arguments sent as an object instead of a string still pass through;
/// `null` gives `""`.
pub(crate) struct RawText<'a>(pub(crate) Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for RawText<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RawTextVisitor)
    }
}

struct RawTextVisitor;

impl<'de> Visitor<'de> for RawTextVisitor {
    type Value = RawText<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or a JSON value")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(RawText(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(RawText(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(RawText(Cow::Owned(v)))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(RawText(Cow::Borrowed("")))
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(RawText(Cow::Borrowed("")))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(RawText(Cow::Owned(v.to_string())))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(RawText(Cow::Owned(v.to_string())))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(RawText(Cow::Owned(v.to_string())))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(RawText(Cow::Owned(v.to_string())))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let value = serde_json::Value::deserialize(MapAccessDeserializer::new(map))?;
        Ok(RawText(Cow::Owned(value.to_string())))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        let value = serde_json::Value::deserialize(SeqAccessDeserializer::new(seq))?;
        Ok(RawText(Cow::Owned(value.to_string())))
    }
}

/// Reported token counts; missing counts are zero, oversized ones
/// saturate, and a count that is not a whole number is read as
/// [`token_count`](klieo_provider::count::token_count) reads it.
#[derive(Deserialize, Clone, Copy, Default)]
pub(crate) struct WireUsage {
    #[serde(default, deserialize_with = "klieo_provider::count::token_count")]
    prompt_tokens: Option<u64>,
    #[serde(default, deserialize_with = "klieo_provider::count::token_count")]
    completion_tokens: Option<u64>,
    /// `cached_tokens`: the part of the prompt read from OpenAI's cache.
    #[serde(default)]
    prompt_tokens_details: Option<PromptDetails>,
}

#[derive(Deserialize, Clone, Copy, Default)]
struct PromptDetails {
    #[serde(default, deserialize_with = "klieo_provider::count::token_count")]
    cached_tokens: Option<u64>,
}

impl From<WireUsage> for Usage {
    fn from(u: WireUsage) -> Usage {
        let clamp = |n: Option<u64>| u32::try_from(n.unwrap_or(0)).unwrap_or(u32::MAX);
        let cached = u.prompt_tokens_details.and_then(|d| d.cached_tokens);
        Usage::new(clamp(u.prompt_tokens), clamp(u.completion_tokens)).with_cache(clamp(cached), 0)
    }
}

/// Maps a finish reason. `stop`, `length`, `tool_calls`, `content_filter`
/// and `error` map to their variant; the legacy `function_call` maps to
/// `ToolCalls`. Servers' own words for a cut reply map to `Length`
/// (Mistral's `model_length`, `max_tokens`), and for one the server gave
/// up on to `Error` (vLLM's `abort`, DeepSeek's
/// `insufficient_system_resource`): neither is a whole answer. A `stop`
/// (or an unknown or missing reason) beside tool calls maps to
/// `ToolCalls`, since the model is waiting for their results; an unknown
/// or missing reason without tool calls maps to `Stop`.
pub(crate) fn finish_reason(reason: Option<&str>, has_tool_calls: bool) -> FinishReason {
    match reason {
        Some("length" | "model_length" | "max_tokens") => FinishReason::Length,
        Some("content_filter") => FinishReason::ContentFilter,
        Some("error" | "abort" | "insufficient_system_resource") => FinishReason::Error,
        Some("tool_calls" | "function_call") => FinishReason::ToolCalls,
        _ if has_tool_calls => FinishReason::ToolCalls,
        _ => FinishReason::Stop,
    }
}

/// A reply's finish `reason` and `text` once its `refusal` (structured
/// outputs) is read: a refusal in a reply with no tool call is no answer,
/// but the content filter's finish, its words (their first
/// [`MESSAGE_LIMIT`] bytes) the text where there is no other.
pub(crate) fn refused(
    reason: FinishReason,
    text: String,
    refusal: Option<&str>,
    calls: bool,
) -> (FinishReason, String) {
    match refusal.filter(|r| !r.is_empty()) {
        Some(refusal) if !calls => {
            let text = match text.is_empty() {
                true => klieo_types::text::prefix_bytes(refusal, MESSAGE_LIMIT).to_owned(),
                false => text,
            };
            (FinishReason::ContentFilter, text)
        }
        _ => (reason, text),
    }
}

#[derive(Deserialize)]
struct Completion<'a> {
    #[serde(borrow, default)]
    id: Option<RawText<'a>>,
    #[serde(borrow, default)]
    model: Option<RawText<'a>>,
    #[serde(borrow, default)]
    choices: Vec<Choice<'a>>,
    #[serde(default)]
    usage: Option<WireUsage>,
    /// An error object with a 2xx status (some gateways answer so); any
    /// value, read as one only when the reply has no choices.
    #[serde(default)]
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Choice<'a> {
    #[serde(default)]
    index: Option<u32>,
    #[serde(borrow)]
    message: ReplyMessage<'a>,
    #[serde(borrow, default)]
    finish_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct ReplyMessage<'a> {
    #[serde(borrow, default)]
    content: Option<Cow<'a, str>>,
    /// The model's refusal (structured outputs): its words, in place of
    /// an answer.
    #[serde(borrow, default)]
    refusal: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    tool_calls: Option<Vec<ReplyToolCall<'a>>>,
    #[serde(borrow, default)]
    function_call: Option<ReplyFunction<'a>>,
}

#[derive(Deserialize)]
struct ReplyToolCall<'a> {
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    function: ReplyFunction<'a>,
}

#[derive(Deserialize)]
struct ReplyFunction<'a> {
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    arguments: Option<RawText<'a>>,
}

impl ReplyFunction<'_> {
    fn into_call(self, id: String) -> ToolCall {
        ToolCall::from_raw(
            id,
            self.name.map(Cow::into_owned).unwrap_or_default(),
            self.arguments.map(|a| a.0.into_owned()).unwrap_or_default(),
        )
    }
}

/// Decodes a Chat Completions reply.
///
/// Uses the choice with index 0 (or the first). `content: null` is empty
/// text. `tool_calls` wins over a legacy `function_call` beside it; a
/// message with only a `function_call` becomes one tool call with id
/// `call_0`. Tool-call arguments are kept as raw text, valid JSON or not.
/// A `refusal` (structured outputs) ends as
/// [`FinishReason::ContentFilter`], its words as the text when there is
/// no other. Unknown fields are ignored.
pub(crate) fn parse_completion(body: &[u8], hidden: &Hidden) -> Result<ChatResponse, LlmError> {
    let reply: Completion<'_> = serde_json::from_slice(body)
        .map_err(|e| decoding_from("not a chat completion", &e, body, hidden))?;
    let info = ReplyInfo::new(
        reply.id.map(|t| t.0.into_owned()),
        reply.model.map(|t| t.0.into_owned()),
    );
    let position = reply
        .choices
        .iter()
        .position(|c| c.index == Some(0))
        .unwrap_or(0);
    let Some(choice) = reply.choices.into_iter().nth(position) else {
        let error = reply.error.as_ref();
        if let Some(error) = error.and_then(|e| ErrorField::deserialize(e).ok()) {
            return Err(error.into_error(hidden));
        }
        return Err(decoding("the reply has no choices", body, hidden));
    };
    let message = choice.message;
    let content = message.content.map(Cow::into_owned).unwrap_or_default();
    let calls: Vec<ToolCall> = match (message.tool_calls, message.function_call) {
        (Some(calls), _) if !calls.is_empty() => calls
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                let id =
                    c.id.filter(|id| !id.is_empty())
                        .map_or_else(|| ToolCall::fallback_id(i), Cow::into_owned);
                c.function.into_call(id)
            })
            .collect(),
        (_, Some(legacy)) if legacy.name.as_deref().is_some_and(|n| !n.is_empty()) => {
            vec![legacy.into_call(ToolCall::fallback_id(0))]
        }
        _ => Vec::new(),
    };
    let reason = finish_reason(choice.finish_reason.as_deref(), !calls.is_empty());
    let refusal = message.refusal.as_deref();
    let (reason, content) = refused(reason, content, refusal, !calls.is_empty());
    let message = if calls.is_empty() {
        Message::assistant(content)
    } else {
        Message::assistant_tool_calls(content, calls)
    };
    let mut response = ChatResponse::new(message, reason).with_info(info);
    response.usage = reply.usage.map(Usage::from);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_text_keeps_strings_and_serializes_objects() {
        #[derive(Deserialize)]
        struct T<'a> {
            #[serde(borrow)]
            a: Option<RawText<'a>>,
        }
        let parse = |s: &str| -> Option<String> {
            serde_json::from_str::<T<'_>>(s)
                .ok()
                .and_then(|t| t.a)
                .map(|r| r.0.into_owned())
        };
        assert_eq!(
            parse(r#"{"a":"{\"x\": 1}"}"#).as_deref(),
            Some("{\"x\": 1}")
        );
        assert_eq!(parse(r#"{"a":{"x":1}}"#).as_deref(), Some("{\"x\":1}"));
        assert_eq!(parse(r#"{"a":null}"#), None);
        assert_eq!(parse(r#"{"a":7}"#).as_deref(), Some("7"));
    }

    #[test]
    fn counts_written_as_fractions_or_below_zero_are_read() {
        let wire: WireUsage =
            serde_json::from_str(r#"{"prompt_tokens": 12.0, "completion_tokens": -1}"#)
                .expect("usage");
        let usage = Usage::from(wire);
        assert_eq!((usage.input_tokens, usage.output_tokens), (12, 0));
    }

    #[test]
    fn finish_reasons() {
        assert_eq!(finish_reason(Some("stop"), false), FinishReason::Stop);
        assert_eq!(finish_reason(Some("stop"), true), FinishReason::ToolCalls);
        assert_eq!(finish_reason(Some("length"), true), FinishReason::Length);
        assert_eq!(
            finish_reason(Some("function_call"), false),
            FinishReason::ToolCalls
        );
        assert_eq!(finish_reason(Some("eos"), false), FinishReason::Stop);
        for cut in ["model_length", "max_tokens"] {
            assert_eq!(
                finish_reason(Some(cut), false),
                FinishReason::Length,
                "{cut}"
            );
        }
        for given_up in ["abort", "insufficient_system_resource"] {
            assert_eq!(
                finish_reason(Some(given_up), false),
                FinishReason::Error,
                "{given_up}"
            );
        }
        assert_eq!(finish_reason(None, true), FinishReason::ToolCalls);
    }
}
