//! Blocking replies: content, usage, finish reasons, tool calls, quirks.

use crate::support::{client, completion, json_reply, mock_chat};
use klieo_types::{ChatRequest, ChatResponse, FinishReason, LlmClient, Message, Usage};
use serde_json::{json, Value};
use wiremock::MockServer;

async fn reply(body: Value) -> ChatResponse {
    let server = MockServer::start().await;
    mock_chat(&server, json_reply(body)).await;
    client(&server.uri())
        .complete(ChatRequest::new(vec![Message::user("x")]))
        .await
        .unwrap()
}

#[tokio::test]
async fn text_reply_with_usage() {
    let mut body = completion(
        json!({"role": "assistant", "content": "391"}),
        json!("stop"),
    );
    body["usage"] = json!({"prompt_tokens": 30, "completion_tokens": 2, "total_tokens": 32});
    let r = reply(body).await;
    assert_eq!(r.message.content, "391");
    assert_eq!(r.message.role, klieo_types::Role::Assistant);
    assert_eq!(r.finish_reason, FinishReason::Stop);
    assert_eq!(r.usage, Some(Usage::new(30, 2)));
}

#[tokio::test]
async fn cached_prompt_tokens_are_kept() {
    let mut body = completion(json!({"content": "a"}), json!("stop"));
    body["usage"] = json!({"prompt_tokens": 100, "completion_tokens": 2,
        "prompt_tokens_details": {"cached_tokens": 64}});
    assert_eq!(
        reply(body).await.usage,
        Some(Usage::new(100, 2).with_cache(64, 0))
    );
}

#[tokio::test]
async fn usage_absent_or_null_is_none() {
    let r = reply(completion(json!({"content": "a"}), json!("stop"))).await;
    assert_eq!(r.usage, None);
    let mut body = completion(json!({"content": "a"}), json!("stop"));
    body["usage"] = Value::Null;
    assert_eq!(reply(body).await.usage, None);
}

#[tokio::test]
async fn content_null_is_empty_text() {
    let r = reply(completion(
        json!({"role": "assistant", "content": null}),
        json!("stop"),
    ))
    .await;
    assert_eq!(r.message.content, "");
    let r = reply(completion(json!({"role": "assistant"}), json!("stop"))).await;
    assert_eq!(r.message.content, "");
}

#[tokio::test]
async fn unknown_fields_are_ignored() {
    let mut body = completion(
        json!({"role": "assistant", "content": "a", "refusal": null, "annotations": [], "audio": {"x": 1}}),
        json!("stop"),
    );
    body["system_fingerprint"] = json!("fp_1");
    body["service_tier"] = json!("default");
    body["choices"][0]["logprobs"] = json!({"content": []});
    body["usage"] = json!({"prompt_tokens": 1, "completion_tokens": 1, "prompt_tokens_details": {"cached_tokens": 0}});
    let r = reply(body).await;
    assert_eq!(r.message.content, "a");
    assert_eq!(r.usage, Some(Usage::new(1, 1)));
}

#[tokio::test]
async fn a_refusal_is_not_an_empty_answer() {
    let refusal = "I'm sorry, I can't help with that.";
    let r = reply(completion(
        json!({"role": "assistant", "content": null, "refusal": refusal}),
        json!("stop"),
    ))
    .await;
    assert_eq!(r.finish_reason, FinishReason::ContentFilter);
    assert_eq!(r.message.content, refusal);
}

#[tokio::test]
async fn finish_reasons_map() {
    let cases = [
        (json!("stop"), FinishReason::Stop),
        (json!("length"), FinishReason::Length),
        (json!("content_filter"), FinishReason::ContentFilter),
        (json!("tool_calls"), FinishReason::ToolCalls),
        (json!("function_call"), FinishReason::ToolCalls),
        (json!("eos_token"), FinishReason::Stop),
        (Value::Null, FinishReason::Stop),
    ];
    for (wire, expected) in cases {
        let r = reply(completion(json!({"content": "a"}), wire.clone())).await;
        assert_eq!(r.finish_reason, expected, "{wire}");
    }
}

fn tool_call(id: &str, name: &str, args: Value) -> Value {
    json!({"id": id, "type": "function", "function": {"name": name, "arguments": args}})
}

#[tokio::test]
async fn tool_calls_with_missing_or_stop_finish_reason_are_tool_calls() {
    for finish in [Value::Null, json!("stop"), json!("something")] {
        let msg =
            json!({"content": null, "tool_calls": [tool_call("c1", "calculator", json!("{}"))]});
        let r = reply(completion(msg, finish)).await;
        assert_eq!(r.finish_reason, FinishReason::ToolCalls);
    }
}

