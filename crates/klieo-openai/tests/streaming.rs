//! Streamed replies from whole SSE bodies: deltas, tool-call assembly for
//! each server habit, usage, the end of the stream, errors.

use crate::support::{chunks, client, collect, event, info, mock_chat, sse_reply, text};
use klieo_types::{
    ChatChunk, ChatRequest, FinishReason, LlmClient, LlmError, Message, ToolCall, Usage,
};
use serde_json::json;
use wiremock::MockServer;

async fn stream_items(body: String) -> Vec<Result<ChatChunk, LlmError>> {
    let server = MockServer::start().await;
    mock_chat(&server, sse_reply(body)).await;
    let s = client(&server.uri())
        .stream(ChatRequest::new(vec![Message::user("x")]))
        .await
        .unwrap();
    collect(s).await
}

async fn stream_ok(body: String) -> Vec<ChatChunk> {
    stream_items(body)
        .await
        .into_iter()
        .map(|c| c.unwrap())
        .collect()
}

const DONE: &str = "data: [DONE]\n\n";

fn usage_event(prompt: u32, completion: u32) -> String {
    format!("data: {{\"id\":\"x\",\"choices\":[],\"usage\":{{\"prompt_tokens\":{prompt},\"completion_tokens\":{completion},\"total_tokens\":{}}}}}\n\n", prompt + completion)
}

fn tool_fragment(index: u32, id: Option<&str>, name: Option<&str>, args: &str) -> String {
    let mut f = json!({"index": index, "function": {"arguments": args}});
    if let Some(id) = id {
        f["id"] = json!(id);
        f["type"] = json!("function");
    }
    if let Some(name) = name {
        f["function"]["name"] = json!(name);
    }
    json!({"tool_calls": [f]}).to_string()
}

