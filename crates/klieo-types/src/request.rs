//! What is sent to a model: [`ChatRequest`] and its parts, [`ToolDef`],
//! [`ToolChoice`] and [`ResponseFormat`].

use crate::message::{estimated_text_tokens, Message};
use crate::transcript::Transcript;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// A tool the model may call: its name, what it does, and a JSON Schema of
/// its arguments.
///
/// ```
/// use klieo_types::ToolDef;
///
/// let def = ToolDef::new(
///     "calculator",
///     "Evaluates an arithmetic expression.",
///     serde_json::json!({
///         "type": "object",
///         "properties": {"expression": {"type": "string"}},
///         "required": ["expression"]
///     }),
/// );
/// assert_eq!(def.name, "calculator");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolDef {
    /// The name the model calls it by.
    pub name: String,
    /// What it does, for the model to read.
    pub description: String,
    /// JSON Schema of the arguments object.
    pub parameters: serde_json::Value,
}

impl ToolDef {
    /// The longest tool name model APIs take: 64 characters (OpenAI's and
    /// Anthropic's bound; MCP allows 128).
    pub const NAME_LIMIT: usize = 64;

    /// Whether model APIs take `c` in a tool's name: an ASCII letter or
    /// digit, `_` or `-` (OpenAI's `^[a-zA-Z0-9_-]{1,64}$`).
    pub fn takes_in_name(c: char) -> bool {
        c.is_ascii_alphanumeric() || c == '_' || c == '-'
    }

    /// `text` with each character [`takes_in_name`](Self::takes_in_name)
    /// refuses made `_`: a prefix, a server's name or a call id as model
    /// APIs take them (borrowed when it is so already).
    ///
    /// ```
    /// use klieo_types::ToolDef;
    ///
    /// assert_eq!(ToolDef::usable_chars("web.search"), "web_search");
    /// assert_eq!(ToolDef::usable_chars("get_weather"), "get_weather");
    /// ```
    pub fn usable_chars(text: &str) -> std::borrow::Cow<'_, str> {
        if text.chars().all(Self::takes_in_name) {
            return std::borrow::Cow::Borrowed(text);
        }
        let usable = text
            .chars()
            .map(|c| if Self::takes_in_name(c) { c } else { '_' });
        std::borrow::Cow::Owned(usable.collect())
    }

    /// Whether model APIs take `name` as a tool's name: 1 to
    /// [`NAME_LIMIT`](Self::NAME_LIMIT) characters that
    /// [`takes_in_name`](Self::takes_in_name) accepts.
    ///
    /// ```
    /// use klieo_types::ToolDef;
    ///
    /// assert!(ToolDef::is_usable_name("get_weather"));
    /// assert!(!ToolDef::is_usable_name("get weather"));
    /// assert!(!ToolDef::is_usable_name(""));
    /// ```
    pub fn is_usable_name(name: &str) -> bool {
        (1..=Self::NAME_LIMIT).contains(&name.len()) && name.chars().all(Self::takes_in_name)
    }

    /// A tool definition.
    pub fn new(
        name: impl Into<String>,
        description: impl Into<String>,
        parameters: serde_json::Value,
    ) -> Self {
        Self {
            name: name.into(),
            description: description.into(),
            parameters,
        }
    }

    /// Its estimated tokens as a provider sends it (name, description,
    /// parameters as JSON, and the template's markers around them),
    /// counted as [`Message::estimated_tokens`] counts text.
    ///
    /// ```
    /// use klieo_types::ToolDef;
    ///
    /// let small = ToolDef::new("echo", "Echoes.", serde_json::json!({}));
    /// let large = ToolDef::new("echo", "Echoes. ".repeat(100), serde_json::json!({}));
    /// assert!(large.estimated_tokens() > small.estimated_tokens() + 100);
    /// ```
    pub fn estimated_tokens(&self) -> usize {
        /// The template's markers around a tool's definition.
        const MARKERS: usize = 8;
        estimated_text_tokens(&self.name)
            + estimated_text_tokens(&self.description)
            + estimated_text_tokens(&self.parameters.to_string())
            + MARKERS
    }
}

/// Whether, and which, tool the model must call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ToolChoice {
    /// The model decides.
    Auto,
    /// The model must answer in text.
    None,
    /// The model must call some tool.
    Required,
    /// The model must call this tool.
    Function(String),
}

/// The shape the model's text must take.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ResponseFormat {
    /// Free text.
    #[default]
    Text,
    /// Any JSON object.
    JsonObject,
    /// JSON matching a schema.
    JsonSchema {
        /// A name for the schema, as some providers require one.
        name: String,
        /// The JSON Schema.
        schema: serde_json::Value,
        /// Ask the provider to enforce the schema strictly.
        strict: bool,
    },
}

