//! Request bodies on the wire: Chat Completions and embeddings, serialized
//! straight from borrowed klieo values (no intermediate JSON tree).

use klieo_provider::tool_calls::object_schema;
use klieo_types::{
    ChatRequest, LlmError, Message, ResponseFormat, Role, ToolCall, ToolChoice, ToolDef, Transcript,
};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::Serialize;
use serde_json::Value;
use std::borrow::Cow;

/// A `POST /chat/completions` body.
#[derive(Serialize)]
pub(crate) struct ChatBody<'a> {
    model: &'a str,
    messages: Messages<'a>,
    #[serde(skip_serializing_if = "Tools::is_empty")]
    tools: Tools<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<WireToolChoice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u32>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    stop: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<WireFormat<'a>>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
}

/// How the server at hand takes a request's fields.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dialect {
    /// It honours a tool forced by name (else a named choice goes as
    /// `required` with only that tool).
    pub(crate) named_choice: bool,
    /// It is OpenAI's own API (or Azure OpenAI's), which takes the reply's
    /// bound as `max_completion_tokens` (its reasoning models refuse
    /// `max_tokens`; other servers, llama.cpp, vLLM, older ones, get
    /// `max_tokens`), a call id of at most 40 bytes (other servers' ids
    /// go back as they came) and at most 128 tools.
    pub(crate) openai: bool,
    /// A streamed request asks for the usage in the stream
    /// (`stream_options`), which some servers and gateways refuse as an
    /// unknown parameter (see `OpenAiClient::stream`).
    pub(crate) stream_usage: bool,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

impl<'a> ChatBody<'a> {
    /// The body for `req`, sent to `model`; `stream` asks for SSE with
    /// usage. A `tool_choice` without tools is left out (OpenAI rejects
    /// it); with tools and no choice, `auto` is sent, which is OpenAI's
    /// default but not llama-cpp-python's (it answers in text without
    /// one). A `response_format` of plain text is left out (the default).
    /// The fields are named as the server's `dialect` takes them.
    pub(crate) fn new(
        req: &'a ChatRequest,
        model: &'a str,
        stream: bool,
        dialect: Dialect,
    ) -> Result<Self, LlmError> {
        let mut tools: &[ToolDef] = &req.tools;
        if dialect.openai && tools.len() > TOOLS_LIMIT {
            return Err(LlmError::Unsupported(format!(
                "the request offers {} tools, and OpenAI takes at most {TOOLS_LIMIT}: offer \
                 fewer (MCP servers' tools add up), or send it to another provider",
                tools.len()
            )));
        }
        if let Some(ToolChoice::Function(name)) = &req.tool_choice {
            if !req.tools.iter().any(|t| t.name == *name) {
                return Err(unknown_forced_tool(name));
            }
        }
        let tool_choice = match &req.tool_choice {
            _ if req.tools.is_empty() => None,
            Some(ToolChoice::Function(name)) if !dialect.named_choice => {
                if let Some(tool) = req.tools.iter().find(|t| t.name == *name) {
                    tools = std::slice::from_ref(tool);
                }
                Some(WireToolChoice::new(&ToolChoice::Required)?)
            }
            Some(choice) => Some(WireToolChoice::new(choice)?),
            None => Some(WireToolChoice::new(&ToolChoice::Auto)?),
        };
        Ok(Self {
            model,
            messages: Messages(&req.messages, dialect),
            tools: Tools(tools),
            tool_choice,
            temperature: req.temperature,
            max_tokens: req.max_tokens.filter(|_| !dialect.openai),
            max_completion_tokens: req.max_tokens.filter(|_| dialect.openai),
            stop: &req.stop,
            response_format: WireFormat::new(&req.response_format)?,
            stream,
            stream_options: (stream && dialect.stream_usage).then_some(StreamOptions {
                include_usage: true,
            }),
        })
    }
}

/// A tool forced by a name the request's tools do not have: the model
/// could call none of them as asked.
fn unknown_forced_tool(name: &str) -> LlmError {
    LlmError::bad_request(format!(
        "tool_choice forces the tool `{name}`, which is not among the request's tools: \
         name one of them, or leave the choice to the model"
    ))
}

/// The transcript as a JSON array, one [`WireMessage`] per message, as
/// the server's dialect takes it (call ids, see [`wire_id`]).
struct Messages<'a>(&'a Transcript, Dialect);

impl Serialize for Messages<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for message in self.0.iter() {
            seq.serialize_element(&WireMessage(message, self.1))?;
        }
        seq.end()
    }
}

/// One message. `content` is always a string, even for an assistant message
/// that only calls tools (`""`): llama-cpp-python's server rejects `null`
/// and a missing `content` there with a 500.
struct WireMessage<'a>(&'a Message, Dialect);

impl Serialize for WireMessage<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (m, dialect) = (self.0, self.1);
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("role", m.role.as_str())?;
        map.serialize_entry("content", &m.content)?;
        if m.role == Role::Assistant && !m.tool_calls.is_empty() {
            map.serialize_entry("tool_calls", &ToolCalls(&m.tool_calls, dialect))?;
        }
        if m.role == Role::Tool {
            let id = m.tool_call_id.as_deref().unwrap_or_default();
            map.serialize_entry("tool_call_id", &wire_id(id, dialect))?;
        }
        map.end()
    }
}

