//! Team scenarios on the in-memory journal only (as `lease_expiry`):
//! under paused time, a child run past its call's time
//! (`AgentTool::with_timeout`), whose call tells the model it timed out
//! while the child is cancelled and records its end, rather than being
//! left `running` without a lease (paused time jumps ahead while a
//! database works); and a team's stream dropped at its hand-off, whose
//! drop a task of its own records (on the in-memory journal, within a
//! few turns of the scheduler).

use super::store::fresh;
use super::support::{failed_log, outcomes, Counted};
use super::team::handoff::{agent, handing_triage, triage_team};
use super::team::{ask, child_of, lookup, no_lease, parent_of};
use klieo_runtime::{Agent, AgentTool, RunEvent};
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
        .add_tool(tool)
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

#[tokio::test]
async fn a_team_stream_dropped_at_its_hand_off_records_consumer_dropped() {
    let (_dir, store) = fresh().await;
    let team = triage_team(
        handing_triage(&store),
        agent("refund", &store, ScriptedLlm::new(), vec![]),
    );
    let mut events = team.stream("Money back?");
    let run = events.run_id();
    while let Some(event) = events.next().await {
        if let RunEvent::HandedOff { .. } = event.unwrap() {
            break;
        }
    }
    drop(events);
    let log = failed_log(&store, run).await;
    assert_eq!(outcomes(&log)[4..], ["handed_off", "failed"], "{log:?}");
    assert!(
        matches!(log.last(), Some(Episode::Failed { error }) if error == "consumer-dropped"),
        "{log:?}"
    );
}
