//! The `POST /v1/messages` body: the system prompt apart, turns that
//! alternate between user and assistant, content blocks, tools and the
//! tool choice; with prompt caching, `cache_control` breakpoints on the
//! last tool, the system prompt and the conversation's last block.

use klieo_provider::tool_calls::object_schema;
use klieo_types::{ChatRequest, Message, Role, ToolChoice, ToolDef};
use serde::Serialize;
use serde_json::Value;
use std::borrow::Cow;

/// A Messages API request body.
#[derive(Serialize)]
pub(crate) struct MessagesBody<'a> {
    model: &'a str,
    max_tokens: u32,
    #[serde(skip_serializing_if = "System::is_empty")]
    system: System,
    messages: Vec<Turn<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<Tool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<Choice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    stop_sequences: Vec<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
}

/// A prompt-cache breakpoint: the prefix up to and including what carries
/// it is cached (Anthropic keeps it five minutes).
#[derive(Serialize, Clone, Copy)]
struct CacheControl {
    #[serde(rename = "type")]
    kind: &'static str,
}

/// The one kind of breakpoint the API has.
const EPHEMERAL: CacheControl = CacheControl { kind: "ephemeral" };

/// The system prompt: text, or (to carry a breakpoint) one text block.
#[derive(Serialize)]
#[serde(untagged)]
enum System {
    Text(String),
    Blocks([SystemBlock; 1]),
}

impl System {
    fn is_empty(&self) -> bool {
        match self {
            Self::Text(text) => text.is_empty(),
            Self::Blocks(_) => false,
        }
    }
}

#[derive(Serialize)]
struct SystemBlock {
    #[serde(rename = "type")]
    kind: &'static str,
    text: String,
    cache_control: CacheControl,
}

/// One turn: a role and its blocks.
#[derive(Serialize)]
struct Turn<'a> {
    role: &'static str,
    content: Vec<Block<'a>>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block<'a> {
    Text {
        text: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_control: Option<CacheControl>,
    },
    ToolUse {
        id: Cow<'a, str>,
        name: &'a str,
        input: Value,
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_control: Option<CacheControl>,
    },
    ToolResult {
        tool_use_id: Cow<'a, str>,
        content: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_control: Option<CacheControl>,
    },
}

impl Block<'_> {
    /// Marks the block as a cache breakpoint.
    fn mark(&mut self) {
        let (Self::Text { cache_control, .. }
        | Self::ToolUse { cache_control, .. }
        | Self::ToolResult { cache_control, .. }) = self;
        *cache_control = Some(EPHEMERAL);
    }
}

