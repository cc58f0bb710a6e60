//! An agent with a local tool and an MCP server's tools in one catalogue.

use crate::support::{everything_stdio, faults_stdio};
use klieo_mcp::{Approval, McpServer};
use klieo_runtime::Agent;
use klieo_sqlite::SqliteStore;
use klieo_types::testing::ScriptedLlm;
use klieo_types::{Error, FnTool, Role, ToolCall, ToolDef};
use serde_json::json;

/// A model that calls `tool` with `args`, then answers `answer`.
fn calls(tool: &str, args: serde_json::Value, answer: &str) -> ScriptedLlm {
    ScriptedLlm::new()
        .then_tool_calls(vec![ToolCall::new("c1", tool, args)])
        .then_text(answer)
}

/// The tool result the model got in its second request.
fn result_sent(llm: &ScriptedLlm) -> String {
    let requests = llm.requests();
    let result = requests[1].messages.iter().find(|m| m.role == Role::Tool);
    result.map(|m| m.content.clone()).unwrap_or_default()
}

#[tokio::test]
#[ignore = "needs the MCP servers `cargo xtask ci` installs (its `mcp` step)"]
async fn a_clashing_server_tool_gets_the_prefix_and_the_model_calls_it() {
    let everything = McpServer::connect(everything_stdio()).await.unwrap();
    let local_echo = FnTool::new(
        ToolDef::new("echo", "The local echo.", json!({"type": "object"})),
        |_| Ok(json!("local")),
    );
    let llm = calls("everything_echo", json!({"message": "hi"}), "it said hi");
    let agent = Agent::builder(llm.clone())
        .add_tool(local_echo)
        .add_invoker("everything_", everything)
        .build()
        .expect("the options are valid");

    let answer = agent.run("echo hi through the server").await.unwrap();
    assert_eq!(answer.text, "it said hi");
    let requests = llm.requests();
    let names: Vec<&str> = requests[0].tools.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(
        names.first(),
        Some(&"echo"),
        "the local tool keeps its name"
    );
    assert!(names.contains(&"everything_echo") && names.contains(&"get-sum"));
    assert_eq!(result_sent(&llm), "Echo: hi");
}

#[tokio::test]
#[ignore = "needs the MCP servers `cargo xtask ci` installs (its `mcp` step)"]
async fn an_error_result_goes_to_the_model_and_the_run_goes_on() {
    let faults = McpServer::connect(faults_stdio()).await.unwrap();
    let llm = calls(
        "fail",
        json!({"message": "no such city"}),
        "that city does not exist",
    );
    let agent = Agent::builder(llm.clone())
        .add_invoker("faults_", faults)
        .build()
        .expect("the options are valid");

    let answer = agent.run("weather in Atlantis?").await.unwrap();
    assert_eq!(answer.text, "that city does not exist");
    let result = result_sent(&llm);
    assert!(result.contains("no such city"), "{result}");
}

#[tokio::test]
#[ignore = "needs the MCP servers `cargo xtask ci` installs (its `mcp` step)"]
async fn a_tool_marked_for_approval_suspends_the_run_until_approved() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("agent.db"))
        .await
        .unwrap();
    let settings = faults_stdio().with_approval(Approval::Tools(vec!["add".into()]));
    let faults = McpServer::connect(settings).await.unwrap();
    let llm = calls("add", json!({"a": 2, "b": 3}), "5");
    let agent = Agent::builder(llm.clone())
        .add_invoker("faults_", faults)
        .with_memory(store)
        .build()
        .expect("the options are valid");

    let suspended = agent.run("2+3?").await.unwrap_err();
    let Error::Suspended { ticket, tool } = suspended else {
        panic!("expected a suspended run, got {suspended:?}");
    };
    assert_eq!(tool, "add");
    assert_eq!(llm.requests().len(), 1, "the call waits for a person");

    let answer = agent.approve(&ticket).await.unwrap();
    assert_eq!(answer.text, "5");
    assert_eq!(result_sent(&llm), r#"{"sum":5}"#);
}
