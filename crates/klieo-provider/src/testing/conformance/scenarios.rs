//! The conformance scenarios, one function each; [`suite!`](super::suite)
//! makes each a test.

#![allow(clippy::panic, reason = "a failed check is a panic, like assert!")]

use super::{Habit, Wire, IDLE, KEY};
use crate::testing::server::{chunk, last_chunk, response, sse_head, Act, RawServer};
use klieo_types::testing::collect;
use klieo_types::{
    ChatChunk, ChatRequest, ChatResponse, FinishReason, LlmClient, LlmError, Message, TimeLimit,
    ToolCall, ToolDef, Usage,
};
use serde_json::json;
use std::time::Duration;

fn ask() -> ChatRequest {
    ChatRequest::new(vec![Message::user("hi")])
}

fn ask_with_tools() -> ChatRequest {
    let mut req = ask();
    req.tools = vec![
        ToolDef::new("add", "Adds.", json!({"type": "object"})),
        ToolDef::new("clock", "Tells the time.", json!({"type": "object"})),
    ]
    .into();
    req
}

fn calls() -> Vec<ToolCall> {
    vec![
        ToolCall::new("call_a", "add", json!({"a": 17, "b": 23})),
        ToolCall::new("call_b", "clock", json!({"zone": "UTC"})),
    ]
}

async fn serve(acts: Vec<Act>) -> RawServer {
    RawServer::start(acts).await
}

/// A chunked event stream of `body`, one chunk per event, then its end.
fn events(body: &str) -> Vec<Act> {
    let mut acts = vec![sse_head()];
    for event in body.split_inclusive("\n\n") {
        acts.push(chunk(event.as_bytes()));
    }
    acts.push(last_chunk());
    acts
}

async fn stream_items<W: Wire>(
    wire: &W,
    acts: Vec<Act>,
    req: ChatRequest,
    scenario: &str,
) -> Vec<Result<ChatChunk, LlmError>> {
    let server = serve(acts).await;
    let client = wire.client(&server.base(), KEY, IDLE);
    match client.stream(req).await {
        Ok(mut stream) => collect(&mut stream).await,
        Err(e) => panic!("{scenario}: the stream did not open: {e:?}"),
    }
}

fn texts(items: &[Result<ChatChunk, LlmError>]) -> String {
    items
        .iter()
        .filter_map(|i| i.as_ref().ok())
        .map(|c| c.delta.as_str())
        .collect()
}

/// A text stream comes as its deltas as they came, then one finish
/// reason, with the usage, on the last chunk.
pub async fn text_streams_as_it_comes<W: Wire>(wire: &W) {
    let scenario = "text stream";
    let usage = Usage::new(12, 3);
    let body = wire.text_stream(&["17 × 23", " = ", "391"], usage);
    let items = stream_items(wire, events(&body), ask(), scenario).await;
    let chunks: Vec<&ChatChunk> = items
        .iter()
        .map(|i| match i {
            Ok(c) => c,
            Err(e) => panic!("{scenario}: an error item: {e:?}"),
        })
        .collect();
    let deltas: Vec<&str> = chunks
        .iter()
        .map(|c| c.delta.as_str())
        .filter(|d| !d.is_empty())
        .collect();
    assert_eq!(
        deltas,
        ["17 × 23", " = ", "391"],
        "{scenario}: deltas as they came"
    );
    let last = chunks.last().map(|c| (c.finish_reason, c.usage));
    assert_eq!(
        last,
        Some((Some(FinishReason::Stop), Some(usage))),
        "{scenario}: the last chunk ends the answer with its usage"
    );
    let finishes = chunks.iter().filter(|c| c.finish_reason.is_some()).count();
    assert_eq!(
        finishes, 1,
        "{scenario}: one finish reason, on the last chunk"
    );
}

/// `req` answered with the JSON `body`: the reply, or a panic naming `what`.
async fn blocking<W: Wire>(wire: &W, body: &str, req: ChatRequest, what: &str) -> ChatResponse {
    let server = serve(vec![response(
        200,
        &[],
        "application/json",
        body.as_bytes(),
    )])
    .await;
    let client = wire.client(&server.base(), KEY, IDLE);
    match client.complete(req).await {
        Ok(reply) => reply,
        Err(e) => panic!("{what}: {e:?}"),
    }
}

