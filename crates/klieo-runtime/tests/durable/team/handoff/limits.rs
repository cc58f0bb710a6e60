//! A guardrail's hand-off within the team and outside it, after a reply
//! too; and the team's limit on hand-offs, by guardrail or by call.

use super::super::super::store::fresh;
use super::super::super::support::outcomes;
use super::super::no_lease;
use super::{agent, handing, handing_triage, triage_team, HandsReplyTo};
use klieo_runtime::{Agent, Team};
use klieo_types::testing::ScriptedLlm;
use klieo_types::{EpisodicMemory, Error, ToolCall};
use serde_json::json;
use std::sync::Arc;

#[tokio::test]
async fn a_guardrail_hands_off_within_the_team_and_ends_the_run_outside_it() {
    let (_dir, store) = fresh().await;
    let refund_llm = ScriptedLlm::new().then_text("Refunded.");
    let triage_llm = ScriptedLlm::new();
    let team = triage_team(
        handing("triage", &store, &triage_llm, "refund"),
        agent("refund", &store, refund_llm.clone(), vec![]),
    );
    let answer = team.run("Money back, please.").await.unwrap();
    assert_eq!(answer.text, "Refunded.");
    assert!(
        triage_llm.requests().is_empty(),
        "triage's model is not asked"
    );
    assert_eq!(
        outcomes(&store.replay(answer.summary.run_id).await.unwrap()),
        [
            "started",
            "handed_off",
            "prompt_at",
            "llm_call",
            "completed"
        ]
    );

    let stranger = triage_team(
        handing("triage", &store, &ScriptedLlm::new(), "billing"),
        agent("refund", &store, ScriptedLlm::new(), vec![]),
    );
    let err = stranger.run("Money back, please.").await.unwrap_err();
    assert!(
        matches!(&err, Error::Handoff { agent, .. } if agent == "billing"),
        "{err:?}"
    );
    let runs = store.list_runs().await.unwrap();
    let ended = runs
        .into_iter()
        .find(|&r| r != answer.summary.run_id)
        .unwrap();
    assert_eq!(
        outcomes(&store.replay(ended).await.unwrap()),
        ["started", "failed"]
    );
}

#[tokio::test]
async fn a_hand_off_after_a_reply_keeps_the_model_call_it_followed() {
    let (_dir, store) = fresh().await;
    let triage = Agent::builder(ScriptedLlm::new().then_text("Let me pass you on."))
        .with_name("triage")
        .with_memory(store.clone())
        .with_options(no_lease().add_guardrail(Arc::new(HandsReplyTo("refund"))))
        .build()
        .unwrap();
    let team = triage_team(
        triage,
        agent(
            "refund",
            &store,
            ScriptedLlm::new().then_text("Refunded."),
            vec![],
        ),
    );
    let answer = team.run("Money back?").await.unwrap();
    assert_eq!(answer.text, "Refunded.");
    assert_eq!(answer.summary.steps, 2, "the refund desk's call is step 2");
    assert_eq!(
        outcomes(&store.replay(answer.summary.run_id).await.unwrap()),
        [
            "started",
            "prompt_at",
            "llm_call",
            "handed_off",
            "llm_call",
            "completed"
        ]
    );
}

#[tokio::test]
async fn agents_handing_a_run_back_and_forth_stop_at_the_teams_limit() {
    let (_dir, store) = fresh().await;
    let team = Team::builder(handing("triage", &store, &ScriptedLlm::new(), "refund"))
        .add_agent(handing("refund", &store, &ScriptedLlm::new(), "triage"))
        .with_max_handoffs(3)
        .build()
        .unwrap();
    let err = team.run("Anyone?").await.unwrap_err();
    assert!(
        matches!(&err, Error::HandoffLimit { limit: 3, agent } if agent == "triage"),
        "{err:?}"
    );
    let run = store.list_runs().await.unwrap()[0];
    assert_eq!(
        outcomes(&store.replay(run).await.unwrap()),
        [
            "started",
            "handed_off",
            "handed_off",
            "handed_off",
            "failed"
        ]
    );
}

#[tokio::test]
async fn a_hand_off_call_past_the_teams_limit_ends_the_run() {
    let (_dir, store) = fresh().await;
    let back = ToolCall::new("b1", "transfer_to_triage", json!({}));
    let team = Team::builder(handing_triage(&store))
        .add_agent(agent(
            "refund",
            &store,
            ScriptedLlm::new().then_tool_calls(vec![back]),
            vec![],
        ))
        .add_handoff("triage", "refund", "Refunds orders.")
        .add_handoff("refund", "triage", "Routes customers.")
        .with_max_handoffs(1)
        .build()
        .unwrap();
    let err = team.run("Money back?").await.unwrap_err();
    assert!(
        matches!(&err, Error::HandoffLimit { limit: 1, agent } if agent == "triage"),
        "{err:?}"
    );
    let run = store.list_runs().await.unwrap()[0];
    assert_eq!(
        outcomes(&store.replay(run).await.unwrap()),
        [
            "started",
            "prompt_at",
            "llm_call",
            "tool_call:ok",
            "handed_off",
            "llm_call",
            "tool_call:ok",
            "failed"
        ]
    );
}