#[tokio::test]
async fn text_deltas_are_forwarded_one_chunk_each_then_finish_with_usage() {
    let body = event(r#"{"role":"assistant","content":""}"#, "null")
        + &event(r#"{"content":"3"}"#, "null")
        + &event(r#"{"content":null}"#, "null")
        + &event(r#"{"content":"91"}"#, "null")
        + &event("{}", r#""stop""#)
        + &usage_event(9, 2)
        + DONE;
    let got = stream_ok(body).await;
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(got[0], ChatChunk::delta("3"));
    assert_eq!(got[1], ChatChunk::delta("91"));
    assert_eq!(
        got[2],
        ChatChunk::finish(FinishReason::Stop)
            .with_usage(Usage::new(9, 2))
            .with_info(info())
    );
}

#[tokio::test]
async fn a_streamed_refusal_is_not_an_empty_answer() {
    let body = event(
        r#"{"role":"assistant","content":null,"refusal":""}"#,
        "null",
    ) + &event(r#"{"refusal":"I'm sorry, "}"#, "null")
        + &event(r#"{"refusal":"I can't."}"#, "null")
        + &event("{}", r#""stop""#)
        + DONE;
    let got = stream_ok(body).await;
    let last = got.last().unwrap();
    assert_eq!(last.finish_reason, Some(FinishReason::ContentFilter));
    assert_eq!(last.delta, "I'm sorry, I can't.");
    assert_eq!(got.len(), 1, "the refusal is no answer's text: {got:?}");
}

#[tokio::test]
async fn openai_style_tool_call_id_and_name_once() {
    let body = event(
        &tool_fragment(0, Some("call_abc"), Some("calculator"), ""),
        "null",
    ) + &event(&tool_fragment(0, None, None, "{\"expr"), "null")
        + &event(
            &tool_fragment(0, None, None, "ession\": \"17*23\"}"),
            "null",
        )
        + &event("{}", r#""tool_calls""#)
        + &usage_event(40, 12)
        + DONE;
    let got = stream_ok(body).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let last = &got[0];
    assert_eq!(last.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(last.usage, Some(Usage::new(40, 12)));
    assert_eq!(
        last.tool_calls,
        [ToolCall::from_raw(
            "call_abc",
            "calculator",
            "{\"expression\": \"17*23\"}"
        )]
    );
}

#[tokio::test]
async fn llama_cpp_style_repeats_id_index_name_with_legacy_function_call() {
    let pieces = ["{\"ex", "pressi", "on\": ", "\"17*", "23\"}", ""];
    let mut body = String::new();
    for p in pieces {
        let delta = json!({
            "role": null, "content": null,
            "function_call": {"name": "calculator:", "arguments": p},
            "tool_calls": [{"index": 0, "id": "call__0_calculator_cmpl-1", "type": "function",
                            "function": {"name": "calculator", "arguments": p}}]
        });
        body += &event(&delta.to_string(), "null");
    }
    body += &event("{}", r#""tool_calls""#);
    body += DONE;
    let got = stream_ok(body).await;
    let last = got.last().unwrap();
    assert_eq!(last.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(last.usage, None);
    assert_eq!(
        last.tool_calls,
        [ToolCall::from_raw(
            "call__0_calculator_cmpl-1",
            "calculator",
            "{\"expression\": \"17*23\"}"
        )]
    );
    assert!(got.iter().all(|c| c.delta.is_empty()));
}

#[tokio::test]
async fn arguments_in_one_piece() {
    let body = event(&tool_fragment(0, Some("c1"), Some("now"), "{}"), "null")
        + &event("{}", r#""tool_calls""#)
        + DONE;
    let got = stream_ok(body).await;
    assert_eq!(
        got.last().unwrap().tool_calls,
        [ToolCall::from_raw("c1", "now", "{}")]
    );
}

#[tokio::test]
async fn parallel_tool_calls_interleaved() {
    let body = event(&tool_fragment(1, Some("c2"), Some("now"), ""), "null")
        + &event(
            &tool_fragment(0, Some("c1"), Some("calculator"), "{\"expression\":"),
            "null",
        )
        + &event(&tool_fragment(1, None, None, "{\"tz\":\"UTC\"}"), "null")
        + &event(&tool_fragment(0, None, None, " \"1+1\"}"), "null")
        + &event("{}", r#""tool_calls""#)
        + DONE;
    let got = stream_ok(body).await;
    assert_eq!(
        got.last().unwrap().tool_calls,
        [
            ToolCall::from_raw("c1", "calculator", "{\"expression\": \"1+1\"}"),
            ToolCall::from_raw("c2", "now", "{\"tz\":\"UTC\"}"),
        ]
    );
}

#[tokio::test]
async fn text_then_tool_call_on_the_finish_chunk() {
    let body = event(r#"{"content":"Let me compute."}"#, "null")
        + &event(
            &tool_fragment(0, Some("c1"), Some("calculator"), "{}"),
            "null",
        )
        + &event(r#"{"content":""}"#, r#""tool_calls""#)
        + DONE;
    let got = stream_ok(body).await;
    assert_eq!(text(&got), "Let me compute.");
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].tool_calls.len(), 1);
}

#[tokio::test]
async fn missing_done_after_finish_is_fine() {
    let body = event(r#"{"content":"hi"}"#, "null") + &event("{}", r#""length""#);
    let got = stream_ok(body).await;
    assert_eq!(text(&got), "hi");
    assert_eq!(
        got.last().unwrap().finish_reason,
        Some(FinishReason::Length)
    );
}

#[tokio::test]
async fn done_without_finish_reason_is_a_retryable_error() {
    let body = event(r#"{"content":"hi"}"#, "null") + DONE;
    let items = stream_items(body).await;
    assert_eq!(items.len(), 2);
    match items.last().unwrap() {
        Err(e @ LlmError::Server { message, .. }) => {
            assert!(message.contains("before the model finished"), "{message}");
            assert!(e.retryable());
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn role_chunk_then_done_is_not_an_empty_success() {
    // What llama-cpp-python sometimes sends under concurrent requests.
    let role = r#"{"role":"assistant","content":null,"function_call":null,"tool_calls":null}"#;
    let items = stream_items(event(role, "null") + DONE).await;
    assert_eq!(items.len(), 1, "{items:?}");
    assert!(
        matches!(items[0], Err(LlmError::Server { .. })),
        "{items:?}"
    );
}

#[tokio::test]
async fn no_finish_and_no_done_is_an_error() {
    let body = event(r#"{"content":"hi"}"#, "null") + &event(r#"{"content":" there"}"#, "null");
    let items = stream_items(body).await;
    assert_eq!(items.len(), 3);
    match items.last().unwrap() {
        Err(
            e @ LlmError::Interrupted {
                events: 2, reason, ..
            },
        ) => {
            assert!(
                reason.contains("ended before the model finished"),
                "{reason}"
            );
            assert!(e.retryable());
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn empty_stream_says_so() {
    let items = stream_items(String::new()).await;
    assert_eq!(items.len(), 1);
    match &items[0] {
        Err(e @ LlmError::Server { message, .. }) => {
            assert!(
                message.contains("without sending any event (0 bytes"),
                "{message}"
            );
            assert!(e.retryable(), "nothing reached the consumer: retry it");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn error_object_mid_stream_is_typed() {
    let cases = [
        (
            json!({"message": "slow down", "type": "requests", "code": "rate_limit_exceeded"}),
            "rate",
        ),
        (
            json!({"message": "bad key", "type": "authentication_error", "code": null}),
            "auth",
        ),
        (
            json!({"message": "too long", "type": "invalid_request_error", "code": "context_length_exceeded"}),
            "bad",
        ),
        (
            json!({"message": "boom", "type": "server_error", "code": 500}),
            "server",
        ),
    ];
    for (error, kind) in cases {
        let body = event(r#"{"content":"par"}"#, "null")
            + &format!("data: {}\n\n", json!({"error": error}))
            + &event(r#"{"content":"never"}"#, "null");
        let items = stream_items(body).await;
        assert_eq!(items.len(), 2, "{kind}");
        assert_eq!(items[0].as_ref().unwrap().delta, "par");
        let e = items[1].as_ref().unwrap_err();
        let ok = match kind {
            "rate" => matches!(e, LlmError::RateLimit { .. }),
            "auth" => matches!(e, LlmError::Unauthorized { message: m, .. } if m == "bad key"),
            "bad" => matches!(e, LlmError::BadRequest { message, .. } if message == "too long"),
            _ => matches!(e, LlmError::Server { message, .. } if message == "boom"),
        };
        assert!(ok, "{kind}: {e:?}");
    }
}

#[tokio::test]
async fn error_after_the_finish_reason_ends_the_reply_normally() {
    let late_error = format!(
        "data: {}\n\n",
        json!({"error": {"message": "late", "type": "server_error"}})
    );
    for late in [late_error.as_str(), "event: error\ndata: gone\n\n"] {
        let body = event(r#"{"content":"done"}"#, r#""stop""#) + late + DONE;
        let got = stream_ok(body).await;
        assert_eq!(
            got,
            [ChatChunk::delta("done")
                .with_finish_reason(FinishReason::Stop)
                .with_info(info())],
            "{late}"
        );
    }
}

#[tokio::test]
async fn error_event_type_with_text_data() {
    let body = "event: error\ndata: upstream went away\n\n".to_owned();
    let items = stream_items(body).await;
    assert!(
        matches!(&items[0], Err(LlmError::Server { message, .. }) if message == "upstream went away")
    );
}

#[tokio::test]
async fn undecodable_event_is_a_decoding_error() {
    let body = event(r#"{"content":"a"}"#, "null") + "data: {not json\n\n";
    let items = stream_items(body).await;
    assert!(
        matches!(items.last().unwrap(), Err(LlmError::Decoding { .. })),
        "{items:?}"
    );
}

#[tokio::test]
async fn data_without_space_and_comments_are_read() {
    let body = ": keep-alive\n\ndata:{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"},\"finish_reason\":\"stop\"}]}\n\n: bye\n\ndata:[DONE]\n\n";
    let got = stream_ok(body.to_owned()).await;
    assert_eq!(text(&got), "x");
    assert_eq!(got.last().unwrap().finish_reason, Some(FinishReason::Stop));
}

#[tokio::test]
async fn json_reply_to_a_stream_request_becomes_one_chunk() {
    let server = MockServer::start().await;
    let reply = crate::support::completion(json!({"content": "whole"}), json!("stop"));
    mock_chat(&server, crate::support::json_reply(reply)).await;
    let s = client(&server.uri())
        .stream(ChatRequest::new(vec![Message::user("x")]))
        .await
        .unwrap();
    let got = chunks(s).await;
    // The reply's id and model, as `complete` gives them.
    let info = klieo_types::ReplyInfo::new(Some("chatcmpl-1".into()), Some("test-model".into()));
    assert_eq!(
        got,
        [ChatChunk::delta("whole")
            .with_finish_reason(FinishReason::Stop)
            .with_info(info)]
    );
}

#[tokio::test]
async fn the_reply_id_comes_from_the_first_chunk_that_has_one() {
    // Azure's first chunk carries its content filter's results, with an
    // empty id and model.
    let filter =
        "data: {\"id\":\"\",\"model\":\"\",\"choices\":[],\"prompt_filter_results\":[]}\n\n";
    let body = filter.to_owned() + &event(r#"{"content":"hi"}"#, r#""stop""#) + DONE;
    let got = stream_ok(body).await;
    assert_eq!(
        got,
        [ChatChunk::delta("hi")
            .with_finish_reason(FinishReason::Stop)
            .with_info(info())]
    );
}

/// A gateway that does not know `stream_options` refuses it (400); the
/// request goes again without it, and so do the later ones.
#[tokio::test]
async fn a_server_refusing_stream_options_still_streams() {
    use wiremock::matchers::{body_string_contains, method};
    use wiremock::{Mock, ResponseTemplate};
    let server = MockServer::start().await;
    let refusal = json!({"error": {
        "message": "Unknown parameter: 'stream_options'.",
        "type": "invalid_request_error", "param": "stream_options", "code": "unknown_parameter"
    }});
    Mock::given(method("POST"))
        .and(body_string_contains("stream_options"))
        .respond_with(ResponseTemplate::new(400).set_body_json(refusal))
        .with_priority(1)
        .mount(&server)
        .await;
    let body = event(r#"{"content":"hi"}"#, r#""stop""#) + DONE;
    mock_chat(&server, sse_reply(body)).await;
    let client = client(&server.uri());
    for _ in 0..2 {
        let s = client
            .stream(ChatRequest::new(vec![Message::user("x")]))
            .await
            .unwrap();
        assert_eq!(text(&chunks(s).await), "hi");
    }
    let refused = server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| String::from_utf8_lossy(&r.body).contains("stream_options"))
        .count();
    assert_eq!(refused, 1, "asked once, then never again");
}
