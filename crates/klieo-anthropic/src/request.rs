//! The `POST /v1/messages` body: the system prompt apart, turns that
//! alternate between user and assistant, content blocks, tools and the
//! tool choice.

use klieo_types::{ChatRequest, Message, Role, ToolChoice, ToolDef};
use serde::Serialize;
use serde_json::Value;

/// A Messages API request body.
#[derive(Serialize)]
pub(crate) struct MessagesBody<'a> {
    model: &'a str,
    max_tokens: u32,
    #[serde(skip_serializing_if = "String::is_empty")]
    system: String,
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
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: Value,
    },
    ToolResult {
        tool_use_id: &'a str,
        content: &'a str,
    },
}

#[derive(Serialize)]
struct Tool<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    description: &'a str,
    input_schema: &'a Value,
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
    pub(crate) fn new(req: &'a ChatRequest, model: &'a str, max_tokens: u32, stream: bool) -> Self {
        let mut system = String::new();
        let mut turns: Vec<Turn<'a>> = Vec::new();
        for message in req.messages.iter() {
            let (role, blocks) = match message.role {
                Role::System => {
                    if !message.content.is_empty() {
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
        let tools: Vec<Tool<'a>> = req.tools.iter().map(Tool::new).collect();
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
        }
    }
}

fn text_block(text: &str) -> Option<Block<'_>> {
    (!text.is_empty()).then_some(Block::Text { text })
}

fn assistant_blocks(message: &Message) -> Vec<Block<'_>> {
    let mut blocks: Vec<Block<'_>> = text_block(&message.content).into_iter().collect();
    for call in &message.tool_calls {
        let input = match serde_json::from_str::<Value>(&call.arguments) {
            Ok(object @ Value::Object(_)) => object,
            _ => Value::Object(serde_json::Map::new()),
        };
        blocks.push(Block::ToolUse {
            id: &call.id,
            name: &call.name,
            input,
        });
    }
    blocks
}

fn tool_result(message: &Message) -> Block<'_> {
    Block::ToolResult {
        tool_use_id: message.tool_call_id.as_deref().unwrap_or_default(),
        content: &message.content,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use klieo_types::ToolCall;
    use serde_json::json;

    fn body(req: &ChatRequest) -> Value {
        serde_json::to_value(MessagesBody::new(req, "m", 512, false)).expect("serializes")
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
