//! A child run's key: a reply without usage is counted at the cap its
//! own key set.

use super::{settled, worker};
use klieo_runtime::{Agent, Budget, KeyBudget, RunOptions};
use klieo_store::InMemoryJournal;
use klieo_types::testing::ScriptedLlm;
use klieo_types::ToolCall;
use serde_json::json;

/// A child run (an agent used as a tool) whose own key lowers its call's
/// `max_tokens` below what its caller's budget left, and whose reply
/// reports no usage, settles its key at the key's cap, not the caller's.
#[tokio::test]
async fn a_childs_reply_without_usage_is_counted_at_its_own_keys_cap() {
    let store = InMemoryJournal::new();
    // No usage: the reply is counted at its estimate, at most the cap.
    let wordy = ScriptedLlm::new().then_text("word ".repeat(3_000));
    let child = worker(
        &wordy,
        &store,
        KeyBudget::new("acme").with_total_tokens(1_000),
    );
    let parent_llm = ScriptedLlm::new()
        .then_tool_calls(vec![ToolCall::new(
            "c1",
            "ask_lookup",
            json!({ "input": "go" }),
        )])
        .then_text("done");
    let roomy = Budget::new().with_total_tokens(100_000);
    let parent = Agent::builder(parent_llm)
        .add_agent_tool("ask_lookup", "Looks things up.", child)
        .with_memory(store.clone())
        .with_options(RunOptions::default().with_budget(roomy))
        .build()
        .unwrap();
    parent.session("a").run("go").await.unwrap();
    let capped = wordy.requests()[0]
        .max_tokens
        .expect("the key caps the reply");
    assert!(capped < 1_000, "{capped}");
    let key = settled(&store, "acme").await;
    assert!(
        key.tokens <= 1_000,
        "settled within the key's limit: {key:?} (the reply was capped at {capped})"
    );
}
