//! The store as a [`Journal`]: a commit is one SQLite transaction.

use crate::error::backend;
use crate::memory::{append_in, record_in, ROWS};
use crate::SqliteStore;
use async_trait::async_trait;
use klieo_types::{
    Commit, Journal, MemoryError, PendingStep, RunId, RunRecord, RunState, ThreadId,
};
use std::time::Duration;

// Leases are timed by SQLite's clock, in milliseconds since the Unix
// epoch: `CAST(unixepoch('subsec') * 1000 AS INTEGER)` in the queries.
#[async_trait]
impl Journal for SqliteStore {
    async fn commit(&self, commit: Commit) -> Result<(), MemoryError> {
        let doing = "committing a step";
        let pending = commit
            .pending
            .as_ref()
            .map(|p| ROWS.encode("a pending step", p))
            .transpose()?;
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| backend(doing, e))?;
        if let Some(holder) = &commit.holder {
            let other: Option<String> = sqlx::query_scalar(
                "SELECT holder FROM leases WHERE run = ?1 AND holder <> ?2 \
                 AND until_ms > CAST(unixepoch('subsec') * 1000 AS INTEGER)",
            )
            .bind(commit.run.to_string())
            .bind(holder)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| backend(doing, e))?;
            if other.is_some() {
                return Err(refusal(
                    &mut tx,
                    commit.run,
                    MemoryError::Conflict(format!(
                        "another worker holds the lease of run {}",
                        commit.run
                    )),
                )
                .await);
            }
        }
        if let Some(expected) = commit.expected_episodes {
            let found: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM episodes WHERE run = ?1")
                .bind(commit.run.to_string())
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| backend(doing, e))?;
            if u64::try_from(found).ok() != Some(expected) {
                return Err(refusal(
                    &mut tx,
                    commit.run,
                    MemoryError::Conflict(format!(
                        "run {} has {found} episodes, not the {expected} this commit expected",
                        commit.run
                    )),
                )
                .await);
            }
        }
        let after = RunState::after(&commit);
        let (state, outcome) = ROWS.state_columns(&after);
        let written = sqlx::query(
            "INSERT INTO runs (run, thread, pending, state, outcome) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (run) DO UPDATE SET thread = excluded.thread, pending = excluded.pending, \
             state = excluded.state, outcome = excluded.outcome WHERE runs.state <> 'cancelled'",
        )
        .bind(commit.run.to_string())
        .bind(commit.thread.as_str())
        .bind(pending)
        .bind(state)
        .bind(outcome)
        .execute(&mut *tx)
        .await
        .map_err(|e| backend(doing, e))?;
        if written.rows_affected() == 0 {
            let unknown = MemoryError::backend(format!("run {} was not written", commit.run));
            return Err(refusal(&mut tx, commit.run, unknown).await);
        }
        append_in(&mut tx, &commit.thread, &commit.messages).await?;
        for episode in &commit.episodes {
            record_in(&mut tx, commit.run, episode).await?;
        }
        tx.commit().await.map_err(|e| backend(doing, e))
    }

    async fn lease(&self, run: RunId, holder: &str, ttl: Duration) -> Result<bool, MemoryError> {
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let taken = sqlx::query(
            "INSERT INTO leases (run, holder, until_ms) SELECT ?1, ?2, CAST(unixepoch('subsec') * 1000 AS INTEGER) + ?3 \
             WHERE NOT EXISTS (SELECT 1 FROM runs WHERE run = ?1 AND state = 'cancelled') \
             ON CONFLICT (run) DO UPDATE SET holder = excluded.holder, until_ms = excluded.until_ms \
             WHERE leases.holder = excluded.holder OR leases.until_ms <= CAST(unixepoch('subsec') * 1000 AS INTEGER)",
        )
        .bind(run.to_string())
        .bind(holder)
        .bind(ttl_ms)
        .execute(&self.writer)
        .await
        .map_err(|e| backend("taking a lease", e))?;
        Ok(taken.rows_affected() == 1)
    }

    async fn release(&self, run: RunId, holder: &str) -> Result<(), MemoryError> {
        sqlx::query("DELETE FROM leases WHERE run = ?1 AND holder = ?2")
            .bind(run.to_string())
            .bind(holder)
            .execute(&self.writer)
            .await
            .map_err(|e| backend("giving up a lease", e))?;
        Ok(())
    }

    async fn run(&self, run: RunId) -> Result<Option<RunRecord>, MemoryError> {
        let row: Option<(String, Option<String>)> =
            sqlx::query_as("SELECT thread, pending FROM runs WHERE run = ?1")
                .bind(run.to_string())
                .fetch_optional(&self.reader)
                .await
                .map_err(|e| backend("reading a run", e))?;
        let Some((thread, pending)) = row else {
            return Ok(None);
        };
        let pending = pending
            .map(|json| ROWS.decode::<PendingStep>("pending step", &json))
            .transpose()?;
        Ok(Some(RunRecord::new(ThreadId::new(thread), pending)))
    }
}

/// Why a commit of `run` was refused: [`MemoryError::Cancelled`] when the
/// run was cancelled (which also fails its lease and episode checks),
/// else `otherwise`. Read only on this rare path, in the commit's
/// transaction.
async fn refusal(
    tx: &mut sqlx::SqliteConnection,
    run: RunId,
    otherwise: MemoryError,
) -> MemoryError {
    let row: Result<Option<(String, Option<String>)>, _> =
        sqlx::query_as("SELECT state, outcome FROM runs WHERE run = ?1")
            .bind(run.to_string())
            .fetch_optional(&mut *tx)
            .await;
    match row.map(|row| row.map(|(state, outcome)| ROWS.run_state(&state, outcome))) {
        Ok(Some(Ok(RunState::Cancelled { by }))) => MemoryError::Cancelled { run, by },
        _ => otherwise,
    }
}
