//! Benchmark of the Anthropic provider's streaming path, run by `cargo
//! xtask bench` beside klieo-openai's: a loopback server sends a Messages
//! API event stream (`message_start`, a text block of N `text_delta`
//! events, `message_delta` with usage, `message_stop`) and
//! `AnthropicClient::stream` consumes it. Prints chunks per second and MB
//! per second (best of 5), one JSON object.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::panic)]

use klieo_anthropic::AnthropicClient;
use klieo_provider::builder::ClientBuilder;
use klieo_provider::testing::{response, RawServer};
use klieo_types::{ChatRequest, LlmClient, Message};
use std::future::poll_fn;
use std::time::Instant;

fn event(out: &mut String, kind: &str, data: &str) {
    out.push_str("event: ");
    out.push_str(kind);
    out.push_str("\ndata: ");
    out.push_str(data);
    out.push_str("\n\n");
}

fn sse_body(chunks: usize) -> Vec<u8> {
    let mut s = String::with_capacity(chunks * 140);
    event(
        &mut s,
        "message_start",
        r#"{"type":"message_start","message":{"id":"msg_bench","type":"message","role":"assistant","content":[],"model":"bench","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":10,"output_tokens":1}}}"#,
    );
    event(
        &mut s,
        "content_block_start",
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
    );
    for i in 0..chunks {
        let data = format!(
            r#"{{"type":"content_block_delta","index":0,"delta":{{"type":"text_delta","text":"tok{i} "}}}}"#
        );
        event(&mut s, "content_block_delta", &data);
    }
    event(
        &mut s,
        "content_block_stop",
        r#"{"type":"content_block_stop","index":0}"#,
    );
    let end = format!(
        r#"{{"type":"message_delta","delta":{{"stop_reason":"end_turn","stop_sequence":null}},"usage":{{"output_tokens":{chunks}}}}}"#
    );
    event(&mut s, "message_delta", &end);
    event(&mut s, "message_stop", r#"{"type":"message_stop"}"#);
    s.into_bytes()
}

/// Streams one reply; returns (chunks, content bytes).
async fn consume(client: &AnthropicClient) -> (usize, usize) {
    let req = ChatRequest::new(vec![Message::user("hi")]);
    let mut stream = client.stream(req).await.unwrap();
    let (mut n, mut bytes) = (0, 0);
    while let Some(item) = poll_fn(|cx| stream.as_mut().poll_next(cx)).await {
        bytes += item.unwrap().delta.len();
        n += 1;
    }
    (n, bytes)
}

#[tokio::main]
async fn main() {
    let chunks: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let body = sse_body(chunks);
    let server = RawServer::start(vec![response(200, &[], "text/event-stream", &body)]).await;
    let client = AnthropicClient::builder()
        .with_base_url(server.base())
        .build()
        .unwrap();
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        let (n, bytes) = consume(&client).await;
        best = best.min(t.elapsed().as_secs_f64());
        assert!(n >= chunks, "{n} chunks");
        assert!(bytes > chunks * 5);
    }
    println!(
        "{{\"impl\":\"klieo-anthropic\",\"chunks\":{chunks},\"body_bytes\":{},\"chunks_per_s\":{:.0},\"mb_per_s\":{:.1}}}",
        body.len(),
        chunks as f64 / best,
        body.len() as f64 / best / 1e6
    );
}
