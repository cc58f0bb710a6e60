//! What is said, in the shape the GenAI conventions give it
//! (`gen_ai.input.messages`, `gen_ai.output.messages`,
//! `gen_ai.system_instructions`, `gen_ai.tool.definitions`), recorded only
//! when asked for.

use klieo_types::{ChatResponse, FinishReason, Message, Role, ToolCall, ToolDef};
use serde_json::{json, Value};
use std::sync::OnceLock;

/// The standard variable that turns content capture on.
pub(crate) const CAPTURE_VAR: &str = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT";

/// Whether content is recorded: the run's option, else the variable
/// (read once per process).
pub(crate) fn capture(option: Option<bool>) -> bool {
    static FROM_ENV: OnceLock<bool> = OnceLock::new();
    option.unwrap_or_else(|| {
        *FROM_ENV.get_or_init(|| std::env::var(CAPTURE_VAR).is_ok_and(|v| capture_value(&v)))
    })
}

/// What a value of [`CAPTURE_VAR`] means: `true`, and the newer
/// `SPAN_ONLY` and `SPAN_AND_EVENT` (any case), turn it on.
fn capture_value(value: &str) -> bool {
    let value = value.trim().to_ascii_lowercase();
    matches!(
        value.as_str(),
        "true" | "1" | "span_only" | "span_and_event"
    )
}

/// The most characters of one text (a message's part, a call's arguments
/// or result) a span keeps; past it, cut with `…`. A collector refuses a
/// batch past its size (OTLP's exporter sends at most 64 MiB, collectors
/// often take less), and with it every other run's spans.
pub(crate) const PART_CHARS: usize = 64 * 1024;

/// The most of a request's messages a span keeps, as JSON text: the
/// newest whose parts, cut to [`PART_CHARS`], fit in 1 MiB (at least the
/// newest).
pub(crate) const MESSAGES_BYTES: usize = 1024 * 1024;

/// The messages of a request, as `gen_ai.input.messages` (JSON text),
/// within [`MESSAGES_BYTES`]: the oldest are left out first.
pub(crate) fn input_messages<'a>(messages: impl IntoIterator<Item = &'a Message>) -> String {
    let all: Vec<&Message> = messages.into_iter().collect();
    let mut kept: Vec<String> = Vec::new();
    let mut bytes = 2;
    for m in all.into_iter().rev() {
        let shown = message(m).to_string();
        bytes += shown.len() + 1;
        if bytes > MESSAGES_BYTES && !kept.is_empty() {
            break;
        }
        kept.push(shown);
    }
    kept.reverse();
    format!("[{}]", kept.join(","))
}

/// `text`, cut to [`PART_CHARS`] (without a copy of a text that fits).
pub(crate) fn part(text: &str) -> std::borrow::Cow<'_, str> {
    klieo_types::text::cut(text, PART_CHARS)
}

/// A reply, as `gen_ai.output.messages` (JSON text).
pub(crate) fn output_messages(reply: &ChatResponse) -> String {
    let mut out = message(&reply.message);
    out["finish_reason"] = json!(finish_reason(reply.finish_reason));
    Value::Array(vec![out]).to_string()
}

/// A run's answer `text`, given by a reply that ended `finish`, as
/// `gen_ai.output.messages` (JSON text).
pub(crate) fn answer_messages(text: &str, finish: FinishReason) -> String {
    let mut out = message(&Message::assistant(text));
    out["finish_reason"] = json!(finish_reason(finish));
    Value::Array(vec![out]).to_string()
}

/// The system messages among `messages`, as `gen_ai.system_instructions`
/// (JSON text): a list of text parts. `None` when there are none.
pub(crate) fn system_instructions<'a>(
    messages: impl IntoIterator<Item = &'a Message>,
) -> Option<String> {
    let parts: Vec<Value> = messages
        .into_iter()
        .filter(|m| m.role == Role::System)
        .map(|m| json!({"type": "text", "content": part(&m.content)}))
        .collect();
    (!parts.is_empty()).then(|| Value::Array(parts).to_string())
}

/// The most of the tools' definitions a span keeps whole, as JSON text;
/// past it, each tool is named only (a catalogue of MCP servers can run to
/// megabytes).
pub(crate) const DEFINITIONS_BYTES: usize = 1024 * 1024;

/// The tools a model is offered, as `gen_ai.tool.definitions` (JSON text)
/// of at most [`DEFINITIONS_BYTES`]: whole, in order, while they fit;
/// named only after, as many as fit.
pub(crate) fn tool_definitions(tools: &[ToolDef]) -> String {
    let mut bytes = 2;
    let mut whole = true;
    let mut list: Vec<String> = Vec::with_capacity(tools.len());
    for t in tools {
        let named = || json!({"type": "function", "name": t.name}).to_string();
        let mut shown = match whole {
            true => json!({
                "type": "function",
                "name": t.name,
                "description": t.description,
                "parameters": t.parameters,
            })
            .to_string(),
            false => named(),
        };
        if whole && bytes + shown.len() + 1 > DEFINITIONS_BYTES {
            whole = false;
            shown = named();
        }
        if bytes + shown.len() + 1 > DEFINITIONS_BYTES {
            break;
        }
        bytes += shown.len() + 1;
        list.push(shown);
    }
    format!("[{}]", list.join(","))
}

