//! A hand-off goes on with the receiving agent: on the same thread, with
//! its tools, instructions, view of the thread and tool choice; told in
//! a stream; a hand-off call that is not JSON hands nothing off.

use super::super::super::store::fresh;
use super::super::super::support::{count, outcomes, Counted};
use super::super::no_lease;
use super::{agent, hand_off, handing_triage, triage_team};
use klieo_runtime::{Agent, HandoffHistory, RunEvent, Team};
use klieo_types::testing::ScriptedLlm;
use klieo_types::{
    ChatRequest, EpisodicMemory, Journal, Role, ShortTermMemory, ToolCall, ToolChoice,
};
use serde_json::json;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

#[tokio::test]
async fn a_hand_off_goes_on_with_the_receiving_agent_on_the_same_thread() {
    let (_dir, store) = fresh().await;
    let refunds = Arc::new(AtomicUsize::new(0));
    let triage_llm = ScriptedLlm::new().then_tool_calls(vec![hand_off("h1")]);
    let refund_llm = ScriptedLlm::new()
        .then_tool_calls(vec![ToolCall::new("r1", "refund_order", json!({}))])
        .then_text("Refunded.");
    let refund_order = Counted::new("refund_order", false, &refunds);
    let team = triage_team(
        agent("triage", &store, triage_llm.clone(), vec![]),
        agent("refund", &store, refund_llm.clone(), vec![refund_order]),
    );

    let answer = team.run("I want my money back.").await.unwrap();
    assert_eq!(answer.text, "Refunded.");
    assert_eq!(answer.summary.steps, 3, "every agent's model calls count");
    let called: Vec<&str> = answer
        .summary
        .tool_calls
        .iter()
        .map(|c| c.name.as_ref())
        .collect();
    assert_eq!(called, ["transfer_to_refund", "refund_order"]);
    assert_eq!(count(&refunds), 1);

    let offered =
        |req: &ChatRequest| -> Vec<String> { req.tools.iter().map(|t| t.name.clone()).collect() };
    assert_eq!(offered(&triage_llm.requests()[0]), ["transfer_to_refund"]);
    let asked = &refund_llm.requests()[0];
    assert_eq!(
        offered(asked),
        ["refund_order"],
        "the receiving agent's own tools"
    );
    let messages = &asked.messages;
    assert_eq!(messages.get(0).unwrap().role, Role::System);
    assert_eq!(messages.get(0).unwrap().content, "You are the refund desk.");
    assert!(
        messages
            .iter()
            .any(|m| m.role == Role::User && m.content == "I want my money back."),
        "the receiving agent sees the whole thread"
    );

    let run = answer.summary.run_id;
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
            "llm_call",
            "completed"
        ]
    );
    let thread = store.run(run).await.unwrap().unwrap().thread;
    let said = store.load(&thread, usize::MAX).await.unwrap();
    assert_eq!(said.iter().last().unwrap().content, "Refunded.");
}

#[tokio::test]
async fn an_agent_whose_team_says_so_sees_the_conversation_without_the_tool_traffic_before() {
    let (_dir, store) = fresh().await;
    let lookups = Arc::new(AtomicUsize::new(0));
    let triage_llm = ScriptedLlm::new()
        .then_tool_calls(vec![ToolCall::new("l1", "lookup", json!({}))])
        .then_tool_calls(vec![hand_off("h1")]);
    let refund_llm = ScriptedLlm::new().then_text("Refunded.");
    let lookup = Counted::new("lookup", true, &lookups);
    let team = Team::builder(agent("triage", &store, triage_llm, vec![lookup]))
        .add_agent(agent("refund", &store, refund_llm.clone(), vec![]))
        .add_handoff("triage", "refund", "Refunds orders.")
        .with_history("refund", HandoffHistory::Conversation)
        .build()
        .unwrap();

    let answer = team.run("Money back for 1042?").await.unwrap();
    assert_eq!(answer.text, "Refunded.");
    let roles: Vec<Role> = refund_llm.requests()[0]
        .messages
        .iter()
        .map(|m| m.role)
        .collect();
    assert_eq!(roles, [Role::System, Role::User]);
    let thread = store
        .run(answer.summary.run_id)
        .await
        .unwrap()
        .unwrap()
        .thread;
    let kept = store.load(&thread, usize::MAX).await.unwrap();
    assert_eq!(kept.len(), 6, "the thread keeps every message");
}

#[tokio::test]
async fn a_hand_off_call_whose_arguments_are_not_json_is_told_so_and_hands_nothing_off() {
    let (_dir, store) = fresh().await;
    let mut broken = hand_off("h1");
    broken.set_arguments("{\"reason\": ");
    let triage_llm = ScriptedLlm::new()
        .then_tool_calls(vec![broken])
        .then_text("Let me try that again later.");
    let refund_llm = ScriptedLlm::new();
    let team = triage_team(
        agent("triage", &store, triage_llm, vec![]),
        agent("refund", &store, refund_llm.clone(), vec![]),
    );
    let answer = team.run("Money back?").await.unwrap();
    assert_eq!(answer.text, "Let me try that again later.");
    assert!(refund_llm.requests().is_empty(), "nothing was handed off");
    assert_eq!(
        outcomes(&store.replay(answer.summary.run_id).await.unwrap()),
        [
            "started",
            "prompt_at",
            "llm_call",
            "tool_call:error",
            "llm_call",
            "completed"
        ]
    );
}

