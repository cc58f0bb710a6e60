//! What comes back from a model: [`ChatResponse`] whole, or [`ChatChunk`]s
//! as they stream, with [`Usage`] and the [`FinishReason`].

use crate::failover::ProviderSwitch;
use crate::message::Message;
use crate::rate::RateWait;
use crate::tool_call::ToolCall;
use serde::{Deserialize, Serialize};

/// Tokens a call consumed, as reported by the provider.
///
/// Wherever usage appears it is an `Option<Usage>`: `None` means the
/// provider did not say, which is not the same as zero.
///
/// ```
/// use klieo_types::Usage;
///
/// let u = Usage::new(12, 5);
/// assert_eq!(u.total(), 17);
/// assert_eq!(u + Usage::new(1, 1), Usage::new(13, 6));
///
/// // 100 prompt tokens, 80 of them read from the provider's cache.
/// let cached = Usage::new(100, 5).with_cache(80, 0);
/// assert_eq!(cached.cached_input_tokens, 80);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens of the request (the whole prompt, cached parts included).
    pub input_tokens: u32,
    /// Tokens the model generated.
    pub output_tokens: u32,
    /// Of `input_tokens`, those read from the provider's prompt cache (0
    /// when it did not say).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cached_input_tokens: u32,
    /// Of `input_tokens`, those written to the provider's prompt cache (0
    /// when it did not say).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache_creation_tokens: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Usage {
    /// Usage of `input_tokens` in and `output_tokens` out.
    pub const fn new(input_tokens: u32, output_tokens: u32) -> Self {
        Self {
            input_tokens,
            output_tokens,
            cached_input_tokens: 0,
            cache_creation_tokens: 0,
        }
    }

    /// The same usage, `read` of its input tokens read from the prompt
    /// cache and `created` written to it.
    pub const fn with_cache(mut self, read: u32, created: u32) -> Self {
        self.cached_input_tokens = read;
        self.cache_creation_tokens = created;
        self
    }

    /// Input plus output, saturating.
    pub const fn total(&self) -> u32 {
        self.input_tokens.saturating_add(self.output_tokens)
    }
}

impl std::ops::Add for Usage {
    type Output = Usage;

    fn add(self, rhs: Usage) -> Usage {
        Usage {
            input_tokens: self.input_tokens.saturating_add(rhs.input_tokens),
            output_tokens: self.output_tokens.saturating_add(rhs.output_tokens),
            cached_input_tokens: self
                .cached_input_tokens
                .saturating_add(rhs.cached_input_tokens),
            cache_creation_tokens: self
                .cache_creation_tokens
                .saturating_add(rhs.cache_creation_tokens),
        }
    }
}

/// Why the model stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FinishReason {
    /// A complete answer.
    Stop,
    /// Cut off by the token limit.
    Length,
    /// The model asks for tool calls.
    ToolCalls,
    /// The provider's content filter withheld the answer.
    ContentFilter,
    /// The provider reported a failure while generating.
    Error,
    /// The reply was cut off before the model finished: its stream's
    /// consumer went away. Recorded by the runtime for what had come (a
    /// provider never reports it), so that the call is counted.
    Interrupted,
}

impl FinishReason {
    /// The snake-case name used in episodes and traces (`"tool_calls"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::ToolCalls => "tool_calls",
            FinishReason::ContentFilter => "content_filter",
            FinishReason::Error => "error",
            FinishReason::Interrupted => "interrupted",
        }
    }
}

/// A whole reply.
///
/// ```
/// use klieo_types::{ChatResponse, FinishReason, Message, Usage};
///
/// let r = ChatResponse::new(Message::assistant("391"), FinishReason::Stop)
///     .with_usage(Usage::new(30, 2));
/// assert_eq!(r.message.content, "391");
/// assert_eq!(r.usage.map(|u| u.total()), Some(32));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ChatResponse {
    /// The assistant message.
    pub message: Message,
    /// Tokens consumed, when the provider reported them.
    pub usage: Option<Usage>,
    /// Why generation ended.
    pub finish_reason: FinishReason,
    /// The server's id of the reply and the model that answered, when it
    /// said (traces record them). Boxed, as on [`ChatChunk`]: a reply is
    /// moved through the stream's events, whose size is that of their
    /// largest variant.
    pub info: Option<Box<ReplyInfo>>,
}

/// What a server says of a reply itself: its id and the model that wrote
/// it (which may differ from the one asked for: a dated version, an alias
/// resolved); and, from a client made of several providers, which one
/// answered and the ones it passed over first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ReplyInfo {
    /// The server's id of the reply (`chatcmpl-…`, `msg_…`).
    pub id: Option<String>,
    /// The model that answered.
    pub model: Option<String>,
    /// The provider that answered, when a client chose among several.
    pub provider: Option<String>,
    /// The providers passed over before `provider` answered, in order.
    pub switches: Vec<ProviderSwitch>,
    /// How long the call waited for a shared rate limit before it was
    /// sent, when it waited.
    pub rate_wait: Option<RateWait>,
}

