//! A team's run that stops: taken up after a crash with the receiving
//! agent, only through its team, decided through its team, and a stream
//! dropped at its hand-off recorded.

use super::super::super::store::fresh;
use super::super::super::support::{count, outcomes, Counted, Told};
use super::{agent, hand_off, triage_team};
use klieo_runtime::RunEvent;
use klieo_types::testing::ScriptedLlm;
use klieo_types::{Episode, EpisodicMemory, Error, ToolCall};
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
        log[3..],
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
    let triage = agent(
        "triage",
        &store,
        ScriptedLlm::new().then_tool_calls(vec![hand_off("h1")]),
        vec![],
    );
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
            agent(
                "triage",
                &store,
                ScriptedLlm::new().then_tool_calls(vec![hand_off("h1")]),
                vec![],
            ),
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
async fn a_team_stream_dropped_at_its_hand_off_records_consumer_dropped() {
    let (_dir, store) = fresh().await;
    let team = triage_team(
        agent(
            "triage",
            &store,
            ScriptedLlm::new().then_tool_calls(vec![hand_off("h1")]),
            vec![],
        ),
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
    // The drop is recorded by a task of its own: let it run.
    let mut log = Vec::new();
    for _ in 0..1_000 {
        log = store.replay(run).await.unwrap();
        if log.last().is_some_and(|e| e.kind() == "failed") {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(outcomes(&log)[3..], ["handed_off", "failed"], "{log:?}");
    assert!(
        matches!(log.last(), Some(Episode::Failed { error }) if error == "consumer-dropped"),
        "{log:?}"
    );
}
