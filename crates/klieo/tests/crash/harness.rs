//! The crash suite's agent: a stateless model, two tools whose side
//! effects are rows in their own database, and a store wrapper that stops
//! the child at the boundaries of its commits.

use klieo::prelude::*;
use klieo::types::{
    async_trait, Capabilities, Commit, EpisodicMemory, FinishReason, Journal, MemoryError,
    RunRecord, ShortTermMemory, ToolContext, ToolPolicy, Transcript,
};
use serde_json::json;
use std::path::Path;

/// Stops the child for ever at `name` if it is the kill point.
pub(crate) async fn boundary(name: &str) {
    if std::env::var("KLIEO_CRASH_POINT").is_ok_and(|p| p == name) {
        println!("reached {name}");
        std::future::pending::<()>().await;
    }
}

/// A stateless model: both tools until the thread has their results, then
/// an answer. The same in the child and in the resuming process.
pub(crate) struct Model;

#[async_trait]
impl LlmClient for Model {
    fn name(&self) -> &str {
        "crash-model"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }

    async fn complete(&self, req: ChatRequest) -> Result<ChatResponse, LlmError> {
        boundary("model_called").await;
        let results = req.messages.iter().filter(|m| m.role == Role::Tool).count();
        let message = if results == 0 {
            Message::assistant_tool_calls(
                "",
                vec![
                    ToolCall::new("c1", "send_mail", json!({"to": "ada"})),
                    ToolCall::new("c2", "lookup", json!({"who": "ada"})),
                ],
            )
        } else {
            Message::assistant("done")
        };
        let reason = if message.tool_calls.is_empty() {
            FinishReason::Stop
        } else {
            FinishReason::ToolCalls
        };
        Ok(ChatResponse::new(message, reason))
    }
}

/// A tool whose side effect is a row in the effects database.
pub(crate) struct Effect {
    def: ToolDef,
    effects: sqlx::SqlitePool,
    idempotent: bool,
    approval: bool,
}

#[async_trait]
impl Tool for Effect {
    fn def(&self) -> &ToolDef {
        &self.def
    }

    fn policy(&self) -> ToolPolicy {
        ToolPolicy::new()
            .with_idempotent(self.idempotent)
            .with_approval(self.approval)
    }

    async fn invoke(
        &self,
        _args: serde_json::Value,
        ctx: ToolContext<'_>,
    ) -> Result<serde_json::Value, ToolError> {
        boundary("tool_running").await;
        // The idempotent tool keys its effect by the call id.
        let sql = if self.idempotent {
            "INSERT OR IGNORE INTO effects (tool, key) VALUES (?1, ?2)"
        } else {
            "INSERT INTO effects (tool, key) VALUES (?1, ?2 || '-' || (SELECT COUNT(*) FROM effects))"
        };
        sqlx::query(sql)
            .bind(&self.def.name)
            .bind(ctx.call_id)
            .execute(&self.effects)
            .await
            .map_err(|e| ToolError::Permanent(e.to_string()))?;
        if !self.idempotent {
            // The mail is out; its result is not written down yet.
            boundary("mail_sent").await;
        }
        Ok(json!("ok"))
    }
}

/// A store, with the boundaries of its commits.
#[derive(Clone)]
pub(crate) struct Hooked<S>(pub(crate) S);

#[async_trait]
impl<S: Journal> ShortTermMemory for Hooked<S> {
    async fn append(&self, thread: &ThreadId, messages: Vec<Message>) -> Result<(), MemoryError> {
        self.0.append(thread, messages).await
    }
    async fn load(&self, thread: &ThreadId, max: usize) -> Result<Transcript, MemoryError> {
        self.0.load(thread, max).await
    }
    async fn clear(&self, thread: &ThreadId) -> Result<(), MemoryError> {
        self.0.clear(thread).await
    }
}

#[async_trait]
impl<S: Journal> EpisodicMemory for Hooked<S> {
    async fn record(&self, run: RunId, episode: Episode) -> Result<(), MemoryError> {
        self.0.record(run, episode).await
    }
    async fn replay(&self, run: RunId) -> Result<Vec<Episode>, MemoryError> {
        self.0.replay(run).await
    }
    async fn list_runs(&self) -> Result<Vec<RunId>, MemoryError> {
        self.0.list_runs().await
    }
}

#[async_trait]
impl<S: Journal> Journal for Hooked<S> {
    async fn commit(&self, commit: Commit) -> Result<(), MemoryError> {
        // A child run (an agent used as a tool) talks on a thread of its
        // own, `run-<id>`: its boundaries are named `child_…`.
        let of = if commit.thread.as_str().starts_with("run-") {
            "child_"
        } else {
            ""
        };
        if commit
            .episodes
            .iter()
            .any(|e| matches!(e, Episode::Completed { .. }))
        {
            boundary(&format!("{of}before_completed")).await;
        }
        let intent = commit.pending.is_some()
            && !commit
                .episodes
                .iter()
                .any(|e| matches!(e, Episode::WaitingOnChild { .. }));
        let results = commit.messages.iter().any(|m| m.role == Role::Tool);
        self.0.commit(commit).await?;
        if intent {
            boundary(&format!("{of}reply_recorded")).await;
        }
        if results {
            boundary(&format!("{of}result_recorded")).await;
        }
        Ok(())
    }
    async fn run(&self, run: RunId) -> Result<Option<RunRecord>, MemoryError> {
        self.0.run(run).await
    }
}

pub(crate) async fn effects_pool(path: &Path) -> sqlx::SqlitePool {
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let pool = sqlx::SqlitePool::connect(&url)
        .await
        .expect("the effects database");
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS effects (tool TEXT NOT NULL, key TEXT NOT NULL UNIQUE)",
    )
    .execute(&pool)
    .await
    .expect("the effects table");
    pool
}

/// The agent of the suite; with `approval`, the mail needs a person's.
pub(crate) async fn agent(
    memory: impl Journal + 'static,
    effects: &sqlx::SqlitePool,
    approval: bool,
) -> Agent {
    let tool = |name: &str, idempotent| Effect {
        def: ToolDef::new(name, "has a side effect", json!({"type": "object"})),
        effects: effects.clone(),
        idempotent,
        approval: approval && !idempotent,
    };
    Agent::builder(Model)
        .add_tool(tool("send_mail", false))
        .add_tool(tool("lookup", true))
        .with_memory(memory)
        // The killed child's lease would keep the parent out until it ran
        // out: this suite is about what the log says, not about leases.
        .with_options(RunOptions::default().with_lease_ttl(None))
        .build()
        .expect("the options are valid")
}

/// Checks what the tools did, as the effects database says: the lookup
/// (idempotent) exactly once, the mail at most once.
pub(crate) async fn check_effects(point: &str, effects: &sqlx::SqlitePool) {
    let done: Vec<(String, i64)> =
        sqlx::query_as("SELECT tool, COUNT(*) FROM effects GROUP BY tool ORDER BY tool")
            .fetch_all(effects)
            .await
            .expect("the effects");
    let of = |tool: &str| done.iter().find(|(t, _)| t == tool).map_or(0, |(_, n)| *n);
    assert_eq!(
        of("lookup"),
        1,
        "{point}: the idempotent effect exactly once"
    );
    assert!(
        of("send_mail") <= 1,
        "{point}: the mail at most once: {done:?}"
    );
}
