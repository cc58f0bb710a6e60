//! [`PostgresRateLimiter`]: rate limits shared by every process on the
//! database, each scope a row counted under its lock, by the database
//! server's clock.

use crate::error::backend;
use crate::PostgresStore;
use async_trait::async_trait;
use klieo_store::{RateBucket, RateLimits};
use klieo_types::{ConfigError, MemoryError, RateLimiter};
use std::sync::Arc;
use std::time::Duration;

/// A [`RateLimiter`] in a PostgreSQL store: every process of the fleet
/// that connects to the database shares it, and the database server's
/// clock counts the minute (the machines' clocks need not agree). Made by
/// [`PostgresStore::rate_limiter`]; cloning is cheap.
#[derive(Clone, Debug)]
pub struct PostgresRateLimiter {
    store: PostgresStore,
    limits: Arc<RateLimits>,
}

impl PostgresStore {
    /// A rate limiter of `limits` kept in this database, shared with
    /// every process connected to it (each with the same limits).
    ///
    /// # Errors
    /// [`ConfigError`] for a limit of 0 a minute.
    pub fn rate_limiter(&self, limits: RateLimits) -> Result<PostgresRateLimiter, ConfigError> {
        limits.validate()?;
        Ok(PostgresRateLimiter {
            store: self.clone(),
            limits: Arc::new(limits),
        })
    }
}

impl PostgresRateLimiter {
    /// Reads `scope`'s bucket under its row's lock (a full one when it
    /// has no row yet), lets `change` count on it at the server's present,
    /// and writes it back, in one transaction.
    async fn counted<T>(
        &self,
        doing: &str,
        scope: &str,
        change: impl FnOnce(&mut RateBucket, i64) -> T,
    ) -> Result<T, MemoryError> {
        let limit = self.limits.limit(scope);
        let full = RateBucket::full(&limit, 0);
        // Read committed whatever the database's default: the upsert
        // below waits for a concurrent one and then sees its row.
        let mut tx = self
            .store
            .pool
            .begin_with("BEGIN ISOLATION LEVEL READ COMMITTED")
            .await
            .map_err(|e| backend(doing, e))?;
        // One statement bounds the transaction's waits, makes the row if
        // need be and locks it; times are the server's clock, in
        // milliseconds since the epoch.
        let (requests, tokens, at_ms, paused_until_ms, now): (f64, f64, i64, i64, i64) =
            sqlx::query_as(concat!(
                "INSERT INTO klieo_rate_limits (scope, requests, tokens, at_ms, paused_until_ms) \
                 SELECT $1, $2, $3, (extract(epoch FROM clock_timestamp()) * 1000)::bigint, 0 \
                 FROM ",
                bounded_waits!(),
                " WHERE true \
                 ON CONFLICT (scope) DO UPDATE SET scope = excluded.scope \
                 RETURNING requests, tokens, at_ms, paused_until_ms, \
                 (extract(epoch FROM clock_timestamp()) * 1000)::bigint"
            ))
            .bind(scope)
            .bind(full.requests)
            .bind(full.tokens)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| backend(doing, e))?;
        let mut bucket = RateBucket {
            requests,
            tokens,
            at_ms,
            paused_until_ms,
        };
        let answer = change(&mut bucket, now);
        sqlx::query(
            "UPDATE klieo_rate_limits SET requests = $2, tokens = $3, at_ms = $4, \
             paused_until_ms = $5 WHERE scope = $1",
        )
        .bind(scope)
        .bind(bucket.requests)
        .bind(bucket.tokens)
        .bind(bucket.at_ms)
        .bind(bucket.paused_until_ms)
        .execute(&mut *tx)
        .await
        .map_err(|e| backend(doing, e))?;
        tx.commit().await.map_err(|e| backend(doing, e))?;
        Ok(answer)
    }
}

#[async_trait]
impl RateLimiter for PostgresRateLimiter {
    async fn acquire(&self, scope: &str, tokens: u64) -> Result<Option<Duration>, MemoryError> {
        let limit = self.limits.limit(scope);
        self.counted("taking from a rate limit", scope, |bucket, now| {
            bucket.take(&limit, now, tokens)
        })
        .await
    }

    async fn pause(&self, scope: &str, pause: Duration) -> Result<(), MemoryError> {
        self.counted("pausing a rate limit", scope, |bucket, now| {
            bucket.pause(now, pause);
        })
        .await
    }
}
