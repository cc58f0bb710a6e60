//! An agent as another's tool, on the in-memory journal: each call a
//! child run of its own (its id derived from the call), found again when
//! the call runs again after a stop: taken up where its log ends, or its
//! answer given, never started over; failures told as the call's.

use crate::durable::support::{count, outcomes, Counted};
use klieo_runtime::{Agent, RunOptions};
use klieo_store::InMemoryJournal;
use klieo_types::testing::ScriptedLlm;
use klieo_types::{EpisodicMemory, Error, Journal, Role, RunId, ToolCall, ToolError};
use serde_json::json;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use tokio::sync::Notify;

/// A killed process's lease would keep others out until it ran out.
fn no_lease() -> RunOptions {
    RunOptions::default().with_lease_ttl(None)
}

/// A `lookup` agent on `store` with `llm` and `tools`.
fn lookup(store: &InMemoryJournal, llm: &ScriptedLlm, tools: Vec<Counted>) -> Agent {
    let mut builder = Agent::builder(llm.clone()).with_name("lookup");
    for tool in tools {
        builder = builder.with_tool(tool);
    }
    builder
        .with_memory(store.clone())
        .with_options(no_lease())
        .build()
        .unwrap()
}

/// A `desk` agent on `store` with `llm`, `lookup` as its tool `ask_lookup`
/// and `tools`.
fn desk(store: &InMemoryJournal, llm: &ScriptedLlm, lookup: Agent, tools: Vec<Counted>) -> Agent {
    let mut builder = Agent::builder(llm.clone())
        .with_name("desk")
        .with_agent_tool("ask_lookup", "Finds orders.", lookup);
    for tool in tools {
        builder = builder.with_tool(tool);
    }
    builder
        .with_memory(store.clone())
        .with_options(no_lease().with_tool_concurrency(1))
        .build()
        .unwrap()
}

fn ask(id: &str, input: &str) -> ToolCall {
    ToolCall::new(id, "ask_lookup", json!({ "input": input }))
}

/// The child run a call `call` of step 1 of `parent` starts.
fn child_of(parent: RunId, call: &str) -> RunId {
    parent.child(&format!("{parent}:1:{call}"))
}

/// The store's run that is not `child`.
async fn parent_of(store: &InMemoryJournal, child: impl Fn(RunId) -> RunId) -> RunId {
    let runs = store.list_runs().await.unwrap();
    let parent = runs.iter().copied().find(|&run| runs.contains(&child(run)));
    parent.expect("a run whose child is in the store")
}

#[tokio::test]
async fn an_agent_tool_answers_through_a_child_run_of_its_own() {
    let store = InMemoryJournal::new();
    let child_llm = ScriptedLlm::new().then_text("Order 1042 shipped on May 2.");
    let parent_llm = ScriptedLlm::new()
        .then_tool_calls(vec![ask("c1", "When did order 1042 ship?")])
        .then_text("It shipped on May 2.");
    let desk = desk(
        &store,
        &parent_llm,
        lookup(&store, &child_llm, vec![]),
        vec![],
    );

    let answer = desk.run("Where is my order 1042?").await.unwrap();
    assert_eq!(answer.text, "It shipped on May 2.");
    let parent = answer.summary.run_id;
    let child = child_of(parent, "c1");
    let mut runs = store.list_runs().await.unwrap();
    runs.sort();
    let mut expected = vec![parent, child];
    expected.sort();
    assert_eq!(runs, expected, "the call made one child run, of its id");

    let asked = &child_llm.requests()[0].messages;
    assert_eq!(
        asked.len(),
        1,
        "the child sees its input, not the parent's thread"
    );
    assert_eq!(asked.get(0).unwrap().content, "When did order 1042 ship?");
    let told = parent_llm.requests()[1]
        .messages
        .iter()
        .any(|m| m.role == Role::Tool && m.content.contains("shipped on May 2"));
    assert!(told, "the parent's model reads the child's answer");
    assert_eq!(
        outcomes(&store.replay(child).await.unwrap()),
        ["started", "llm_call", "completed"]
    );
    let record = store.run(child).await.unwrap().unwrap();
    assert_eq!(record.thread.as_str(), format!("run-{child}"));
}

