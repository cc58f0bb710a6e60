//! The reference server over stdio: its tools listed with their schemas,
//! text and structured results, a call given up at its timeout.

use crate::support::{ctx, everything_stdio};
use klieo_mcp::McpServer;
use klieo_types::{ToolError, ToolInvoker};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
#[ignore = "needs the MCP servers `cargo xtask ci` installs (its `mcp` step)"]
async fn its_tools_are_listed_with_their_input_schemas() {
    let server = McpServer::connect(everything_stdio()).await.unwrap();
    let catalogue = server.catalogue();
    let echo = catalogue
        .iter()
        .find(|d| d.name == "echo")
        .expect("echo listed");
    assert_eq!(echo.description, "Echoes back the input string");
    assert_eq!(echo.parameters["type"], "object");
    assert_eq!(echo.parameters["properties"]["message"]["type"], "string");
    assert!(catalogue.iter().any(|d| d.name == "get-sum"));
}

#[tokio::test]
#[ignore = "needs the MCP servers `cargo xtask ci` installs (its `mcp` step)"]
async fn text_and_structured_results_become_the_output() {
    let server = McpServer::connect(everything_stdio()).await.unwrap();
    let echoed = server.invoke("echo", json!({"message": "hi"}), ctx()).await;
    assert_eq!(echoed, Ok(json!("Echo: hi")));
    let sum = server
        .invoke("get-sum", json!({"a": 2, "b": 3}), ctx())
        .await
        .unwrap();
    assert!(sum.as_str().unwrap().contains('5'), "{sum}");
    let weather = server
        .invoke(
            "get-structured-content",
            json!({"location": "Chicago"}),
            ctx(),
        )
        .await
        .unwrap();
    assert!(weather["temperature"].is_number(), "structured: {weather}");
    assert!(weather["conditions"].is_string());
}

#[tokio::test]
#[ignore = "needs the MCP servers `cargo xtask ci` installs (its `mcp` step)"]
async fn arguments_the_server_refuses_are_invalid_args_for_the_model() {
    let server = McpServer::connect(everything_stdio()).await.unwrap();
    let out = server.invoke("get-sum", json!({"a": "two"}), ctx()).await;
    match out {
        Err(ToolError::InvalidArgs { tool, .. } | ToolError::Failed { tool, .. }) => {
            assert_eq!(tool, "get-sum");
        }
        other => panic!("expected an error the model can read, got {other:?}"),
    }
    let not_an_object = server.invoke("echo", json!(["hi"]), ctx()).await;
    assert!(matches!(not_an_object, Err(ToolError::InvalidArgs { .. })));
    let unknown = server.invoke("nope", json!({}), ctx()).await;
    assert!(
        matches!(unknown, Err(ToolError::UnknownTool { available, .. }) if available.contains(&"echo".to_owned()))
    );
}

#[tokio::test]
#[ignore = "needs the MCP servers `cargo xtask ci` installs (its `mcp` step)"]
async fn a_call_past_its_timeout_is_given_up_and_the_server_goes_on() {
    // Long enough for the echo after it on a loaded machine; the long
    // operation lasts 30 s.
    let limit = Duration::from_secs(3);
    let settings = everything_stdio().with_call_timeout(limit);
    let server = McpServer::connect(settings).await.unwrap();
    let long = json!({"duration": 30, "steps": 3});
    let out = server
        .invoke("trigger-long-running-operation", long, ctx())
        .await;
    assert_eq!(
        out,
        Err(ToolError::Timeout {
            tool: "trigger-long-running-operation".into(),
            after: limit
        })
    );
    let bound = limit + klieo_mcp::DEFAULT_HANDSHAKE_TIMEOUT;
    assert_eq!(
        server.policy("echo").timeout(),
        Some(bound),
        "a call may start the server first"
    );
    let echoed = server
        .invoke("echo", json!({"message": "still here"}), ctx())
        .await;
    assert_eq!(echoed, Ok(json!("Echo: still here")));
}
