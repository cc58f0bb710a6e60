//! The store as a [`RunQueue`]. A claim is one statement that locks the
//! due rows it takes with `FOR UPDATE SKIP LOCKED`, so workers on many
//! machines claiming at once each take other runs and never wait on one
//! another; the lease is taken in the same transaction. Times are the
//! server's clock, as the leases'.

use crate::error::backend;
use crate::memory::{lock_run, record_in, ROWS};
use crate::text::{keyable, keyable_as, storable};
use crate::wakeups::WAKEUP_CHANNEL;
use crate::PostgresStore;
use async_trait::async_trait;
use klieo_store::StoreRows;
use klieo_types::{Claimed, MemoryError, RunId, RunQueue, RunState, Submission, ThreadId, Wakeups};
use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `time` in seconds since the Unix epoch, as `to_timestamp` takes it.
fn epoch_seconds(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A claimed run's row: run, agent, thread, prompt (whether its log is
/// empty is read once the run is locked, with its lease).
type Due = (String, String, String, Option<String>);

#[async_trait]
impl RunQueue for PostgresStore {
    async fn submit(&self, submission: &Submission) -> Result<RunId, MemoryError> {
        let doing = "submitting a run";
        let run = RunId::new();
        let thread = submission.thread_for(run);
        keyable(thread.as_str())?;
        keyable_as("an agent's name", submission.agent())?;
        if let Some(key) = submission.key() {
            keyable_as("an idempotency key", key)?;
        }
        let prompt = storable(submission.prompt());
        // A key already used makes the insert a no-op; two submits of one
        // key at once insert one row. A row inserted wakes idle workers
        // (the notification is sent as the statement commits).
        let inserted: Option<String> = sqlx::query_scalar(
            "WITH made AS ( \
               INSERT INTO klieo_runs (run, thread, state, agent, prompt, idem_key, not_before, seq, \
               updated_at) \
               VALUES ($1, $2, 'queued', $3, $4, $5, to_timestamp($6), nextval('klieo_runs_seq'), now()) \
               ON CONFLICT (idem_key) WHERE idem_key IS NOT NULL DO NOTHING \
               RETURNING run), \
             woke AS (SELECT pg_notify($7, '') FROM made) \
             SELECT made.run FROM made, woke",
        )
        .bind(run.to_string())
        .bind(thread.as_str())
        .bind(submission.agent())
        .bind(prompt.as_ref())
        .bind(submission.key())
        .bind(submission.not_before().map(epoch_seconds))
        .bind(WAKEUP_CHANNEL)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| backend(doing, e))?;
        if inserted.is_some() {
            return Ok(run);
        }
        let found: Option<(String, Option<String>, Option<String>, String)> =
            sqlx::query_as("SELECT run, agent, prompt, thread FROM klieo_runs WHERE idem_key = $1")
                .bind(submission.key())
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| backend(doing, e))?;
        let Some(made) = found else {
            return Err(MemoryError::backend(format!(
                "{doing}: the key's run was neither inserted nor found"
            )));
        };
        match prompt {
            Cow::Borrowed(_) => ROWS.resubmitted(submission, made),
            // Compared as it was kept: the same submission, again, is
            // its run.
            Cow::Owned(kept) => {
                let mut asked = Submission::new(submission.agent(), kept);
                if let Some(thread) = submission.thread() {
                    asked = asked.with_thread(thread.clone());
                }
                if let Some(key) = submission.key() {
                    asked = asked.with_key(key);
                }
                ROWS.resubmitted(&asked, made)
            }
        }
    }

    async fn claim(
        &self,
        holder: &str,
        agents: &[String],
        limit: usize,
        ttl: Duration,
    ) -> Result<Vec<Claimed>, MemoryError> {
        let doing = "claiming runs";
        if agents.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let ttl_ms = StoreRows::millis(ttl);
        let mut tx = self.pool.begin().await.map_err(|e| backend(doing, e))?;
        // Found and locked, not changed: a run is marked running only once
        // it is leased here, below. Its waits bounded in the same
        // statement (an idle worker's poll is one statement).
        let due: Vec<Due> = sqlx::query_as(concat!(
            "SELECT r.run, r.agent, r.thread, r.prompt \
             FROM klieo_runs r, ",
            bounded_waits!(),
            " WHERE r.agent = ANY($1) AND ( \
               (r.state = 'queued' AND (r.not_before IS NULL OR r.not_before <= now()) \
                 AND NOT EXISTS (SELECT 1 FROM klieo_leases l \
                   WHERE l.run = r.run AND l.until_at > now() AND l.holder <> $3)) \
               OR (r.state = 'running' AND NOT EXISTS (SELECT 1 FROM klieo_leases l \
                   WHERE l.run = r.run AND l.until_at > now()))) \
             ORDER BY r.state = 'queued', r.seq \
             LIMIT $2 \
             FOR UPDATE OF r SKIP LOCKED"
        ))
        .bind(agents)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .bind(holder)
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| backend(doing, e))?;
        // A run whose stored id cannot be read (edited by hand) is failed,
        // not claimed: a claim that failed on it would leave the runs
        // found with it leased and undriven, and find them again.
        let (due, unreadable): (Vec<Due>, Vec<Due>) = due
            .into_iter()
            .partition(|(run, ..)| ROWS.run_id(run).is_ok());
        for (run, ..) in &unreadable {
            sqlx::query(
                "UPDATE klieo_runs SET state = 'failed', outcome = $2, updated_at = now() \
                 WHERE run = $1",
            )
            .bind(run)
            .bind(storable(&ROWS.unreadable_run(run, "run id")))
            .execute(&mut *tx)
            .await
            .map_err(|e| backend(doing, e))?;
        }
        if due.is_empty() {
            // An idle worker's claim: one statement, nothing to lease.
            tx.commit().await.map_err(|e| backend(doing, e))?;
            return Ok(Vec::new());
        }
        let runs: Vec<&str> = due.iter().map(|(run, ..)| run.as_str()).collect();
        // The search above read the leases as of its start: a run another
        // process leased while it ran (a worker's claim, a resume: its
        // lease committed since) looks free to it. The lease is taken only
        // where none is live, and only the runs leased here are marked
        // running and claimed; the others are left as they were.
        // Whether a run has episodes yet is read once it is locked: a
        // commit of its first ones that came before the lock is seen.
        let leased: Vec<(String, bool)> = sqlx::query_as(
            "WITH leased AS ( \
               INSERT INTO klieo_leases (run, holder, until_at) \
               SELECT run, $2, now() + $3 * interval '1 millisecond' FROM unnest($1::text[]) AS run \
               ON CONFLICT (run) DO UPDATE SET holder = excluded.holder, until_at = excluded.until_at \
               WHERE klieo_leases.until_at <= now() OR klieo_leases.holder = excluded.holder \
               RETURNING run) \
             UPDATE klieo_runs r SET state = 'running', updated_at = now() \
             FROM leased WHERE r.run = leased.run \
             RETURNING r.run, NOT EXISTS (SELECT 1 FROM klieo_episodes e WHERE e.run = r.run)",
        )
        .bind(&runs)
        .bind(holder)
        .bind(ttl_ms as f64)
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| backend(doing, e))?;
        tx.commit().await.map_err(|e| backend(doing, e))?;
        let leased: std::collections::HashMap<String, bool> = leased.into_iter().collect();
        due.into_iter()
            .filter_map(|(run, agent, thread, prompt)| {
                let fresh = *leased.get(&run)?;
                Some(ROWS.run_id(&run).map(|id| {
                    Claimed::new(id, agent, ThreadId::new(thread), prompt.filter(|_| fresh))
                }))
            })
            .collect()
    }

    async fn wakeups(&self) -> Result<Option<Wakeups>, MemoryError> {
        self.listen().await.map(Some)
    }

    async fn state(&self, run: RunId) -> Result<Option<RunState>, MemoryError> {
        let row: Option<(String, Option<String>)> =
            sqlx::query_as("SELECT state, outcome FROM klieo_runs WHERE run = $1")
                .bind(run.to_string())
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| backend("reading a run's state", e))?;
        row.map(|(state, outcome)| ROWS.run_state(&state, outcome))
            .transpose()
    }

    async fn cancel(&self, run: RunId, by: &str) -> Result<Option<RunState>, MemoryError> {
        let doing = "cancelling a run";
        let mut tx = self.pool.begin().await.map_err(|e| backend(doing, e))?;
        // The run's lock, as a commit takes it: a cancel and a commit of
        // one run happen one after the other.
        lock_run(&mut tx, run, doing).await?;
        let Some(state) = state_for_update(&mut tx, run, doing).await? else {
            return Ok(None);
        };
        if !state.is_cancellable() {
            return Ok(Some(state));
        }
        let (cancelled, episode) = RunState::cancellation(by);
        let (name, text) = ROWS.state_columns(&cancelled);
        let text = text.map(storable);
        sqlx::query(
            "UPDATE klieo_runs SET state = $2, outcome = $3, updated_at = now() WHERE run = $1",
        )
        .bind(run.to_string())
        .bind(name)
        .bind(text)
        .execute(&mut *tx)
        .await
        .map_err(|e| backend(doing, e))?;
        record_in(&mut tx, run, std::slice::from_ref(&episode)).await?;
        // Its worker, if any, learns at its next renewal or commit.
        sqlx::query("DELETE FROM klieo_leases WHERE run = $1")
            .bind(run.to_string())
            .execute(&mut *tx)
            .await
            .map_err(|e| backend(doing, e))?;
        tx.commit().await.map_err(|e| backend(doing, e))?;
        Ok(Some(cancelled))
    }

    async fn assign(&self, run: RunId, agent: &str) -> Result<Option<RunState>, MemoryError> {
        let doing = "giving a run to an agent's workers";
        let mut tx = self.pool.begin().await.map_err(|e| backend(doing, e))?;
        // The row's lock keeps its state as read until the agent is set.
        let Some(state) = state_for_update(&mut tx, run, doing).await? else {
            return Ok(None);
        };
        if state.is_finished() {
            return Ok(Some(state));
        }
        // A run never submitted takes its place in line now; idle workers
        // are woken as the transaction commits.
        sqlx::query(
            "UPDATE klieo_runs SET agent = $2, updated_at = now(), \
             seq = COALESCE(seq, nextval('klieo_runs_seq')) WHERE run = $1",
        )
        .bind(run.to_string())
        .bind(agent)
        .execute(&mut *tx)
        .await
        .map_err(|e| backend(doing, e))?;
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(WAKEUP_CHANNEL)
            .execute(&mut *tx)
            .await
            .map_err(|e| backend(doing, e))?;
        tx.commit().await.map_err(|e| backend(doing, e))?;
        Ok(Some(state))
    }
}

/// `run`'s state, its row locked until `tx` ends; `None` for a run the
/// store does not know.
async fn state_for_update(
    tx: &mut sqlx::PgConnection,
    run: RunId,
    doing: &str,
) -> Result<Option<RunState>, MemoryError> {
    let row: Option<(String, Option<String>)> = sqlx::query_as(concat!(
        "SELECT state, outcome FROM klieo_runs, ",
        bounded_waits!(),
        " WHERE run = $1 FOR UPDATE OF klieo_runs"
    ))
    .bind(run.to_string())
    .fetch_optional(&mut *tx)
    .await
    .map_err(|e| backend(doing, e))?;
    row.map(|(state, outcome)| ROWS.run_state(&state, outcome))
        .transpose()
}
