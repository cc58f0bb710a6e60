//! The memory traits over the store's tables.

use crate::error::backend;
use crate::text::{keyable, storable};
use crate::PostgresStore;
use async_trait::async_trait;
use klieo_store::StoreRows;
use klieo_types::{
    Episode, EpisodicMemory, History, MemoryError, Message, RunId, ShortTermMemory, ThreadId,
    ThreadSummary, Transcript,
};
use sqlx::PgConnection;

/// The rows this store keeps, as every klieo database store keeps them.
pub(crate) const ROWS: StoreRows = StoreRows::new("PostgreSQL store");

/// Takes the transaction-long lock of `key`, so writers of one thread (or
/// one run) go one after the other, its waits bounded (see
/// `bounded_waits!`).
async fn lock(tx: &mut PgConnection, key: &str, doing: &str) -> Result<(), MemoryError> {
    sqlx::query(concat!(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0)) FROM ",
        bounded_waits!()
    ))
    .bind(key)
    .execute(&mut *tx)
    .await
    .map_err(|e| backend(doing, e))?;
    Ok(())
}

/// Appends `messages` to `thread` inside the transaction `tx`.
pub(crate) async fn append_in(
    tx: &mut PgConnection,
    thread: &ThreadId,
    messages: &[Message],
) -> Result<(), MemoryError> {
    let doing = "appending to a thread";
    if messages.is_empty() {
        return Ok(());
    }
    lock(tx, &format!("thread:{thread}"), doing).await?;
    let last: Option<(i64, i64)> = sqlx::query_as(
        "SELECT seq, tokens_before + tokens FROM klieo_messages \
         WHERE thread = $1 ORDER BY seq DESC LIMIT 1",
    )
    .bind(thread.as_str())
    .fetch_optional(&mut *tx)
    .await
    .map_err(|e| backend(doing, e))?;
    for row in ROWS.message_rows(messages, last)? {
        sqlx::query(
            "INSERT INTO klieo_messages (thread, seq, role, tokens_before, tokens, message) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(thread.as_str())
        .bind(row.seq)
        .bind(row.role)
        .bind(row.tokens_before)
        .bind(row.tokens)
        .bind(row.json)
        .execute(&mut *tx)
        .await
        .map_err(|e| backend(doing, e))?;
    }
    Ok(())
}

/// Takes the lock of `run`'s episodes for the rest of the transaction
/// (taking it again in the same transaction is free).
pub(crate) async fn lock_run(
    tx: &mut PgConnection,
    run: RunId,
    doing: &str,
) -> Result<(), MemoryError> {
    lock(tx, &format!("run:{run}"), doing).await
}

/// Takes the transaction-long lock of the budget key `key`, as the
/// settling commit takes it (`klieo_commit_settling`): before any run's.
pub(crate) async fn lock_key(
    tx: &mut PgConnection,
    key: &str,
    doing: &str,
) -> Result<(), MemoryError> {
    lock(tx, &format!("key:{key}"), doing).await
}

/// Records `episodes` for `run` inside the transaction `tx`.
pub(crate) async fn record_in(
    tx: &mut PgConnection,
    run: RunId,
    episodes: &[Episode],
) -> Result<(), MemoryError> {
    let doing = "recording an episode";
    if episodes.is_empty() {
        return Ok(());
    }
    lock_run(tx, run, doing).await?;
    let run = run.to_string();
    for episode in episodes {
        sqlx::query(
            "INSERT INTO klieo_episodes (run, seq, kind, episode) VALUES \
             ($1, (SELECT COALESCE(MAX(seq) + 1, 0) FROM klieo_episodes WHERE run = $1), $2, $3)",
        )
        .bind(&run)
        .bind(episode.kind())
        .bind(ROWS.encode("an episode", episode)?)
        .execute(&mut *tx)
        .await
        .map_err(|e| backend(doing, e))?;
    }
    Ok(())
}

/// A thread's length (its number of messages) and its latest summary,
/// read in one statement.
async fn head<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    thread: &ThreadId,
    doing: &str,
) -> Result<(u64, Option<ThreadSummary>), MemoryError> {
    // Summaries extend one another, so the latest starts last: one seek
    // of the key, as the thread's last message is.
    let (len, from, through, text): (i64, Option<i64>, Option<i64>, Option<String>) =
        sqlx::query_as(
            "SELECT (SELECT COALESCE(MAX(seq) + 1, 0) FROM klieo_messages WHERE thread = $1), \
             s.from_seq, s.through, s.text FROM (SELECT 1) AS one \
             LEFT JOIN (SELECT from_seq, through, text FROM klieo_summaries WHERE thread = $1 \
             ORDER BY from_seq DESC LIMIT 1) AS s ON true",
        )
        .bind(thread.as_str())
        .fetch_one(executor)
        .await
        .map_err(|e| backend(doing, e))?;
    Ok(StoreRows::thread_head(len, from, through, text))
}

