//! The store as a [`Journal`]: a commit is one statement, and one
//! transaction (`klieo_commit`, schema version 4); a commit that keeps a
//! thread summary is that statement in a transaction that keeps the
//! summary first.

use crate::error::backend;
use crate::ledger::int;
use crate::memory::{lock_key, lock_run, summary_in, ROWS};
use crate::text::{keyable, storable};
use crate::wakeups::WAKEUP_CHANNEL;
use crate::PostgresStore;
use async_trait::async_trait;
use klieo_store::StoreRows;
use klieo_types::{Commit, Episode, Journal, MemoryError, RunId, RunRecord, RunState, SpendLedger};
use sqlx::PgConnection;
use std::time::Duration;

#[async_trait]
impl Journal for PostgresStore {
    async fn commit(&self, commit: Commit) -> Result<(), MemoryError> {
        let doing = "committing a step";
        keyable(commit.thread.as_str())?;
        let pending = commit
            .pending
            .as_ref()
            .map(|p| ROWS.encode("a pending step", p))
            .transpose()?;
        let after = RunState::after(&commit);
        let (state, outcome) = ROWS.state_columns(&after);
        let outcome = outcome.map(storable);
        // Numbered from 0: the function puts them after the thread's last.
        let rows = ROWS.message_rows(&commit.messages, None)?;
        let episodes = commit
            .episodes
            .iter()
            .map(|e| ROWS.encode("an episode", e))
            .collect::<Result<Vec<_>, _>>()?;
        let kinds: Vec<&str> = commit.episodes.iter().map(Episode::kind).collect();
        let expected = commit
            .expected_episodes
            .map(|n| i64::try_from(n).unwrap_or(i64::MAX));
        // One statement, one round trip: `klieo_commit` (schema v4) takes
        // the run's lock, checks, and writes in the statement's transaction;
        // `klieo_commit_settling` (v6) settles a key's spend after it.
        let query = if commit.settlement.is_some() {
            "SELECT klieo_commit_settling($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
             $14, $15, $16, $17, $18)"
        } else {
            "SELECT klieo_commit($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        };
        let mut statement = sqlx::query_scalar(query)
            .bind(commit.run.to_string())
            .bind(commit.thread.as_str())
            .bind(pending)
            .bind(state)
            .bind(outcome)
            .bind(commit.holder.as_deref())
            .bind(expected)
            .bind(rows.iter().map(|r| r.role).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.tokens_before).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.tokens).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.json.as_str()).collect::<Vec<_>>())
            .bind(kinds)
            .bind(episodes);
        if let Some(settlement) = &commit.settlement {
            let spend = &settlement.spend;
            statement = statement
                .bind(settlement.key.as_str())
                .bind(int(settlement.period))
                .bind(int(spend.tokens))
                .bind(int(spend.cost_micros))
                .bind(int(spend.model_calls));
        }
        let parent = commit.parent();
        // A person's decision (written by no worker) lets a suspended run
        // go on: idle workers are woken as it commits, to claim it.
        let decided = commit.holder.is_none()
            && after == RunState::Running
            && commit.episodes.iter().any(|e| {
                matches!(
                    e,
                    Episode::Approved { .. }
                        | Episode::Denied { .. }
                        | Episode::Settled { .. }
                        | Episode::ChildWoken { .. }
                )
            });
        if commit.summary.is_none() && parent.is_none() && !decided {
            let refused: Option<String> = statement
                .fetch_one(&self.pool)
                .await
                .map_err(|e| backend(doing, e))?;
            return match refused {
                None => Ok(()),
                Some(why) => Err(refusal(commit.run, commit.expected_episodes, &why)),
            };
        }
        // A summary, a child run's start or a wake, too: in a transaction
        // the commit's statement then joins, so that a refusal of either
        // writes nothing.
        let mut tx = self.pool.begin().await.map_err(|e| backend(doing, e))?;
        if let Some(settlement) = &commit.settlement {
            // The key's lock first, as the settling statement takes it:
            // one order on every path, so two commits never wait on each
            // other's.
            lock_key(&mut tx, &settlement.key, doing).await?;
        }
        if let Some(parent) = parent {
            // The parent's lock, as a cancel takes it: no child starts
            // under a cancelled run.
            lock_run(&mut tx, parent, doing).await?;
            if let Some(refused) = cancelled(&mut tx, parent).await {
                return Err(refused);
            }
        }
        // The run's lock before the thread's, as the statement takes them.
        lock_run(&mut tx, commit.run, doing).await?;
        if let Some(summary) = &commit.summary {
            if let Err(refused) = summary_in(&mut tx, &commit.thread, summary).await {
                // As the other stores do, and `klieo_commit` itself: a
                // cancel, then another holder or writer, before the
                // summary's own refusal.
                return Err(match refused {
                    MemoryError::SummaryRefused { .. } => {
                        match cancelled(&mut tx, commit.run).await {
                            Some(cancel) => cancel,
                            None => fenced(&mut tx, &commit).await.unwrap_or(refused),
                        }
                    }
                    other => other,
                });
            }
        }
        let refused: Option<String> = statement
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| backend(doing, e))?;
        if refused.is_none() {
            if decided {
                sqlx::query("SELECT pg_notify($1, '')")
                    .bind(WAKEUP_CHANNEL)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| backend(doing, e))?;
            }
            tx.commit().await.map_err(|e| backend(doing, e))?;
        }
        match refused {
            None => Ok(()),
            Some(why) => Err(refusal(commit.run, commit.expected_episodes, &why)),
        }
    }

    async fn lease(&self, run: RunId, holder: &str, ttl: Duration) -> Result<bool, MemoryError> {
        let doing = "taking a lease";
        let ttl_ms = StoreRows::millis(ttl);
        // Under the run's lock, as a cancel takes it: a renewal racing a
        // cancel sees it, instead of a snapshot from before it.
        let mut tx = self.pool.begin().await.map_err(|e| backend(doing, e))?;
        lock_run(&mut tx, run, doing).await?;
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
        .execute(&mut *tx)
        .await
        .map_err(|e| backend(doing, e))?;
        tx.commit().await.map_err(|e| backend(doing, e))?;
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
        .bind(WAKEUP_CHANNEL)
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
        ROWS.run_record(thread, pending).map(Some)
    }

    fn ledger(&self) -> Option<&dyn SpendLedger> {
        Some(self)
    }
}

