//! The store as a [`RunQueue`]: a submit, a claim and a cancel are each
//! one write transaction, so of two processes claiming at once each run
//! goes to one (SQLite has one writer at a time). Times are SQLite's
//! clock, in milliseconds since the Unix epoch, as the leases'.

use crate::error::backend;
use crate::memory::{encode_episode, record_in, ROWS};
use crate::SqliteStore;
use async_trait::async_trait;
use klieo_store::StoreRows;
use klieo_types::{Claimed, MemoryError, RunId, RunQueue, RunState, Submission, ThreadId};
use rusqlite::{params, Connection, OptionalExtension};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// SQLite's clock, in milliseconds since the Unix epoch.
const NOW_MS: &str = "CAST(unixepoch('subsec') * 1000 AS INTEGER)";

/// `time` in milliseconds since the Unix epoch (0 before it).
fn millis(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A due run's row, as a claim reads it (run, agent, thread, prompt, and
/// whether its log is empty), its texts as bytes: one that is not UTF-8
/// (another program wrote it) fails its run alone.
struct Due {
    run: Vec<u8>,
    agent: Vec<u8>,
    thread: Vec<u8>,
    prompt: Option<Vec<u8>>,
    fresh: bool,
}

impl Due {
    /// The row of `due_sql`, whose texts it casts to `BLOB`.
    fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        let bytes = |i: usize| row.get::<_, Option<Vec<u8>>>(i);
        Ok(Self {
            run: bytes(0)?.unwrap_or_default(),
            agent: bytes(1)?.unwrap_or_default(),
            thread: bytes(2)?.unwrap_or_default(),
            prompt: bytes(3)?,
            fresh: row.get(4)?,
        })
    }

    /// Its id, agent, thread and, for a run not started yet, prompt as
    /// text (a started run's prompt is in its thread), or which of them is
    /// not.
    fn texts(&self) -> Result<(RunId, String, String, Option<String>), &'static str> {
        let text = |bytes: &[u8], what| {
            std::str::from_utf8(bytes)
                .map(str::to_owned)
                .map_err(|_| what)
        };
        let id = std::str::from_utf8(&self.run).map_err(|_| "run id")?;
        let run = ROWS.run_id(id).map_err(|_| "run id")?;
        let prompt = self
            .prompt
            .as_deref()
            .filter(|_| self.fresh)
            .map(|p| text(p, "prompt"))
            .transpose()?;
        Ok((
            run,
            text(&self.agent, "agent")?,
            text(&self.thread, "thread")?,
            prompt,
        ))
    }
}