/// A blocking reply carries its text, finish reason and usage.
pub async fn a_blocking_reply_is_whole<W: Wire>(wire: &W) {
    let usage = Usage::new(9, 2);
    let body = wire.text_reply("391", usage);
    let reply = blocking(wire, &body, ask(), "blocking reply").await;
    assert_eq!(reply.message.content, "391", "blocking reply: its text");
    assert_eq!(
        reply.finish_reason,
        FinishReason::Stop,
        "blocking reply: finish"
    );
    assert_eq!(reply.usage, Some(usage), "blocking reply: usage");
}

fn same_calls(got: &[ToolCall], scenario: &str) {
    let want = calls();
    assert_eq!(got.len(), want.len(), "{scenario}: every call, {got:?}");
    for (got, want) in got.iter().zip(&want) {
        assert_eq!((&got.id, &got.name), (&want.id, &want.name), "{scenario}");
        let args: serde_json::Value = match serde_json::from_str(got.arguments()) {
            Ok(args) => args,
            Err(e) => panic!(
                "{scenario}: arguments {:?} are not JSON: {e}",
                got.arguments()
            ),
        };
        let expected: serde_json::Value =
            serde_json::from_str(want.arguments()).unwrap_or_default();
        assert_eq!(args, expected, "{scenario}: the arguments whole");
    }
}

/// [`streamed_tool_calls_come_whole`] in [`Habit::IdAndNameOnce`].
pub async fn streamed_tool_calls_with_id_and_name_once<W: Wire>(wire: &W) {
    streamed_tool_calls_come_whole(wire, Habit::IdAndNameOnce).await;
}

/// [`streamed_tool_calls_come_whole`] in [`Habit::IdAndNameInEveryFragment`].
pub async fn streamed_tool_calls_with_id_and_name_in_every_fragment<W: Wire>(wire: &W) {
    streamed_tool_calls_come_whole(wire, Habit::IdAndNameInEveryFragment).await;
}

/// [`streamed_tool_calls_come_whole`] in [`Habit::Whole`].
pub async fn streamed_tool_calls_whole<W: Wire>(wire: &W) {
    streamed_tool_calls_come_whole(wire, Habit::Whole).await;
}

/// A tool call of 2 MiB streamed whole, in one event (one line of the
/// stream), comes as it was sent: a streamed reply may hold in one event
/// what the same reply sent whole may hold.
pub async fn a_large_tool_call_streams_whole<W: Wire>(wire: &W) {
    let scenario = "a large tool call streamed whole";
    let call = ToolCall::new("call_a", "add", json!({"text": "x".repeat(2 << 20)}));
    let body = wire.tool_call_stream(std::slice::from_ref(&call), Habit::Whole);
    let items = stream_items(wire, events(&body), ask_with_tools(), scenario).await;
    let mut got = Vec::new();
    for item in &items {
        match item {
            Ok(chunk) => got.extend(&chunk.tool_calls),
            Err(e) => panic!("{scenario}: an error item: {e:?}"),
        }
    }
    assert_eq!(got.len(), 1, "{scenario}: one call");
    assert_eq!(got[0].arguments(), call.arguments(), "{scenario}: whole");
}

/// Parallel tool calls streamed in `habit` come whole, together and once,
/// on the last chunk, which finishes with `ToolCalls`.
pub async fn streamed_tool_calls_come_whole<W: Wire>(wire: &W, habit: Habit) {
    let scenario = format!("streamed tool calls ({habit:?})");
    let body = wire.tool_call_stream(&calls(), habit);
    let items = stream_items(wire, events(&body), ask_with_tools(), &scenario).await;
    let mut with_calls = Vec::new();
    for item in &items {
        match item {
            Ok(chunk) if !chunk.tool_calls.is_empty() => with_calls.push(chunk),
            Ok(_) => {}
            Err(e) => panic!("{scenario}: an error item: {e:?}"),
        }
    }
    assert_eq!(
        with_calls.len(),
        1,
        "{scenario}: the calls come together, once"
    );
    let last = items.last().and_then(|i| i.as_ref().ok());
    assert!(
        last.is_some_and(|c| !c.tool_calls.is_empty()),
        "{scenario}: on the last chunk"
    );
    assert_eq!(
        last.and_then(|c| c.finish_reason),
        Some(FinishReason::ToolCalls),
        "{scenario}: finish"
    );
    same_calls(&with_calls[0].tool_calls, &scenario);
}

