//! A person decides a child's call while its parent still finishes the
//! step (another call of it runs): the parent, once it writes that it
//! waits, finds the decision and is woken, rather than waiting for good.

use super::super::store::fresh;
use super::super::support::{count, outcomes, Counted};
use super::{ask, built, lookup, no_lease};
use klieo_runtime::decisions::{pending_approval, record_decision, Decision};
use klieo_runtime::Agent;
use klieo_types::testing::ScriptedLlm;
use klieo_types::{EpisodicMemory, Error, RunQueue, RunState, ToolCall};
use serde_json::json;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use tokio::sync::Notify;

#[tokio::test]
async fn a_decision_made_while_the_parent_finishes_its_step_wakes_the_parent() {
    let (_dir, store) = fresh().await;
    let (sends, reports) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let send = Counted::new("send", false, &sends).watched();
    let (started, proceed) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let report = Counted::new("report", true, &reports).waiting(&started, &proceed);
    let child_llm = ScriptedLlm::new()
        .then_tool_calls(vec![ToolCall::new("s1", "send", json!({}))])
        .then_text("Sent.");
    let parent_llm = ScriptedLlm::new()
        .then_tool_calls(vec![
            ask("c1", "mail Ada"),
            ToolCall::new("r1", "report", json!({})),
        ])
        .then_text("Ada has her mail.");
    let builder = Agent::builder(parent_llm).with_name("desk").add_agent_tool(
        "ask_lookup",
        "Finds orders.",
        lookup(&store, &child_llm, vec![send]),
    );
    let desk = Arc::new(built(builder, &store, vec![report], no_lease()));

    let running = tokio::spawn({
        let desk = Arc::clone(&desk);
        async move { desk.run("mail Ada").await }
    });
    // The report runs while the child waits for its person, who decides.
    started.notified().await;
    let ticket = loop {
        let mut found = None;
        for run in store.list_runs().await.unwrap() {
            if let Some(pending) = pending_approval(&store, run).await.unwrap() {
                found = Some(pending.ticket);
            }
        }
        match found {
            Some(ticket) => break ticket,
            None => tokio::task::yield_now().await,
        }
    };
    let by = "ada".to_owned();
    record_decision(&store, &ticket, Decision::Approve { by })
        .await
        .unwrap();
    proceed.notify_one();

    let stopped = running.await.unwrap();
    assert!(
        matches!(stopped, Err(Error::Suspended { .. })),
        "{stopped:?}"
    );
    let runs = store.list_runs().await.unwrap();
    let parent = runs.into_iter().find(|&r| r != ticket.run).unwrap();
    let log = outcomes(&store.replay(parent).await.unwrap());
    assert_eq!(
        log.last().map(String::as_str),
        Some("child_woken"),
        "the parent is woken once it writes that it waits: {log:?}"
    );
    assert_eq!(store.state(parent).await.unwrap(), Some(RunState::Running));
    let answer = desk.resume(parent).await.unwrap();
    assert_eq!(answer.text, "Ada has her mail.");
    assert_eq!(count(&sends), 1);
}
