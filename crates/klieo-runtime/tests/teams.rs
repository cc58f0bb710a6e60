//! A team's build checks (every hand-off between agents it has, each
//! agent named once, hand-off tools a model accepts, one conversation
//! memory), and its runs on separate memories: shared, the run goes on;
//! agents on two stores, the hand-off is refused with what to do.

use crate::durable::support::{given_back, reserved};
use klieo_runtime::{
    Agent, Budget, InMemoryEpisodic, InMemoryShortTerm, KeyBudget, RunEvent, RunOptions, Team,
    TeamBuilder,
};
use klieo_store::InMemoryJournal;
use klieo_types::testing::ScriptedLlm;
use klieo_types::{
    ConfigError, EpisodicMemory, Error, FnTool, KeySpend, ShortTermMemory, ToolCall, ToolDef,
};
use serde_json::json;
use std::sync::Arc;

fn named(name: &str) -> Agent {
    Agent::builder(ScriptedLlm::new())
        .with_name(name)
        .build()
        .unwrap()
}

/// The setting and reason a build refused with.
fn refused(builder: TeamBuilder) -> (String, String) {
    match builder.build() {
        Err(ConfigError::Invalid { name, reason, .. }) => (name, reason),
        other => panic!("the build is refused: {other:?}"),
    }
}

#[test]
fn a_hand_off_to_an_agent_the_team_does_not_have_is_refused_at_build() {
    let (name, reason) = refused(
        Team::builder(named("triage"))
            .add_agent(named("refund"))
            .add_handoff("triage", "refnud", "Refunds."),
    );
    assert_eq!(name, "TeamBuilder::add_handoff");
    assert!(reason.contains("`refnud`"), "{reason}");
    assert!(reason.contains("`refund`, `triage`"), "{reason}");

    let (_, reason) =
        refused(Team::builder(named("triage")).add_handoff("billing", "triage", "Triage."));
    assert!(reason.contains("from `billing`"), "{reason}");
}

#[test]
fn a_hand_off_to_itself_is_refused_at_build() {
    let (_, reason) =
        refused(Team::builder(named("triage")).add_handoff("triage", "triage", "Again."));
    assert!(reason.contains("hands off to itself"), "{reason}");
}

#[test]
fn two_agents_of_one_name_are_refused_at_build() {
    let (name, reason) = refused(Team::builder(named("desk")).add_agent(named("desk")));
    assert_eq!(name, "TeamBuilder::add_agent");
    assert!(reason.contains("`desk`"), "{reason}");
}

#[test]
fn a_hand_off_declared_twice_is_refused_at_build() {
    let (_, reason) = refused(
        Team::builder(named("triage"))
            .add_agent(named("refund"))
            .add_handoff("triage", "refund", "Refunds.")
            .add_handoff("triage", "refund", "Refunds again."),
    );
    assert!(reason.contains("declared twice"), "{reason}");
}

#[test]
fn a_hand_off_tool_whose_name_a_tool_has_is_refused_at_build() {
    let clash = FnTool::new(
        ToolDef::new("transfer_to_refund", "Mine.", json!({"type": "object"})),
        |_| Ok(json!("mine")),
    );
    let triage = Agent::builder(ScriptedLlm::new())
        .with_name("triage")
        .add_tool(clash)
        .build()
        .unwrap();
    let (_, reason) = refused(
        Team::builder(triage)
            .add_agent(named("refund"))
            .add_handoff("triage", "refund", "Refunds."),
    );
    assert!(
        reason.contains("tool called `transfer_to_refund`"),
        "{reason}"
    );
}

#[test]
fn a_hand_off_tool_name_a_model_would_refuse_is_refused_at_build() {
    let (_, reason) = refused(
        Team::builder(named("triage"))
            .add_agent(named("refund desk"))
            .add_handoff("triage", "refund desk", "Refunds."),
    );
    assert!(reason.contains("`transfer_to_refund desk`"), "{reason}");
}

#[test]
fn a_limit_of_no_hand_offs_is_refused_at_build() {
    let (name, _) = refused(Team::builder(named("triage")).with_max_handoffs(0));
    assert_eq!(name, "TeamBuilder::with_max_handoffs");
}

fn hand_off() -> ScriptedLlm {
    let call = ToolCall::new("h1", "transfer_to_refund", json!({}));
    ScriptedLlm::new().then_tool_calls(vec![call])
}

