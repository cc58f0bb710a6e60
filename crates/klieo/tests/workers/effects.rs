//! The fleet tests' tools, each writing a row per call into `effects`,
//! and the check that no effect happened twice where it must not.

use klieo::postgres::PostgresStore;
use klieo::prelude::*;
use klieo::types::{async_trait, Episode, EpisodicMemory, ToolContext, ToolOutcome, ToolPolicy};
use serde_json::json;
use std::collections::HashMap;

/// The table the tools write to.
pub(crate) const TABLE: &str = "CREATE TABLE effects (run TEXT NOT NULL, tool TEXT NOT NULL)";

/// A tool whose effect is a row per call.
pub(crate) struct Effect {
    def: ToolDef,
    db: sqlx::PgPool,
    idempotent: bool,
    hang: bool,
}

impl Effect {
    /// `lookup`: idempotent, so a call interrupted by a crash runs again.
    pub(crate) fn lookup(db: &sqlx::PgPool) -> Self {
        Self::new("lookup", db, true)
    }

    /// `charge`: not idempotent, so an interrupted call is never run
    /// again: the model is told its outcome is unknown.
    pub(crate) fn charge(db: &sqlx::PgPool) -> Self {
        Self::new("charge", db, false)
    }

    fn new(name: &str, db: &sqlx::PgPool, idempotent: bool) -> Self {
        Self {
            def: ToolDef::new(name, "writes a row", json!({"type": "object"})),
            db: db.clone(),
            idempotent,
            hang: false,
        }
    }

    /// With `hang`, writes its row and then never returns.
    pub(crate) fn hanging(mut self, hang: bool) -> Self {
        self.hang = hang;
        self
    }
}

#[async_trait]
impl Tool for Effect {
    fn def(&self) -> &ToolDef {
        &self.def
    }

    fn policy(&self) -> ToolPolicy {
        ToolPolicy::new().with_idempotent(self.idempotent)
    }

    async fn invoke(
        &self,
        _args: serde_json::Value,
        ctx: ToolContext<'_>,
    ) -> Result<serde_json::Value, ToolError> {
        sqlx::query("INSERT INTO effects (run, tool) VALUES ($1, $2)")
            .bind(ctx.run_id.to_string())
            .bind(&self.def.name)
            .execute(&self.db)
            .await
            .map_err(|e| ToolError::Permanent(e.to_string()))?;
        if self.hang {
            std::future::pending::<()>().await;
        }
        Ok(json!("done"))
    }
}

/// Every run called each tool once as its log says: `lookup` ended well
/// (it ran at least once), and `charge` either ended well having written
/// exactly one row, or was interrupted having written at most one.
pub(crate) async fn once_each(db: &sqlx::PgPool, store: &PostgresStore, runs: &[RunId]) {
    let rows: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT run, tool, COUNT(*) FROM effects GROUP BY run, tool")
            .fetch_all(db)
            .await
            .expect("the effects");
    let rows: HashMap<(String, String), i64> =
        rows.into_iter().map(|(r, t, n)| ((r, t), n)).collect();
    let mut interrupted = 0;
    for run in runs {
        let log = store.replay(*run).await.expect("replay");
        let count = |tool: &str| {
            rows.get(&(run.to_string(), tool.to_owned()))
                .copied()
                .unwrap_or(0)
        };
        let outcome = |tool: &str| {
            let calls: Vec<&ToolOutcome> = log
                .iter()
                .filter_map(|e| match e {
                    Episode::ToolCall { name, result, .. } if name.as_ref() == tool => Some(result),
                    _ => None,
                })
                .collect();
            assert_eq!(calls.len(), 1, "run {run} called {tool} once: {log:?}");
            calls[0].clone()
        };
        assert!(matches!(outcome("lookup"), ToolOutcome::Ok { .. }));
        assert!(count("lookup") >= 1, "run {run} looked up");
        match outcome("charge") {
            ToolOutcome::Ok { .. } => assert_eq!(count("charge"), 1, "run {run} charged once"),
            ToolOutcome::Interrupted => {
                interrupted += 1;
                assert!(count("charge") <= 1, "run {run} charged twice");
            }
            other => panic!("run {run}'s charge ended {other:?}"),
        }
    }
    println!("{interrupted} charges of {} were interrupted", runs.len());
}
