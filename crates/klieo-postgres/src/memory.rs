//! The memory traits over the store's tables.

use crate::error::backend;
use crate::PostgresStore;
use async_trait::async_trait;
use klieo_store::StoreRows;
use klieo_types::{
    Episode, EpisodicMemory, MemoryError, Message, RunId, ShortTermMemory, ThreadId, Transcript,
};
use sqlx::PgConnection;

/// The rows this store keeps, as every klieo database store keeps them.
pub(crate) const ROWS: StoreRows = StoreRows::new("PostgreSQL store");

/// Takes the transaction-long lock of `key`, so writers of one thread (or
/// one run) go one after the other.
async fn lock(tx: &mut PgConnection, key: &str, doing: &str) -> Result<(), MemoryError> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
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

#[async_trait]
impl ShortTermMemory for PostgresStore {
    async fn append(&self, thread: &ThreadId, messages: Vec<Message>) -> Result<(), MemoryError> {
        let doing = "appending to a thread";
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

    async fn clear(&self, thread: &ThreadId) -> Result<(), MemoryError> {
        sqlx::query("DELETE FROM klieo_messages WHERE thread = $1")
            .bind(thread.as_str())
            .execute(&self.pool)
            .await
            .map_err(|e| backend("clearing a thread", e))?;
        Ok(())
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
        ROWS.run_ids(&rows)
    }
}
