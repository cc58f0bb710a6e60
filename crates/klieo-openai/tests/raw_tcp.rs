//! What wiremock cannot do, over a raw TCP server: events split across
//! reads, CRLF, keep-alive comments, cuts, stalls, and connection reuse.

use crate::support::{
    chunk, chunks, client, collect, event, full_response, info, raw_server, sse_head,
    sse_in_pieces, text, Act,
};
use klieo_types::{
    ChatChunk, ChatRequest, FinishReason, LlmClient, LlmError, Message, ToolCall, Usage,
};
use serde_json::json;
use std::time::Duration;

fn req() -> ChatRequest {
    ChatRequest::new(vec![Message::user("x")])
}

/// Text, a tool call in fragments, a finish, usage, `[DONE]`, with
/// multi-byte characters so that splits fall inside them too.
fn rich_body() -> String {
    let frag = |id: Option<&str>, name: Option<&str>, args: &str| {
        let mut f = json!({"index": 0, "function": {"arguments": args}});
        if let Some(id) = id {
            f["id"] = json!(id);
        }
        if let Some(name) = name {
            f["function"]["name"] = json!(name);
        }
        json!({"tool_calls": [f]}).to_string()
    };
    event(r#"{"role":"assistant","content":""}"#, "null")
        + &event(r#"{"content":"Grüße, "}"#, "null")
        + ": keep-alive\n\n"
        + &event(r#"{"content":"wörld ✓"}"#, "null")
        + &event(
            &frag(Some("c1"), Some("calculator"), "{\"expression\""),
            "null",
        )
        + &event(&frag(None, None, ": \"17*23\"}"), "null")
        + &event("{}", r#""tool_calls""#)
        + "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":5}}\n\n"
        + "data: [DONE]\n\n"
}

fn check_rich(got: &[ChatChunk]) {
    assert_eq!(text(got), "Grüße, wörld ✓");
    let last = got.last().unwrap();
    assert_eq!(last.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(last.usage, Some(Usage::new(7, 5)));
    assert_eq!(
        last.tool_calls,
        [ToolCall::from_raw(
            "c1",
            "calculator",
            "{\"expression\": \"17*23\"}"
        )]
    );
}

#[tokio::test]
async fn events_split_at_arbitrary_points() {
    let body = rich_body();
    for size in [1, 2, 3, 5, 7, 13, 64, 4096] {
        let server = raw_server(sse_in_pieces(body.as_bytes(), size)).await;
        let s = client(&server.base()).stream(req()).await.unwrap();
        let got = chunks(s).await;
        check_rich(&got);
        assert_eq!(got.len(), 3, "size {size}: {got:?}");
    }
}

#[tokio::test]
async fn crlf_line_ends() {
    let body = rich_body().replace('\n', "\r\n");
    for size in [1, 3, 4096] {
        let server = raw_server(sse_in_pieces(body.as_bytes(), size)).await;
        let s = client(&server.base()).stream(req()).await.unwrap();
        check_rich(&chunks(s).await);
    }
}

#[tokio::test]
async fn keep_alive_comments_between_pauses() {
    let mut script = vec![sse_head()];
    for _ in 0..3 {
        script.push(chunk(b": ping\n\n"));
        script.push(Act::Pause(Duration::from_millis(20)));
    }
    script.push(chunk(
        event(r#"{"content":"late"}"#, r#""stop""#).as_bytes(),
    ));
    script.push(chunk(b"data: [DONE]\n\n"));
    script.push(crate::support::last_chunk());
    let server = raw_server(script).await;
    let s = client(&server.base()).stream(req()).await.unwrap();
    let got = chunks(s).await;
    assert_eq!(
        got,
        [ChatChunk::delta("late")
            .with_finish_reason(FinishReason::Stop)
            .with_info(info())]
    );
}

#[tokio::test]
async fn connection_cut_mid_stream_is_an_error_item() {
    let script = vec![
        sse_head(),
        chunk(event(r#"{"content":"partial"}"#, "null").as_bytes()),
        chunk(b"data: {\"choices\":[{\"index\":0,\"del"),
        Act::Close,
    ];
    let server = raw_server(script).await;
    let s = client(&server.base()).stream(req()).await.unwrap();
    let items = collect(s).await;
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[0].as_ref().unwrap().delta, "partial");
    match &items[1] {
        Err(e @ LlmError::Interrupted { events: 1, .. }) => {
            assert!(e.retryable());
            assert!(
                e.to_string()
                    .contains("broke before the reply was complete"),
                "{e}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn close_delimited_body_ending_early_is_an_error_item() {
    let head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n";
    let script = vec![
        Act::Write(head.to_vec()),
        Act::Write(event(r#"{"content":"a"}"#, "null").into_bytes()),
        Act::Close,
    ];
    let server = raw_server(script).await;
    let items = collect(client(&server.base()).stream(req()).await.unwrap()).await;
    assert!(
        matches!(
            items.last().unwrap(),
            Err(LlmError::Interrupted { events: 1, .. })
        ),
        "{items:?}"
    );
}

#[tokio::test]
async fn cut_after_the_finish_reason_still_completes() {
    let script = vec![
        sse_head(),
        chunk(event(r#"{"content":"done"}"#, r#""stop""#).as_bytes()),
        Act::Close,
    ];
    let server = raw_server(script).await;
    let got = chunks(client(&server.base()).stream(req()).await.unwrap()).await;
    assert_eq!(
        got,
        [ChatChunk::delta("done")
            .with_finish_reason(FinishReason::Stop)
            .with_info(info())]
    );
}

#[tokio::test]
async fn sequential_requests_share_one_connection() {
    let reply = json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}]});
    let server = raw_server(vec![full_response(
        "application/json",
        reply.to_string().as_bytes(),
    )])
    .await;
    let c = client(&server.base());
    for _ in 0..25 {
        assert_eq!(c.complete(req()).await.unwrap().message.content, "ok");
    }
    assert_eq!(server.requests(), 25);
    assert_eq!(server.connections(), 1);
    // Clones share the pool.
    let clone = c.clone();
    clone.complete(req()).await.unwrap();
    assert_eq!(server.connections(), 1);
}

#[tokio::test]
async fn sequential_streams_share_one_connection() {
    let body = event(r#"{"content":"hi"}"#, r#""stop""#) + "data: [DONE]\n\n";
    let server = raw_server(sse_in_pieces(body.as_bytes(), 4096)).await;
    let c = client(&server.base());
    for _ in 0..10 {
        let got = chunks(c.stream(req()).await.unwrap()).await;
        assert_eq!(text(&got), "hi");
    }
    assert_eq!(server.connections(), 1);
}
