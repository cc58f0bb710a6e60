//! A typed agent tool (`AgentTool::typed`): its parameters are the
//! input type's schema, the child run is asked the call's JSON and for
//! an answer of the output type, and the call's result is that answer's
//! JSON; arguments that are not the input type start no child.

use super::super::store::{fresh, Store};
use super::super::support::outcomes;
use super::{child_of, no_lease, parent_of};
use klieo_runtime::{Agent, AgentTool, TypedTool};
use klieo_types::testing::ScriptedLlm;
use klieo_types::{EpisodicMemory, Error, Role, ToolCall, ToolError, ToolOutcome};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize, JsonSchema)]
struct Query {
    /// The order's number.
    #[allow(dead_code)]
    order: u32,
}

#[derive(Deserialize, JsonSchema)]
struct Order {
    #[allow(dead_code)]
    shipped: bool,
}

/// The desk on `store`, its model `llm`, with `lookup` as a typed tool
/// from `Query` to `Order`.
fn typed_desk(store: &Store, llm: &ScriptedLlm, lookup: Agent) -> Agent {
    Agent::builder(llm.clone())
        .with_name("desk")
        .add_tool(AgentTool::typed::<Query, Order>(
            "lookup",
            "Finds orders.",
            lookup,
        ))
        .with_memory(store.clone())
        .with_options(no_lease())
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_typed_agent_tool_asks_its_input_and_gives_its_answers_json() {
    let (_dir, store) = fresh().await;
    let child_llm = ScriptedLlm::new()
        .then_text("Shipped, I think.")
        .then_text(r#"{"shipped": true}"#);
    let lookup = Agent::builder(child_llm.clone())
        .with_name("lookup")
        .with_memory(store.clone())
        .with_options(no_lease())
        .build()
        .unwrap();
    let parent_llm = ScriptedLlm::new()
        .then_tool_calls(vec![
            ToolCall::new("c1", "lookup", json!({"order": "soon"})),
            ToolCall::new("c2", "lookup", json!({"order": 1042})),
        ])
        .then_text("It shipped.");
    let desk = typed_desk(&store, &parent_llm, lookup);

    let answer = desk.run("Did 1042 ship?").await.unwrap();
    assert_eq!(answer.text, "It shipped.");
    let offered = &parent_llm.requests()[0].tools[0];
    assert!(
        offered.parameters["properties"]["order"].is_object(),
        "{}",
        offered.parameters
    );
    let outcomes_seen: Vec<&ToolOutcome> = answer
        .summary
        .tool_calls
        .iter()
        .map(|c| &c.outcome)
        .collect();
    assert!(
        matches!(outcomes_seen[0], ToolOutcome::Error { message } if message.contains("not the agent's input")),
        "{outcomes_seen:?}"
    );
    assert_eq!(
        outcomes_seen[1],
        &ToolOutcome::Ok {
            output: json!({"shipped": true})
        },
        "the answer that fits, repaired once"
    );
    let asked = &child_llm.requests()[0].messages;
    let question = asked.iter().find(|m| m.role == Role::User).unwrap();
    assert_eq!(question.content, r#"{"order":1042}"#);

    let parent = parent_of(&store, |run| child_of(run, "c2")).await;
    assert!(
        store
            .replay(child_of(parent, "c1"))
            .await
            .unwrap()
            .is_empty(),
        "a call whose arguments do not fit starts no child"
    );
    let child_log = outcomes(&store.replay(child_of(parent, "c2")).await.unwrap());
    assert_eq!(child_log[..3], ["started", "child_of", "output_shape"]);
}

#[tokio::test]
async fn a_typed_agent_tools_child_taken_up_after_approval_is_held_to_its_type() {
    let (_dir, store) = fresh().await;
    let send = TypedTool::new("send", "Sends.", |_: serde_json::Value| async {
        Ok::<_, ToolError>("sent")
    })
    .with_approval(true);
    let child_llm = ScriptedLlm::new()
        .then_tool_calls(vec![ToolCall::new("s1", "send", json!({}))])
        .then_text(r#"{"shipped": "yes"}"#)
        .then_text(r#"{"shipped": true}"#);
    let lookup = Agent::builder(child_llm.clone())
        .with_name("lookup")
        .add_tool(send)
        .with_memory(store.clone())
        .with_options(no_lease())
        .build()
        .unwrap();
    let parent_llm = ScriptedLlm::new()
        .then_tool_calls(vec![ToolCall::new("c1", "lookup", json!({"order": 1042}))])
        .then_text("It shipped.");
    let desk = typed_desk(&store, &parent_llm, lookup);

    let Err(Error::Suspended { ticket, .. }) = desk.run("Did 1042 ship?").await else {
        panic!("the child waits for a person");
    };
    let answer = desk.approve(&ticket).await.unwrap();
    assert_eq!(answer.text, "It shipped.");
    assert_eq!(
        child_llm.requests().len(),
        3,
        "the answer not of its type is repaired"
    );
    let read = parent_llm.requests()[1]
        .messages
        .last()
        .unwrap()
        .content
        .clone();
    assert_eq!(read, r#"{"shipped":true}"#);
}
