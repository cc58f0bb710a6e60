//! Chat messages: [`Role`], [`Message`] and the [`ToolCall`]s an assistant asks for.

use crate::tool_call::ToolCall;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Who wrote a [`Message`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Instructions that frame the conversation.
    System,
    /// The person (or program) the agent serves.
    User,
    /// The model.
    Assistant,
    /// The result of a tool call, answering one [`ToolCall`] by its id.
    Tool,
}

impl Role {
    /// The lower-case name used on the wire and in logs (`"assistant"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }
}

/// One message of a conversation.
///
/// Build messages with the constructors; they keep the invariants providers
/// rely on (only assistant messages carry tool calls, only tool messages
/// carry a `tool_call_id`).
///
/// ```
/// use klieo_types::{Message, Role, ToolCall};
///
/// let question = Message::user("What is 17*23?");
/// assert_eq!(question.role, Role::User);
///
/// let call = ToolCall::new("c1", "calculator", serde_json::json!({"expression": "17*23"}));
/// let asks = Message::assistant_tool_calls("", vec![call]);
/// let answer = Message::tool_result("c1", "391");
/// assert_eq!(answer.tool_call_id.as_deref(), Some("c1"));
/// assert_eq!(asks.tool_calls.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// Its text; empty when an assistant message only calls tools.
    pub content: String,
    /// Tools the assistant asks to run, in the model's order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// For a [`Role::Tool`] message, the id of the call it answers.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::shared_str::optional"
    )]
    pub tool_call_id: Option<Arc<str>>,
}

impl Message {
    fn plain(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }

    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self::plain(Role::System, content)
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::plain(Role::User, content)
    }

    /// An assistant message with text only.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::plain(Role::Assistant, content)
    }

    /// An assistant message that asks for tool calls (with optional text).
    pub fn assistant_tool_calls(content: impl Into<String>, tool_calls: Vec<ToolCall>) -> Self {
        Self {
            tool_calls,
            ..Self::plain(Role::Assistant, content)
        }
    }

    /// The result of the tool call with id `tool_call_id`.
    pub fn tool_result(tool_call_id: impl Into<Arc<str>>, content: impl Into<String>) -> Self {
        Self {
            tool_call_id: Some(tool_call_id.into()),
            ..Self::plain(Role::Tool, content)
        }
    }

    /// A rough token count without a tokenizer: a token for each four
    /// ASCII letters or spaces, one for each digit and each ASCII
    /// punctuation mark, two for each three bytes of other text, and a
    /// small overhead per message and per tool call. Memories use it to
    /// honour a token budget, and runs to fit a model's window.
    ///
    /// Measured against SmolLM2's tokenizer (llama.cpp's server), the
    /// server counts 0.56 to 1.2 tokens for each estimated one: English
    /// prose 0.8, JSON 0.8 to 0.94, code 0.88, digits 1.15, French 1.2,
    /// Chinese 1.0. Tokenizers that merge digits (GPT-4o's) count fewer; a
    /// run that finds its server counting more scales its estimates up.
    ///
    /// ```
    /// use klieo_types::Message;
    ///
    /// assert_eq!(Message::user("abcdefgh").estimated_tokens(), 4 + 2);
    /// assert_eq!(Message::user("2026-12-05").estimated_tokens(), 4 + 10);
    /// ```
    pub fn estimated_tokens(&self) -> usize {
        const PER_MESSAGE: usize = 4;
        const PER_CALL: usize = 3;
        let calls: usize = self
            .tool_calls
            .iter()
            .map(|c| {
                estimated_text_tokens(&c.name)
                    + estimated_text_tokens(c.arguments())
                    + estimated_text_tokens(&c.id)
            })
            .sum();
        PER_MESSAGE
            + self.tool_calls.len() * PER_CALL
            + estimated_text_tokens(&self.content)
            + calls
    }
}

/// Twelfths of a token each byte is counted as: an ASCII letter or space
/// 3 (a token for four), other ASCII 12 (a token each), any other byte 8
/// (two tokens for three).
const TWELFTHS: [u8; 256] = {
    let mut weights = [8u8; 256];
    let mut b = 0;
    while b < 128 {
        let byte = b as u8;
        weights[b] = if byte.is_ascii_alphabetic() || byte.is_ascii_whitespace() {
            3
        } else {
            12
        };
        b += 1;
    }
    weights
};

/// The estimated tokens of `text`, as [`Message::estimated_tokens`]
/// counts a message's text (a tool's definition, an answer's schema):
/// one table lookup a byte.
///
/// ```
/// // Five marks and a digit, a token each; a letter, a quarter.
/// assert_eq!(klieo_types::estimated_text_tokens(r#"{"a":1}"#), 7);
/// ```
pub fn estimated_text_tokens(text: &str) -> usize {
    let twelfths: usize = text
        .as_bytes()
        .iter()
        .map(|&b| usize::from(TWELFTHS[usize::from(b)]))
        .sum();
    twelfths.div_ceil(12)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_estimate_counts_content_and_calls() {
        let plain = Message::user("abcdefgh");
        assert_eq!(plain.estimated_tokens(), 4 + 2);
        let call = ToolCall::from_raw("id", "fn", "{}");
        let with_call = Message::assistant_tool_calls("", vec![call]);
        // "fn" and "id" a token each, the braces one each.
        assert_eq!(with_call.estimated_tokens(), 4 + 3 + 1 + 2 + 1);
        let chinese = Message::user("灯塔");
        assert_eq!(chinese.estimated_tokens(), 4 + 4, "six bytes, four tokens");
        let mixed = Message::user("Az@[`{ \t\n\r\x0b\x0c~");
        // Letters A, z and the spaces (space, tab, newline, return, form
        // feed): 7, two tokens; @ [ ` { \x0b ~ one each.
        assert_eq!(mixed.estimated_tokens(), 4 + 2 + 6);
    }

    #[test]
    fn message_json_omits_empty_tool_fields() {
        let json = serde_json::to_value(Message::user("hi")).ok();
        assert_eq!(
            json,
            Some(serde_json::json!({"role": "user", "content": "hi"}))
        );
    }
}
