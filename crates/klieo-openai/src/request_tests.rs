//! The Chat Completions body, field by field, for each server dialect.

use super::*;
use serde_json::json;

/// A server that honours a tool forced by name and takes `max_tokens`.
const NAMED: Dialect = Dialect {
    named_choice: true,
    openai: false,
    stream_usage: true,
};

#[test]
fn openais_own_api_gets_the_replys_bound_as_max_completion_tokens() {
    let mut req = ChatRequest::new(vec![Message::user("hi")]);
    req.max_tokens = Some(256);
    let body = |openai| {
        let dialect = Dialect { openai, ..NAMED };
        ChatBody::new(&req, "m", false, dialect)
            .ok()
            .and_then(|b| serde_json::to_value(&b).ok())
            .unwrap_or_default()
    };
    let openai = body(true);
    assert_eq!(openai["max_completion_tokens"], 256);
    assert!(openai.get("max_tokens").is_none(), "{openai}");
    let local = body(false);
    assert_eq!(local["max_tokens"], 256);
    assert!(local.get("max_completion_tokens").is_none(), "{local}");
}

#[test]
fn assistant_tool_calls_carry_empty_content_and_their_arguments_as_written() {
    let call = ToolCall::from_raw("c1", "calculator", "{\"expression\":  \"17*23\"}");
    let req = ChatRequest::new(vec![
        Message::assistant_tool_calls("", vec![call]),
        Message::tool_result("c1", "391"),
    ]);
    let body = ChatBody::new(&req, "m", false, NAMED).ok();
    let value = body.and_then(|b| serde_json::to_value(&b).ok());
    let sent = &value.unwrap_or_default()["messages"][0]["tool_calls"][0]["function"];
    assert_eq!(
        sent["arguments"], "{\"expression\":  \"17*23\"}",
        "as the model wrote them"
    );
}

#[test]
fn arguments_that_are_no_json_object_go_back_as_an_empty_object() {
    let call = ToolCall::from_raw("c1", "calculator", "{\"expression\": ");
    let req = ChatRequest::new(vec![
        Message::assistant_tool_calls("", vec![call]),
        Message::tool_result("c1", "391"),
    ]);
    let body = ChatBody::new(&req, "m", false, NAMED).ok();
    let value = body.and_then(|b| serde_json::to_value(&b).ok());
    assert_eq!(
        value,
        Some(json!({
            "model": "m",
            "messages": [
                {"role": "assistant", "content": "", "tool_calls": [
                    {"id": "c1", "type": "function",
                     "function": {"name": "calculator", "arguments": "{}"}}
                ]},
                {"role": "tool", "content": "391", "tool_call_id": "c1"}
            ]
        }))
    );
}

