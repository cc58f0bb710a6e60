//! The reference server over streamable HTTP: calls, a server that goes
//! away and comes back, and headers that never show.

use crate::support::{ctx, everything_http, free_port};
use klieo_mcp::{McpError, McpOptions, McpServer};
use klieo_types::{ToolError, ToolInvoker};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
#[ignore = "needs the MCP servers `cargo xtask ci` installs (its `mcp` step)"]
async fn tools_are_called_over_streamable_http_with_a_bearer_token() {
    let running = everything_http(free_port()).await;
    let settings = McpOptions::http("web", &running.url).with_bearer_token("tok-never-shown");
    let server = McpServer::connect(settings).await.unwrap();
    assert!(server.catalogue().iter().any(|d| d.name == "echo"));
    let out = server
        .invoke("echo", json!({"message": "over http"}), ctx())
        .await;
    assert_eq!(out, Ok(json!("Echo: over http")));
    assert!(!format!("{server:?}").contains("tok-never-shown"));
}

#[tokio::test]
#[ignore = "needs the MCP servers `cargo xtask ci` installs (its `mcp` step)"]
async fn a_server_that_goes_away_is_reached_again_when_it_is_back() {
    let port = free_port();
    let running = everything_http(port).await;
    let server = McpServer::connect(McpOptions::http("web", &running.url))
        .await
        .unwrap();
    drop(running);

    let lost = server.invoke("echo", json!({"message": "a"}), ctx()).await;
    let Err(error @ ToolError::Retryable { .. }) = lost else {
        panic!("expected a retryable error, got {lost:?}");
    };
    assert!(error.to_string().contains("`web`"), "{error}");

    let _back = everything_http(port).await;
    let out = server.invoke("echo", json!({"message": "b"}), ctx()).await;
    assert_eq!(
        out,
        Ok(json!("Echo: b")),
        "a new session on the server that came back"
    );
}

#[tokio::test]
async fn an_unreachable_server_fails_to_connect_without_showing_its_token() {
    let url = format!("http://127.0.0.1:{}/mcp", free_port());
    let settings = McpOptions::http("web", url)
        .with_bearer_token("tok-secret")
        .with_connect_timeout(Duration::from_secs(10));
    let error = McpServer::connect(settings).await.unwrap_err();
    assert!(matches!(error, McpError::Handshake { .. }), "{error:?}");
    assert!(error.retryable());
    let shown = format!("{error} {error:?}");
    assert!(
        shown.contains("`web`") && !shown.contains("tok-secret"),
        "{shown}"
    );
}

#[tokio::test]
async fn a_url_without_a_scheme_is_a_setting_to_fix() {
    let error = McpServer::connect(McpOptions::http("web", "localhost:3001/mcp"))
        .await
        .unwrap_err();
    assert!(matches!(error, McpError::Config { .. }), "{error:?}");
    assert!(!error.retryable());
    let cause = std::error::Error::source(&error).map(ToString::to_string);
    assert!(cause.is_some_and(|c| c.contains("http://")), "{error:?}");
}

/// A server at `path` that answers every request with `reply` (an HTTP
/// response, whole): its URL, and the target of the first request it got.
async fn answering(path: &str, reply: String) -> (String, tokio::sync::oneshot::Receiver<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}{path}", listener.local_addr().unwrap());
    let (asked, target) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut asked = Some(asked);
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut request = vec![0u8; 64 * 1024];
            let read = socket.read(&mut request).await.unwrap_or(0);
            let head = String::from_utf8_lossy(&request[..read]).into_owned();
            if let Some(asked) = asked.take() {
                let _ = asked.send(head.split(' ').nth(1).unwrap_or_default().to_owned());
            }
            let _ = socket.write_all(reply.as_bytes()).await;
        }
    });
    (url, target)
}

/// An empty reply with `status` and `headers` (each ending in CRLF).
fn empty(status: &str, headers: &str) -> String {
    format!("HTTP/1.1 {status}\r\n{headers}content-length: 0\r\nconnection: close\r\n\r\n")
}

#[tokio::test]
async fn a_server_answering_http_500_is_said_so_without_rust_type_names() {
    let body = "database is down";
    let reply = format!(
        "HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let (url, _) = answering("/mcp", reply).await;
    let error = McpServer::connect(McpOptions::http("web", url))
        .await
        .unwrap_err();
    let McpError::Handshake { reason, .. } = &error else {
        panic!("expected a failed handshake, got {error:?}");
    };
    assert!(reason.contains("HTTP 500"), "{reason}");
    assert!(!reason.contains("rmcp::"), "{reason}");
}

#[tokio::test]
async fn an_endpoint_ending_in_a_slash_is_asked_as_written() {
    let (url, target) = answering("/mcp/", empty("500 Internal Server Error", "")).await;
    let error = McpServer::connect(McpOptions::http("web", url))
        .await
        .unwrap_err();
    assert!(matches!(error, McpError::Handshake { .. }), "{error:?}");
    assert_eq!(target.await.unwrap(), "/mcp/");
}

/// What connecting with a token to a server answering `status` (with
/// `headers`) fails with: `McpError::Refused` with `code`, not
/// retryable, the token nowhere in it.
async fn refused_with(status: &str, headers: &str, code: u16) {
    let (url, _) = answering("/mcp", empty(status, headers)).await;
    let options = McpOptions::http("web", url).add_header("Authorization", "Bearer tok-secret");
    let error = McpServer::connect(options).await.unwrap_err();
    assert!(
        matches!(error, McpError::Refused { status, .. } if status == code),
        "{error:?}"
    );
    assert!(!error.retryable());
    let shown = klieo_types::ErrorChain(&error).to_string();
    assert!(!shown.contains("tok-secret"), "{shown}");
}

#[tokio::test]
async fn a_token_refused_with_a_challenge_is_not_worth_trying_again() {
    let challenge = "www-authenticate: Bearer realm=\"mcp\"\r\n";
    refused_with("401 Unauthorized", challenge, 401).await;
}

#[tokio::test]
async fn a_token_refused_without_a_challenge_is_not_worth_trying_again() {
    refused_with("401 Unauthorized", "", 401).await;
}

#[tokio::test]
async fn a_forbidden_handshake_is_not_worth_trying_again() {
    refused_with("403 Forbidden", "", 403).await;
}

#[tokio::test]
async fn a_url_with_no_mcp_endpoint_is_not_worth_trying_again() {
    refused_with("404 Not Found", "", 404).await;
    refused_with("405 Method Not Allowed", "", 405).await;
}
