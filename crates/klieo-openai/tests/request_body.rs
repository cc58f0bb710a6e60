//! The Chat Completions request body, exactly.

use crate::support::{client, completion, json_reply, last_body, mock_chat};
use klieo_types::{ChatRequest, LlmClient, Message, ResponseFormat, ToolCall, ToolChoice, ToolDef};
use serde_json::{json, Value};
use wiremock::MockServer;

async fn sent(req: ChatRequest) -> Value {
    let server = MockServer::start().await;
    let reply = completion(json!({"role": "assistant", "content": "ok"}), json!("stop"));
    mock_chat(&server, json_reply(reply)).await;
    client(&server.uri()).complete(req).await.unwrap();
    last_body(&server).await
}

fn calculator() -> ToolDef {
    ToolDef::new(
        "calculator",
        "Evaluates an arithmetic expression.",
        json!({"type": "object", "properties": {"expression": {"type": "string"}}}),
    )
}

#[tokio::test]
async fn full_conversation_shape() {
    let call = ToolCall::from_raw("call_1", "calculator", r#"{"expression": "17*23"}"#);
    let req = ChatRequest::new(vec![
        Message::system("Use the calculator."),
        Message::user("Compute 17*23."),
        Message::assistant_tool_calls("", vec![call]),
        Message::tool_result("call_1", "391"),
        Message::assistant("It is 391."),
    ])
    .with_tools(vec![calculator()])
    .with_tool_choice(ToolChoice::Auto)
    .with_temperature(0.5)
    .with_max_tokens(64)
    .with_stop(vec!["\n\n".into()]);
    let body = sent(req).await;
    assert_eq!(
        body,
        json!({
            "model": "test-model",
            "messages": [
                {"role": "system", "content": "Use the calculator."},
                {"role": "user", "content": "Compute 17*23."},
                {"role": "assistant", "content": "", "tool_calls": [{
                    "id": "call_1", "type": "function",
                    "function": {"name": "calculator", "arguments": "{\"expression\": \"17*23\"}"}
                }]},
                {"role": "tool", "content": "391", "tool_call_id": "call_1"},
                {"role": "assistant", "content": "It is 391."}
            ],
            "tools": [{"type": "function", "function": {
                "name": "calculator",
                "description": "Evaluates an arithmetic expression.",
                "parameters": {"type": "object", "properties": {"expression": {"type": "string"}}}
            }}],
            "tool_choice": "auto",
            "temperature": 0.5,
            "max_tokens": 64,
            "stop": ["\n\n"]
        })
    );
}

#[tokio::test]
async fn assistant_tool_call_content_is_empty_string_never_null() {
    let call = ToolCall::from_raw("c", "calculator", "{}");
    let body = sent(ChatRequest::new(vec![Message::assistant_tool_calls(
        "",
        vec![call],
    )]))
    .await;
    assert_eq!(body["messages"][0]["content"], json!(""));
}

/// Arguments that are no JSON object (a call cut off by `length`, a small
/// model's bad JSON) go back as `{}`: servers that render calls through a
/// chat template (llama-server, vLLM) refuse every request holding text
/// they cannot parse, and the call's result says what was wrong. (They
/// were sent as the raw text.)
#[tokio::test]
async fn invalid_json_arguments_go_back_as_an_empty_object() {
    let call = ToolCall::from_raw("c", "calculator", "{\"expression\": 17*");
    let body = sent(ChatRequest::new(vec![Message::assistant_tool_calls(
        "",
        vec![call],
    )]))
    .await;
    assert_eq!(
        body["messages"][0]["tool_calls"][0]["function"]["arguments"],
        json!("{}")
    );
}

#[tokio::test]
async fn tool_choice_forms() {
    let cases = [
        (ToolChoice::Auto, json!("auto")),
        (ToolChoice::None, json!("none")),
        (ToolChoice::Required, json!("required")),
        (
            ToolChoice::Function("calculator".into()),
            json!({"type": "function", "function": {"name": "calculator"}}),
        ),
    ];
    for (choice, expected) in cases {
        let req = ChatRequest::new(vec![Message::user("x")])
            .with_tools(vec![calculator()])
            .with_tool_choice(choice);
        assert_eq!(sent(req).await["tool_choice"], expected);
    }
    // Tools without a choice: `auto`, said out loud (llama-cpp-python
    // answers in text when it is left out).
    let req = ChatRequest::new(vec![Message::user("x")]).with_tools(vec![calculator()]);
    assert_eq!(sent(req).await["tool_choice"], json!("auto"));
}

#[tokio::test]
async fn optional_fields_are_omitted() {
    let body = sent(ChatRequest::new(vec![Message::user("x")])).await;
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["messages", "model"]);
}

#[tokio::test]
async fn response_format_forms() {
    let schema = json!({"type": "object", "properties": {"answer": {"type": "integer"}}});
    let cases = [
        (ResponseFormat::Text, Value::Null),
        (ResponseFormat::JsonObject, json!({"type": "json_object"})),
        (
            ResponseFormat::JsonSchema {
                name: "answer".into(),
                schema: schema.clone(),
                strict: true,
            },
            json!({"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": true}}),
        ),
    ];
    for (format, expected) in cases {
        let req = ChatRequest::new(vec![Message::user("x")]).with_response_format(format);
        assert_eq!(sent(req).await["response_format"], expected);
    }
}

#[tokio::test]
async fn stream_body_asks_for_usage() {
    let server = MockServer::start().await;
    let sse = crate::support::event(r#"{"content":"hi"}"#, r#""stop""#) + "data: [DONE]\n\n";
    mock_chat(&server, crate::support::sse_reply(sse)).await;
    let stream = client(&server.uri())
        .stream(ChatRequest::new(vec![Message::user("x")]))
        .await
        .unwrap();
    crate::support::chunks(stream).await;
    let body = last_body(&server).await;
    assert_eq!(body["stream"], json!(true));
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
    let requests = server.received_requests().await.unwrap();
    let accept = requests[0].headers.get("accept").unwrap().to_str().unwrap();
    assert_eq!(accept, "text/event-stream");
}
