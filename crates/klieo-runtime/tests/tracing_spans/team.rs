//! Teams: an agent used as a tool, whose child run's `invoke_agent` span
//! is a child of the parent's `execute_tool` span that runs it; and a
//! hand-off, whose next part's span follows from the part before.

use super::capture::{captured, Captured, SpanRec};
use klieo_runtime::{Agent, RunOptions, Team};
use klieo_types::testing::ScriptedLlm;
use klieo_types::ToolCall;
use serde_json::json;

#[test]
fn a_child_runs_invoke_agent_span_nests_under_its_parents_execute_tool() {
    let ((), captured) = captured(|| async {
        let lookup = Agent::builder(ScriptedLlm::new().then_text("shipped"))
            .with_name("lookup")
            .build()
            .unwrap();
        let call = ToolCall::new("c1", "ask_lookup", json!({"input": "1042?"}));
        let desk = Agent::builder(
            ScriptedLlm::new()
                .then_tool_calls(vec![call])
                .then_text("It shipped."),
        )
        .with_name("desk")
        .add_agent_tool("ask_lookup", "Finds orders.", lookup)
        .build()
        .unwrap();
        assert_eq!(
            desk.run("Where is 1042?").await.unwrap().text,
            "It shipped."
        );
    });
    let by_agent = |name| run_of(&captured, name);
    let (Some(desk), Some(lookup)) = (by_agent("desk"), by_agent("lookup")) else {
        panic!("two invoke_agent spans: {:?}", captured.spans);
    };
    let [tool] = captured.named("execute_tool")[..] else {
        panic!("one execute_tool span: {:?}", captured.spans);
    };
    assert_eq!(tool.parent, Some(desk.id));
    assert_eq!(
        lookup.parent,
        Some(tool.id),
        "the child runs inside the call"
    );
}

#[test]
fn a_handed_on_parts_invoke_agent_span_follows_from_the_part_before() {
    let ((), captured) = captured(|| async {
        let team = refund_team(RunOptions::default());
        assert_eq!(team.run("Money back?").await.unwrap().text, "Refunded.");
    });
    let by_agent = |name| run_of(&captured, name);
    let (Some(triage), Some(refund)) = (by_agent("triage"), by_agent("refund")) else {
        panic!("two invoke_agent spans: {:?}", captured.spans);
    };
    assert_eq!(refund.parent, None, "each part is a trace of its own");
    assert_eq!(
        captured.follows,
        [(refund.id, triage.id)],
        "linked to the part before"
    );
}

/// With content captured, a handed-on part's `invoke_agent` span records
/// its own agent's instructions and tools, as the first part's does.
#[test]
fn a_handed_on_parts_span_records_its_own_instructions_when_captured() {
    let ((), captured) = captured(|| async {
        let team = refund_team(RunOptions::default().with_capture_content(Some(true)));
        assert_eq!(team.run("Money back?").await.unwrap().text, "Refunded.");
    });
    let (Some(triage), Some(refund)) = (run_of(&captured, "triage"), run_of(&captured, "refund"))
    else {
        panic!("two invoke_agent spans: {:?}", captured.spans);
    };
    let instructions = |span: &SpanRec| span.get("gen_ai.system_instructions").map(str::to_owned);
    assert!(instructions(triage).is_some_and(|i| i.contains("Route the customer.")));
    let refund_said = instructions(refund);
    assert!(
        refund_said
            .as_deref()
            .is_some_and(|i| i.contains("Refund orders.")),
        "{refund_said:?}"
    );
}

/// A team on one store, with `options`: `triage` hands the run to
/// `refund`, which answers.
fn refund_team(options: RunOptions) -> Team {
    let store = klieo_store::InMemoryJournal::new();
    let hand = ToolCall::new("h1", "transfer_to_refund", json!({"reason": "refund"}));
    let triage = Agent::builder(ScriptedLlm::new().then_tool_calls(vec![hand]))
        .with_name("triage")
        .with_instructions("Route the customer.")
        .with_memory(store.clone())
        .with_options(options.clone())
        .build()
        .unwrap();
    let refund = Agent::builder(ScriptedLlm::new().then_text("Refunded."))
        .with_name("refund")
        .with_instructions("Refund orders.")
        .with_memory(store)
        .with_options(options)
        .build()
        .unwrap();
    Team::builder(triage)
        .add_agent(refund)
        .add_handoff("triage", "refund", "Refunds orders.")
        .build()
        .unwrap()
}

/// The `invoke_agent` span of the run of the agent called `name`.
fn run_of<'a>(captured: &'a Captured, name: &str) -> Option<&'a SpanRec> {
    let runs = captured.spans.iter().filter(|s| s.name == "invoke_agent");
    runs.into_iter()
        .find(|s| s.get("gen_ai.agent.name") == Some(name))
}
