//! The Messages body's unit tests.

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
    assert_eq!(
        sent["tools"][0]["input_schema"],
        json!({"type": "object", "properties": {}})
    );
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

#[test]
fn a_tool_schema_without_a_type_is_sent_as_an_object_schema() {
    let mut req = ChatRequest::new(vec![Message::user("hi")]);
    req.tools = vec![
        ToolDef::new("any", "", json!({})),
        ToolDef::new("typed", "", json!({"type": "object", "properties": {}})),
    ]
    .into();
    let sent = body(&req);
    assert_eq!(
        sent["tools"][0]["input_schema"],
        json!({"type": "object", "properties": {}})
    );
    assert_eq!(
        sent["tools"][1]["input_schema"],
        json!({"type": "object", "properties": {}})
    );
}

#[test]
fn stop_sequences_of_only_whitespace_are_never_sent() {
    let mut req = ChatRequest::new(vec![Message::user("hi")]);
    req.stop = vec!["\n".into(), "END".into()];
    assert_eq!(body(&req)["stop_sequences"], json!(["END"]));
    req.stop = vec!["\n".into(), " ".into()];
    assert!(body(&req).get("stop_sequences").is_none());
}

#[test]
fn a_temperature_above_one_is_sent_as_one() {
    let mut req = ChatRequest::new(vec![Message::user("hi")]);
    req.temperature = Some(1.5);
    assert_eq!(body(&req)["temperature"], 1.0);
    req.temperature = Some(0.25);
    assert_eq!(body(&req)["temperature"], 0.25);
}

#[test]
fn call_ids_the_api_refuses_are_sent_alike_for_the_call_and_its_result() {
    let mut req = ChatRequest::new(vec![Message::user("add")]);
    for id in ["c~2", "functions.add:0", "toolu_01-ok"] {
        let call = ToolCall::from_raw(id, "add", "{}");
        req.messages = vec![
            Message::user("add"),
            Message::assistant_tool_calls("", vec![call]),
            Message::tool_result(id, "3"),
        ]
        .into();
        let sent = body(&req);
        let used = sent["messages"][1]["content"][0]["id"]
            .as_str()
            .expect("the call has an id")
            .to_owned();
        assert_eq!(
            sent["messages"][2]["content"][0]["tool_use_id"],
            used.as_str()
        );
        assert!(
            used.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
            "{used}"
        );
    }
    let call = ToolCall::from_raw("toolu_01-ok", "add", "{}");
    req.messages = vec![Message::assistant_tool_calls("", vec![call])].into();
    assert_eq!(body(&req)["messages"][0]["content"][0]["id"], "toolu_01-ok");
}

#[test]
fn two_call_ids_that_differ_only_in_refused_characters_stay_two() {
    let calls = vec![
        ToolCall::from_raw("a.b", "add", "{}"),
        ToolCall::from_raw("a:b", "add", "{}"),
    ];
    let req = ChatRequest::new(vec![
        Message::user("add"),
        Message::assistant_tool_calls("", calls),
    ]);
    let sent = body(&req);
    let ids = &sent["messages"][1]["content"];
    assert_ne!(ids[0]["id"], ids[1]["id"], "{ids}");
}
