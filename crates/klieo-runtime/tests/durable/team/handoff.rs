//! Hand-offs: a team's run going on with another of its agents on the
//! same thread (by the model's hand-off tool, or a guardrail's decision),
//! written with the step that asked for it, bounded by the team's limit,
//! taken up after a stop with the agent whose part it was, and decided
//! through the team when that agent's call waits for a person.

use super::super::store::{fresh, Store};
use super::super::support::{count, outcomes, Counted, Told};
use super::no_lease;
use klieo_runtime::{Agent, Guardrail, GuardrailOutcome, HandoffHistory, RunEvent, Team};
use klieo_types::testing::ScriptedLlm;
use klieo_types::{
    async_trait, ChatRequest, EpisodicMemory, Error, Journal, LlmClient, Role, ShortTermMemory,
    ToolCall,
};
use serde_json::json;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use tokio::sync::Notify;

fn hand_off(id: &str) -> ToolCall {
    ToolCall::new(
        id,
        "transfer_to_refund",
        json!({"reason": "wants a refund"}),
    )
}

/// An agent called `name` on `store` with `llm` and `tools`.
fn agent(name: &str, store: &Store, llm: impl LlmClient + 'static, tools: Vec<Counted>) -> Agent {
    let mut builder = Agent::builder(llm)
        .with_name(name)
        .with_instructions(format!("You are the {name} desk."));
    for tool in tools {
        builder = builder.with_tool(tool);
    }
    builder
        .with_memory(store.clone())
        .with_options(no_lease())
        .build()
        .unwrap()
}

/// `triage`, which may hand off to `refund`.
fn triage_team(triage: Agent, refund: Agent) -> Team {
    Team::builder(triage)
        .with_agent(refund)
        .with_handoff("triage", "refund", "Refunds orders.")
        .build()
        .unwrap()
}

/// Hands every request off to `to`.
struct HandsTo(&'static str);

#[async_trait]
impl Guardrail for HandsTo {
    fn name(&self) -> &str {
        "hands-to"
    }
    async fn pre_llm(&self, _req: &ChatRequest) -> GuardrailOutcome {
        GuardrailOutcome::Handoff {
            agent: self.0.to_owned(),
            reason: "not mine".into(),
        }
    }
}

/// An agent called `name` on `store` whose guardrail hands every request
/// to `to`.
fn handing(name: &str, store: &Store, llm: &ScriptedLlm, to: &'static str) -> Agent {
    Agent::builder(llm.clone())
        .with_name(name)
        .with_memory(store.clone())
        .with_options(no_lease().add_guardrail(Arc::new(HandsTo(to))))
        .build()
        .unwrap()
}

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
        .map(|c| c.name.as_str())
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
        .with_agent(agent("refund", &store, refund_llm.clone(), vec![]))
        .with_handoff("triage", "refund", "Refunds orders.")
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
    broken.arguments = "{\"reason\": ".into();
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
            "llm_call",
            "tool_call:error",
            "llm_call",
            "completed"
        ]
    );
}

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
        ["started", "handed_off", "llm_call", "completed"]
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
async fn agents_handing_a_run_back_and_forth_stop_at_the_teams_limit() {
    let (_dir, store) = fresh().await;
    let team = Team::builder(handing("triage", &store, &ScriptedLlm::new(), "refund"))
        .with_agent(handing("refund", &store, &ScriptedLlm::new(), "triage"))
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
async fn a_streamed_team_run_tells_the_hand_off_between_the_agents_parts() {
    let (_dir, store) = fresh().await;
    let team = triage_team(
        agent(
            "triage",
            &store,
            ScriptedLlm::new().then_tool_calls(vec![hand_off("h1")]),
            vec![],
        ),
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
