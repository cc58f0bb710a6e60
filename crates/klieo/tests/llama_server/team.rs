//! A team against llama-server: a desk agent asks a lookup agent (an
//! agent used as a tool, forced by name: SmolLM2-135M calls tools only
//! when told to), streamed, on a SQLite store; the child's events come
//! through the desk's stream, the child run is in the store, complete.
//! And a triage agent hands a customer to a refund agent (its hand-off
//! tool forced by name), which answers on the same thread.

use super::server;
use klieo::openai::OpenAiClient;
use klieo::prelude::*;
use klieo::runtime::{AfterToolCalls, RunEvent};
use klieo::sqlite::SqliteStore;
use klieo::types::Role;
use klieo::types::{EpisodicMemory, RunQueue, ShortTermMemory};

fn smollm() -> OpenAiClient {
    OpenAiClient::builder()
        .with_base_url(format!("{}/v1", server()))
        .with_model("smollm2")
        .build()
        .expect("a client")
}

#[tokio::test]
#[ignore = "needs llama-server: cargo xtask ci builds and starts it"]
async fn a_desk_asks_a_lookup_agent_against_llama_server() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = SqliteStore::open(dir.path().join("team.db"))
        .await
        .expect("the store");
    let text = RunOptions::default()
        .with_temperature(Some(0.0))
        .with_max_tokens(Some(32));
    let lookup = Agent::builder(smollm())
        .with_name("lookup")
        .with_instructions("You look orders up. Say in one short sentence that the order shipped.")
        .with_memory(store.clone())
        .with_options(text.clone().with_max_steps(2))
        .build()
        .expect("the lookup agent");
    let desk = Agent::builder(smollm())
        .with_name("desk")
        .with_instructions("You answer customers. Ask the lookup agent about their order.")
        .add_agent_tool(
            "ask_lookup",
            "Asks the lookup agent about an order.",
            lookup,
        )
        .with_memory(store.clone())
        .with_options(
            text.with_max_tokens(Some(64))
                .with_max_steps(3)
                .with_tool_choice(Some(ToolChoice::Function("ask_lookup".into())))
                .with_after_tool_calls(AfterToolCalls::None),
        )
        .build()
        .expect("the desk agent");

    let mut events = desk.stream("Where is my order 1042?");
    let desk_run = events.run_id();
    let (mut child, mut child_text, mut answer) = (None, String::new(), None);
    while let Some(event) = events.next().await {
        match event.unwrap_or_else(|e| panic!("the team's run failed: {e}")) {
            RunEvent::Child { run, agent, event } => {
                assert_eq!(agent, "lookup");
                child = Some(run);
                if let RunEvent::Text(delta) = *event {
                    child_text.push_str(&delta);
                }
            }
            RunEvent::Finished(done) => answer = Some(done),
            _ => {}
        }
    }
    let answer = answer.expect("the desk answered");
    let child = child.expect("the lookup agent's events came through the desk's stream");
    assert!(!answer.text.trim().is_empty(), "the desk's answer");
    let call = &answer.summary.tool_calls[0];
    assert_eq!(call.name, "ask_lookup".into());
    assert!(
        matches!(&call.outcome, klieo::types::ToolOutcome::Ok { output } if output.as_str() == Some(child_text.as_str())),
        "the call's result is the lookup agent's answer: {:?} / {child_text:?}",
        call.outcome
    );
    let done = store.state(child).await.expect("the child's state");
    assert!(
        matches!(done, Some(RunState::Completed { .. })),
        "the child run completed: {done:?}"
    );
    let log = store.replay(child).await.expect("the child's log");
    assert!(
        matches!(&log[1], Episode::ChildOf { parent, .. } if *parent == desk_run),
        "the child's log names its parent: {log:?}"
    );
    store.close().await;
}

#[tokio::test]
#[ignore = "needs llama-server: cargo xtask ci builds and starts it"]
async fn a_triage_agent_hands_off_to_a_refund_agent_against_llama_server() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = SqliteStore::open(dir.path().join("handoff.db"))
        .await
        .expect("the store");
    let text = RunOptions::default()
        .with_temperature(Some(0.0))
        .with_max_tokens(Some(48));
    let triage = Agent::builder(smollm())
        .with_name("triage")
        .with_instructions("You route customers. Hand refunds to the refund desk.")
        .with_memory(store.clone())
        .with_options(
            // Room for the call's arguments: a call cut by `length` is
            // dropped, and the run answers empty.
            text.clone()
                .with_max_tokens(Some(128))
                .with_tool_choice(Some(ToolChoice::Function("transfer_to_refund".into()))),
        )
        .build()
        .expect("the triage agent");
    let refund = Agent::builder(smollm())
        .with_name("refund")
        .with_instructions(
            "You are the refund desk. Say in one short sentence that the refund is on its way.",
        )
        .with_memory(store.clone())
        .with_options(text.with_max_steps(3))
        .build()
        .expect("the refund agent");
    let team = Team::builder(triage)
        .add_agent(refund)
        .add_handoff("triage", "refund", "Hands the customer to the refund desk.")
        .build()
        .expect("the team");

    let mut events = team.stream("I want my money back for order 1042.");
    let run = events.run_id();
    let (mut handed, mut answer) = (None, None);
    while let Some(event) = events.next().await {
        match event.unwrap_or_else(|e| panic!("the team's run failed: {e}")) {
            RunEvent::HandedOff { from, to, .. } => handed = Some((from, to)),
            RunEvent::Finished(done) => answer = Some(done),
            _ => {}
        }
    }
    assert_eq!(
        handed,
        Some(("triage".to_owned(), "refund".to_owned())),
        "the stream tells the hand-off"
    );
    let answer = answer.expect("the refund desk answered");
    assert!(!answer.text.trim().is_empty(), "the refund desk's answer");
    assert_eq!(
        answer.summary.tool_calls[0].name,
        "transfer_to_refund".into()
    );
    let log = store.replay(run).await.expect("the run's log");
    let kinds: Vec<&str> = log.iter().map(Episode::kind).collect();
    assert_eq!(
        kinds,
        [
            "started",
            "prompt_at",
            "llm_call",
            "tool_call",
            "handed_off",
            "llm_call",
            "completed"
        ],
        "one run, handed on"
    );
    let thread = ThreadId::new(format!("run-{run}"));
    let said = store.load(&thread, usize::MAX).await.expect("the thread");
    let last = said.iter().last().expect("the thread's last message");
    assert_eq!(last.role, Role::Assistant);
    assert_eq!(
        last.content, answer.text,
        "the answer is on the run's thread"
    );
    store.close().await;
}
