//! Each step is written through the journal: a tool call's intent is in
//! the store before the tool runs, the conversation and event log are
//! there for the next process, and a reply a guardrail refused is kept.

use super::store::{fresh, Store};
use super::support::{Hooked, OnCommit};
use klieo_runtime::{Agent, DenyKeywords, RunOptions};
use klieo_types::testing::ScriptedLlm;
use klieo_types::{
    async_trait, Episode, EpisodicMemory, Error, Journal, MemoryError, PendingStep, Role,
    ShortTermMemory, ThreadId, Tool, ToolCall, ToolContext, ToolDef, ToolError,
};
use serde_json::json;
use std::sync::{Arc, Mutex};

/// A tool that, while it runs, reads the run's pending step from the store.
struct Witness {
    def: ToolDef,
    store: Store,
    seen: Arc<Mutex<Vec<Option<PendingStep>>>>,
}

#[async_trait]
impl Tool for Witness {
    fn def(&self) -> &ToolDef {
        &self.def
    }

    async fn invoke(
        &self,
        args: serde_json::Value,
        ctx: ToolContext<'_>,
    ) -> Result<serde_json::Value, ToolError> {
        let pending = self
            .store
            .pending(ctx.run_id)
            .await
            .map_err(|e| ToolError::Permanent(e.to_string()))?;
        self.seen.lock().map(|mut s| s.push(pending)).ok();
        Ok(args)
    }
}

#[tokio::test]
async fn a_tool_call_is_written_down_before_the_tool_runs() {
    let (_dir, store) = fresh().await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let witness = Witness {
        def: ToolDef::new("witness", "reads the journal", json!({"type": "object"})),
        store: store.clone(),
        seen: Arc::clone(&seen),
    };
    let call = ToolCall::new("c1", "witness", json!({"n": 7}));
    let llm = ScriptedLlm::new()
        .then_tool_calls(vec![call.clone()])
        .then_text("done");
    let agent = Agent::builder(llm)
        .add_tool(witness)
        .with_memory(store.clone())
        .build()
        .expect("the options are valid");
    let answer = agent.session("t").run("go").await.unwrap();
    assert_eq!(answer.text, "done");

    let seen = seen.lock().unwrap().clone();
    let intents: Vec<(u32, Vec<ToolCall>)> = seen
        .iter()
        .flatten()
        .map(|p| (p.step, p.reply.tool_calls.clone()))
        .collect();
    assert_eq!(
        intents,
        [(1, vec![call])],
        "the tool saw its own call pending, in step 1: {seen:?}"
    );
    assert_eq!(seen.len(), 1, "the tool ran once");

    let run = answer.summary.run_id;
    assert_eq!(store.pending(run).await.unwrap(), None, "cleared after");
    let kinds: Vec<&str> = store
        .replay(run)
        .await
        .unwrap()
        .iter()
        .map(Episode::kind)
        .collect();
    assert_eq!(
        kinds,
        ["started", "llm_call", "tool_call", "llm_call", "completed"]
    );
    let roles: Vec<Role> = store
        .load(&ThreadId::new("t"), 10_000)
        .await
        .unwrap()
        .iter()
        .map(|m| m.role)
        .collect();
    assert_eq!(
        roles,
        [Role::User, Role::Assistant, Role::Tool, Role::Assistant]
    );
}

#[tokio::test]
async fn a_refused_reply_whose_write_fails_still_ends_the_run_as_refused() {
    let (_dir, store) = fresh().await;
    // The store fails the write of the refused reply's model call alone.
    let on_commit: OnCommit = Arc::new(|store, commit| {
        Box::pin(async move {
            let refused_call = commit.messages.is_empty()
                && matches!(commit.episodes.as_slice(), [Episode::LlmCall { .. }]);
            if refused_call {
                return Err(MemoryError::backend("the disk is full"));
            }
            store.commit(commit).await
        })
    });
    let options = RunOptions::default().add_guardrail(Arc::new(DenyKeywords::new(["secret"])));
    let agent = Agent::builder(ScriptedLlm::new().then_text("the secret is 42"))
        .with_memory(Hooked::new(store.clone(), on_commit))
        .with_options(options)
        .build()
        .expect("the options are valid");
    let ended = agent.session("t").run("tell me").await;
    assert!(
        matches!(ended, Err(Error::Refused { .. })),
        "the refusal, not the store's failure: {ended:?}"
    );
}
