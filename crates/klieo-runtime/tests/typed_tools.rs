//! Typed tools in a run: arguments parsed into the tool's type (wrong
//! ones go back to the model), the call's context, and the idempotency
//! key that names run, step and call.

use klieo_runtime::Agent;
use klieo_types::testing::ScriptedLlm;
use klieo_types::{Role, ToolError, ToolOutcome};
use serde_json::json;
use std::sync::Arc;

#[tokio::test]
async fn a_typed_tool_with_context_gets_its_calls_id_run_and_agent() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let pay = klieo_runtime::TypedTool::with_context(
        "pay",
        "Pays.",
        move |args: Add, call: klieo_types::OwnedToolContext| {
            let log = Arc::clone(&log);
            async move {
                log.lock().unwrap().push(call);
                Ok::<_, ToolError>(args.a + args.b)
            }
        },
    );
    let llm = ScriptedLlm::new()
        .then_tool_calls(vec![klieo_types::ToolCall::new(
            "pay-1",
            "pay",
            json!({"a": 1, "b": 2}),
        )])
        .then_text("paid");
    let agent = Agent::builder(llm)
        .add_tool(pay)
        .with_name("desk")
        .build()
        .expect("the options are valid");
    let answer = agent.run("pay").await.unwrap();
    let calls = seen.lock().unwrap().clone();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].call_id, "pay-1", "the model's call id");
    assert_eq!(calls[0].run_id, answer.summary.run_id);
    assert_eq!(calls[0].step, 1, "asked for at the first cycle");
    assert_eq!(
        calls[0].idempotency_key(),
        format!("{}:1:pay-1", answer.summary.run_id),
        "the idempotency key names run, step and call"
    );
    assert_eq!(calls[0].agent, "desk");
    assert!(
        matches!(&answer.summary.tool_calls[0].outcome, ToolOutcome::Ok { output } if *output == json!(3))
    );
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Add {
    a: i64,
    b: i64,
}

#[tokio::test]
async fn a_typed_tool_gets_parsed_arguments_and_wrong_ones_go_back_to_the_model() {
    let add = klieo_runtime::TypedTool::new("add", "Adds.", |args: Add| async move {
        Ok::<_, ToolError>(json!({ "sum": args.a + args.b }))
    });
    let llm = ScriptedLlm::new()
        .then_tool_calls(vec![klieo_types::ToolCall::new(
            "c1",
            "add",
            json!({"a": 1}),
        )])
        .then_tool_calls(vec![klieo_types::ToolCall::new(
            "c2",
            "add",
            json!({"a": 1, "b": 2}),
        )])
        .then_text("3");
    let agent = Agent::builder(llm.clone())
        .add_tool(add)
        .build()
        .expect("the options are valid");
    let answer = agent.run("1+2?").await.unwrap();

    assert_eq!(answer.text, "3");
    let outcomes: Vec<_> = answer
        .summary
        .tool_calls
        .iter()
        .map(|c| c.outcome.clone())
        .collect();
    assert!(
        matches!(&outcomes[0], ToolOutcome::Error { message } if message.contains("missing field `b`")),
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes[1],
        ToolOutcome::Ok {
            output: json!({"sum": 3})
        }
    );
    let told = llm.requests()[1].messages.iter().last().unwrap().clone();
    assert_eq!(told.role, Role::Tool);
    assert!(
        told.content.contains("missing field `b`"),
        "{}",
        told.content
    );
    let params = &llm.requests()[0].tools[0].parameters;
    assert_eq!(params["required"], json!(["a", "b"]));
}

#[tokio::test]
async fn calls_a_server_gave_the_same_id_in_two_steps_have_different_idempotency_keys() {
    let keys = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = Arc::clone(&keys);
    let pay = klieo_runtime::TypedTool::with_context(
        "pay",
        "Pays.",
        move |_: serde_json::Value, call: klieo_types::OwnedToolContext| {
            let log = Arc::clone(&log);
            async move {
                log.lock().unwrap().push(call.idempotency_key());
                Ok::<_, ToolError>("paid")
            }
        },
    );
    // A server that fills in missing ids numbers each reply's calls
    // from `call_0`.
    let call = || klieo_types::ToolCall::new("call_0", "pay", json!({}));
    let llm = ScriptedLlm::new()
        .then_tool_calls(vec![call()])
        .then_tool_calls(vec![call()])
        .then_text("paid twice");
    let agent = Agent::builder(llm)
        .add_tool(pay)
        .build()
        .expect("the options are valid");
    let run = agent.run("pay twice").await.unwrap().summary.run_id;
    assert_eq!(
        *keys.lock().unwrap(),
        [format!("{run}:1:call_0"), format!("{run}:2:call_0")],
        "two payments, two keys"
    );
}

#[tokio::test]
async fn a_typed_tool_refuses_arguments_sent_as_a_list() {
    let add = klieo_runtime::TypedTool::new("add", "Adds.", |args: Add| async move {
        Ok::<_, ToolError>(args.a + args.b)
    });
    let llm = ScriptedLlm::new()
        .then_tool_calls(vec![klieo_types::ToolCall::new("c1", "add", json!([1, 2]))])
        .then_text("done");
    let agent = Agent::builder(llm)
        .add_tool(add)
        .build()
        .expect("the options are valid");
    let answer = agent.run("add").await.unwrap();
    match &answer.summary.tool_calls[0].outcome {
        ToolOutcome::Error { message, .. } => {
            assert!(message.contains("a list, not an object"), "{message}");
        }
        other => panic!("a list filled the fields by position: {other:?}"),
    }
}
