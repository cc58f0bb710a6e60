//! The store as a [`Journal`]: a commit is one transaction.

use crate::error::backend;
use crate::memory::{append_in, lock_run, record_in, ROWS};
use crate::wakeups::CHANNEL;
use crate::PostgresStore;
use async_trait::async_trait;
use klieo_types::{
    Commit, Journal, MemoryError, PendingStep, RunId, RunRecord, RunState, ThreadId,
};
use std::time::Duration;

#[async_trait]
impl Journal for PostgresStore {
    async fn commit(&self, commit: Commit) -> Result<(), MemoryError> {
        let doing = "committing a step";
        let pending = commit
            .pending
            .as_ref()
            .map(|p| ROWS.encode("a pending step", p))
            .transpose()?;
        let mut tx = self.pool.begin().await.map_err(|e| backend(doing, e))?;
        // The run's lock first, always: every commit then takes its locks
        // in one order (run, then thread), so two cannot deadlock.
        lock_run(&mut tx, commit.run, doing).await?;
        if let Some(holder) = &commit.holder {
            let other: Option<String> = sqlx::query_scalar(
                "SELECT holder FROM klieo_leases WHERE run = $1 AND holder <> $2 \
                 AND until_at > now()",
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
            let found: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM klieo_episodes WHERE run = $1")
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
            "INSERT INTO klieo_runs (run, thread, pending, state, outcome) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (run) DO UPDATE SET thread = excluded.thread, pending = excluded.pending, \
             state = excluded.state, outcome = excluded.outcome WHERE klieo_runs.state <> 'cancelled'",
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
        record_in(&mut tx, commit.run, &commit.episodes).await?;
        tx.commit().await.map_err(|e| backend(doing, e))
    }

    async fn lease(&self, run: RunId, holder: &str, ttl: Duration) -> Result<bool, MemoryError> {
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let taken = sqlx::query(
            "INSERT INTO klieo_leases (run, holder, until_at) \
             SELECT $1, $2, now() + $3 * interval '1 millisecond' \
             WHERE NOT EXISTS (SELECT 1 FROM klieo_runs WHERE run = $1 AND state = 'cancelled') \
             ON CONFLICT (run) DO UPDATE SET holder = excluded.holder, until_at = excluded.until_at \
             WHERE klieo_leases.holder = excluded.holder OR klieo_leases.until_at <= now()",
        )
        .bind(run.to_string())
        .bind(holder)
        .bind(ttl_ms as f64)
        .execute(&self.pool)
        .await
        .map_err(|e| backend("taking a lease", e))?;
        Ok(taken.rows_affected() == 1)
    }

    async fn release(&self, run: RunId, holder: &str) -> Result<(), MemoryError> {
        // A run given up before its end is for another worker now: wake
        // the idle ones.
        sqlx::query(
            "WITH gone AS (DELETE FROM klieo_leases WHERE run = $1 AND holder = $2 RETURNING run) \
             SELECT pg_notify($3, '') FROM gone JOIN klieo_runs r ON r.run = gone.run \
             WHERE r.state = 'running'",
        )
        .bind(run.to_string())
        .bind(holder)
        .bind(CHANNEL)
        .execute(&self.pool)
        .await
        .map_err(|e| backend("giving up a lease", e))?;
        Ok(())
    }

    async fn run(&self, run: RunId) -> Result<Option<RunRecord>, MemoryError> {
        let row: Option<(String, Option<String>)> =
            sqlx::query_as("SELECT thread, pending FROM klieo_runs WHERE run = $1")
                .bind(run.to_string())
                .fetch_optional(&self.pool)
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
async fn refusal(tx: &mut sqlx::PgConnection, run: RunId, otherwise: MemoryError) -> MemoryError {
    let row: Result<Option<(String, Option<String>)>, _> =
        sqlx::query_as("SELECT state, outcome FROM klieo_runs WHERE run = $1")
            .bind(run.to_string())
            .fetch_optional(&mut *tx)
            .await;
    match row.map(|row| row.map(|(state, outcome)| ROWS.run_state(&state, outcome))) {
        Ok(Some(Ok(RunState::Cancelled { by }))) => MemoryError::Cancelled { run, by },
        _ => otherwise,
    }
}