#[tokio::test]
async fn parallel_tool_calls_keep_order_and_raw_arguments() {
    let msg = json!({"role": "assistant", "content": null, "tool_calls": [
        tool_call("c1", "calculator", json!("{\"expression\": \"17*23\"}")),
        tool_call("c2", "now", json!("")),
    ]});
    let r = reply(completion(msg, json!("tool_calls"))).await;
    let calls = &r.message.tool_calls;
    assert_eq!(calls.len(), 2);
    assert_eq!(
        (calls[0].id.as_ref(), calls[0].name.as_ref()),
        ("c1", "calculator")
    );
    assert_eq!(calls[0].arguments(), "{\"expression\": \"17*23\"}");
    assert_eq!((calls[1].id.as_ref(), calls[1].arguments()), ("c2", ""));
    assert_eq!(r.finish_reason, FinishReason::ToolCalls);
}

#[tokio::test]
async fn invalid_json_arguments_pass_through() {
    let msg = json!({"content": "", "tool_calls": [tool_call("c1", "calculator", json!("{\"expression\": 17*23"))]});
    let r = reply(completion(msg, json!("tool_calls"))).await;
    assert_eq!(
        r.message.tool_calls[0].arguments(),
        "{\"expression\": 17*23"
    );
    assert!(r.message.tool_calls[0].parse_arguments().is_err());
}

#[tokio::test]
async fn object_arguments_become_json_text() {
    let msg = json!({"content": "", "tool_calls": [tool_call("c1", "calculator", json!({"expression": "1+1"}))]});
    let r = reply(completion(msg, json!("tool_calls"))).await;
    assert_eq!(
        r.message.tool_calls[0].arguments(),
        "{\"expression\":\"1+1\"}"
    );
}

#[tokio::test]
async fn tool_calls_win_over_legacy_function_call() {
    let msg = json!({
        "content": null,
        "function_call": {"name": "calculator:", "arguments": "{\"expression\": \"1\"}"},
        "tool_calls": [tool_call("c1", "calculator", json!("{\"expression\": \"17*23\"}"))]
    });
    let r = reply(completion(msg, json!("tool_calls"))).await;
    assert_eq!(r.message.tool_calls.len(), 1);
    assert_eq!(r.message.tool_calls[0].name, "calculator".into());
    assert_eq!(
        r.message.tool_calls[0].arguments(),
        "{\"expression\": \"17*23\"}"
    );
}

#[tokio::test]
async fn legacy_function_call_alone_is_one_tool_call() {
    let msg = json!({"content": null, "function_call": {"name": "calculator", "arguments": "{\"expression\": \"2\"}"}});
    let r = reply(completion(msg, json!("function_call"))).await;
    assert_eq!(r.message.tool_calls.len(), 1);
    let call = &r.message.tool_calls[0];
    assert_eq!(
        (call.id.as_ref(), call.name.as_ref()),
        ("call_0", "calculator")
    );
    assert_eq!(call.arguments(), "{\"expression\": \"2\"}");
    assert_eq!(r.finish_reason, FinishReason::ToolCalls);
}

#[tokio::test]
async fn missing_tool_call_ids_get_positional_ids() {
    let msg = json!({"content": null, "tool_calls": [
        {"type": "function", "function": {"name": "a", "arguments": "{}"}},
        {"id": "", "type": "function", "function": {"name": "b", "arguments": "{}"}}
    ]});
    let r = reply(completion(msg, json!("tool_calls"))).await;
    let ids: Vec<&str> = r.message.tool_calls.iter().map(|c| c.id.as_ref()).collect();
    assert_eq!(ids, ["call_0", "call_1"]);
}

#[tokio::test]
async fn empty_tool_calls_list_is_a_text_reply() {
    let msg = json!({"content": "hello", "tool_calls": []});
    let r = reply(completion(msg, json!("stop"))).await;
    assert!(r.message.tool_calls.is_empty());
    assert_eq!(r.finish_reason, FinishReason::Stop);
}

#[tokio::test]
async fn choice_with_index_zero_is_used() {
    let body = json!({"choices": [
        {"index": 1, "message": {"content": "second"}, "finish_reason": "stop"},
        {"index": 0, "message": {"content": "first"}, "finish_reason": "stop"}
    ]});
    assert_eq!(reply(body).await.message.content, "first");
}

#[tokio::test]
async fn the_reply_id_and_model_are_kept_and_empty_ones_are_not() {
    let r = reply(completion(json!({"content": "a"}), json!("stop"))).await;
    let info = r.info.expect("the reply's id and model");
    assert_eq!(info.id.as_deref(), Some("chatcmpl-1"));
    assert_eq!(info.model.as_deref(), Some("test-model"));
    let mut body = completion(json!({"content": "a"}), json!("stop"));
    body["id"] = json!("");
    body["model"] = Value::Null;
    assert_eq!(reply(body).await.info, None);
}

#[tokio::test]
async fn an_odd_reply_id_never_fails_the_reply() {
    let mut body = completion(json!({"content": "a"}), json!("stop"));
    body["id"] = json!(42);
    let r = reply(body).await;
    assert_eq!(r.message.content, "a");
    assert_eq!(r.info.and_then(|i| i.id).as_deref(), Some("42"));
}