#[tokio::test]
async fn a_team_on_shared_separate_memories_hands_off() {
    let short_term: Arc<InMemoryShortTerm> = Arc::default();
    let episodic: Arc<InMemoryEpisodic> = Arc::default();
    let on_shared = |name: &str, llm: ScriptedLlm| {
        Agent::builder(llm)
            .with_name(name)
            .with_short_term(short_term.clone())
            .with_episodic(episodic.clone())
            .build()
            .unwrap()
    };
    let team = Team::builder(on_shared("triage", hand_off()))
        .add_agent(on_shared(
            "refund",
            ScriptedLlm::new().then_text("Refunded."),
        ))
        .add_handoff("triage", "refund", "Refunds.")
        .build()
        .unwrap();
    let answer = team.run("Money back?").await.unwrap();
    assert_eq!(answer.text, "Refunded.");
    assert_eq!(answer.summary.steps, 2);
    let said = short_term
        .load(&answer.summary.thread, usize::MAX)
        .await
        .unwrap();
    assert_eq!(said.len(), 4, "prompt, hand-off call, its result, answer");
}

#[tokio::test]
async fn a_budget_counts_every_agents_part_on_separate_memories() {
    let short_term: Arc<InMemoryShortTerm> = Arc::default();
    let episodic: Arc<InMemoryEpisodic> = Arc::default();
    let two_calls = RunOptions::default().with_budget(Budget::new().with_model_calls(2));
    let on_shared = |builder: klieo_runtime::AgentBuilder| {
        builder
            .with_short_term(short_term.clone())
            .with_episodic(episodic.clone())
            .with_options(two_calls.clone())
            .build()
            .unwrap()
    };
    let refund_llm = ScriptedLlm::new()
        .then_tool_calls(vec![ToolCall::new("e1", "echo", json!({}))])
        .then_text("Refunded.");
    let echo = FnTool::new(
        ToolDef::new("echo", "echoes", json!({"type": "object"})),
        Ok,
    );
    let team = Team::builder(on_shared(Agent::builder(hand_off()).with_name("triage")))
        .add_agent(on_shared(
            Agent::builder(refund_llm)
                .with_name("refund")
                .add_tool(echo),
        ))
        .add_handoff("triage", "refund", "Refunds.")
        .build()
        .unwrap();
    // Triage's call, then refund's two: three calls of a budget of two.
    let answer = team.run("Money back?").await;
    assert!(
        matches!(answer, Err(Error::BudgetExceeded { .. })),
        "{answer:?}"
    );
}

#[tokio::test]
async fn a_budget_counts_what_an_earlier_parts_children_spent_on_separate_memories() {
    let short_term: Arc<InMemoryShortTerm> = Arc::default();
    let episodic: Arc<InMemoryEpisodic> = Arc::default();
    let three_calls = RunOptions::default().with_budget(Budget::new().with_model_calls(3));
    let on_shared = |builder: klieo_runtime::AgentBuilder| {
        builder
            .with_short_term(short_term.clone())
            .with_episodic(episodic.clone())
            .with_options(three_calls.clone())
            .build()
            .unwrap()
    };
    let lookup = on_shared(
        Agent::builder(ScriptedLlm::new().then_text("Order 1042 shipped.")).with_name("lookup"),
    );
    let triage_llm = ScriptedLlm::new()
        .then_tool_calls(vec![ToolCall::new(
            "a1",
            "ask_lookup",
            json!({"input": "1042"}),
        )])
        .then_tool_calls(vec![ToolCall::new("h1", "transfer_to_refund", json!({}))]);
    let refund_llm = ScriptedLlm::new().then_text("Refunded.");
    let triage = Agent::builder(triage_llm)
        .with_name("triage")
        .add_agent_tool("ask_lookup", "Finds orders.", lookup);
    let team = Team::builder(on_shared(triage))
        .add_agent(on_shared(
            Agent::builder(refund_llm.clone()).with_name("refund"),
        ))
        .add_handoff("triage", "refund", "Refunds.")
        .build()
        .unwrap();
    // Triage's two calls and its child's one spend the budget of three:
    // refund's part may make none.
    let answer = team.run("Money back for 1042?").await;
    assert!(
        matches!(answer, Err(Error::BudgetExceeded { .. })),
        "{answer:?}"
    );
    assert!(
        refund_llm.requests().is_empty(),
        "refund's model was called"
    );
}

#[test]
fn agents_on_memories_of_their_own_are_refused_at_build() {
    let (name, reason) = refused(
        Team::builder(named("triage"))
            .add_agent(named("refund"))
            .add_handoff("triage", "refund", "Refunds."),
    );
    assert_eq!(name, "TeamBuilder::add_agent");
    assert!(reason.contains("memories of its own"), "{reason}");
}

#[test]
fn agents_sharing_only_their_conversation_memory_are_refused_at_build() {
    let short_term: Arc<InMemoryShortTerm> = Arc::default();
    let on = |name: &str| {
        Agent::builder(ScriptedLlm::new())
            .with_name(name)
            .with_short_term(short_term.clone())
            .build()
            .unwrap()
    };
    let (_, reason) = refused(
        Team::builder(on("triage"))
            .add_agent(on("refund"))
            .add_handoff("triage", "refund", "Refunds."),
    );
    assert!(reason.contains("memories of its own"), "{reason}");
}

