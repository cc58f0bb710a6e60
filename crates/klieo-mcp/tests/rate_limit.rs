//! A server over streamable HTTP that refuses one call with HTTP 429: the
//! call fails alone, retryable after the server's `Retry-After`, and the
//! session lives on (no second handshake). The server is a few lines of
//! HTTP here, as no installed server can be told to answer 429.

use crate::support::ctx;
use klieo_mcp::{McpOptions, McpServer};
use klieo_types::{ToolError, ToolInvoker};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// What the scripted server has seen.
#[derive(Default)]
struct Seen {
    handshakes: AtomicUsize,
    calls: AtomicUsize,
}

/// Serves MCP's JSON answers, one request a connection; the first
/// `tools/call` is answered 429 with `retry-after: 7`, the second 429
/// with a `retry-after` that is no wait klieo can read.
async fn serve(listener: TcpListener, seen: Arc<Seen>) {
    while let Ok((socket, _)) = listener.accept().await {
        let seen = Arc::clone(&seen);
        tokio::spawn(async move {
            if let Some(request) = read_request(socket).await {
                answer(request, &seen).await;
            }
        });
    }
}

/// The request's JSON body, with its socket to answer on.
async fn read_request(socket: TcpStream) -> Option<(BufReader<TcpStream>, Value)> {
    let mut reader = BufReader::new(socket);
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).await.ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await.ok()?;
    Some((reader, serde_json::from_slice(&body).ok()?))
}

async fn answer((mut socket, request): (BufReader<TcpStream>, Value), seen: &Seen) {
    let id = request.get("id").cloned();
    let result = match request["method"].as_str().unwrap_or_default() {
        "initialize" => {
            seen.handshakes.fetch_add(1, Ordering::SeqCst);
            json!({
                "protocolVersion": request["params"]["protocolVersion"],
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "limited", "version": "1"}
            })
        }
        "tools/list" => json!({"tools": [{
            "name": "echo", "description": "echoes", "inputSchema": {"type": "object"}
        }]}),
        "tools/call" if seen.calls.load(Ordering::SeqCst) < 2 => {
            let after = match seen.calls.fetch_add(1, Ordering::SeqCst) {
                0 => "7",
                _ => "whenever",
            };
            let reply = format!(
                "HTTP/1.1 429 Too Many Requests\r\nretry-after: {after}\r\n\
                 content-length: 0\r\nconnection: close\r\n\r\n"
            );
            let _ = socket.write_all(reply.as_bytes()).await;
            return;
        }
        "tools/call" => json!({"content": [{"type": "text", "text": "ok"}]}),
        _ => Value::Null,
    };
    let reply = match id {
        // A notification is accepted with no body.
        None => {
            "HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_owned()
        }
        Some(id) => {
            let body = json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string();
            format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
                 connection: close\r\n\r\n{body}",
                body.len()
            )
        }
    };
    let _ = socket.write_all(reply.as_bytes()).await;
}

#[tokio::test]
async fn a_rate_limited_call_fails_alone_retryable_and_keeps_the_session() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let seen = Arc::new(Seen::default());
    tokio::spawn(serve(listener, Arc::clone(&seen)));
    let server = McpServer::connect(McpOptions::http("limited", url))
        .await
        .unwrap();

    // The server's wait, then klieo's own when the server's cannot be read.
    for wait in [7, 1] {
        let refused = server.invoke("echo", json!({}), ctx()).await;
        let Err(ToolError::Retryable {
            message,
            retry_after,
        }) = refused
        else {
            panic!("expected a retryable refusal, got {refused:?}");
        };
        assert_eq!(retry_after, Some(Duration::from_secs(wait)), "{message}");
        let said = message.contains("429") && message.contains("did not run");
        assert!(said, "{message}");
    }

    let again = server.invoke("echo", json!({}), ctx()).await;
    assert!(again.is_ok(), "{again:?}");
    assert_eq!(
        seen.handshakes.load(Ordering::SeqCst),
        1,
        "the session was started again"
    );
}
