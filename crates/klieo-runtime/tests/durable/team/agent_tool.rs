//! An agent as another's tool: each call a child run of its own (its id
//! derived from the call), found again when the call runs again after a
//! stop: taken up where its log ends, or its answer given, never started
//! over; failures told as the call's.

use super::super::store::fresh;
use super::super::support::{count, outcomes, Counted};
use super::{ask, child_of, desk, lookup, parent_of, stopped_while_hanging};
use klieo_runtime::RunEvent;
use klieo_types::testing::ScriptedLlm;
use klieo_types::{EpisodicMemory, Journal, Role, ToolCall};
use serde_json::json;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use tokio::sync::Notify;

#[tokio::test]
async fn an_agent_tool_answers_through_a_child_run_of_its_own() {
    let (_dir, store) = fresh().await;
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
        ["started", "child_of", "llm_call", "completed"]
    );
    let record = store.run(child).await.unwrap().unwrap();
    assert_eq!(record.thread.as_str(), format!("run-{child}"));
}

#[tokio::test]
async fn a_child_stopped_mid_run_is_taken_up_where_its_log_ends() {
    let (_dir, store) = fresh().await;
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
            "child_of",
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
    let (_dir, store) = fresh().await;
    let (marks, started) = (Arc::new(AtomicUsize::new(0)), Arc::new(Notify::new()));
    let parent = {
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
        // The child answers; the parent's step is not written.
        stopped_while_hanging(&store, desk, &started).await
    };

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
    let (_dir, store) = fresh().await;
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
async fn a_streamed_parent_relays_its_childs_events_as_the_call_runs() {
    let (_dir, store) = fresh().await;
    let child_llm = ScriptedLlm::new().then_text("Order 1042 shipped.");
    let parent_llm = ScriptedLlm::new()
        .then_tool_calls(vec![ask("c1", "When did 1042 ship?")])
        .then_text("It shipped.");
    let desk = desk(
        &store,
        &parent_llm,
        lookup(&store, &child_llm, vec![]),
        vec![],
    );
    let mut events = desk.stream("Where is 1042?");
    let child = child_of(events.run_id(), "c1");
    let mut seen = Vec::new();
    while let Some(event) = events.next().await {
        seen.push(event.unwrap());
    }
    let at = |found: &dyn Fn(&RunEvent) -> bool| seen.iter().position(found);
    let call = at(&|e| matches!(e, RunEvent::ToolCall(_))).expect("the call");
    let result = at(&|e| matches!(e, RunEvent::ToolResult { .. })).expect("its result");
    let of_child: Vec<(usize, &RunEvent)> = seen
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match e {
            RunEvent::Child { run, agent, event } => {
                assert_eq!((*run, agent.as_str()), (child, "lookup"));
                Some((i, event.as_ref()))
            }
            _ => None,
        })
        .collect();
    assert!(
        of_child.iter().all(|(i, _)| call < *i && *i < result),
        "the child's events come while its call runs: {seen:?}"
    );
    let text: String = of_child
        .iter()
        .filter_map(|(_, e)| match e {
            RunEvent::Text(delta) => Some(delta.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(text, "Order 1042 shipped.");
    assert!(
        matches!(of_child.last(), Some((_, RunEvent::Finished(answer))) if answer.summary.run_id == child),
        "the child's last event is its answer"
    );
    assert!(matches!(seen.last(), Some(RunEvent::Finished(a)) if a.text == "It shipped."));
}
