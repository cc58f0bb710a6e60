//! The store as a [`SpendLedger`]: keys' settled spend and runs'
//! reservations in two tables, shared by every worker on the database. A
//! reservation is checked and written in one transaction under the key's
//! advisory lock, so two workers never both take the last of a key's
//! allowance; a commit's [`Settlement`](klieo_types::Settlement) lands in
//! the commit's own statement (`klieo_commit_settling`, schema v6), under
//! the same lock and only against the run's live reservation. Both read
//! the clock as they run (`clock_timestamp()`), after the lock.

use crate::error::backend;
use crate::PostgresStore;
use async_trait::async_trait;
use klieo_store::{key_shortfall, StoreRows};
use klieo_types::{KeySpend, KeyStanding, MemoryError, Reservation, Reserved, RunId, SpendLedger};
use sqlx::PgConnection;

/// A count as PostgreSQL's `bigint` (a count past `i64::MAX` is kept at
/// it).
pub(crate) fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A count read back (a negative one, which klieo never writes, as 0).
fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Where `key` stands in `period`, leaving `run`'s reservation out: one
/// statement, so the settled row and the reservations are read from one
/// snapshot (a settlement committing between two reads would drop a
/// reservation before its spend was seen).
async fn standing_in(
    connection: &mut PgConnection,
    key: &str,
    period: i64,
    run: &str,
    doing: &str,
) -> Result<KeyStanding, MemoryError> {
    let row: (i64, i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT COALESCE(s.tokens, 0), COALESCE(s.cost_micros, 0), COALESCE(s.model_calls, 0), \
         r.tokens, r.cost_micros, r.model_calls \
         FROM (SELECT COALESCE(SUM(tokens), 0)::bigint AS tokens, \
               COALESCE(SUM(cost_micros), 0)::bigint AS cost_micros, \
               COALESCE(SUM(model_calls), 0)::bigint AS model_calls \
               FROM klieo_key_reservations \
               WHERE key = $1 AND period = $2 AND run <> $3 AND until_at > clock_timestamp()) r \
         LEFT JOIN klieo_key_spend s ON s.key = $1 AND s.period = $2",
    )
    .bind(key)
    .bind(period)
    .bind(run)
    .fetch_one(&mut *connection)
    .await
    .map_err(|e| backend(doing, e))?;
    Ok(KeyStanding::new(
        KeySpend::new(count(row.0), count(row.1), count(row.2)),
        KeySpend::new(count(row.3), count(row.4), count(row.5)),
    ))
}

#[async_trait]
impl SpendLedger for PostgresStore {
    async fn reserve(&self, reservation: &Reservation) -> Result<Reserved, MemoryError> {
        let doing = "reserving a key's spend";
        let run = reservation.run.to_string();
        let period = int(reservation.period);
        let mut tx = self.pool.begin().await.map_err(|e| backend(doing, e))?;
        // A key's lock held by a client that hangs does not hold every
        // other worker of the key forever, nor one that stalls holding it:
        // its waits bounded in the statement that takes it, as
        // `memory::lock` does a thread's.
        sqlx::query(concat!(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0)) FROM ",
            bounded_waits!("10s")
        ))
        .bind(format!("key:{}", reservation.key))
        .execute(&mut *tx)
        .await
        .map_err(|e| backend(doing, e))?;
        let standing = standing_in(&mut tx, &reservation.key, period, &run, doing).await?;
        if let Some(short) = key_shortfall(&standing, &reservation.amount, &reservation.limits) {
            tx.rollback().await.map_err(|e| backend(doing, e))?;
            return Ok(Reserved::Refused(short));
        }
        // The key's lapsed reservations go: they hold nothing.
        sqlx::query(
            "DELETE FROM klieo_key_reservations WHERE key = $1 AND until_at <= clock_timestamp()",
        )
        .bind(&reservation.key)
        .execute(&mut *tx)
        .await
        .map_err(|e| backend(doing, e))?;
        let amount = &reservation.amount;
        sqlx::query(
            "INSERT INTO klieo_key_reservations \
             (key, run, period, tokens, cost_micros, model_calls, until_at) \
             VALUES ($1, $2, $3, $4, $5, $6, clock_timestamp() + $7 * interval '1 millisecond') \
             ON CONFLICT (key, run) DO UPDATE SET period = excluded.period, \
             tokens = excluded.tokens, cost_micros = excluded.cost_micros, \
             model_calls = excluded.model_calls, until_at = excluded.until_at",
        )
        .bind(&reservation.key)
        .bind(run)
        .bind(period)
        .bind(int(amount.tokens))
        .bind(int(amount.cost_micros))
        .bind(int(amount.model_calls))
        .bind(StoreRows::millis(reservation.ttl) as f64)
        .execute(&mut *tx)
        .await
        .map_err(|e| backend(doing, e))?;
        tx.commit().await.map_err(|e| backend(doing, e))?;
        Ok(Reserved::Granted(standing))
    }

    async fn standing(
        &self,
        key: &str,
        period: u64,
        run: RunId,
    ) -> Result<KeyStanding, MemoryError> {
        let doing = "reading a key's spend";
        let mut connection = self.pool.acquire().await.map_err(|e| backend(doing, e))?;
        standing_in(&mut connection, key, int(period), &run.to_string(), doing).await
    }
}