#[tokio::test]
async fn a_streamed_team_run_tells_the_hand_off_between_the_agents_parts() {
    let (_dir, store) = fresh().await;
    let team = triage_team(
        handing_triage(&store),
        agent(
            "refund",
            &store,
            ScriptedLlm::new().then_text("Refunded."),
            vec![],
        ),
    );
    let mut events = team.stream("Money back?");
    let mut seen = Vec::new();
    let mut answer = None;
    while let Some(event) = events.next().await {
        match event.unwrap() {
            RunEvent::ToolCall(call) => seen.push(format!("call {}", call.name)),
            RunEvent::HandedOff { from, to, reason } => {
                seen.push(format!("{from} -> {to}: {reason}"));
            }
            RunEvent::Text(text) => seen.push(format!("text {text}")),
            RunEvent::Finished(done) => answer = Some(done),
            _ => {}
        }
    }
    assert_eq!(
        seen,
        [
            "call transfer_to_refund",
            "triage -> refund: wants a refund",
            "text Refunded."
        ]
    );
    let answer = answer.expect("the stream ends with the answer");
    assert_eq!(answer.text, "Refunded.");
    assert_eq!(answer.summary.steps, 2);
}

#[tokio::test]
async fn the_receiving_agents_tool_choice_applies_at_its_own_first_step() {
    let (_dir, store) = fresh().await;
    let refunds = Arc::new(AtomicUsize::new(0));
    let refund_llm = ScriptedLlm::new()
        .then_tool_calls(vec![ToolCall::new("r1", "refund_order", json!({}))])
        .then_text("Refunded.");
    let refund = Agent::builder(refund_llm.clone())
        .with_name("refund")
        .add_tool(Counted::new("refund_order", false, &refunds))
        .with_memory(store.clone())
        .with_options(no_lease().with_tool_choice(Some(ToolChoice::Required)))
        .build()
        .unwrap();
    let team = triage_team(handing_triage(&store), refund);
    team.run("Money back?").await.unwrap();
    let asked = refund_llm.requests();
    assert_eq!(asked[0].tool_choice, Some(ToolChoice::Required));
    assert_ne!(asked[1].tool_choice, Some(ToolChoice::Required));
}

#[tokio::test]
async fn an_agent_whose_view_of_its_window_is_empty_still_gets_its_window() {
    let (_dir, store) = fresh().await;
    // A lookup result too large for the refund desk's history: its window
    // starts after it, at the hand-off call and its result, which its view
    // of the conversation leaves out.
    let lookup = klieo_types::FnTool::new(
        klieo_types::ToolDef::new("lookup", "Finds orders.", json!({"type": "object"})),
        |_| Ok(json!("shipped ".repeat(2_000))),
    );
    let triage_llm = ScriptedLlm::new()
        .then_tool_calls(vec![ToolCall::new("l1", "lookup", json!({}))])
        .then_tool_calls(vec![hand_off("h1")]);
    let triage = Agent::builder(triage_llm)
        .with_name("triage")
        .add_tool(lookup);
    let refund_llm = ScriptedLlm::new().then_text("Refunded.");
    let refund = Agent::builder(refund_llm.clone()).with_name("refund");
    let small = no_lease().with_max_history_tokens(500);
    let team = Team::builder(super::super::built(triage, &store, vec![], no_lease()))
        .add_agent(super::super::built(refund, &store, vec![], small))
        .add_handoff("triage", "refund", "Refunds orders.")
        .with_history("refund", HandoffHistory::Conversation)
        .build()
        .unwrap();

    let answer = team.run("Money back for 1042?").await;
    assert_eq!(answer.map(|a| a.text), Ok("Refunded.".to_owned()));
    let sent = refund_llm.requests()[0].messages.len();
    assert!(
        sent > 1,
        "the refund desk is sent more than its instructions"
    );
}

/// A step that asks for two hand-offs takes the first; the model is told
/// the second did not happen (it said it had), and its agent is never
/// called.
#[tokio::test]
async fn a_second_hand_off_call_in_one_step_is_told_it_did_not_happen() {
    let (_dir, store) = fresh().await;
    let to_billing = ToolCall::new("h2", "transfer_to_billing", json!({}));
    let triage_llm = ScriptedLlm::new().then_tool_calls(vec![hand_off("h1"), to_billing]);
    let refund_llm = ScriptedLlm::new().then_text("Refunded.");
    let billing_llm = ScriptedLlm::new().then_text("Billed.");
    let team = Team::builder(agent("triage", &store, triage_llm, vec![]))
        .add_agent(agent("refund", &store, refund_llm.clone(), vec![]))
        .add_agent(agent("billing", &store, billing_llm.clone(), vec![]))
        .add_handoff("triage", "refund", "Refunds orders.")
        .add_handoff("triage", "billing", "Bills.")
        .build()
        .unwrap();

    let answer = team.run("I want my money back.").await.unwrap();
    assert_eq!(answer.text, "Refunded.");
    assert!(
        billing_llm.requests().is_empty(),
        "billing never had the run"
    );
    let asked = &refund_llm.requests()[0];
    let result = |id: &str| {
        asked
            .messages
            .iter()
            .find(|m| m.tool_call_id.as_deref() == Some(id))
            .map(|m| m.content.clone())
            .unwrap_or_default()
    };
    assert!(result("h1").contains("Handed off to agent `refund`"));
    let second = result("h2");
    assert!(
        second.contains("not handed off") && second.contains("`refund`"),
        "{second}"
    );
}
