//! A team's run that stops: taken up after a crash with the receiving
//! agent, only through its team, and decided through its team.

use super::super::super::store::fresh;
use super::super::super::support::{count, outcomes, Counted, Told};
use super::super::no_lease;
use super::{agent, hand_off, handing_triage, triage_team};
use klieo_runtime::Agent;
use klieo_types::testing::ScriptedLlm;
use klieo_types::{EpisodicMemory, Error, ToolCall, ToolChoice};
use serde_json::json;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use tokio::sync::Notify;

#[tokio::test]
async fn a_team_run_stopped_after_a_hand_off_goes_on_with_the_receiving_agent() {
    let (_dir, store) = fresh().await;
    let called = Arc::new(Notify::new());
    {
        let refund_llm = Told {
            inner: ScriptedLlm::new().then_stall(),
            called: Arc::clone(&called),
        };
        let triage_llm = ScriptedLlm::new().then_tool_calls(vec![hand_off("h1")]);
        let team = triage_team(
            agent("triage", &store, triage_llm, vec![]),
            agent("refund", &store, refund_llm, vec![]),
        );
        tokio::select! {
            done = team.run("Money back?") => panic!("the refund desk's model stalls: {done:?}"),
            () = called.notified() => {}
        }
    }
    let run = store.list_runs().await.unwrap()[0];
    assert_eq!(
        outcomes(&store.replay(run).await.unwrap()).last().unwrap(),
        "handed_off"
    );

    // Another process: triage's model has nothing to say, so asking it
    // again would fail the run.
    let store = store.clone();
    let refund_llm = ScriptedLlm::new().then_text("Refunded.");
    let team = triage_team(
        agent("triage", &store, ScriptedLlm::new(), vec![]),
        agent("refund", &store, refund_llm.clone(), vec![]),
    );
    let answer = team.resume(run).await.unwrap();
    assert_eq!(answer.text, "Refunded.");
    assert_eq!(refund_llm.requests().len(), 1);
    let log = outcomes(&store.replay(run).await.unwrap());
    assert_eq!(
        log[4..],
        ["handed_off", "resumed", "llm_call", "completed"],
        "{log:?}"
    );
}

#[tokio::test]
async fn a_handed_on_run_is_refused_to_its_agents_alone() {
    let (_dir, store) = fresh().await;
    let refund_llm = Told {
        inner: ScriptedLlm::new().then_stall(),
        called: Arc::new(Notify::new()),
    };
    let called = Arc::clone(&refund_llm.called);
    let triage = handing_triage(&store);
    let refund = agent("refund", &store, refund_llm, vec![]);
    let team = triage_team(triage.clone(), refund.clone());
    tokio::select! {
        done = team.run("Money back?") => panic!("the refund desk's model stalls: {done:?}"),
        () = called.notified() => {}
    }
    let run = store.list_runs().await.unwrap()[0];
    for alone in [triage, refund] {
        let err = alone.resume(run).await.unwrap_err();
        let Error::NotResumable { reason, .. } = &err else {
            panic!("refused: {err:?}");
        };
        assert!(reason.contains("gave to agent `refund`"), "{reason}");
        assert!(reason.contains("Team::resume"), "{reason}");
    }
}

#[tokio::test]
async fn a_call_waiting_for_a_person_in_the_receiving_agents_part_is_decided_through_the_team() {
    let (_dir, store) = fresh().await;
    let refunds = Arc::new(AtomicUsize::new(0));
    let refund_llm = ScriptedLlm::new()
        .then_tool_calls(vec![ToolCall::new("r1", "refund_order", json!({}))])
        .then_text("Refunded.");
    let make = |refund_llm: &ScriptedLlm| {
        triage_team(
            handing_triage(&store),
            agent(
                "refund",
                &store,
                refund_llm.clone(),
                vec![Counted::new("refund_order", false, &refunds).watched()],
            ),
        )
    };
    let Err(Error::Suspended { ticket, tool }) = make(&refund_llm).run("Money back?").await else {
        panic!("the refund waits for a person");
    };
    assert_eq!(tool, "refund_order");
    assert_eq!(count(&refunds), 0);

    let answer = make(&refund_llm).approve(&ticket).await.unwrap();
    assert_eq!(answer.text, "Refunded.");
    assert_eq!(count(&refunds), 1);
}

#[tokio::test]
async fn a_hand_off_decided_through_the_team_gives_the_receiving_agent_its_first_step() {
    let (_dir, store) = fresh().await;
    let checks = Arc::new(AtomicUsize::new(0));
    let calls = vec![ToolCall::new("k1", "check", json!({})), hand_off("h1")];
    let refund_llm = ScriptedLlm::new().then_text("Refunded.");
    let refund = Agent::builder(refund_llm.clone())
        .with_name("refund")
        .add_tool(Counted::new("refund_order", false, &checks))
        .with_memory(store.clone())
        .with_options(no_lease().with_tool_choice(Some(ToolChoice::Required)))
        .build()
        .unwrap();
    let triage = agent(
        "triage",
        &store,
        ScriptedLlm::new().then_tool_calls(calls),
        vec![Counted::new("check", false, &checks).watched()],
    );
    let team = triage_team(triage, refund);
    let Err(Error::Suspended { ticket, .. }) = team.run("Money back?").await else {
        panic!("the check waits for a person");
    };
    let answer = team.approve(&ticket).await.unwrap();
    assert_eq!(answer.text, "Refunded.");
    assert_eq!(
        refund_llm.requests()[0].tool_choice,
        Some(ToolChoice::Required),
        "the refund desk's first step is its own, after a hand-off in a decided step"
    );
}
