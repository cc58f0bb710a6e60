//! The store as a [`Journal`]: a commit is written whole or not at all,
//! in one transaction it may share with commits queued at the same time
//! (see the writer).

use crate::error::backend;
use crate::ledger::settle_in;
use crate::memory::{append_in, encode_episode, encode_messages, record_in, summary_in, ROWS};
use crate::SqliteStore;
use async_trait::async_trait;
use klieo_store::{MessageRow, StoreRows};
use klieo_types::{
    Commit, Journal, MemoryError, RunId, RunRecord, RunState, RunTally, SpendLedger,
};
use rusqlite::{params, Connection, OptionalExtension};
use std::time::Duration;

// Leases are timed by SQLite's clock, in milliseconds since the Unix
// epoch: `CAST(unixepoch('subsec') * 1000 AS INTEGER)` in the queries.
#[async_trait]
impl Journal for SqliteStore {
    async fn commit(&self, commit: Commit) -> Result<(), MemoryError> {
        // Encoded here, on the caller's thread; the writer only writes.
        let encoded = Encoded {
            pending: commit
                .pending
                .as_ref()
                .map(|p| ROWS.encode("a pending step", p))
                .transpose()?,
            messages: encode_messages(&commit.messages)?,
            episodes: commit
                .episodes
                .iter()
                .map(encode_episode)
                .collect::<Result<_, _>>()?,
            tally: RunTally::of(&commit.episodes),
        };
        self.writer
            .write("committing a step", move |connection| {
                commit_in(connection, &commit, encoded)
            })
            .await
    }

    async fn lease(&self, run: RunId, holder: &str, ttl: Duration) -> Result<bool, MemoryError> {
        let doing = "taking a lease";
        let ttl_ms = StoreRows::millis(ttl);
        let (run, holder) = (run.to_string(), holder.to_owned());
        self.writer
            .write(doing, move |connection| {
                connection
                    .prepare_cached(
                        "INSERT INTO leases (run, holder, until_ms) \
                         SELECT ?1, ?2, CAST(unixepoch('subsec') * 1000 AS INTEGER) + ?3 \
                         WHERE NOT EXISTS (SELECT 1 FROM runs WHERE run = ?1 AND state = 'cancelled') \
                         ON CONFLICT (run) DO UPDATE SET holder = excluded.holder, until_ms = excluded.until_ms \
                         WHERE leases.holder = excluded.holder \
                         OR leases.until_ms <= CAST(unixepoch('subsec') * 1000 AS INTEGER)",
                    )
                    .and_then(|mut take| take.execute(params![run, holder, ttl_ms]))
                    .map(|taken| taken == 1)
                    .map_err(|e| backend(doing, e))
            })
            .await
    }

    async fn release(&self, run: RunId, holder: &str) -> Result<(), MemoryError> {
        let doing = "giving up a lease";
        let (run, holder) = (run.to_string(), holder.to_owned());
        self.writer
            .write(doing, move |connection| {
                connection
                    .prepare_cached("DELETE FROM leases WHERE run = ?1 AND holder = ?2")
                    .and_then(|mut release| release.execute([&run, &holder]))
                    .map_err(|e| backend(doing, e))?;
                Ok(())
            })
            .await
    }

    async fn run(&self, run: RunId) -> Result<Option<RunRecord>, MemoryError> {
        let doing = "reading a run";
        let id = run.to_string();
        self.readers
            .read(doing, move |connection| {
                let row: Option<(String, Option<String>)> = connection
                    .prepare_cached("SELECT thread, pending FROM runs WHERE run = ?1")
                    .and_then(|mut read| {
                        read.query_row([&id], |row| Ok((row.get(0)?, row.get(1)?)))
                            .optional()
                    })
                    .map_err(|e| backend(doing, e))?;
                let Some((thread, pending)) = row else {
                    return Ok(None);
                };
                ROWS.run_record(thread, pending).map(Some)
            })
            .await
    }

    fn ledger(&self) -> Option<&dyn SpendLedger> {
        Some(self)
    }
}