impl ReplyInfo {
    /// The id and model a server gave; empty ones count as not given.
    pub fn new(id: Option<String>, model: Option<String>) -> Self {
        Self {
            id: id.filter(|s| !s.is_empty()),
            model: model.filter(|s| !s.is_empty()),
            provider: None,
            switches: Vec::new(),
            rate_wait: None,
        }
    }
}

impl ChatResponse {
    /// A reply with unknown usage.
    pub fn new(message: Message, finish_reason: FinishReason) -> Self {
        Self {
            message,
            usage: None,
            finish_reason,
            info: None,
        }
    }

    /// Sets the server's id of the reply and the model that answered
    /// (left unset when it says nothing).
    pub fn with_info(mut self, info: ReplyInfo) -> Self {
        self.info = (info != ReplyInfo::default()).then(|| Box::new(info));
        self
    }

    /// Sets the reported usage.
    pub fn with_usage(mut self, usage: Usage) -> Self {
        self.usage = Some(usage);
        self
    }
}

/// One piece of a streamed reply.
///
/// Text arrives as `delta`s. Tool calls arrive whole: a provider assembles
/// the fragments its server sends and emits each call once it is complete.
/// The last chunk carries the `finish_reason`; `usage`, when the provider
/// reports it, may come on any chunk (usually the last).
///
/// ```
/// use klieo_types::{ChatChunk, FinishReason};
///
/// let text = ChatChunk::delta("Hel");
/// let end = ChatChunk::finish(FinishReason::Stop);
/// assert_eq!(text.delta, "Hel");
/// assert_eq!(end.finish_reason, Some(FinishReason::Stop));
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct ChatChunk {
    /// New text.
    pub delta: String,
    /// Tool calls completed in this chunk.
    pub tool_calls: Vec<ToolCall>,
    /// Set on the chunk that ends the reply.
    pub finish_reason: Option<FinishReason>,
    /// Tokens consumed, on the chunk where the provider reports them.
    pub usage: Option<Usage>,
    /// The server's id of the reply and the model that answered, on the
    /// last chunk, when the server said. Boxed: most chunks carry none,
    /// and a smaller chunk is a faster one to pass along.
    pub info: Option<Box<ReplyInfo>>,
}

impl ChatChunk {
    /// A chunk of text.
    pub fn delta(text: impl Into<String>) -> Self {
        Self {
            delta: text.into(),
            ..Self::default()
        }
    }

    /// A chunk carrying completed tool calls.
    pub fn tool_calls(calls: Vec<ToolCall>) -> Self {
        Self {
            tool_calls: calls,
            ..Self::default()
        }
    }

    /// The chunk that ends the reply.
    pub fn finish(reason: FinishReason) -> Self {
        Self {
            finish_reason: Some(reason),
            ..Self::default()
        }
    }

    /// Sets the finish reason.
    pub fn with_finish_reason(mut self, reason: FinishReason) -> Self {
        self.finish_reason = Some(reason);
        self
    }

    /// Sets the reported usage.
    pub fn with_usage(mut self, usage: Usage) -> Self {
        self.usage = Some(usage);
        self
    }

    /// Sets the server's id of the reply and the model that answered
    /// (left unset when it says nothing).
    pub fn with_info(mut self, info: ReplyInfo) -> Self {
        self.info = (info != ReplyInfo::default()).then(|| Box::new(info));
        self
    }
}

impl From<ChatResponse> for ChatChunk {
    /// A whole reply as one chunk (a server that answered a streamed
    /// request with a whole reply): its text, its tool calls, its finish
    /// reason, usage and what the server said of it.
    ///
    /// ```
    /// use klieo_types::{ChatChunk, ChatResponse, FinishReason, Message, ReplyInfo};
    ///
    /// let reply = ChatResponse::new(Message::assistant("hi"), FinishReason::Stop)
    ///     .with_info(ReplyInfo::new(Some("r1".into()), Some("m".into())));
    /// let chunk = ChatChunk::from(reply);
    /// assert_eq!(chunk.delta, "hi");
    /// assert_eq!(chunk.finish_reason, Some(FinishReason::Stop));
    /// assert_eq!(chunk.info.unwrap().id.as_deref(), Some("r1"));
    /// ```
    fn from(reply: ChatResponse) -> Self {
        Self {
            delta: reply.message.content,
            tool_calls: reply.message.tool_calls,
            finish_reason: Some(reply.finish_reason),
            usage: reply.usage,
            info: reply.info,
        }
    }
}
