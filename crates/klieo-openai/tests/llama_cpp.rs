//! Replies of llama-cpp-python's server (fixtures in
//! `tests/fixtures/llama_cpp/`), through the provider.

use crate::support::{chunks, client, collect, json_reply, last_body, mock_chat, sse_reply, text};
use klieo_types::{
    ChatRequest, FinishReason, LlmClient, LlmError, Message, ToolCall, ToolChoice, ToolDef, Usage,
};
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The call id of the recorded blocking reply.
const CALL_ID: &str = "call__0_calculator_cmpl-bff14f72-a62e-4e31-90ae-c10689e33c4f";
/// The call id of the recorded streamed reply (repeated in every fragment).
const STREAM_CALL_ID: &str = "call__0_calculator_cmpl-023bc6e5-d028-406a-82c2-6b157d4dc7ee";

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/llama_cpp/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(path).unwrap()
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).unwrap()
}

fn calculator_request() -> ChatRequest {
    let calculator = ToolDef::new(
        "calculator",
        "Evaluates an arithmetic expression.",
        json!({"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]}),
    );
    ChatRequest::new(vec![
        Message::system("Use the calculator for arithmetic."),
        Message::user("Compute 17*23."),
    ])
    .with_temperature(0.0)
    .with_tools(vec![calculator])
    .with_tool_choice(ToolChoice::Function("calculator".into()))
}

fn expected_call() -> ToolCall {
    call_with_id(CALL_ID)
}

fn call_with_id(id: &str) -> ToolCall {
    ToolCall::from_raw(id, "calculator", "{\"expression\": \"17*23\"}")
}

#[tokio::test]
async fn blocking_tool_call() {
    let server = MockServer::start().await;
    mock_chat(&server, json_reply(fixture_json("chat_tool_call.json"))).await;
    let r = client(&server.uri())
        .complete(calculator_request())
        .await
        .unwrap();
    assert_eq!(r.message.tool_calls, [expected_call()]);
    assert_eq!(r.message.content, "");
    assert_eq!(r.finish_reason, FinishReason::ToolCalls);
    assert_eq!(r.usage, Some(Usage::new(213, 10)));
}

#[tokio::test]
async fn follow_up_sends_empty_content_and_reads_text() {
    let server = MockServer::start().await;
    mock_chat(&server, json_reply(fixture_json("chat_text.json"))).await;
    let req = calculator_request()
        .add_message(Message::assistant_tool_calls("", vec![expected_call()]))
        .add_message(Message::tool_result(CALL_ID, "391"))
        .with_tool_choice(ToolChoice::None);
    let r = client(&server.uri()).complete(req).await.unwrap();
    // The recorded model (135M parameters) gets the arithmetic wrong even
    // with the tool's result in front of it; the text is what it said.
    assert_eq!(
        r.message.content,
        "You can use the calculator tool to compute:\n17*23 = 4096"
    );
    assert_eq!(r.finish_reason, FinishReason::Stop);
    assert_eq!(r.usage, Some(Usage::new(79, 21)));
    let body = last_body(&server).await;
    assert_eq!(body["messages"][2]["content"], json!(""));
    assert_eq!(body["messages"][3]["tool_call_id"], json!(CALL_ID));
    assert_eq!(body["tool_choice"], json!("none"));
}

#[tokio::test]
async fn streamed_forced_tool_call() {
    let server = MockServer::start().await;
    mock_chat(&server, sse_reply(fixture("stream_forced_tool_call.sse"))).await;
    let s = client(&server.uri())
        .stream(calculator_request())
        .await
        .unwrap();
    let got = chunks(s).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let last = &got[0];
    assert_eq!(last.tool_calls, [call_with_id(STREAM_CALL_ID)]);
    assert_eq!(last.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(last.usage, None);
}

#[tokio::test]
async fn streamed_text_without_usage() {
    let server = MockServer::start().await;
    mock_chat(&server, sse_reply(fixture("stream_text.sse"))).await;
    let s = client(&server.uri())
        .stream(ChatRequest::new(vec![Message::user("Compute 17*23.")]))
        .await
        .unwrap();
    let got = chunks(s).await;
    assert_eq!(
        text(&got),
        "You can use the calculator tool to compute:\n17*23 = 4096"
    );
    // 21 content deltas, then the finish chunk.
    assert_eq!(got.len(), 22);
    assert_eq!(got.last().unwrap().finish_reason, Some(FinishReason::Stop));
    assert!(got.iter().all(|c| c.usage.is_none()));
}

#[tokio::test]
async fn streaming_with_auto_tools_gets_an_empty_stream() {
    let server = MockServer::start().await;
    mock_chat(&server, sse_reply(fixture("stream_auto_tools_empty.sse"))).await;
    let req = calculator_request().with_tool_choice(ToolChoice::Auto);
    let client = client(&server.uri());
    assert!(client.capabilities().streamed_auto_tool_calls());
    let items = collect(client.stream(req).await.unwrap()).await;
    assert_eq!(items.len(), 1);
    match &items[0] {
        Err(e @ LlmError::Unsupported(message)) => {
            assert!(message.contains("empty stream"), "{message}");
            assert!(message.contains("AfterToolCalls::None"), "{message}");
            assert!(!e.retryable());
        }
        other => panic!("{other:?}"),
    }
    assert!(
        !client.capabilities().streamed_auto_tool_calls(),
        "the client remembers that this server cannot stream tool calls under auto"
    );
}

#[tokio::test]
async fn validation_failure_is_a_500() {
    let server = MockServer::start().await;
    let reply = ResponseTemplate::new(500).set_body_json(fixture_json("error_content_null.json"));
    mock_chat(&server, reply).await;
    match client(&server.uri()).complete(calculator_request()).await {
        Err(
            e @ LlmError::Server {
                status: Some(500), ..
            },
        ) => {
            let message = e.to_string();
            assert!(
                message.contains("Input should be a valid string"),
                "{message}"
            );
            assert!(!e.retryable(), "the same request is refused again");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn per_token_embeddings_are_pooled() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/embeddings"))
        .respond_with(json_reply(fixture_json("embeddings_per_token.json")))
        .mount(&server)
        .await;
    let out = client(&server.uri())
        .embed(&["hi there".into(), "17*23".into()])
        .await
        .unwrap();
    // The recording has 2 and 5 token vectors of 576 floats; each input
    // gets their mean.
    let recorded = fixture_json("embeddings_per_token.json");
    let expected: Vec<Vec<f32>> = recorded["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| mean(item["embedding"].as_array().unwrap()))
        .collect();
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].len(), 576);
    for (got, want) in out.iter().zip(&expected) {
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-5, "{g} vs {w}");
        }
    }
}

fn mean(tokens: &[Value]) -> Vec<f32> {
    let rows: Vec<Vec<f64>> = tokens
        .iter()
        .map(|t| {
            t.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        })
        .collect();
    (0..rows[0].len())
        .map(|i| (rows.iter().map(|r| r[i]).sum::<f64>() / rows.len() as f64) as f32)
        .collect()
}
