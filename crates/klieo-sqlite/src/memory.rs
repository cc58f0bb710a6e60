//! The memory traits over the store's tables.

use crate::error::backend;
use crate::SqliteStore;
use async_trait::async_trait;
use klieo_store::{MessageRow, StoreRows};
use klieo_types::{
    Episode, EpisodicMemory, History, MemoryError, Message, RunId, ShortTermMemory, ThreadId,
    ThreadSummary, Transcript,
};
use rusqlite::{params, Connection, OptionalExtension};

/// The rows this store keeps, as every klieo database store keeps them.
pub(crate) const ROWS: StoreRows = StoreRows::new("SQLite store");

/// Messages encoded for the writer before it is asked (the JSON is made
/// on the caller's thread, not the writer's): rows numbered from 0, which
/// [`append_in`] moves after what the thread holds.
pub(crate) fn encode_messages(messages: &[Message]) -> Result<Vec<MessageRow>, MemoryError> {
    ROWS.message_rows(messages, None)
}

/// An episode encoded for the writer: its kind and its JSON.
pub(crate) fn encode_episode(episode: &Episode) -> Result<(&'static str, String), MemoryError> {
    Ok((episode.kind(), ROWS.encode("an episode", episode)?))
}

/// Appends `rows` (from [`encode_messages`]) to `thread` on the writer's
/// connection, after what it holds.
pub(crate) fn append_in(
    connection: &Connection,
    thread: &str,
    rows: &[MessageRow],
) -> Result<(), MemoryError> {
    let doing = "appending to a thread";
    if rows.is_empty() {
        return Ok(());
    }
    let (next, before): (i64, i64) = connection
        .prepare_cached(
            "SELECT seq + 1, tokens_before + tokens FROM messages \
             WHERE thread = ?1 ORDER BY seq DESC LIMIT 1",
        )
        .and_then(|mut last| {
            last.query_row([thread], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()
        })
        .map_err(|e| backend(doing, e))?
        .unwrap_or((0, 0));
    let mut insert = connection
        .prepare_cached(
            "INSERT INTO messages (thread, seq, role, tokens_before, tokens, message) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .map_err(|e| backend(doing, e))?;
    for row in rows {
        insert
            .execute(params![
                thread,
                next + row.seq,
                row.role,
                before.saturating_add(row.tokens_before),
                row.tokens,
                row.json
            ])
            .map_err(|e| backend(doing, e))?;
    }
    Ok(())
}

/// Records an episode (from [`encode_episode`]) for `run` on the
/// writer's connection.
pub(crate) fn record_in(
    connection: &Connection,
    run: &str,
    (kind, json): &(&'static str, String),
) -> Result<(), MemoryError> {
    connection
        .prepare_cached(
            "INSERT INTO episodes (run, seq, kind, episode) VALUES \
             (?1, (SELECT COALESCE(MAX(seq) + 1, 0) FROM episodes WHERE run = ?1), ?2, ?3)",
        )
        .and_then(|mut insert| insert.execute(params![run, kind, json]))
        .map_err(|e| backend("recording an episode", e))?;
    Ok(())
}

/// A thread's length (its number of messages) and its latest summary,
/// read in one statement on `connection`.
fn head(
    connection: &Connection,
    thread: &str,
    doing: &str,
) -> Result<(u64, Option<ThreadSummary>), MemoryError> {
    // Summaries extend one another, so the latest starts last: one seek
    // of the key, as the thread's last message is.
    type Head = (i64, Option<i64>, Option<i64>, Option<String>);
    let (len, from, through, text): Head = connection
        .prepare_cached(
            "SELECT (SELECT COALESCE(MAX(seq) + 1, 0) FROM messages WHERE thread = ?1), \
             s.from_seq, s.through, s.text FROM (SELECT 1) \
             LEFT JOIN (SELECT from_seq, through, text FROM summaries WHERE thread = ?1 \
             ORDER BY from_seq DESC LIMIT 1) AS s ON 1",
        )
        .and_then(|mut head| {
            head.query_row([thread], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })
        })
        .map_err(|e| backend(doing, e))?;
    Ok(StoreRows::thread_head(len, from, through, text))
}

/// Keeps `summary` of `thread` on the writer's connection if it follows
/// the thread's latest ([`ThreadSummary::check_follows`]), for
/// [`ShortTermMemory::add_summary`] and a commit that carries one;
/// refused with [`MemoryError::SummaryRefused`] otherwise, having written
/// nothing.
pub(crate) fn summary_in(
    connection: &Connection,
    thread: &str,
    summary: &ThreadSummary,
) -> Result<(), MemoryError> {
    let doing = "summarising a thread";
    // The writer is the only one: nothing changes between the check and
    // the insert.
    let (len, latest) = head(connection, thread, doing)?;
    summary.check_follows(latest.as_ref(), len)?;
    connection
        .prepare_cached(
            "INSERT INTO summaries (thread, from_seq, through, text) VALUES (?1, ?2, ?3, ?4)",
        )
        .and_then(|mut insert| {
            insert.execute(params![
                thread,
                StoreRows::index(summary.from),
                StoreRows::index(summary.through),
                summary.text
            ])
        })
        .map_err(|e| backend(doing, e))?;
    Ok(())
}

#[async_trait]
impl ShortTermMemory for SqliteStore {
    async fn append(&self, thread: &ThreadId, messages: Vec<Message>) -> Result<(), MemoryError> {
        let thread = thread.as_str().to_owned();
        let rows = encode_messages(&messages)?;
        self.writer
            .write("appending to a thread", move |connection| {
                append_in(connection, &thread, &rows)
            })
            .await
    }

    async fn load(&self, thread: &ThreadId, max_tokens: usize) -> Result<Transcript, MemoryError> {
        self.load_stable(thread, max_tokens, 1).await
    }

    async fn load_stable(
        &self,
        thread: &ThreadId,
        max_tokens: usize,
        granule: usize,
    ) -> Result<Transcript, MemoryError> {
        let doing = "loading a thread";
        // One statement, so one snapshot: an append between reading the
        // total and the rows cannot widen the cut. The same cut as
        // `MessageLog::stable_window`: from the first message with at
        // least the thread's total less `max_tokens`, rounded up to a
        // multiple of `granule`, before it. The total is one seek, the
        // cut one seek of the running sums' index, the rows a range of
        // the key: a long thread costs its window, not its length.
        let (thread, budget) = (thread.as_str().to_owned(), StoreRows::tokens(max_tokens));
        let granule = StoreRows::tokens(granule.clamp(1, max_tokens.max(1)));
        self.readers
            .read(doing, move |connection| {
                let rows: Vec<(String, String)> = connection
                    .prepare_cached(
                        "SELECT role, message FROM messages WHERE thread = ?1 AND seq >= \
                         (SELECT seq FROM messages WHERE thread = ?1 AND tokens_before >= \
                         (SELECT MAX(tokens_before + tokens - ?2 + ?3 - 1, 0) / ?3 * ?3 \
                         FROM messages WHERE thread = ?1 ORDER BY seq DESC LIMIT 1) \
                         ORDER BY tokens_before LIMIT 1) \
                         ORDER BY seq",
                    )
                    .and_then(|mut load| {
                        load.query_map(params![thread, budget, granule], |row| {
                            Ok((row.get(0)?, row.get(1)?))
                        })?
                        .collect()
                    })
                    .map_err(|e| backend(doing, e))?;
                ROWS.transcript(&rows)
            })
            .await
    }

    async fn load_history(
        &self,
        thread: &ThreadId,
        max_tokens: usize,
        granule: usize,
    ) -> Result<History, MemoryError> {
        let doing = "loading a thread's history";
        let thread = thread.as_str().to_owned();
        self.readers
            .read(doing, move |connection| {
                // Two statements, no transaction: a summary kept between
                // them leaves this read with the one before it, and the
                // messages after that, which is as true a history.
                let (len, summary) = head(connection, &thread, doing)?;
                // `MessageLog::history`: the summary's message comes out
                // of the budget, and the window starts at its `through`
                // or after it, cut as `load_stable` cuts.
                let (lower, budget) = History::window_bounds(summary.as_ref(), max_tokens);
                let granule = StoreRows::tokens(granule.clamp(1, budget.max(1)));
                let lower = i64::try_from(lower).unwrap_or(i64::MAX);
                let rows: Vec<(i64, String, String, i64)> = connection
                    .prepare_cached(
                        "SELECT seq, role, message, tokens FROM messages WHERE thread = ?1 AND seq >= \
                         (SELECT MAX(seq, ?4) FROM messages WHERE thread = ?1 AND tokens_before >= \
                         (SELECT MAX(tokens_before + tokens - ?2 + ?3 - 1, 0) / ?3 * ?3 \
                         FROM messages WHERE thread = ?1 ORDER BY seq DESC LIMIT 1) \
                         ORDER BY tokens_before LIMIT 1) \
                         ORDER BY seq",
                    )
                    .and_then(|mut load| {
                        let budget = StoreRows::tokens(budget);
                        load.query_map(params![thread, budget, granule, lower], |row| {
                            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
                        })?
                        .collect()
                    })
                    .map_err(|e| backend(doing, e))?;
                ROWS.history(summary, &rows, len)
            })
            .await
    }

    async fn add_summary(
        &self,
        thread: &ThreadId,
        summary: ThreadSummary,
    ) -> Result<(), MemoryError> {
        let thread = thread.as_str().to_owned();
        self.writer
            .write("summarising a thread", move |connection| {
                summary_in(connection, &thread, &summary)
            })
            .await
    }

    async fn clear(&self, thread: &ThreadId) -> Result<(), MemoryError> {
        let doing = "clearing a thread";
        let thread = thread.as_str().to_owned();
        self.writer
            .write(doing, move |connection| {
                for sql in [
                    "DELETE FROM messages WHERE thread = ?1",
                    "DELETE FROM summaries WHERE thread = ?1",
                ] {
                    connection
                        .prepare_cached(sql)
                        .and_then(|mut delete| delete.execute([&thread]))
                        .map_err(|e| backend(doing, e))?;
                }
                Ok(())
            })
            .await
    }
}

#[async_trait]
impl EpisodicMemory for SqliteStore {
    async fn record(&self, run: RunId, episode: Episode) -> Result<(), MemoryError> {
        let run = run.to_string();
        let episode = encode_episode(&episode)?;
        self.writer
            .write("recording an episode", move |connection| {
                record_in(connection, &run, &episode)
            })
            .await
    }

    /// The episodes in one write: all of them, or (the write failing) none.
    async fn record_all(&self, run: RunId, episodes: Vec<Episode>) -> Result<(), MemoryError> {
        let run = run.to_string();
        let episodes = episodes
            .iter()
            .map(encode_episode)
            .collect::<Result<Vec<_>, _>>()?;
        self.writer
            .write("recording episodes", move |connection| {
                episodes
                    .iter()
                    .try_for_each(|episode| record_in(connection, &run, episode))
            })
            .await
    }

    async fn replay(&self, run: RunId) -> Result<Vec<Episode>, MemoryError> {
        let doing = "replaying a run";
        let run = run.to_string();
        self.readers
            .read(doing, move |connection| {
                let rows: Vec<String> = connection
                    .prepare_cached("SELECT episode FROM episodes WHERE run = ?1 ORDER BY seq")
                    .and_then(|mut replay| replay.query_map([&run], |row| row.get(0))?.collect())
                    .map_err(|e| backend(doing, e))?;
                rows.iter().map(|e| ROWS.decode("episode", e)).collect()
            })
            .await
    }

    async fn list_runs(&self) -> Result<Vec<RunId>, MemoryError> {
        let doing = "listing runs";
        self.readers
            .read(doing, move |connection| {
                // Read as bytes: a run id another program wrote that is
                // not UTF-8 is left out, not the whole list failed.
                let rows: Vec<Vec<u8>> = connection
                    .prepare_cached("SELECT DISTINCT CAST(run AS BLOB) FROM episodes ORDER BY run")
                    .and_then(|mut list| list.query_map([], |row| row.get(0))?.collect())
                    .map_err(|e| backend(doing, e))?;
                let rows: Vec<String> = rows
                    .into_iter()
                    .filter_map(|row| String::from_utf8(row).ok())
                    .collect();
                Ok(ROWS.run_ids(&rows))
            })
            .await
    }
}
