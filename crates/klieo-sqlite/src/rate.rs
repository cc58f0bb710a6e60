//! [`SqliteRateLimiter`]: rate limits shared by every process that opens
//! the file, each scope a row counted and written in one transaction of
//! the store's writer. A count need not survive a power cut, so a
//! transaction of counts alone commits without syncing.

use crate::error::backend;
use crate::SqliteStore;
use async_trait::async_trait;
use klieo_store::{RateBucket, RateLimits};
use klieo_types::{ConfigError, MemoryError, RateLimiter};
use rusqlite::{params, Connection, OptionalExtension};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A [`RateLimiter`] in a SQLite store: the processes of one machine
/// that open the file share it (the machine's clock counts the minute).
/// Made by [`SqliteStore::rate_limiter`]; cloning is cheap.
#[derive(Clone, Debug)]
pub struct SqliteRateLimiter {
    store: SqliteStore,
    limits: Arc<RateLimits>,
}

impl SqliteStore {
    /// A rate limiter of `limits` kept in this store, shared with every
    /// process that opens the file (each with the same limits).
    ///
    /// ```
    /// use klieo_sqlite::SqliteStore;
    /// use klieo_store::{RateLimit, RateLimits};
    /// use klieo_types::RateLimiter;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
    /// let dir = tempfile::tempdir()?;
    /// let store = SqliteStore::open(dir.path().join("agent.db")).await?;
    /// let limits = RateLimits::new().with_default(RateLimit::new().with_requests_per_minute(1));
    /// let limiter = store.rate_limiter(limits)?;
    /// assert_eq!(limiter.acquire("openai/gpt-4o", 10).await?, None);
    /// assert!(limiter.acquire("openai/gpt-4o", 10).await?.is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`ConfigError`] for a limit of 0 a minute.
    pub fn rate_limiter(&self, limits: RateLimits) -> Result<SqliteRateLimiter, ConfigError> {
        limits.validate()?;
        Ok(SqliteRateLimiter {
            store: self.clone(),
            limits: Arc::new(limits),
        })
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Reads `scope`'s bucket (a full one when it has no row), lets `change`
/// count on it at the present, and writes it back.
fn counted<T>(
    connection: &Connection,
    limits: &RateLimits,
    scope: &str,
    change: impl FnOnce(&mut RateBucket, i64) -> T,
) -> Result<T, rusqlite::Error> {
    let now = now_ms();
    let limit = limits.limit(scope);
    // Cached, like every statement of the writer: parsing one costs more
    // than running it.
    let mut bucket = connection
        .prepare_cached(
            "SELECT requests, tokens, at_ms, paused_until_ms FROM rate_limits WHERE scope = ?1",
        )?
        .query_row(params![scope], |row| {
            Ok(RateBucket {
                requests: row.get(0)?,
                tokens: row.get(1)?,
                at_ms: row.get(2)?,
                paused_until_ms: row.get(3)?,
            })
        })
        .optional()?
        .unwrap_or_else(|| RateBucket::full(&limit, now));
    let answer = change(&mut bucket, now);
    connection
        .prepare_cached(
            "INSERT INTO rate_limits (scope, requests, tokens, at_ms, paused_until_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (scope) DO UPDATE SET requests = excluded.requests, \
             tokens = excluded.tokens, at_ms = excluded.at_ms, \
             paused_until_ms = excluded.paused_until_ms",
        )?
        .execute(params![
            scope,
            bucket.requests,
            bucket.tokens,
            bucket.at_ms,
            bucket.paused_until_ms
        ])?;
    Ok(answer)
}

#[async_trait]
impl RateLimiter for SqliteRateLimiter {
    async fn acquire(&self, scope: &str, tokens: u64) -> Result<Option<Duration>, MemoryError> {
        let doing = "taking from a rate limit";
        let (limits, scope) = (Arc::clone(&self.limits), scope.to_owned());
        self.store
            .writer
            .write_volatile(doing, move |connection| {
                let limit = limits.limit(&scope);
                counted(connection, &limits, &scope, |bucket, now| {
                    bucket.take(&limit, now, tokens)
                })
                .map_err(|e| backend(doing, e))
            })
            .await
    }

    async fn pause(&self, scope: &str, pause: Duration) -> Result<(), MemoryError> {
        let doing = "pausing a rate limit";
        let (limits, scope) = (Arc::clone(&self.limits), scope.to_owned());
        self.store
            .writer
            .write_volatile(doing, move |connection| {
                counted(connection, &limits, &scope, |bucket, now| {
                    bucket.pause(now, pause);
                })
                .map_err(|e| backend(doing, e))
            })
            .await
    }
}