/// Keeps `summary` of `thread` inside the transaction `tx` if it follows
/// the thread's latest ([`ThreadSummary::check_follows`]), for
/// [`ShortTermMemory::add_summary`] and a commit that carries one;
/// refused with [`MemoryError::SummaryRefused`] otherwise, having written
/// nothing. Takes the thread's lock: a caller that holds a run's takes it
/// first, the order every writer takes them in.
pub(crate) async fn summary_in(
    tx: &mut PgConnection,
    thread: &ThreadId,
    summary: &ThreadSummary,
) -> Result<(), MemoryError> {
    let doing = "summarising a thread";
    lock(tx, &format!("thread:{thread}"), doing).await?;
    // Under the thread's lock nothing is appended, summarised or cleared
    // between the check and the insert; the key refuses a second summary
    // that extends the same one all the same, without aborting the
    // transaction.
    let inserted = sqlx::query(
        "INSERT INTO klieo_summaries (thread, from_seq, through, text) \
         SELECT $1, $2, $3, $4 \
         WHERE $2 = COALESCE((SELECT through FROM klieo_summaries WHERE thread = $1 \
         ORDER BY from_seq DESC LIMIT 1), 0) \
         AND $3 > $2 \
         AND $3 <= (SELECT COALESCE(MAX(seq) + 1, 0) FROM klieo_messages WHERE thread = $1) \
         ON CONFLICT (thread, from_seq) DO NOTHING",
    )
    .bind(thread.as_str())
    .bind(StoreRows::index(summary.from))
    .bind(StoreRows::index(summary.through))
    .bind(storable(&summary.text))
    .execute(&mut *tx)
    .await
    .map_err(|e| backend(doing, e))?;
    if inserted.rows_affected() == 1 {
        return Ok(());
    }
    let (len, latest) = head(&mut *tx, thread, doing).await?;
    summary.check_follows(latest.as_ref(), len)?;
    Err(summary.refused("another summary takes up at the same message"))
}