#[test]
fn a_named_choice_goes_as_required_with_that_tool_alone_when_the_server_cannot_name() {
    let tool = |name: &str| ToolDef::new(name, "d", json!({"type": "object"}));
    let mut req = ChatRequest::new(vec![Message::user("hi")])
        .with_tool_choice(ToolChoice::Function("refund".into()));
    req.tools = vec![tool("lookup"), tool("refund")].into();
    let body = |named| {
        let dialect = Dialect {
            named_choice: named,
            ..NAMED
        };
        ChatBody::new(&req, "m", false, dialect)
            .ok()
            .and_then(|b| serde_json::to_value(&b).ok())
            .unwrap_or_default()
    };
    let named = body(true);
    assert_eq!(
        named["tool_choice"],
        json!({"type": "function", "function": {"name": "refund"}})
    );
    assert_eq!(named["tools"].as_array().map(Vec::len), Some(2));
    let narrowed = body(false);
    assert_eq!(narrowed["tool_choice"], "required");
    let unknown = req
        .clone()
        .with_tool_choice(ToolChoice::Function("refnud".into()));
    let mut no_tools = unknown.clone();
    no_tools.tools = Vec::new().into();
    for (unknown, named_choice) in [(&unknown, true), (&unknown, false), (&no_tools, true)] {
        let dialect = Dialect {
            named_choice,
            ..NAMED
        };
        let refused = ChatBody::new(unknown, "m", false, dialect).err();
        assert!(
            refused
                .as_ref()
                .is_some_and(|e| e.to_string().contains("`refnud`")),
            "{refused:?}"
        );
    }
    let names: Vec<&str> = narrowed["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["function"]["name"].as_str())
        .collect();
    assert_eq!(names, ["refund"]);
}

#[test]
fn stream_body_asks_for_usage_and_drops_choice_without_tools() {
    let req = ChatRequest::new(vec![Message::user("hi")]).with_tool_choice(ToolChoice::Required);
    let value = ChatBody::new(&req, "m", true, NAMED)
        .ok()
        .and_then(|b| serde_json::to_value(&b).ok());
    assert_eq!(
        value,
        Some(json!({
            "model": "m",
            "messages": [{"role": "user", "content": "hi"}],
            "stream": true,
            "stream_options": {"include_usage": true}
        }))
    );
}

#[test]
fn a_tool_of_no_arguments_goes_with_its_type_and_empty_properties() {
    let tools = vec![
        ToolDef::new("bare", "", json!({"type": "object"})),
        ToolDef::new("untyped", "", json!({})),
        ToolDef::new(
            "listed",
            "",
            json!({"properties": {"a": {"type": "string"}}}),
        ),
        ToolDef::new("union", "", json!({"anyOf": [{"type": "object"}]})),
    ];
    let req = ChatRequest::new(vec![Message::user("hi")]).with_tools(tools);
    let value = ChatBody::new(&req, "m", false, NAMED)
        .ok()
        .and_then(|b| serde_json::to_value(&b).ok())
        .unwrap_or_default();
    let sent = |i: usize| value["tools"][i]["function"]["parameters"].clone();
    let empty = json!({"type": "object", "properties": {}});
    assert_eq!(
        sent(0),
        empty,
        "OpenAI refuses an object with no properties"
    );
    assert_eq!(sent(1), empty);
    assert_eq!(
        sent(2),
        json!({"type": "object", "properties": {"a": {"type": "string"}}})
    );
    assert_eq!(
        sent(3),
        json!({"anyOf": [{"type": "object"}]}),
        "left as it is"
    );
}

#[test]
fn call_ids_past_40_bytes_go_short_and_alike_to_openai() {
    let long = "call__0_calculator_cmpl-bff14f72-a62e-4e31-90ae-c10689e33c4f";
    let other = "call__0_calculator_cmpl-bff14f72-a62e-4e31-90ae-c10689e33c4e";
    let req = ChatRequest::new(vec![
        Message::assistant_tool_calls(
            "",
            vec![
                ToolCall::from_raw(long, "calculator", "{}"),
                ToolCall::from_raw(other, "calculator", "{}"),
                ToolCall::from_raw("c1", "calculator", "{}"),
            ],
        ),
        Message::tool_result(long, "391"),
        Message::tool_result(other, "392"),
        Message::tool_result("c1", "393"),
    ]);
    let openai = Dialect {
        openai: true,
        ..NAMED
    };
    let value = ChatBody::new(&req, "m", false, openai)
        .ok()
        .and_then(|b| serde_json::to_value(&b).ok())
        .unwrap_or_default();
    let calls = &value["messages"][0]["tool_calls"];
    let id = |i: usize| calls[i]["id"].as_str().unwrap_or_default().to_owned();
    let answers = |i: usize| value["messages"][i + 1]["tool_call_id"].clone();
    assert!(id(0).len() <= 40 && id(1).len() <= 40, "{calls}");
    assert_ne!(id(0), id(1), "two ids stay two");
    assert_eq!(id(2), "c1", "a short id goes as it is");
    for i in 0..3 {
        assert_eq!(answers(i), json!(id(i)), "a result answers its call");
    }
}

#[test]
fn more_tools_than_openai_takes_are_refused_before_sending_to_it() {
    let tools: Vec<ToolDef> = (0..129)
        .map(|i| {
            ToolDef::new(
                format!("t{i}"),
                "",
                json!({"type": "object", "properties": {}}),
            )
        })
        .collect();
    let req = ChatRequest::new(vec![Message::user("hi")]).with_tools(tools);
    let openai = Dialect {
        openai: true,
        ..NAMED
    };
    let refused = ChatBody::new(&req, "m", false, openai).err();
    assert!(
        matches!(&refused, Some(LlmError::Unsupported(why)) if why.contains("129 tools")),
        "{refused:?}"
    );
    assert!(
        ChatBody::new(&req, "m", false, NAMED).is_ok(),
        "another server is asked"
    );
}