#[async_trait]
impl RunQueue for SqliteStore {
    async fn submit(&self, submission: &Submission) -> Result<RunId, MemoryError> {
        let doing = "submitting a run";
        let submission = submission.clone();
        self.writer
            .write(doing, move |connection| {
                submit_in(connection, &submission).map_err(|e| e.reported(doing))
            })
            .await
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
        let agents = ROWS.encode("the agents' names", &agents)?;
        let ttl_ms = StoreRows::millis(ttl);
        let due_sql = format!(
            "SELECT CAST(run AS BLOB), CAST(agent AS BLOB), CAST(thread AS BLOB), \
             CAST(prompt AS BLOB), \
             NOT EXISTS (SELECT 1 FROM episodes e WHERE e.run = r.run) AS fresh \
             FROM runs r \
             WHERE agent IN (SELECT value FROM json_each(?1)) AND ( \
               (state = 'queued' AND (not_before_ms IS NULL OR not_before_ms <= {NOW_MS}) \
                 AND NOT EXISTS (SELECT 1 FROM leases l \
                   WHERE l.run = r.run AND l.until_ms > {NOW_MS} AND l.holder <> ?3)) \
               OR (state = 'running' AND NOT EXISTS (SELECT 1 FROM leases l \
                   WHERE l.run = r.run AND l.until_ms > {NOW_MS}))) \
             ORDER BY state = 'queued', seq LIMIT ?2"
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // Looked for on a reader first: an idle worker's claim takes no
        // write lock from the writers.
        let (probe, probed, prober) = (due_sql.clone(), agents.clone(), holder.to_owned());
        let any = self
            .readers
            .read(doing, move |connection| {
                connection
                    .prepare_cached(&probe)
                    .and_then(|mut due| due.exists(params![probed, 1_i64, prober]))
                    .map_err(|e| backend(doing, e))
            })
            .await?;
        if !any {
            return Ok(Vec::new());
        }
        let holder = holder.to_owned();
        self.writer
            .write(doing, move |connection| {
                // Again under the write lock: another worker may have
                // claimed it.
                claim_in(connection, &due_sql, &agents, limit, &holder, ttl_ms)
                    .map_err(|e| e.reported(doing))
            })
            .await
    }

    async fn state(&self, run: RunId) -> Result<Option<RunState>, MemoryError> {
        let doing = "reading a run's state";
        let id = run.to_string();
        self.readers
            .read(doing, move |connection| {
                let row: Option<(String, Option<String>)> = connection
                    .prepare_cached("SELECT state, outcome FROM runs WHERE run = ?1")
                    .and_then(|mut read| {
                        read.query_row([&id], |row| Ok((row.get(0)?, row.get(1)?)))
                            .optional()
                    })
                    .map_err(|e| backend(doing, e))?;
                row.map(|(state, outcome)| ROWS.run_state(&state, outcome))
                    .transpose()
            })
            .await
    }

    async fn cancel(&self, run: RunId, by: &str) -> Result<Option<RunState>, MemoryError> {
        let doing = "cancelling a run";
        let by = by.to_owned();
        self.writer
            .write(doing, move |connection| {
                cancel_in(connection, run, &by).map_err(|e| e.reported(doing))
            })
            .await
    }

    async fn assign(&self, run: RunId, agent: &str) -> Result<Option<RunState>, MemoryError> {
        let doing = "giving a run to an agent's workers";
        let agent = agent.to_owned();
        self.writer
            .write(doing, move |connection| {
                assign_in(connection, run, &agent).map_err(|e| e.reported(doing))
            })
            .await
    }
}

/// Why a queue write failed: SQLite's error, or klieo's own.
enum Failed {
    Sql(rusqlite::Error),
    Memory(MemoryError),
}

impl Failed {
    /// As a `MemoryError`, saying what was being done.
    fn reported(self, doing: &str) -> MemoryError {
        match self {
            Self::Sql(e) => backend(doing, e),
            Self::Memory(e) => e,
        }
    }
}

impl From<rusqlite::Error> for Failed {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sql(e)
    }
}

impl From<MemoryError> for Failed {
    fn from(e: MemoryError) -> Self {
        Self::Memory(e)
    }
}

/// Queues `submission` on the writer's connection (or finds the run its
/// key made).
fn submit_in(connection: &Connection, submission: &Submission) -> Result<RunId, Failed> {
    if let Some(key) = submission.key() {
        let found: Option<(String, Option<String>, Option<String>, String)> = connection
            .prepare_cached("SELECT run, agent, prompt, thread FROM runs WHERE idem_key = ?1")?
            .query_row([key], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })
            .optional()?;
        if let Some(made) = found {
            return Ok(ROWS.resubmitted(submission, made)?);
        }
    }
    let run = RunId::new();
    connection
        .prepare_cached(
            "INSERT INTO runs (run, thread, state, agent, prompt, idem_key, not_before_ms, seq, \
             updated_ms) VALUES (?1, ?2, 'queued', ?3, ?4, ?5, ?6, \
             (SELECT COALESCE(MAX(seq), 0) + 1 FROM runs), CAST(unixepoch('subsec') * 1000 AS INTEGER))",
        )?
        .execute(params![
            run.to_string(),
            submission.thread_for(run).as_str(),
            submission.agent(),
            submission.prompt(),
            submission.key(),
            submission.not_before().map(millis),
        ])?;
    Ok(run)
}

