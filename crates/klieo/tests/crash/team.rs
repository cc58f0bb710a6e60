//! The crash suite's team: a desk agent whose one tool is the suite's
//! agent (the mailer, its two tools with side effects) used as a tool, on
//! the same store. The child process is killed at each boundary of the
//! desk's run and of the mailer's child run inside it; the desk is then
//! resumed from the store: the tree completes, each log whole, one child
//! run, no model call of a completed child step asked again, the mail
//! sent at most once and the lookup exactly once.

use super::harness::{agent, check_effects};
use klieo::prelude::*;
use klieo::types::{async_trait, Capabilities, FinishReason, Journal};
use serde_json::json;

/// Where the child process is killed, in the order the tree passes them:
/// the desk's call recorded, then the mailer's run (its boundaries named
/// `child_…` where they are the store's), then the desk's again.
pub(crate) const TEAM_POINTS: &[&str] = &[
    "reply_recorded",
    "model_called",
    "child_reply_recorded",
    "tool_running",
    "mail_sent",
    "child_result_recorded",
    "child_before_completed",
    "result_recorded",
    "before_completed",
];

/// The desk's model: the mailer once, then an answer. Stateless, the same
/// in the child process and the resuming one.
struct DeskModel;

#[async_trait]
impl LlmClient for DeskModel {
    fn name(&self) -> &str {
        "crash-desk"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }

    async fn complete(&self, req: ChatRequest) -> Result<ChatResponse, LlmError> {
        let answered = req.messages.iter().any(|m| m.role == Role::Tool);
        if answered {
            return Ok(ChatResponse::new(
                Message::assistant("done"),
                FinishReason::Stop,
            ));
        }
        let call = ToolCall::new("d1", "ask_mailer", json!({"input": super::PROMPT}));
        Ok(ChatResponse::new(
            Message::assistant_tool_calls("", vec![call]),
            FinishReason::ToolCalls,
        ))
    }
}

/// The desk, with the suite's agent as its tool, both on `memory`.
pub(crate) async fn desk(
    memory: impl Journal + Clone + 'static,
    effects: &sqlx::SqlitePool,
) -> Agent {
    let mailer = agent(memory.clone(), effects, false).await;
    Agent::builder(DeskModel)
        .with_name("desk")
        .add_agent_tool("ask_mailer", "Mails Ada and looks her up.", mailer)
        .with_memory(memory)
        .with_options(RunOptions::default().with_lease_ttl(None))
        .build()
        .expect("the options are valid")
}

/// The kinds of `run`'s log.
async fn kinds<S: Journal>(store: &S, run: RunId) -> Vec<&'static str> {
    let log = store.replay(run).await.expect("replay");
    log.iter().map(Episode::kind).collect()
}

/// Resumes the desk's run the killed child left in `store` and checks
/// the truth of the tree.
pub(crate) async fn check_team<S: Journal + Clone + 'static>(
    point: &str,
    store: S,
    effects: &sqlx::SqlitePool,
) {
    let mut root = None;
    for run in store.list_runs().await.expect("list") {
        if !kinds(&store, run).await.contains(&"child_of") {
            assert!(root.replace(run).is_none(), "{point}: one desk run");
        }
    }
    let root = root.expect("the desk's run was started");
    let answer = desk(store.clone(), effects)
        .await
        .resume(root)
        .await
        .map_err(|e| format!("{point}: {e}"))
        .expect("the tree resumes");
    assert_eq!(answer.text, "done", "{point}");

    let count = |log: &[&str], k: &str| log.iter().filter(|e| **e == k).count();
    let desk_log = kinds(&store, root).await;
    assert_eq!(
        desk_log.first().copied(),
        Some("started"),
        "{point}: {desk_log:?}"
    );
    assert_eq!(
        desk_log.last().copied(),
        Some("completed"),
        "{point}: {desk_log:?}"
    );
    assert_eq!(count(&desk_log, "resumed"), 1, "{point}: {desk_log:?}");
    assert_eq!(count(&desk_log, "tool_call"), 1, "{point}: {desk_log:?}");
    assert_eq!(count(&desk_log, "llm_call"), 2, "{point}: {desk_log:?}");

    let runs = store.list_runs().await.expect("list");
    assert_eq!(runs.len(), 2, "{point}: one child run, never a second");
    let child = runs
        .into_iter()
        .find(|&run| run != root)
        .expect("the child");
    let child_log = kinds(&store, child).await;
    assert_eq!(
        child_log.get(..2),
        Some(&["started", "child_of"][..]),
        "{point}: {child_log:?}"
    );
    assert_eq!(
        child_log.last().copied(),
        Some("completed"),
        "{point}: {child_log:?}"
    );
    assert!(count(&child_log, "resumed") <= 1, "{point}: {child_log:?}");
    assert_eq!(count(&child_log, "tool_call"), 2, "{point}: {child_log:?}");
    assert_eq!(
        count(&child_log, "llm_call"),
        2,
        "{point}: each of the child's steps asked once: {child_log:?}"
    );

    check_effects(point, effects).await;
}