/// A blocking reply's tool calls come whole.
pub async fn blocking_tool_calls<W: Wire>(wire: &W) {
    let body = wire.tool_call_reply(&calls());
    let reply = blocking(wire, &body, ask_with_tools(), "blocking tool calls").await;
    assert_eq!(
        reply.finish_reason,
        FinishReason::ToolCalls,
        "blocking tool calls"
    );
    same_calls(&reply.message.tool_calls, "blocking tool calls");
}

/// The error a reply of `status` with `headers` and `message` is.
pub(super) async fn error_of<W: Wire>(
    wire: &W,
    status: u16,
    headers: &[(&str, &str)],
    message: &str,
) -> LlmError {
    let body = wire.error_body(status, message);
    let server = serve(vec![response(
        status,
        headers,
        "application/json",
        body.as_bytes(),
    )])
    .await;
    let client = wire.client(&server.base(), KEY, IDLE);
    match client.complete(ask()).await {
        Ok(reply) => panic!("status {status}: an answer {reply:?}"),
        Err(e) => e,
    }
}

/// The API key shows neither in the client's `Debug` nor in an error that
/// echoes it.
pub async fn the_key_never_shows<W: Wire>(wire: &W) {
    let client = wire.client("http://127.0.0.1:9", KEY, IDLE);
    assert!(!format!("{client:?}").contains(KEY), "the client's Debug");
    let e = error_of(wire, 401, &[], &format!("bad key {KEY}")).await;
    for shown in [e.to_string(), format!("{e:?}")] {
        assert!(!shown.contains(KEY), "an error echoing the key: {shown}");
    }
}

/// A stream closed before its first event is one retryable error.
pub async fn a_stream_cut_before_its_first_event_is_retryable<W: Wire>(wire: &W) {
    let scenario = "a stream cut before its first event";
    let items = stream_items(wire, vec![sse_head(), Act::Close], ask(), scenario).await;
    match items.as_slice() {
        [Err(e)] => assert!(e.retryable(), "{scenario}: retryable: {e:?}"),
        other => panic!("{scenario}: one error item, not {other:?}"),
    }
}

/// A stream closed after its first event keeps its text and ends with a
/// retryable `Interrupted`.
pub async fn a_stream_cut_after_its_first_event_is_interrupted<W: Wire>(wire: &W) {
    let scenario = "a stream cut after its first event";
    let acts = vec![
        sse_head(),
        chunk(wire.opening("Hel").as_bytes()),
        Act::Close,
    ];
    let items = stream_items(wire, acts, ask(), scenario).await;
    assert_eq!(texts(&items), "Hel", "{scenario}: the text that came");
    match items.last() {
        Some(Err(e @ LlmError::Interrupted { .. })) => {
            assert!(e.retryable(), "{scenario}: retryable: {e:?}");
        }
        other => panic!("{scenario}: ends with Interrupted, not {other:?}"),
    }
}

/// An error event mid-stream ends the stream with a retryable error
/// carrying the server's message.
pub async fn an_error_event_mid_stream_is_a_typed_error<W: Wire>(wire: &W) {
    let scenario = "an error event mid-stream";
    let body = wire.opening("Hel") + &wire.error_event("overloaded, try again");
    let items = stream_items(wire, events(&body), ask(), scenario).await;
    assert_eq!(texts(&items), "Hel", "{scenario}: the text that came");
    match items.last() {
        Some(Err(e)) => {
            assert!(e.retryable(), "{scenario}: retryable: {e:?}");
            assert!(
                e.to_string().contains("overloaded, try again"),
                "{scenario}: the server's message: {e}"
            );
        }
        other => panic!("{scenario}: ends with an error, not {other:?}"),
    }
}

/// A body that stalls is cut at the idle limit with a `Timeout`.
pub async fn a_stalled_body_is_cut_at_the_idle_limit<W: Wire>(wire: &W) {
    let scenario = "a stalled body";
    let acts = vec![
        sse_head(),
        chunk(wire.opening("Hel").as_bytes()),
        Act::Pause(Duration::from_secs(3600)),
    ];
    let items = stream_items(wire, acts, ask(), scenario).await;
    assert_eq!(texts(&items), "Hel", "{scenario}: the text that came");
    match items.last() {
        Some(Err(LlmError::Timeout { limit, after })) => {
            assert_eq!((*limit, *after), (TimeLimit::Idle, IDLE), "{scenario}");
        }
        other => panic!("{scenario}: ends with an idle timeout, not {other:?}"),
    }
}