#[tokio::test]
async fn a_child_stopped_mid_run_is_taken_up_where_its_log_ends() {
    let store = InMemoryJournal::new();
    let fetches = Arc::new(AtomicUsize::new(0));
    let started = Arc::new(Notify::new());
    {
        let child_llm =
            ScriptedLlm::new().then_tool_calls(vec![ToolCall::new("f1", "fetch", json!({}))]);
        let fetch = Counted::new("fetch", true, &fetches).hanging(&started);
        let parent_llm = ScriptedLlm::new().then_tool_calls(vec![ask("c1", "fetch 1042")]);
        let desk = desk(
            &store,
            &parent_llm,
            lookup(&store, &child_llm, vec![fetch]),
            vec![],
        );
        tokio::select! {
            done = desk.run("Where is 1042?") => panic!("the child's fetch hangs: {done:?}"),
            () = started.notified() => {}
        }
        // The process dies here, inside the child's tool call.
    }
    let parent = parent_of(&store, |run| child_of(run, "c1")).await;
    let child = child_of(parent, "c1");

    // Another process: models that answer what is left.
    let child_llm = ScriptedLlm::new().then_text("Fetched 1042.");
    let parent_llm = ScriptedLlm::new().then_text("1042 is on its way.");
    let fetch = Counted::new("fetch", true, &fetches);
    let desk = desk(
        &store,
        &parent_llm,
        lookup(&store, &child_llm, vec![fetch]),
        vec![],
    );
    let answer = desk.resume(parent).await.unwrap();
    assert_eq!(answer.text, "1042 is on its way.");
    assert_eq!(
        child_llm.requests().len(),
        1,
        "the child's first model call is not asked again"
    );
    assert_eq!(
        count(&fetches),
        2,
        "the child's idempotent fetch ran again, once"
    );
    assert_eq!(
        outcomes(&store.replay(child).await.unwrap()),
        [
            "started",
            "llm_call",
            "resumed",
            "tool_call:ok",
            "llm_call",
            "completed"
        ],
        "one child run, taken up"
    );
    assert_eq!(store.list_runs().await.unwrap().len(), 2, "no second child");
}

#[tokio::test]
async fn a_child_that_answered_before_the_stop_is_not_run_again() {
    let store = InMemoryJournal::new();
    let (marks, started) = (Arc::new(AtomicUsize::new(0)), Arc::new(Notify::new()));
    {
        let child_llm = ScriptedLlm::new().then_text("Order 1042 shipped.");
        let mark = Counted::new("mark", true, &marks).hanging(&started);
        let parent_llm = ScriptedLlm::new().then_tool_calls(vec![
            ask("c1", "When did 1042 ship?"),
            ToolCall::new("c2", "mark", json!({})),
        ]);
        let desk = desk(
            &store,
            &parent_llm,
            lookup(&store, &child_llm, vec![]),
            vec![mark],
        );
        tokio::select! {
            done = desk.run("Where is 1042?") => panic!("mark hangs: {done:?}"),
            () = started.notified() => {}
        }
        // The child answered; the parent's step had not been written.
    }
    let parent = parent_of(&store, |run| child_of(run, "c1")).await;

    let child_llm = ScriptedLlm::new();
    let parent_llm = ScriptedLlm::new().then_text("It shipped.");
    let mark = Counted::new("mark", true, &marks);
    let desk = desk(
        &store,
        &parent_llm,
        lookup(&store, &child_llm, vec![]),
        vec![mark],
    );
    assert_eq!(desk.resume(parent).await.unwrap().text, "It shipped.");
    assert!(
        child_llm.requests().is_empty(),
        "the child is not asked again"
    );
    let told = parent_llm.requests()[0]
        .messages
        .iter()
        .any(|m| m.role == Role::Tool && m.content.contains("Order 1042 shipped."));
    assert!(told, "the parent reads the answer the child ended with");
}

#[tokio::test]
async fn a_child_that_fails_is_a_failed_call_the_model_reads() {
    let store = InMemoryJournal::new();
    // A child whose model has nothing to say fails without an answer.
    let child_llm = ScriptedLlm::new();
    let parent_llm = ScriptedLlm::new()
        .then_tool_calls(vec![
            ask("c1", "When did 1042 ship?"),
            ToolCall::new("c2", "ask_lookup", json!({ "input": 1042 })),
        ])
        .then_text("The lookup failed.");
    let desk = desk(
        &store,
        &parent_llm,
        lookup(&store, &child_llm, vec![]),
        vec![],
    );
    assert_eq!(
        desk.run("Where is 1042?").await.unwrap().text,
        "The lookup failed."
    );
    let results: Vec<String> = parent_llm.requests()[1]
        .messages
        .iter()
        .filter(|m| m.role == Role::Tool)
        .map(|m| m.content.clone())
        .collect();
    assert_eq!(results.len(), 2, "{results:?}");
    assert!(
        results[0].contains("agent `lookup`") && results[0].contains("ended without an answer"),
        "{results:?}"
    );
    assert!(
        results[1].contains("`input` must be a string"),
        "{results:?}"
    );
}

#[tokio::test]
async fn a_child_waiting_for_a_person_ends_its_parent_saying_so() {
    let store = InMemoryJournal::new();
    let sends = Arc::new(AtomicUsize::new(0));
    let send = Counted::new("send", false, &sends).watched();
    let child_llm =
        ScriptedLlm::new().then_tool_calls(vec![ToolCall::new("s1", "send", json!({}))]);
    let parent_llm = ScriptedLlm::new().then_tool_calls(vec![ask("c1", "send it")]);
    let desk = desk(
        &store,
        &parent_llm,
        lookup(&store, &child_llm, vec![send]),
        vec![],
    );
    let ended = desk.run("send it").await;
    let Err(Error::Tool(ToolError::Permanent(said))) = ended else {
        panic!("the parent ends: {ended:?}");
    };
    assert!(said.contains("waits for a person"), "{said}");
    assert_eq!(count(&sends), 0);
}