#[async_trait]
impl ShortTermMemory for PostgresStore {
    async fn append(&self, thread: &ThreadId, messages: Vec<Message>) -> Result<(), MemoryError> {
        let doing = "appending to a thread";
        keyable(thread.as_str())?;
        let mut tx = self.pool.begin().await.map_err(|e| backend(doing, e))?;
        append_in(&mut tx, thread, &messages).await?;
        tx.commit().await.map_err(|e| backend(doing, e))
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
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT role, message FROM klieo_messages WHERE thread = $1 AND seq >= \
             (SELECT seq FROM klieo_messages WHERE thread = $1 AND tokens_before >= \
             (SELECT GREATEST(tokens_before + tokens - $2 + $3 - 1, 0) / $3 * $3 \
             FROM klieo_messages WHERE thread = $1 ORDER BY seq DESC LIMIT 1) \
             ORDER BY tokens_before LIMIT 1) \
             ORDER BY seq",
        )
        .bind(thread.as_str())
        .bind(StoreRows::tokens(max_tokens))
        .bind(StoreRows::tokens(granule.clamp(1, max_tokens.max(1))))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| backend(doing, e))?;
        ROWS.transcript(&rows)
    }

    async fn load_history(
        &self,
        thread: &ThreadId,
        max_tokens: usize,
        granule: usize,
    ) -> Result<History, MemoryError> {
        let doing = "loading a thread's history";
        // Two statements, no transaction: a summary kept between them
        // leaves this read with the one before it, and the messages after
        // that, which is as true a history.
        let (len, summary) = head(&self.pool, thread, doing).await?;
        // `MessageLog::history`: the summary's message comes out of the
        // budget, and the window starts at its `through` or after it, cut
        // as `load_stable` cuts. An empty cut (the newest message alone
        // is over the budget) stays empty.
        let (lower, budget) = History::window_bounds(summary.as_ref(), max_tokens);
        let rows: Vec<(i64, String, String, i64)> = sqlx::query_as(
            "SELECT seq, role, message, tokens FROM klieo_messages WHERE thread = $1 AND seq >= \
             (SELECT GREATEST(seq, $4) FROM klieo_messages WHERE thread = $1 AND tokens_before >= \
             (SELECT GREATEST(tokens_before + tokens - $2 + $3 - 1, 0) / $3 * $3 \
             FROM klieo_messages WHERE thread = $1 ORDER BY seq DESC LIMIT 1) \
             ORDER BY tokens_before LIMIT 1) \
             ORDER BY seq",
        )
        .bind(thread.as_str())
        .bind(StoreRows::tokens(budget))
        .bind(StoreRows::tokens(granule.clamp(1, budget.max(1))))
        .bind(StoreRows::index(lower))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| backend(doing, e))?;
        ROWS.history(summary, &rows, len)
    }

    async fn add_summary(
        &self,
        thread: &ThreadId,
        summary: ThreadSummary,
    ) -> Result<(), MemoryError> {
        let doing = "summarising a thread";
        keyable(thread.as_str())?;
        let mut tx = self.pool.begin().await.map_err(|e| backend(doing, e))?;
        summary_in(&mut tx, thread, &summary).await?;
        tx.commit().await.map_err(|e| backend(doing, e))
    }

    async fn clear(&self, thread: &ThreadId) -> Result<(), MemoryError> {
        let doing = "clearing a thread";
        // Under the thread's lock, so a summary being kept waits for the
        // clear and is then refused (its messages are gone).
        let mut tx = self.pool.begin().await.map_err(|e| backend(doing, e))?;
        lock(&mut tx, &format!("thread:{thread}"), doing).await?;
        sqlx::query(
            "WITH summaries AS (DELETE FROM klieo_summaries WHERE thread = $1) \
             DELETE FROM klieo_messages WHERE thread = $1",
        )
        .bind(thread.as_str())
        .execute(&mut *tx)
        .await
        .map_err(|e| backend(doing, e))?;
        tx.commit().await.map_err(|e| backend(doing, e))
    }
}

#[async_trait]
impl EpisodicMemory for PostgresStore {
    async fn record(&self, run: RunId, episode: Episode) -> Result<(), MemoryError> {
        let doing = "recording an episode";
        let mut tx = self.pool.begin().await.map_err(|e| backend(doing, e))?;
        record_in(&mut tx, run, &[episode]).await?;
        tx.commit().await.map_err(|e| backend(doing, e))
    }

    /// The episodes in one transaction: all of them, or (it failing) none.
    async fn record_all(&self, run: RunId, episodes: Vec<Episode>) -> Result<(), MemoryError> {
        let doing = "recording episodes";
        let mut tx = self.pool.begin().await.map_err(|e| backend(doing, e))?;
        record_in(&mut tx, run, &episodes).await?;
        tx.commit().await.map_err(|e| backend(doing, e))
    }

    async fn replay(&self, run: RunId) -> Result<Vec<Episode>, MemoryError> {
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT episode FROM klieo_episodes WHERE run = $1 ORDER BY seq")
                .bind(run.to_string())
                .fetch_all(&self.pool)
                .await
                .map_err(|e| backend("replaying a run", e))?;
        rows.iter().map(|e| ROWS.decode("episode", e)).collect()
    }

    async fn list_runs(&self) -> Result<Vec<RunId>, MemoryError> {
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT run FROM klieo_episodes ORDER BY run")
                .fetch_all(&self.pool)
                .await
                .map_err(|e| backend("listing runs", e))?;
        Ok(ROWS.run_ids(&rows))
    }
}
