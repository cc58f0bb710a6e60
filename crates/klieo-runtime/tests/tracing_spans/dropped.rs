//! Work dropped with its run (the run's future dropped mid-call) is
//! dropped inside its span, as `tracing::Instrument` drops what it wraps:
//! what the work does as it goes (a span it opens, an event) keeps its
//! parent.

use super::capture::{captured, Captured};
use crate::support::echo_call;
use klieo_runtime::{run_steps, AgentContext, RunOptions};
use klieo_types::testing::ScriptedLlm;
use klieo_types::{async_trait, Tool, ToolContext, ToolDef, ToolError, ToolSet};
use serde_json::{json, Value};
use std::time::Duration;

/// Opens a span of its own as it is dropped.
struct OnDrop;

impl Drop for OnDrop {
    fn drop(&mut self) {
        let _dropped = tracing::info_span!("tool_dropped");
    }
}

/// An echo tool that never ends, holding an [`OnDrop`].
struct Endless(ToolDef);

#[async_trait]
impl Tool for Endless {
    fn def(&self) -> &ToolDef {
        &self.0
    }

    async fn invoke(&self, _args: Value, _ctx: ToolContext<'_>) -> Result<Value, ToolError> {
        let _held = OnDrop;
        std::future::pending().await
    }
}

/// A blocking run whose tool never ends, dropped once the tool waits
/// (paused time passes the second when nothing else can go on): the
/// spans it made.
fn dropped_mid_tool() -> Captured {
    let ((), captured) = captured(|| async {
        tokio::time::pause();
        let llm = ScriptedLlm::new().then_tool_calls(vec![echo_call("c1")]);
        let tool = Endless(ToolDef::new(
            "echo",
            "Never ends.",
            json!({"type": "object"}),
        ));
        let ctx = AgentContext::new(llm).with_tools(ToolSet::new().add_tool(tool));
        let thread = klieo_types::ThreadId::new("t");
        let run = run_steps(&ctx, "sys", thread, RunOptions::default());
        let stopped = tokio::time::timeout(Duration::from_secs(1), run).await;
        assert!(stopped.is_err(), "the run ended: {stopped:?}");
    });
    captured
}

#[test]
fn a_tool_dropped_with_its_run_is_dropped_in_its_span() {
    let captured = dropped_mid_tool();
    let tool = captured.named("execute_tool");
    let dropped = captured.named("tool_dropped");
    assert_eq!((tool.len(), dropped.len()), (1, 1), "{captured:?}");
    assert_eq!(dropped[0].parent, Some(tool[0].id), "{captured:?}");
}

#[test]
fn a_blocking_run_dropped_before_its_end_says_so_in_its_span() {
    let captured = dropped_mid_tool();
    let run = captured.named("invoke_agent");
    assert_eq!(run.len(), 1, "{captured:?}");
    assert_eq!(run[0].get("error.type"), Some("dropped"), "{captured:?}");
    assert_eq!(run[0].get("otel.status_code"), Some("ERROR"));
}

/// A blocking run dropped after its answer was written, while it gave its
/// lease up, ended well: its span does not say it was dropped.
#[test]
fn a_blocking_run_dropped_while_giving_its_lease_up_is_not_marked_dropped() {
    use crate::durable::support::{Hooked, OnCommit};
    use klieo_runtime::Agent;
    use klieo_types::Journal;
    use std::sync::Arc;

    let ((), captured) = captured(|| async {
        tokio::time::pause();
        let store = klieo_store::InMemoryJournal::new();
        let on_commit: OnCommit =
            Arc::new(|store, commit| Box::pin(async move { store.commit(commit).await }));
        let ttl = Duration::from_secs(30);
        let agent = Agent::builder(ScriptedLlm::new().then_text("Hi."))
            .with_memory(Hooked::new(store, on_commit).hanging_on_release())
            .with_options(RunOptions::default().with_lease_ttl(Some(ttl)))
            .build()
            .unwrap();
        let session = agent.session("s");
        let stopped = tokio::time::timeout(Duration::from_secs(1), session.run("hi")).await;
        assert!(stopped.is_err(), "it was giving its lease up: {stopped:?}");
    });
    let run = captured.named("invoke_agent");
    assert_eq!(run.len(), 1, "{captured:?}");
    assert_eq!(run[0].get("error.type"), None, "{captured:?}");
}
