//! A rate limit shared by two processes through one SQLite file: the
//! first process's call is answered 429 with `retry-after: 4`, which
//! pauses the model's scope in the file; neither process calls the server
//! again within those four seconds (the second one starts once the first
//! got its 429), and each one's next call says it waited.
//!
//! A process is this test binary re-run as `rate_child`: an agent whose
//! client is limited by the store's rate limiter. It prints what happened
//! to it, a line each.
#![allow(
    clippy::print_stdout,
    reason = "a child tells the parent on stdout what happened"
)]
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "a broken child fails the test"
)]

use klieo::openai::OpenAiClient;
use klieo::prelude::*;
use klieo::provider::rate_limit::RateLimited;
use klieo::sqlite::SqliteStore;
use klieo::store::RateLimits;
use klieo::types::LlmError;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const REPLY: &str = r#"{"id":"c1","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}"#;

/// When each request came, and when the 429 was sent.
#[derive(Default)]
struct Seen {
    arrivals: Vec<Instant>,
    limited_at: Option<Instant>,
}

/// A chat server answering its first request 429 with `retry-after: 4`
/// and every later one with a reply.
async fn server() -> (String, Arc<Mutex<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Seen::default()));
    let log = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let log = Arc::clone(&log);
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 8192];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                // A chat server only: the client's question about what the
                // server can do (`GET /props`) finds nothing.
                if request.starts_with(b"GET ") {
                    let none = "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\
                                connection: close\r\n\r\n";
                    let _ = sock.write_all(none.as_bytes()).await;
                    return;
                }
                let first = {
                    let mut seen = log.lock().unwrap();
                    seen.arrivals.push(Instant::now());
                    seen.arrivals.len() == 1
                };
                let response = if first {
                    let body = r#"{"error":{"message":"slow down"}}"#;
                    format!(
                        "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\n\
                         retry-after: 4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    )
                } else {
                    format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n{REPLY}",
                        REPLY.len()
                    )
                };
                if first {
                    // Before the client can have it: its pause counts
                    // from a later instant.
                    log.lock().unwrap().limited_at = Some(Instant::now());
                }
                let _ = sock.write_all(response.as_bytes()).await;
            });
        }
    });
    (base, seen)
}

/// The process the test starts: `KLIEO_RATE_ROLE` `first` makes a call
/// that may not retry (the 429 ends it: "limited"), then one that may
/// ("answered"); `second` waits for a line on its stdin, then makes one
/// call ("waited <ms>" when it waited, then "answered").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a process of the shared rate limit test: run only by it"]
async fn rate_child() {
    let var = |name: &str| std::env::var(name).expect("set by the test");
    let store = SqliteStore::open(var("KLIEO_RATE_DB")).await.unwrap();
    let limiter = store.rate_limiter(RateLimits::new()).unwrap();
    let client = OpenAiClient::builder()
        .with_base_url(var("KLIEO_RATE_SERVER"))
        .with_model("m")
        .build()
        .unwrap();
    let llm = RateLimited::builder(client, limiter).build().unwrap();
    let agent = |options: RunOptions| {
        Agent::builder(llm.clone())
            .with_options(options)
            .build()
            .unwrap()
    };
    if var("KLIEO_RATE_ROLE") == "second" {
        // Started before the 429, so its start-up is not inside the
        // pause: the parent's line on stdin says the pause began.
        let go = tokio::task::spawn_blocking(|| std::io::stdin().lines().next());
        assert!(matches!(go.await, Ok(Some(Ok(_)))), "the parent says go");
    }
    if var("KLIEO_RATE_ROLE") == "first" {
        let retry = klieo::retry::RetryPolicy::new().with_max_retries(0);
        let once = agent(RunOptions::default().with_retry(retry));
        match once.run("hello").await {
            Err(Error::Llm(LlmError::RateLimit { .. })) => println!("limited"),
            other => panic!("expected the 429, got {other:?}"),
        }
    }
    let agent = agent(RunOptions::default());
    let mut events = agent.session("b").stream("hello");
    while let Some(event) = events.next().await {
        match event.unwrap() {
            RunEvent::RateLimitWaited { wait, .. } => {
                println!("waited {}", wait.waited.as_millis())
            }
            RunEvent::Finished(_) => println!("answered"),
            _ => {}
        }
    }
}

/// Starts a child of `role`; its stdout lines come back on the channel.
fn child(
    role: &str,
    server: &str,
    db: &std::path::Path,
) -> (Child, std::sync::mpsc::Receiver<String>) {
    let mut child = Command::new(std::env::current_exe().expect("this test binary"))
        .args(["--ignored", "--exact", "rate_child", "--nocapture"])
        .env("KLIEO_RATE_ROLE", role)
        .env("KLIEO_RATE_SERVER", server)
        .env("KLIEO_RATE_DB", db)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("a child starts");
    let stdout = child.stdout.take().expect("its stdout");
    let (send, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if send.send(line).is_err() {
                break;
            }
        }
    });
    (child, lines)
}

/// The child's next line of its own (not the test harness's), or `None`
/// when it ended.
async fn next_line(lines: &mut std::sync::mpsc::Receiver<String>) -> Option<String> {
    let taken = std::mem::replace(lines, std::sync::mpsc::channel().1);
    let (line, back) = tokio::task::spawn_blocking(move || {
        let line = taken.iter().find(|l| {
            l.starts_with("limited") || l.starts_with("waited") || l.starts_with("answered")
        });
        (line, taken)
    })
    .await
    .unwrap();
    *lines = back;
    line
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_holds_back_both_processes_for_the_time_it_asked() {
    let (base, seen) = server().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("limits.db");
    SqliteStore::open(&db).await.unwrap().close().await;

    let (mut first, mut first_lines) = child("first", &base, &db);
    let (mut second, mut second_lines) = child("second", &base, &db);
    // The 429 ended the first call, and its pause is in the file.
    assert_eq!(
        next_line(&mut first_lines).await.as_deref(),
        Some("limited")
    );
    let mut go = second.stdin.take().expect("its stdin");
    go.write_all(b"go\n")
        .expect("the second process is told to go");
    drop(go);
    // Each process's next call waited for the pause, then was answered.
    for lines in [&mut first_lines, &mut second_lines] {
        let waited = next_line(lines).await.expect("a wait");
        let waited: u64 = waited
            .strip_prefix("waited ")
            .and_then(|ms| ms.parse().ok())
            .unwrap_or_else(|| panic!("not a wait: {waited}"));
        assert!(waited > 0);
        assert_eq!(next_line(lines).await.as_deref(), Some("answered"));
    }
    assert!(first.wait().unwrap().success());
    assert!(second.wait().unwrap().success());

    let seen = seen.lock().unwrap();
    let limited_at = seen.limited_at.expect("the 429 was sent");
    assert_eq!(seen.arrivals.len(), 3, "the 429'd call and one of each");
    // The store counts whole milliseconds: a pause may end up to one
    // before the instant the 429 came in, plus four seconds.
    for later in &seen.arrivals[1..] {
        assert!(
            *later + Duration::from_millis(2) >= limited_at + Duration::from_secs(4),
            "a call came {:?} after the 429",
            later.duration_since(limited_at)
        );
    }
}