/// What a model is told of an answer's shape where its provider cannot
/// enforce it: `instructions`, then the request to reply with only a
/// JSON value of `schema`.
///
/// ```
/// let told = klieo_types::schema_in_instructions("Be brief.", &serde_json::json!({"type": "object"}));
/// assert!(told.starts_with("Be brief.\n\nWhen you give your final answer"));
/// assert!(told.ends_with(r#"{"type":"object"}"#));
/// ```
pub fn schema_in_instructions(instructions: &str, schema: &serde_json::Value) -> String {
    let sep = if instructions.is_empty() { "" } else { "\n\n" };
    format!(
        "{instructions}{sep}When you give your final answer, reply with only a JSON value \
         (no other text) that matches this JSON Schema:\n{schema}"
    )
}

impl ResponseFormat {
    /// The estimated tokens of the schema it sends (name and schema as
    /// JSON); none for free text or any JSON object.
    ///
    /// ```
    /// use klieo_types::ResponseFormat;
    ///
    /// assert_eq!(ResponseFormat::Text.estimated_tokens(), 0);
    /// let schema = ResponseFormat::JsonSchema {
    ///     name: "answer".into(),
    ///     schema: serde_json::json!({"type": "object"}),
    ///     strict: true,
    /// };
    /// assert!(schema.estimated_tokens() > 0);
    /// ```
    pub fn estimated_tokens(&self) -> usize {
        match self {
            Self::JsonSchema { name, schema, .. } => {
                estimated_text_tokens(name) + estimated_text_tokens(&schema.to_string())
            }
            _ => 0,
        }
    }
}

/// One request to a model.
///
/// Fields are public to read; build with [`ChatRequest::new`] and the
/// `with_*` methods, which keep working as fields are added.
///
/// ```
/// use klieo_types::{ChatRequest, Message, ToolChoice};
///
/// let req = ChatRequest::new(vec![Message::user("Hello")])
///     .with_temperature(0.0)
///     .with_max_tokens(64)
///     .with_tool_choice(ToolChoice::None);
/// assert_eq!(req.messages.len(), 1);
/// assert_eq!(req.max_tokens, Some(64));
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct ChatRequest {
    /// The conversation so far, oldest first.
    pub messages: Transcript,
    /// Tools the model may call; shared, since they rarely change in a run.
    pub tools: Arc<[ToolDef]>,
    /// Tool policy; `None` leaves it to the provider's default.
    pub tool_choice: Option<ToolChoice>,
    /// Sampling temperature.
    pub temperature: Option<f32>,
    /// Upper bound on generated tokens.
    pub max_tokens: Option<u32>,
    /// Sequences that end generation.
    pub stop: Vec<String>,
    /// Required shape of the answer.
    pub response_format: ResponseFormat,
    /// Model name overriding the client's default.
    pub model: Option<String>,
    /// Deadline for the whole of a blocking call
    /// ([`LlmClient::complete`](crate::LlmClient::complete)), overriding
    /// the client's default. A streamed call is not cut by it: it is
    /// bounded by the provider's first-byte and idle timeouts, so a reply
    /// that keeps coming runs as long as it takes.
    pub timeout: Option<Duration>,
}

impl ChatRequest {
    /// A request with these messages and defaults for everything else.
    pub fn new(messages: impl Into<Transcript>) -> Self {
        Self {
            messages: messages.into(),
            ..Self::default()
        }
    }

    /// Appends one message.
    pub fn add_message(mut self, message: Message) -> Self {
        self.messages.push(message);
        self
    }

    /// Sets the tools the model may call.
    pub fn with_tools(mut self, tools: impl Into<Arc<[ToolDef]>>) -> Self {
        self.tools = tools.into();
        self
    }

    /// Sets the tool policy.
    pub fn with_tool_choice(mut self, choice: ToolChoice) -> Self {
        self.tool_choice = Some(choice);
        self
    }

    /// Sets the sampling temperature.
    pub fn with_temperature(mut self, temperature: f32) -> Self {
        self.temperature = Some(temperature);
        self
    }

    /// Sets the bound on generated tokens.
    pub fn with_max_tokens(mut self, max_tokens: u32) -> Self {
        self.max_tokens = Some(max_tokens);
        self
    }

    /// Sets the stop sequences.
    pub fn with_stop(mut self, stop: Vec<String>) -> Self {
        self.stop = stop;
        self
    }

    /// Sets the answer's required shape.
    pub fn with_response_format(mut self, format: ResponseFormat) -> Self {
        self.response_format = format;
        self
    }

    /// Overrides the client's model for this request.
    pub fn with_model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// Overrides the client's deadline for this request, when it is made
    /// blocking (see [`timeout`](Self::timeout)).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}