/// [`MemoryError::Cancelled`] when `run` was cancelled, read inside `tx`
/// on the rare path of a refused summary (`klieo_commit` tells it
/// otherwise); `None` when it was not, or could not be read.
async fn cancelled(tx: &mut PgConnection, run: RunId) -> Option<MemoryError> {
    let by: Option<Option<String>> =
        sqlx::query_scalar("SELECT outcome FROM klieo_runs WHERE run = $1 AND state = 'cancelled'")
            .bind(run.to_string())
            .fetch_optional(&mut *tx)
            .await
            .ok()?;
    by.map(|by| MemoryError::Cancelled {
        run,
        by: by.unwrap_or_default(),
    })
}

/// The refusal `klieo_commit` would give `commit` for its fences: another
/// holder's live lease, or another count of episodes than it expects;
/// `None` when neither (or when they cannot be read: the caller's own
/// refusal stands).
async fn fenced(tx: &mut PgConnection, commit: &Commit) -> Option<MemoryError> {
    let run = commit.run.to_string();
    // The run's row first, as `klieo_commit` locks it: a claim under way
    // finishes, and its lease is seen.
    sqlx::query("SELECT 1 FROM klieo_runs WHERE run = $1 FOR UPDATE")
        .bind(&run)
        .execute(&mut *tx)
        .await
        .ok()?;
    if let Some(holder) = &commit.holder {
        let leased: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM klieo_leases \
             WHERE run = $1 AND holder <> $2 AND until_at > now())",
        )
        .bind(&run)
        .bind(holder)
        .fetch_one(&mut *tx)
        .await
        .ok()?;
        if leased {
            return Some(refusal(commit.run, commit.expected_episodes, "leased"));
        }
    }
    let expected = commit.expected_episodes?;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM klieo_episodes WHERE run = $1")
        .bind(&run)
        .fetch_one(&mut *tx)
        .await
        .ok()?;
    (u64::try_from(count).ok() != Some(expected))
        .then(|| refusal(commit.run, Some(expected), &format!("episodes:{count}")))
}

/// The error of a commit of `run` that `klieo_commit` refused, saying
/// `why` (see migration 0004).
fn refusal(run: RunId, expected: Option<u64>, why: &str) -> MemoryError {
    if let Some(by) = why.strip_prefix("cancelled:") {
        return MemoryError::Cancelled {
            run,
            by: by.to_owned(),
        };
    }
    if let Some(found) = why.strip_prefix("episodes:") {
        let expected = expected.map_or_else(|| "?".to_owned(), |n| n.to_string());
        return MemoryError::Conflict(format!(
            "run {run} has {found} episodes, not the {expected} this commit expected"
        ));
    }
    if why == "lapsed" {
        return MemoryError::Conflict(format!(
            "the reservation of run {run} on its key lapsed before the call's spend was \
             settled (the call outlasted KeyBudget::reservation_ttl): the step is not \
             written, and the run is left to be resumed"
        ));
    }
    MemoryError::Conflict(format!("another worker holds the lease of run {run}"))
}