#[derive(Serialize)]
struct Tool<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    description: &'a str,
    input_schema: Cow<'a, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_control: Option<CacheControl>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Choice<'a> {
    Auto,
    Any,
    Tool { name: &'a str },
    None,
}

impl<'a> MessagesBody<'a> {
    /// The body for `req`, sent to `model`, with `max_tokens` when the
    /// request sets none.
    ///
    /// System messages, wherever they are, join the `system` field (in
    /// order, a blank line apart). Tool results go in a user turn as
    /// `tool_result` blocks; consecutive messages of one role share a turn
    /// (the API wants the roles to alternate). Empty text is left out (the
    /// API rejects empty text blocks), and a turn left with no block is
    /// dropped. A tool call's arguments go as its `input` object; text
    /// that is not a JSON object goes as `{}` (the runtime has already
    /// told the model what was wrong with it). A `tool_choice` without
    /// tools is left out.
    ///
    /// With `caching`, the prefix a run's next request shares is marked
    /// for the prompt cache: the last tool, the system prompt (sent as one
    /// block) and the last block of the conversation (the history the
    /// next step's request begins with), three of the API's four
    /// breakpoints. A prefix shorter than the model's minimum (1,024
    /// tokens for most) is not cached, and costs nothing more.
    pub(crate) fn new(
        req: &'a ChatRequest,
        model: &'a str,
        max_tokens: u32,
        stream: bool,
        caching: bool,
    ) -> Self {
        let mut system = String::new();
        let mut turns: Vec<Turn<'a>> = Vec::new();
        for message in req.messages.iter() {
            let (role, blocks) = match message.role {
                Role::System => {
                    // The API refuses text that is only whitespace.
                    if !message.content.trim().is_empty() {
                        if !system.is_empty() {
                            system.push_str("\n\n");
                        }
                        system.push_str(&message.content);
                    }
                    continue;
                }
                Role::Assistant => ("assistant", assistant_blocks(message)),
                Role::Tool => ("user", vec![tool_result(message)]),
                _ => ("user", text_block(&message.content).into_iter().collect()),
            };
            if blocks.is_empty() {
                continue;
            }
            match turns.last_mut() {
                Some(last) if last.role == role => last.content.extend(blocks),
                _ => turns.push(Turn {
                    role,
                    content: blocks,
                }),
            }
        }
        let mut tools: Vec<Tool<'a>> = req.tools.iter().map(Tool::new).collect();
        let system = match system {
            text if !caching || text.is_empty() => System::Text(text),
            text => System::Blocks([SystemBlock {
                kind: "text",
                text,
                cache_control: EPHEMERAL,
            }]),
        };
        if caching {
            if let Some(last) = tools.last_mut() {
                last.cache_control = Some(EPHEMERAL);
            }
            if let Some(block) = turns.last_mut().and_then(|t| t.content.last_mut()) {
                block.mark();
            }
        }
        let tool_choice = match &req.tool_choice {
            _ if tools.is_empty() => None,
            None | Some(ToolChoice::Auto) => Some(Choice::Auto),
            Some(ToolChoice::Required) => Some(Choice::Any),
            Some(ToolChoice::Function(name)) => Some(Choice::Tool { name }),
            Some(ToolChoice::None) => Some(Choice::None),
            Some(_) => Some(Choice::Auto),
        };
        Self {
            model,
            max_tokens: req.max_tokens.unwrap_or(max_tokens),
            system,
            messages: turns,
            tools,
            tool_choice,
            // The API takes 0 to 1.
            temperature: req.temperature.map(|t| t.min(1.0)),
            // The API refuses a stop sequence of only whitespace.
            stop_sequences: req
                .stop
                .iter()
                .map(String::as_str)
                .filter(|stop| !stop.trim().is_empty())
                .collect(),
            stream,
        }
    }
}

impl<'a> Tool<'a> {
    fn new(def: &'a ToolDef) -> Self {
        Self {
            name: &def.name,
            description: &def.description,
            input_schema: object_schema(&def.parameters),
            cache_control: None,
        }
    }
}

/// A call's id as the API takes it (`^[a-zA-Z0-9_-]+$`), the same for a
/// call and its result: as it is, or, for one another provider made
/// (`functions.add:0`), its refused characters made `_` and a digest of
/// the whole id after them, so two ids that differ only there (`a.b`,
/// `a:b`) stay two. Such ids failed every later request of the thread.
fn usable_id(id: &str) -> Cow<'_, str> {
    if !id.is_empty() && id.chars().all(ToolDef::takes_in_name) {
        return Cow::Borrowed(id);
    }
    let digest = klieo_types::digest::fnv1a(id.bytes()) & 0xffff_ffff;
    Cow::Owned(format!("{}_{digest:08x}", ToolDef::usable_chars(id)))
}

/// `text` as a block, unless it is only whitespace, which the API refuses
/// ("text content blocks must contain non-whitespace text"): a reply of
/// `"\n\n"` before its tool call would fail every later request.
fn text_block(text: &str) -> Option<Block<'_>> {
    (!text.trim().is_empty()).then_some(Block::Text {
        text,
        cache_control: None,
    })
}

fn assistant_blocks(message: &Message) -> Vec<Block<'_>> {
    let mut blocks: Vec<Block<'_>> = text_block(&message.content).into_iter().collect();
    for call in &message.tool_calls {
        let input = match serde_json::from_str::<Value>(call.arguments()) {
            Ok(object @ Value::Object(_)) => object,
            _ => Value::Object(serde_json::Map::new()),
        };
        blocks.push(Block::ToolUse {
            id: usable_id(&call.id),
            name: &call.name,
            input,
            cache_control: None,
        });
    }
    blocks
}

fn tool_result(message: &Message) -> Block<'_> {
    Block::ToolResult {
        tool_use_id: usable_id(message.tool_call_id.as_deref().unwrap_or_default()),
        content: &message.content,
        cache_control: None,
    }
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