/// Claims what `due_sql` finds, for `holder`, on the writer's connection.
fn claim_in(
    connection: &Connection,
    due_sql: &str,
    agents: &str,
    limit: i64,
    holder: &str,
    ttl_ms: i64,
) -> Result<Vec<Claimed>, Failed> {
    let due: Vec<Due> = connection
        .prepare_cached(due_sql)?
        .query_map(params![agents, limit, holder], Due::read)?
        .collect::<Result<_, _>>()?;
    let mut claimed = Vec::with_capacity(due.len());
    let fail = |due: &Due, what: &str| {
        let shown = String::from_utf8_lossy(&due.run);
        connection
            .prepare_cached(&format!(
                "UPDATE runs SET state = 'failed', outcome = ?2, updated_ms = {NOW_MS} \
                 WHERE CAST(run AS BLOB) = ?1"
            ))?
            .execute(params![due.run, ROWS.unreadable_run(&shown, what)])
    };
    for due in due {
        let (id, agent, thread, prompt) = match due.texts() {
            Ok(texts) => texts,
            Err(what) => {
                fail(&due, what)?;
                continue;
            }
        };
        let (run, fresh) = (id.to_string(), due.fresh);
        // A queued run another process leased (to take it up itself) is
        // left to it: the lease is taken only where none is live.
        let leased = connection
            .prepare_cached(&format!(
                "INSERT INTO leases (run, holder, until_ms) VALUES (?1, ?2, {NOW_MS} + ?3) \
                 ON CONFLICT (run) DO UPDATE SET holder = excluded.holder, until_ms = excluded.until_ms \
                 WHERE leases.until_ms <= {NOW_MS} OR leases.holder = excluded.holder"
            ))?
            .execute(params![run, holder, ttl_ms])?;
        if leased == 0 {
            continue;
        }
        let running = connection
            .prepare_cached(&format!(
                "UPDATE runs SET state = 'running', updated_ms = {NOW_MS} WHERE run = ?1"
            ))?
            .execute([&run])?;
        if running == 0 {
            // The row is not found by the id it reads as (another program
            // stored it as a BLOB): driving it would leave it queued, to
            // be claimed again without end.
            connection
                .prepare_cached("DELETE FROM leases WHERE run = ?1")?
                .execute([&run])?;
            fail(&due, "run id (stored as bytes)")?;
            continue;
        }
        claimed.push(Claimed::new(
            id,
            agent,
            ThreadId::new(thread),
            prompt.filter(|_| fresh),
        ));
    }
    Ok(claimed)
}

/// `run`'s state, read on `connection`; `None` for a run it does not
/// know.
fn state_in(connection: &Connection, id: &str) -> Result<Option<RunState>, Failed> {
    let row: Option<(String, Option<String>)> = connection
        .prepare_cached("SELECT state, outcome FROM runs WHERE run = ?1")?
        .query_row([id], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    Ok(row
        .map(|(state, outcome)| ROWS.run_state(&state, outcome))
        .transpose()?)
}

/// Cancels `run` for `by` on the writer's connection, when it is not over.
fn cancel_in(connection: &Connection, run: RunId, by: &str) -> Result<Option<RunState>, Failed> {
    let id = run.to_string();
    let Some(state) = state_in(connection, &id)? else {
        return Ok(None);
    };
    if !state.is_cancellable() {
        return Ok(Some(state));
    }
    let (cancelled, episode) = RunState::cancellation(by);
    let (name, text) = ROWS.state_columns(&cancelled);
    connection
        .prepare_cached(&format!(
            "UPDATE runs SET state = ?2, outcome = ?3, updated_ms = {NOW_MS} WHERE run = ?1"
        ))?
        .execute(params![id, name, text])?;
    record_in(connection, &id, &encode_episode(&episode)?)?;
    // Its worker, if any, learns at its next renewal or commit.
    connection
        .prepare_cached("DELETE FROM leases WHERE run = ?1")?
        .execute([&id])?;
    Ok(Some(cancelled))
}

/// Gives `run` to `agent`'s workers on the writer's connection, when it
/// is not over; a run never submitted takes its place in line now.
fn assign_in(connection: &Connection, run: RunId, agent: &str) -> Result<Option<RunState>, Failed> {
    let id = run.to_string();
    let Some(state) = state_in(connection, &id)? else {
        return Ok(None);
    };
    if state.is_finished() {
        return Ok(Some(state));
    }
    connection
        .prepare_cached(&format!(
            "UPDATE runs SET agent = ?2, updated_ms = {NOW_MS}, \
             seq = COALESCE(seq, (SELECT COALESCE(MAX(seq), 0) + 1 FROM runs)) WHERE run = ?1"
        ))?
        .execute(params![id, agent])?;
    Ok(Some(state))
}
