//! A team's run whose later part compacts where the first did not: what
//! the run said and did before the hand-off is its own, and its prompt
//! is never summarised.

use super::*;
use klieo_runtime::Team;

/// Three echo calls whose arguments and results pass the compacting
/// part's trigger, then a hand-off to `refund`.
fn triage() -> ScriptedLlm {
    let call = |i: usize| {
        klieo_types::ToolCall::new(
            format!("c{i}"),
            "echo",
            serde_json::json!({"text": "word ".repeat(60)}),
        )
    };
    let handoff = klieo_types::ToolCall::new("h1", "transfer_to_refund", serde_json::json!({}));
    ScriptedLlm::new()
        .then_tool_calls(vec![call(1)])
        .then_tool_calls(vec![call(2)])
        .then_tool_calls(vec![call(3)])
        .then_tool_calls(vec![handoff])
}

#[tokio::test]
async fn a_team_part_that_compacts_never_summarises_the_runs_own_messages() {
    let store = InMemoryJournal::new();
    let echo = klieo_types::FnTool::new(
        klieo_types::ToolDef::new("echo", "echoes", serde_json::json!({"type": "object"})),
        Ok,
    );
    // The first part does not compact; the second does.
    let first = Agent::builder(triage())
        .with_name("triage")
        .add_tools(klieo_types::ToolSet::new().add_tool(echo))
        .with_memory(store.clone())
        .build()
        .unwrap();
    let refund_llm = ScriptedLlm::new().then_text("Refunded.");
    let second = Agent::builder(refund_llm.clone())
        .with_name("refund")
        .with_options(options())
        .with_memory(store.clone())
        .build()
        .unwrap();
    let team = Team::builder(first)
        .add_agent(second)
        .add_handoff("triage", "refund", "Refunds.")
        .build()
        .unwrap();

    let answer = team.run("Money back?").await.unwrap();
    assert_eq!(answer.text, "Refunded.");
    let requests = refund_llm.requests();
    assert_eq!(requests.len(), 1, "no summary call");
    assert!(!reads_summary(&requests[0], "Refunded."));
    let log = log(&store, 0).await;
    assert!(!log.iter().any(|e| matches!(
        e,
        Episode::Compacted { .. } | Episode::CompactionFailed { .. }
    )));
    let prompt_at = log
        .iter()
        .filter(|e| matches!(e, Episode::PromptAt { .. }))
        .collect::<Vec<_>>();
    assert_eq!(
        prompt_at,
        [&Episode::PromptAt { index: 0 }],
        "written once, by the first part"
    );
}