fn message(m: &Message) -> Value {
    let mut parts = Vec::new();
    match m.role {
        Role::Tool => parts.push(json!({
            "type": "tool_call_response",
            "id": m.tool_call_id,
            "response": part(&m.content),
        })),
        _ => {
            if !m.content.is_empty() {
                parts.push(json!({"type": "text", "content": part(&m.content)}));
            }
            parts.extend(m.tool_calls.iter().map(tool_call));
        }
    }
    json!({"role": m.role.as_str(), "parts": parts})
}

fn tool_call(call: &ToolCall) -> Value {
    json!({
        "type": "tool_call",
        "id": call.id,
        "name": call.name,
        "arguments": arguments(call.arguments()),
    })
}

/// Arguments as the JSON they are, or their text when they are not JSON
/// or are past [`PART_CHARS`] (then cut).
pub(crate) fn arguments(text: &str) -> Value {
    if text.len() > PART_CHARS && text.chars().nth(PART_CHARS).is_some() {
        return Value::String(part(text).into_owned());
    }
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// The conventions' finish reasons of an output message.
fn finish_reason(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::ToolCalls => "tool_call",
        other => other.as_str(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tools_past_the_definitions_bound_are_named_only() {
        let long = "d".repeat(400 * 1024);
        let tools: Vec<ToolDef> = (0..4)
            .map(|i| ToolDef::new(format!("t{i}"), long.clone(), json!({"type": "object"})))
            .collect();
        let shown = tool_definitions(&tools);
        assert!(shown.len() <= DEFINITIONS_BYTES, "{} bytes", shown.len());
        let list: Vec<Value> = serde_json::from_str(&shown).expect("JSON");
        let named: Vec<&str> = list.iter().filter_map(|t| t["name"].as_str()).collect();
        assert_eq!(named, ["t0", "t1", "t2", "t3"], "every tool named");
        assert!(list[1]["description"].is_string(), "the first two whole");
        assert!(list[2].get("description").is_none(), "then names only");
    }

    #[test]
    fn the_variable_turns_capture_on_only_when_it_says_so() {
        for on in ["true", "TRUE", "span_only", "SPAN_AND_EVENT", " 1 "] {
            assert!(capture_value(on), "{on}");
        }
        for off in ["false", "", "no_content", "EVENT_ONLY", "yes please"] {
            assert!(!capture_value(off), "{off}");
        }
        assert!(
            capture(Some(true)) && !capture(Some(false)),
            "the option wins"
        );
    }

    #[test]
    fn messages_take_the_conventions_shape() {
        let call = ToolCall::new("c1", "add", json!({"a": 1}));
        let messages = [
            Message::system("Be brief."),
            Message::user("1+1?"),
            Message::assistant_tool_calls("", vec![call]),
            Message::tool_result("c1", "2"),
        ];
        let shown: Value = serde_json::from_str(&input_messages(&messages)).unwrap_or_default();
        let expected = json!([
            {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
            {"role": "user", "parts": [{"type": "text", "content": "1+1?"}]},
            {"role": "assistant", "parts": [
                {"type": "tool_call", "id": "c1", "name": "add", "arguments": {"a": 1}}
            ]},
            {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "response": "2"}]}
        ]);
        assert_eq!(shown, expected);
        let reply = ChatResponse::new(Message::assistant("2"), FinishReason::Stop);
        let out: Value = serde_json::from_str(&output_messages(&reply)).unwrap_or_default();
        assert_eq!(
            out,
            json!([{"role": "assistant", "parts": [{"type": "text", "content": "2"}], "finish_reason": "stop"}])
        );
    }

    #[test]
    fn a_long_conversation_keeps_its_newest_messages_and_cuts_long_parts() {
        let long = "x".repeat(PART_CHARS + 10);
        let shown: Value =
            serde_json::from_str(&input_messages(&[Message::user(long)])).unwrap_or_default();
        let text = shown[0]["parts"][0]["content"].as_str().unwrap_or_default();
        assert_eq!(text.chars().count(), PART_CHARS + 1, "cut, with its mark");
        assert!(text.ends_with('…'));

        let messages: Vec<Message> = (0..40)
            .map(|i| Message::user(format!("{i} {}", "y".repeat(PART_CHARS - 10))))
            .collect();
        let shown = input_messages(&messages);
        assert!(shown.len() <= MESSAGES_BYTES, "{}", shown.len());
        let shown: Value = serde_json::from_str(&shown).unwrap_or_default();
        let kept = shown.as_array().map(Vec::len).unwrap_or_default();
        assert!((1..40).contains(&kept), "{kept}");
        let newest = shown[kept - 1]["parts"][0]["content"]
            .as_str()
            .unwrap_or_default();
        assert!(newest.starts_with("39 "), "the newest is kept");
    }

    #[test]
    fn instructions_and_tools_take_the_conventions_shape() {
        let messages = [Message::system("Be brief."), Message::user("1+1?")];
        let shown = system_instructions(&messages).unwrap_or_default();
        let shown: Value = serde_json::from_str(&shown).unwrap_or_default();
        assert_eq!(shown, json!([{"type": "text", "content": "Be brief."}]));
        assert_eq!(system_instructions(&messages[1..]), None);

        let add = ToolDef::new("add", "Adds.", json!({"type": "object"}));
        let shown: Value = serde_json::from_str(&tool_definitions(&[add])).unwrap_or_default();
        assert_eq!(
            shown,
            json!([{"type": "function", "name": "add", "description": "Adds.", "parameters": {"type": "object"}}])
        );
    }
}
