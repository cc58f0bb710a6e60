//! Replies the transport cannot read (too large, not JSON, nested too
//! deep, too many values) end their call at once with what was wrong,
//! never as a timeout, and the server goes on.

use crate::support::{ctx, raw_stdio};
use klieo_mcp::{McpError, McpServer, ReplyFault, MAX_REPLY_BYTES};
use klieo_types::{ToolError, ToolInvoker};
use serde_json::json;
use std::time::Duration;

/// A call's failure text, which must not be a timeout.
async fn failed(server: &McpServer, tool: &str) -> String {
    let out = server.invoke(tool, json!({}), ctx()).await;
    match out {
        Err(ToolError::Failed { message, .. }) => message,
        other => panic!("expected a failure the model reads, got {other:?}"),
    }
}

/// A server whose calls would otherwise wait out an hour.
fn patient(mode: &str) -> klieo_mcp::McpOptions {
    raw_stdio(mode).with_call_timeout(Duration::from_secs(3600))
}

#[tokio::test]
#[ignore = "needs the MCP servers `cargo xtask ci` installs (its `mcp` step)"]
async fn a_reply_over_the_line_bound_ends_its_call_at_once() {
    let server = McpServer::connect(patient("huge")).await.unwrap();
    let message = failed(&server, "huge").await;
    assert!(
        message.contains(&format!("larger than {MAX_REPLY_BYTES} bytes")),
        "{message}"
    );
    let echoed = server.invoke("echo", json!({"text": "on"}), ctx()).await;
    assert_eq!(echoed, Ok(json!("on")), "the server goes on");
}

#[tokio::test]
#[ignore = "needs the MCP servers `cargo xtask ci` installs (its `mcp` step)"]
async fn a_reply_that_is_not_json_or_nests_too_deep_ends_its_call_at_once() {
    let server = McpServer::connect(patient("garbage")).await.unwrap();
    let message = failed(&server, "garbage").await;
    assert!(message.contains("not a JSON-RPC message"), "{message}");
    assert!(message.contains("this is not JSON"), "{message}");
    assert!(message.contains("had its effect is unknown"), "{message}");
    let message = failed(&server, "deep").await;
    assert!(message.contains("nested deeper than"), "{message}");
    assert!(message.contains("ask for less"), "{message}");
    let echoed = server.invoke("echo", json!({"text": "on"}), ctx()).await;
    assert_eq!(echoed, Ok(json!("on")));
}

#[tokio::test]
#[ignore = "needs the MCP servers `cargo xtask ci` installs (its `mcp` step)"]
async fn a_reply_in_a_batch_ends_its_call_at_once() {
    // Without the fault, the call would wait out its timeout (a failure
    // here, not the hour of `patient`).
    let settings = raw_stdio("lies").with_call_timeout(Duration::from_secs(30));
    let server = McpServer::connect(settings).await.unwrap();
    let message = failed(&server, "batch").await;
    assert!(message.contains("was not a JSON-RPC message"), "{message}");
    let echoed = server.invoke("echo", json!({"text": "on"}), ctx()).await;
    assert_eq!(echoed, Ok(json!("on")), "the server goes on");
}

/// A server that asks for input (elicitation) instead of answering: the
/// call fails, saying so, and is not sent again with an answer klieo made
/// up.
#[tokio::test]
#[ignore = "needs the MCP servers `cargo xtask ci` installs (its `mcp` step)"]
async fn a_request_for_input_fails_the_call_once() {
    let server = McpServer::connect(patient("lies")).await.unwrap();
    let message = failed(&server, "asks").await;
    assert!(message.contains("a request for input"), "{message}");
    let asked = server.invoke("asked", json!({}), ctx()).await;
    assert_eq!(asked, Ok(json!("1")), "one tools/call came");
}

/// A notification too large to read is dropped; it is no reply, so the
/// call in flight gets its own.
#[tokio::test]
#[ignore = "needs the MCP servers `cargo xtask ci` installs (its `mcp` step)"]
async fn a_notification_too_large_to_read_fails_no_call() {
    let server = McpServer::connect(patient("lies")).await.unwrap();
    let out = server.invoke("noisy", json!({}), ctx()).await;
    assert_eq!(out, Ok(json!("after the noise")));
    // Its method named after its values: read from the whole line.
    let out = server.invoke("late-noisy", json!({}), ctx()).await;
    assert_eq!(out, Ok(json!("after the noise")));
}

#[tokio::test]
#[ignore = "needs the MCP servers `cargo xtask ci` installs (its `mcp` step)"]
async fn a_reply_of_too_many_values_is_refused_before_it_is_parsed() {
    let server = McpServer::connect(patient("items")).await.unwrap();
    let message = failed(&server, "items").await;
    assert!(message.contains("JSON values"), "{message}");
}

#[tokio::test]
#[ignore = "needs the MCP servers `cargo xtask ci` installs (its `mcp` step)"]
async fn a_server_that_writes_only_text_fails_its_handshake_at_once() {
    let settings = raw_stdio("only-garbage").with_connect_timeout(Duration::from_secs(3600));
    let error = McpServer::connect(settings).await.unwrap_err();
    let McpError::Reply {
        fault: ReplyFault::Malformed { excerpt },
        ..
    } = &error
    else {
        panic!("expected a reply fault, got {error:?}");
    };
    assert!(excerpt.contains("hello from a server"), "{excerpt}");
    assert!(!error.retryable());
}

#[tokio::test]
#[ignore = "needs the MCP servers `cargo xtask ci` installs (its `mcp` step)"]
async fn a_version_klieo_does_not_speak_is_named_within_bounds() {
    let error = McpServer::connect(raw_stdio("long-version"))
        .await
        .unwrap_err();
    let McpError::Version { version, .. } = &error else {
        panic!("expected a version error, got {error:?}");
    };
    assert!(version.starts_with("2099-"), "{version}");
    assert!(
        version.chars().count() <= 65,
        "{} characters",
        version.len()
    );
}
