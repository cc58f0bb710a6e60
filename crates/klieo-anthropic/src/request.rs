//! The `POST /v1/messages` body: the system prompt apart, turns that
//! alternate between user and assistant, content blocks, tools and the
//! tool choice; with prompt caching, `cache_control` breakpoints on the
//! last tool, the system prompt and the conversation's last block.

use klieo_types::{ChatRequest, Message, Role, ToolChoice, ToolDef};
use serde::Serialize;
use serde_json::Value;

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
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    stop_sequences: &'a [String],
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
        id: &'a str,
        name: &'a str,
        input: Value,
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_control: Option<CacheControl>,
    },
    ToolResult {
        tool_use_id: &'a str,
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
    input_schema: &'a Value,
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
            temperature: req.temperature,
            stop_sequences: &req.stop,
            stream,
        }
    }
}

impl<'a> Tool<'a> {
    fn new(def: &'a ToolDef) -> Self {
        Self {
            name: &def.name,
            description: &def.description,
            input_schema: &def.parameters,
            cache_control: None,
        }
    }
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
            id: &call.id,
            name: &call.name,
            input,
            cache_control: None,
        });
    }
    blocks
}

fn tool_result(message: &Message) -> Block<'_> {
    Block::ToolResult {
        tool_use_id: message.tool_call_id.as_deref().unwrap_or_default(),
        content: &message.content,
        cache_control: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use klieo_types::ToolCall;
    use serde_json::json;

    fn body(req: &ChatRequest) -> Value {
        serde_json::to_value(MessagesBody::new(req, "m", 512, false, false)).expect("serializes")
    }

    fn cached(req: &ChatRequest) -> Value {
        serde_json::to_value(MessagesBody::new(req, "m", 512, false, true)).expect("serializes")
    }

    #[test]
    fn text_that_is_only_whitespace_is_never_sent() {
        let call = ToolCall::new("tu_1", "add", json!({"a": 1}));
        let req = ChatRequest::new(vec![
            Message::system(" \n"),
            Message::user("add"),
            Message::assistant_tool_calls("\n\n", vec![call]),
            Message::tool_result("tu_1", "2"),
            Message::user("  "),
        ]);
        let sent = body(&req);
        assert!(sent.get("system").is_none(), "{sent}");
        let texts: Vec<&Value> = sent["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .flat_map(|turn| turn["content"].as_array().into_iter().flatten())
            .filter(|block| block["type"] == "text")
            .collect();
        assert_eq!(texts, [&json!({"type": "text", "text": "add"})], "{sent}");
    }

    #[test]
    fn caching_marks_the_last_tool_the_system_and_the_last_block() {
        let call = ToolCall::new("tu_1", "add", json!({"a": 1}));
        let mut req = ChatRequest::new(vec![
            Message::system("Be terse."),
            Message::user("Add 1."),
            Message::assistant_tool_calls("", vec![call]),
            Message::tool_result("tu_1", "1"),
        ]);
        req.tools = vec![
            ToolDef::new("add", "Adds.", json!({"type": "object"})),
            ToolDef::new("sub", "Subtracts.", json!({"type": "object"})),
        ]
        .into();
        let sent = cached(&req);
        let ephemeral = json!({"type": "ephemeral"});
        assert_eq!(
            sent["system"],
            json!([{"type": "text", "text": "Be terse.", "cache_control": ephemeral}])
        );
        assert!(sent["tools"][0].get("cache_control").is_none());
        assert_eq!(sent["tools"][1]["cache_control"], ephemeral);
        let turns = sent["messages"].as_array().expect("turns");
        assert!(turns[0]["content"][0].get("cache_control").is_none());
        assert!(turns[1]["content"][0].get("cache_control").is_none());
        assert_eq!(
            turns[2]["content"],
            json!([{"type": "tool_result", "tool_use_id": "tu_1", "content": "1", "cache_control": ephemeral}])
        );
        let breakpoints = sent.to_string().matches("cache_control").count();
        assert_eq!(breakpoints, 3, "of the API's four");
    }

    #[test]
    fn caching_a_request_without_system_or_tools_marks_its_last_block() {
        let sent = cached(&ChatRequest::new(vec![Message::user("hi")]));
        assert!(sent.get("system").is_none());
        assert!(sent.get("tools").is_none());
        assert_eq!(
            sent["messages"][0]["content"][0]["cache_control"],
            json!({"type": "ephemeral"})
        );
    }

    #[test]
    fn system_apart_tool_results_in_a_user_turn_roles_alternate() {
        let call = ToolCall::new("tu_1", "add", json!({"a": 1}));
        let req = ChatRequest::new(vec![
            Message::system("Be terse."),
            Message::user("Add 1."),
            Message::assistant_tool_calls("", vec![call]),
            Message::tool_result("tu_1", "1"),
            Message::user("Thanks; and?"),
        ]);
        assert_eq!(
            body(&req),
            json!({
                "model": "m",
                "max_tokens": 512,
                "system": "Be terse.",
                "messages": [
                    {"role": "user", "content": [{"type": "text", "text": "Add 1."}]},
                    {"role": "assistant", "content": [
                        {"type": "tool_use", "id": "tu_1", "name": "add", "input": {"a": 1}}
                    ]},
                    {"role": "user", "content": [
                        {"type": "tool_result", "tool_use_id": "tu_1", "content": "1"},
                        {"type": "text", "text": "Thanks; and?"}
                    ]}
                ]
            })
        );
    }

    #[test]
    fn tools_choices_and_sampling_are_sent() {
        let def = ToolDef::new("add", "Adds.", json!({"type": "object"}));
        let mut req = ChatRequest::new(vec![Message::user("hi")]);
        req.tools = vec![def].into();
        req.temperature = Some(0.5);
        req.max_tokens = Some(64);
        req.stop = vec!["END".into()];
        let choice = |choice: Option<ToolChoice>| {
            let mut req = req.clone();
            req.tool_choice = choice;
            body(&req)["tool_choice"].clone()
        };
        assert_eq!(choice(None), json!({"type": "auto"}));
        assert_eq!(choice(Some(ToolChoice::Required)), json!({"type": "any"}));
        assert_eq!(choice(Some(ToolChoice::None)), json!({"type": "none"}));
        assert_eq!(
            choice(Some(ToolChoice::Function("add".into()))),
            json!({"type": "tool", "name": "add"})
        );
        let sent = body(&req);
        assert_eq!(sent["tools"][0]["input_schema"], json!({"type": "object"}));
        assert_eq!(sent["max_tokens"], 64);
        assert_eq!(sent["temperature"], 0.5);
        assert_eq!(sent["stop_sequences"], json!(["END"]));
        assert!(sent.get("stream").is_none());
    }

    #[test]
    fn arguments_that_are_not_an_object_go_as_an_empty_input() {
        let call = ToolCall::from_raw("tu_1", "add", "{not json");
        let req = ChatRequest::new(vec![Message::assistant_tool_calls("", vec![call])]);
        assert_eq!(body(&req)["messages"][0]["content"][0]["input"], json!({}));
    }
}
