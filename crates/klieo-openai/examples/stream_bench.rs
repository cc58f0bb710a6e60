//! Benchmark of the provider's streaming path, run by `cargo xtask bench`:
//! a loopback server sends an OpenAI `chat.completion.chunk` stream (a role
//! chunk, N content deltas, a finish chunk, a usage chunk, `[DONE]`; the
//! shape of `shared/bench/async-openai-baseline`) and `OpenAiClient::stream`
//! consumes it. Prints chunks per second (best of 5) and the process's peak
//! resident memory after 10,000 and after N chunks, one JSON object a line.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::panic)]

use klieo_openai::OpenAiClient;
use klieo_provider::builder::ClientBuilder;
use klieo_types::{ChatRequest, LlmClient, Message};
use std::future::poll_fn;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const HEAD: &str = r#"{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1,"model":"bench","system_fingerprint":"fp","choices":["#;

fn event(out: &mut String, choice: &str) {
    out.push_str("data: ");
    out.push_str(HEAD);
    out.push_str(choice);
    out.push_str("]}\n\n");
}

fn sse_body(chunks: usize) -> Vec<u8> {
    let mut s = String::with_capacity(chunks * 200);
    event(
        &mut s,
        r#"{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}"#,
    );
    for i in 0..chunks {
        let choice = format!(
            r#"{{"index":0,"delta":{{"content":"tok{i} "}},"logprobs":null,"finish_reason":null}}"#
        );
        event(&mut s, &choice);
    }
    event(
        &mut s,
        r#"{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}"#,
    );
    s.push_str(&format!(
        "data: {{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"bench\",\"choices\":[],\"usage\":{{\"prompt_tokens\":10,\"completion_tokens\":{chunks},\"total_tokens\":{}}}}}\n\ndata: [DONE]\n\n",
        chunks + 10
    ));
    s.into_bytes()
}

/// Answers every request on the connection with `body`, in 16 KiB writes.
async fn answer(mut sock: TcpStream, body: &'static [u8]) {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 8192];
    loop {
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            match sock.read(&mut tmp).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
            }
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while buf.len() < end + 4 + len {
            match sock.read(&mut tmp).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
            }
        }
        buf.drain(..end + 4 + len);
        let header = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        if sock.write_all(header.as_bytes()).await.is_err() {
            return;
        }
        for part in body.chunks(16 * 1024) {
            if sock.write_all(part).await.is_err() {
                return;
            }
        }
    }
}

async fn serve(body: &'static [u8]) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            tokio::spawn(answer(sock, body));
        }
    });
    format!("http://{addr}/v1")
}

/// Streams one reply; returns (chunks, content bytes).
async fn consume(client: &OpenAiClient) -> (usize, usize) {
    let req = ChatRequest::new(vec![Message::user("hi")]);
    let mut stream = client.stream(req).await.unwrap();
    let (mut n, mut bytes) = (0, 0);
    while let Some(item) = poll_fn(|cx| stream.as_mut().poll_next(cx)).await {
        bytes += item.unwrap().delta.len();
        n += 1;
    }
    (n, bytes)
}

/// Peak resident memory of this process so far, in KiB (Linux).
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let chunks: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let small: &'static [u8] = Box::leak(sse_body(10_000).into_boxed_slice());
    let body: &'static [u8] = Box::leak(sse_body(chunks).into_boxed_slice());
    let small_client = OpenAiClient::builder()
        .with_base_url(serve(small).await)
        .build()
        .unwrap();
    let client = OpenAiClient::builder()
        .with_base_url(serve(body).await)
        .build()
        .unwrap();

    let (n, _) = consume(&small_client).await;
    assert!(n >= 10_000);
    let rss_small = peak_rss_kib();
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        let (n, bytes) = consume(&client).await;
        best = best.min(t.elapsed().as_secs_f64());
        assert!(n > chunks, "{n} chunks");
        assert!(bytes > chunks * 5);
    }
    let rss_large = peak_rss_kib();
    println!(
        "{{\"impl\":\"klieo-openai\",\"chunks\":{chunks},\"body_bytes\":{},\"chunks_per_s\":{:.0}}}",
        body.len(),
        chunks as f64 / best
    );
    println!(
        "{{\"impl\":\"klieo-openai\",\"workload\":\"peak_rss\",\"after_10000_chunks_kib\":{rss_small},\"after_{chunks}_chunks_kib\":{rss_large},\"bodies_held_by_the_server_kib\":{}}}",
        (small.len() + body.len()) / 1024
    );
}
