//! A misbehaving server under everything's defaults (the OpenAI client's
//! timeouts, the agent's retry policy): a stalled or trickling server ends
//! a run with a typed timeout within 90 s, blocking or streamed. Time is
//! paused, so the minutes pass at once and exactly.
#![allow(clippy::unwrap_used, clippy::panic)]

use klieo::openai::OpenAiClient;
use klieo::prelude::*;
use klieo::types::{LlmError, TimeLimit};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::time::Instant;

const WITHIN: Duration = Duration::from_secs(90);

/// How the server misbehaves after reading a request.
#[derive(Clone, Copy)]
enum Fault {
    /// Never answers.
    Stall,
    /// Sends a streamed reply's headers, then its events one byte a second.
    Trickle,
}

/// A loopback server answering every request with `fault`; its base URL.
async fn server(fault: Fault) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 8192];
                // The request's first read is enough to answer it.
                if sock.read(&mut buf).await.unwrap_or(0) == 0 {
                    return;
                }
                if let Fault::Trickle = fault {
                    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
                                connection: close\r\n\r\n";
                    if sock.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    // A chunk as OpenAI words it: a line takes minutes.
                    let event = "data: {\"id\":\"chatcmpl-AbC123\",\"object\":\"chat.completion.chunk\",\
                                 \"created\":1733212800,\"model\":\"gpt-4o-mini-2024-07-18\",\
                                 \"system_fingerprint\":\"fp_0ba0d124f1\",\"choices\":[{\"index\":0,\
                                 \"delta\":{\"content\":\"hi\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n";
                    for byte in event.bytes().cycle() {
                        if sock.write_all(&[byte]).await.is_err() {
                            return;
                        }
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
                tokio::time::sleep(Duration::from_secs(24 * 3600)).await;
            });
        }
    });
    format!("http://{addr}/v1")
}

fn agent(base_url: String) -> Agent {
    let client = OpenAiClient::builder()
        .with_base_url(base_url)
        .build()
        .unwrap();
    Agent::builder(client)
        .build()
        .expect("the options are valid")
}

fn assert_timed_out(error: &Error, began: Instant) {
    assert!(
        matches!(error, Error::Llm(LlmError::Timeout { .. })),
        "{error:?}"
    );
    assert!(began.elapsed() <= WITHIN, "{:?}", began.elapsed());
}

#[tokio::test(start_paused = true)]
async fn a_stalled_server_ends_a_blocking_run_within_90_s() {
    let agent = agent(server(Fault::Stall).await);
    let began = Instant::now();
    let error = agent.run("hello").await.unwrap_err();
    assert_timed_out(&error, began);
    assert_eq!(
        error,
        Error::Llm(LlmError::timeout(
            TimeLimit::RetryBudget,
            Duration::from_secs(80)
        ))
    );
}

/// Streams one run against a server with `fault` to its end: its last
/// item is a typed timeout, within 90 s.
async fn streamed_run_times_out(fault: Fault) {
    let agent = agent(server(fault).await);
    let began = Instant::now();
    let mut events = agent.stream("hello");
    let mut last = None;
    while let Some(event) = events.next().await {
        last = Some(event);
    }
    match last {
        Some(Err(error)) => assert_timed_out(&error, began),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_stalled_server_ends_a_streamed_run_within_90_s() {
    streamed_run_times_out(Fault::Stall).await;
}

#[tokio::test(start_paused = true)]
async fn a_trickling_server_ends_a_streamed_run_within_90_s() {
    streamed_run_times_out(Fault::Trickle).await;
}