#[tokio::test]
async fn a_hand_off_to_an_agent_on_another_store_is_refused_and_the_run_waits() {
    let (here, there) = (InMemoryJournal::new(), InMemoryJournal::new());
    let team = Team::builder(
        Agent::builder(hand_off())
            .with_name("triage")
            .with_memory(here.clone())
            .build()
            .unwrap(),
    )
    .add_agent(
        Agent::builder(ScriptedLlm::new())
            .with_name("refund")
            .with_memory(there)
            .build()
            .unwrap(),
    )
    .add_handoff("triage", "refund", "Refunds.")
    .build()
    .unwrap();
    let err = team.run("Money back?").await.unwrap_err();
    let Error::Config(ConfigError::Invalid { reason, .. }) = &err else {
        panic!("a configuration error: {err:?}");
    };
    assert!(reason.contains("one store"), "{reason}");
    assert!(reason.contains("Team::resume"), "{reason}");
    let run = here.list_runs().await.unwrap()[0];
    let log = here.replay(run).await.unwrap();
    assert_eq!(log.last().unwrap().kind(), "handed_off", "the run waits");
}

#[test]
fn a_history_for_an_agent_the_team_does_not_have_is_refused_at_build() {
    let (name, reason) = refused(
        Team::builder(named("triage"))
            .with_history("refnud", klieo_runtime::HandoffHistory::Conversation),
    );
    assert_eq!(name, "TeamBuilder::with_history");
    assert!(reason.contains("`refnud`"), "{reason}");
}

/// A team's stream dropped while the agent handed to waits on its first
/// call, reserved on its key, gives that reservation back with the run's
/// ending: the key's allowance is not held until it lapses.
#[tokio::test]
async fn a_team_stream_dropped_during_the_next_agents_first_call_gives_its_reservation_back() {
    let store = InMemoryJournal::new();
    let keyed = RunOptions::default()
        .with_budget(Budget::new().with_key(KeyBudget::new("acme").with_total_tokens(100_000)));
    let team = Team::builder(
        Agent::builder(hand_off())
            .with_name("triage")
            .with_memory(store.clone())
            .build()
            .unwrap(),
    )
    .add_agent(
        Agent::builder(ScriptedLlm::new().then_stall())
            .with_name("refund")
            .with_memory(store.clone())
            .with_options(keyed)
            .build()
            .unwrap(),
    )
    .add_handoff("triage", "refund", "Refunds.")
    .build()
    .unwrap();
    let mut events = team.stream("Money back?");
    loop {
        match events.next().await {
            Some(Ok(RunEvent::BudgetReserved { .. })) => break,
            Some(Ok(_)) => {}
            other => panic!("refund's call is reserved before the stream ends: {other:?}"),
        }
    }
    assert_ne!(
        reserved(&store, "acme").await,
        KeySpend::default(),
        "refund's call is reserved"
    );
    drop(events);
    assert!(
        given_back(&store, "acme").await,
        "the dropped run gave its reservation back"
    );
}

#[tokio::test]
async fn a_hand_off_reason_is_bounded_in_the_events_and_the_log() {
    let store = InMemoryJournal::new();
    let reason = "x".repeat(100_000);
    let call = ToolCall::new("h1", "transfer_to_refund", json!({ "reason": reason }));
    let on_store = |name: &str, llm: ScriptedLlm| {
        Agent::builder(llm)
            .with_name(name)
            .with_memory(store.clone())
            .build()
            .unwrap()
    };
    let team = Team::builder(on_store(
        "triage",
        ScriptedLlm::new().then_tool_calls(vec![call]),
    ))
    .add_agent(on_store(
        "refund",
        ScriptedLlm::new().then_text("Refunded."),
    ))
    .add_handoff("triage", "refund", "Refunds.")
    .build()
    .unwrap();
    let mut events = team.stream("Money back?");
    let mut told = None;
    while let Some(event) = futures_util::StreamExt::next(&mut events).await {
        if let Ok(RunEvent::HandedOff { reason, .. }) = event {
            told = Some(reason);
        }
    }
    let told = told.expect("the hand-off is told");
    assert!(
        told.chars().count() <= klieo_runtime::EPISODE_CHARS + 1,
        "{}",
        told.len()
    );
    let run = store.list_runs().await.unwrap()[0];
    let logged = store.replay(run).await.unwrap();
    let logged = logged.iter().find_map(|e| match e {
        klieo_types::Episode::HandedOff { reason, .. } => Some(reason.clone()),
        _ => None,
    });
    assert_eq!(logged.as_deref(), Some(told.as_str()));
}