struct ToolCalls<'a>(&'a [ToolCall], Dialect);

/// The most tools OpenAI's API takes in one request.
const TOOLS_LIMIT: usize = 128;

/// The longest call id OpenAI's API takes.
const ID_LIMIT: usize = 40;

/// A call's id as the server takes it, the same for a call and its
/// result: as it is, or, for OpenAI's own API (`Dialect::openai`) and over 40
/// bytes (llama-cpp-python's are 60, vLLM's 46), `call_` and a digest of
/// the whole id. A thread of such calls that failed over to OpenAI was
/// refused ("string too long") at every request.
fn wire_id(id: &str, dialect: Dialect) -> Cow<'_, str> {
    if !dialect.openai || id.len() <= ID_LIMIT {
        return Cow::Borrowed(id);
    }
    Cow::Owned(format!(
        "call_{:016x}",
        klieo_types::digest::fnv1a(id.bytes())
    ))
}

impl Serialize for ToolCalls<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|c| WireToolCall {
            id: wire_id(&c.id, self.1),
            kind: "function",
            function: WireFunction {
                name: &c.name,
                arguments: sendable(c.arguments()),
            },
        }))
    }
}

/// A call's arguments as they go back to the server in a later request:
/// the model's text when it is a JSON object, else `{}` (as the Anthropic
/// client sends it). A call cut off by `length`, or a small model's bad
/// JSON, stays in the thread with its error as its result, and servers
/// that render calls through a chat template (llama-server, vLLM) refuse
/// every later request that holds text they cannot parse.
fn sendable(arguments: &str) -> &str {
    let object = arguments.trim_start().starts_with('{')
        && serde_json::from_str::<serde::de::IgnoredAny>(arguments).is_ok();
    match object {
        true => arguments,
        false => "{}",
    }
}

#[derive(Serialize)]
struct WireToolCall<'a> {
    id: Cow<'a, str>,
    #[serde(rename = "type")]
    kind: &'static str,
    function: WireFunction<'a>,
}

#[derive(Serialize)]
struct WireFunction<'a> {
    name: &'a str,
    arguments: &'a str,
}

struct Tools<'a>(&'a [ToolDef]);

impl Tools<'_> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for Tools<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|t| WireTool {
            kind: "function",
            function: WireToolDef {
                name: &t.name,
                description: &t.description,
                parameters: object_schema(&t.parameters),
            },
        }))
    }
}

#[derive(Serialize)]
struct WireTool<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: WireToolDef<'a>,
}

#[derive(Serialize)]
struct WireToolDef<'a> {
    name: &'a str,
    description: &'a str,
    parameters: Cow<'a, Value>,
}

/// `"auto"`, `"none"`, `"required"` or `{"type":"function","function":{"name":..}}`.
enum WireToolChoice<'a> {
    Mode(&'static str),
    Function(&'a str),
}

impl<'a> WireToolChoice<'a> {
    fn new(choice: &'a ToolChoice) -> Result<Self, LlmError> {
        Ok(match choice {
            ToolChoice::Auto => Self::Mode("auto"),
            ToolChoice::None => Self::Mode("none"),
            ToolChoice::Required => Self::Mode("required"),
            ToolChoice::Function(name) => Self::Function(name),
            other => {
                return Err(LlmError::Unsupported(format!(
                    "tool choice {other:?} with the OpenAI provider"
                )))
            }
        })
    }
}

impl Serialize for WireToolChoice<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Mode(mode) => serializer.serialize_str(mode),
            Self::Function(name) => {
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("type", "function")?;
                map.serialize_entry("function", &Named { name })?;
                map.end()
            }
        }
    }
}

#[derive(Serialize)]
struct Named<'a> {
    name: &'a str,
}

/// `{"type":"json_object"}` or `{"type":"json_schema","json_schema":{..}}`.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireFormat<'a> {
    JsonObject,
    JsonSchema { json_schema: WireSchema<'a> },
}

#[derive(Serialize)]
struct WireSchema<'a> {
    name: &'a str,
    schema: &'a Value,
    strict: bool,
}

impl<'a> WireFormat<'a> {
    fn new(format: &'a ResponseFormat) -> Result<Option<Self>, LlmError> {
        Ok(match format {
            ResponseFormat::Text => None,
            ResponseFormat::JsonObject => Some(Self::JsonObject),
            ResponseFormat::JsonSchema {
                name,
                schema,
                strict,
            } => Some(Self::JsonSchema {
                json_schema: WireSchema {
                    name,
                    schema,
                    strict: *strict,
                },
            }),
            other => {
                return Err(LlmError::Unsupported(format!(
                    "response format {other:?} with the OpenAI provider"
                )))
            }
        })
    }
}

/// A `POST /embeddings` body.
#[derive(Serialize)]
pub(crate) struct EmbeddingsBody<'a> {
    pub(crate) model: &'a str,
    pub(crate) input: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) dimensions: Option<u32>,
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