/// A commit's rows, encoded before the writer is asked.
struct Encoded {
    pending: Option<String>,
    messages: Vec<MessageRow>,
    episodes: Vec<(&'static str, String)>,
    /// What the episodes add to the run's catalog row.
    tally: RunTally,
}

/// Writes `commit` (its rows `encoded`) on the writer's connection,
/// refused when its checks fail.
fn commit_in(
    connection: &Connection,
    commit: &Commit,
    encoded: Encoded,
) -> Result<(), MemoryError> {
    let doing = "committing a step";
    let run = commit.run.to_string();
    if let Some(parent) = commit.parent() {
        // No child starts under a cancelled run (the cancel and this
        // commit are one writer's, one after the other).
        let by: Option<Option<String>> = connection
            .prepare_cached("SELECT outcome FROM runs WHERE run = ?1 AND state = 'cancelled'")
            .and_then(|mut read| {
                read.query_row([parent.to_string()], |row| row.get(0))
                    .optional()
            })
            .map_err(|e| backend(doing, e))?;
        if let Some(by) = by {
            return Err(MemoryError::Cancelled {
                run: parent,
                by: by.unwrap_or_default(),
            });
        }
    }
    if let Some(holder) = &commit.holder {
        let other: Option<String> = connection
            .prepare_cached(
                "SELECT holder FROM leases WHERE run = ?1 AND holder <> ?2 \
                 AND until_ms > CAST(unixepoch('subsec') * 1000 AS INTEGER)",
            )
            .and_then(|mut other| other.query_row([&run, holder], |row| row.get(0)).optional())
            .map_err(|e| backend(doing, e))?;
        if other.is_some() {
            let held = MemoryError::Conflict(format!(
                "another worker holds the lease of run {}",
                commit.run
            ));
            return Err(refusal(connection, commit.run, held));
        }
    }
    if let Some(expected) = commit.expected_episodes {
        let found: i64 = connection
            .prepare_cached("SELECT COUNT(*) FROM episodes WHERE run = ?1")
            .and_then(|mut count| count.query_row([&run], |row| row.get(0)))
            .map_err(|e| backend(doing, e))?;
        if u64::try_from(found).ok() != Some(expected) {
            let moved = MemoryError::Conflict(format!(
                "run {} has {found} episodes, not the {expected} this commit expected",
                commit.run
            ));
            return Err(refusal(connection, commit.run, moved));
        }
    }
    if let Some(summary) = &commit.summary {
        // Checked against the thread before this commit's messages, as
        // `add_summary` would be: refused, the commit writes nothing.
        match summary_in(connection, commit.thread.as_str(), summary) {
            Err(refused @ MemoryError::SummaryRefused { .. }) => {
                return Err(refusal(connection, commit.run, refused));
            }
            other => other?,
        }
    }
    let after = RunState::after(commit);
    let (state, outcome) = ROWS.state_columns(&after);
    let tally = &encoded.tally;
    let written = connection
        .prepare_cached(
            "INSERT INTO runs (run, thread, pending, state, outcome, model_calls, tool_calls, \
             input_tokens, output_tokens, cost_micros, updated_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, \
             CAST(unixepoch('subsec') * 1000 AS INTEGER)) \
             ON CONFLICT (run) DO UPDATE SET thread = excluded.thread, pending = excluded.pending, \
             state = excluded.state, outcome = excluded.outcome, \
             model_calls = runs.model_calls + excluded.model_calls, \
             tool_calls = runs.tool_calls + excluded.tool_calls, \
             input_tokens = runs.input_tokens + excluded.input_tokens, \
             output_tokens = runs.output_tokens + excluded.output_tokens, \
             cost_micros = CASE WHEN excluded.cost_micros IS NULL THEN runs.cost_micros \
             ELSE COALESCE(runs.cost_micros, 0) + excluded.cost_micros END, \
             updated_ms = excluded.updated_ms \
             WHERE runs.state <> 'cancelled'",
        )
        .and_then(|mut upsert| {
            upsert.execute(params![
                run,
                commit.thread.as_str(),
                encoded.pending,
                state,
                outcome,
                StoreRows::index(tally.model_calls),
                StoreRows::index(tally.tool_calls),
                StoreRows::index(tally.input_tokens),
                StoreRows::index(tally.output_tokens),
                tally.cost_micros.map(StoreRows::index),
            ])
        })
        .map_err(|e| backend(doing, e))?;
    if written == 0 {
        let unknown = MemoryError::backend(format!("run {} was not written", commit.run));
        return Err(refusal(connection, commit.run, unknown));
    }
    append_in(connection, commit.thread.as_str(), &encoded.messages)?;
    for episode in &encoded.episodes {
        record_in(connection, &run, episode)?;
    }
    // A child run's first commit names its parent, for the catalog.
    if let Some(parent) = commit.parent() {
        connection
            .prepare_cached("UPDATE runs SET parent = ?2 WHERE run = ?1")
            .and_then(|mut set| set.execute(params![run, parent.to_string()]))
            .map_err(|e| backend(doing, e))?;
    }
    if let Some(settlement) = &commit.settlement {
        settle_in(connection, &run, settlement)?;
    }
    Ok(())
}

/// Why a commit of `run` was refused: [`MemoryError::Cancelled`] when the
/// run was cancelled (which also fails its lease and episode checks),
/// else `otherwise`. Read only on this rare path, in the commit's
/// transaction.
fn refusal(connection: &Connection, run: RunId, otherwise: MemoryError) -> MemoryError {
    let row: Result<Option<(String, Option<String>)>, _> = connection
        .prepare_cached("SELECT state, outcome FROM runs WHERE run = ?1")
        .and_then(|mut state| {
            state
                .query_row([run.to_string()], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()
        });
    match row.map(|row| row.map(|(state, outcome)| ROWS.run_state(&state, outcome))) {
        Ok(Some(Ok(RunState::Cancelled { by }))) => MemoryError::Cancelled { run, by },
        _ => otherwise,
    }
}
