//! A child run past its call's time (`AgentTool::with_timeout`), under
//! paused time: the call tells the model it timed out, and the child is
//! cancelled and records its end, rather than being left `running`
//! without a lease. Runs on the in-memory journal only (as
//! `lease_expiry`): paused time jumps ahead while a database works.

use super::store::fresh;
use super::support::{outcomes, Counted};
use super::team::{ask, child_of, lookup, no_lease, parent_of};
use klieo_runtime::{Agent, AgentTool};
use klieo_types::testing::ScriptedLlm;
use klieo_types::{Episode, EpisodicMemory, Role, ToolCall};
use serde_json::json;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(start_paused = true)]
async fn a_child_past_its_calls_time_is_cancelled_and_records_its_end() {
    let (_dir, store) = fresh().await;
    let fetches = Arc::new(AtomicUsize::new(0));
    let child_llm =
        ScriptedLlm::new().then_tool_calls(vec![ToolCall::new("f1", "fetch", json!({}))]);
    let never = Arc::new(tokio::sync::Notify::new());
    let fetch = Counted::new("fetch", true, &fetches).hanging(&never);
    let tool = AgentTool::new(
        "ask_lookup",
        "Finds orders.",
        lookup(&store, &child_llm, vec![fetch]),
    )
    .with_timeout(Duration::from_secs(30));
    let parent_llm = ScriptedLlm::new()
        .then_tool_calls(vec![ask("c1", "fetch 1042")])
        .then_text("The lookup desk did not answer in time.");
    let desk = Agent::builder(parent_llm.clone())
        .with_name("desk")
        .with_tool(tool)
        .with_memory(store.clone())
        .with_options(no_lease())
        .build()
        .unwrap();

    let answer = desk.run("Where is 1042?").await.unwrap();
    assert_eq!(answer.text, "The lookup desk did not answer in time.");
    let told = parent_llm.requests()[1]
        .messages
        .iter()
        .any(|m| m.role == Role::Tool && m.content.contains("did not finish within 30000 ms"));
    assert!(told, "the model reads that the call timed out");

    let parent = parent_of(&store, |run| child_of(run, "c1")).await;
    let log = store.replay(child_of(parent, "c1")).await.unwrap();
    assert_eq!(
        outcomes(&log),
        [
            "started",
            "child_of",
            "llm_call",
            "tool_call:cancelled",
            "failed"
        ]
    );
    assert!(
        matches!(log.last(), Some(Episode::Failed { error }) if error == "cancelled"),
        "{log:?}"
    );
}
