//! The schema's versions and the migrations between them, applied on
//! connect. The version is the one row of `klieo_schema`; the migrations
//! a database lacks and the version they reach commit together (a
//! failure leaves it at the version its older workers use), under an
//! advisory lock so that processes connecting at once migrate one after
//! the other, each table lock waited for at most 10 s.

use crate::error::OpenError;
use sqlx::PgPool;

/// Every migration, in order; version `i + 1` is `MIGRATIONS[i]`. Never
/// change what one that has shipped does to a database it ran on: add
/// the next. (Only a migration that failed where it should not may be
/// mended, as 0003 was for a NUL in an error: a database past it never
/// runs it again.)
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_memories.sql"),
    include_str!("../migrations/0002_leases.sql"),
    include_str!("../migrations/0003_queue.sql"),
    include_str!("../migrations/0004_commit.sql"),
    include_str!("../migrations/0005_rate_limits.sql"),
    include_str!("../migrations/0006_key_ledger.sql"),
    include_str!("../migrations/0007_summaries.sql"),
    include_str!("../migrations/0008_catalog.sql"),
    include_str!("../migrations/0009_followed.sql"),
    include_str!("../migrations/0010_parent.sql"),
    include_str!("../migrations/0011_commit_locks_run.sql"),
    include_str!("../migrations/0012_settling_sees_cancel.sql"),
    include_str!("../migrations/0013_child_of_nul.sql"),
];

/// The schema version this crate writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The advisory lock migrations take ("klieo" in ASCII).
const MIGRATION_LOCK: i64 = 0x6b_6c69_656f;

/// Brings the database up to [`SCHEMA_VERSION`]; unless `create`, only a
/// database that has a klieo schema already.
pub(crate) async fn migrate(pool: &PgPool, create: bool) -> Result<(), OpenError> {
    // A store of this version is read, not locked or altered: a worker's
    // role that may not create tables (PostgreSQL 15's default on
    // `public`) connects, as `CREATE TABLE IF NOT EXISTS` would be
    // refused it whether the table exists or not.
    match check(pool).await {
        Ok(()) => return Ok(()),
        Err(e) if !create || matches!(e, OpenError::TooNew { .. }) => return Err(e),
        Err(_) => {}
    }
    let connect = |source| OpenError::Connect { source };
    let mut tx = pool.begin().await.map_err(connect)?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *tx)
        .await
        .map_err(connect)?;
    sqlx::raw_sql("CREATE TABLE IF NOT EXISTS klieo_schema (version BIGINT NOT NULL)")
        .execute(&mut *tx)
        .await
        .map_err(connect)?;
    let found: Option<i64> = sqlx::query_scalar("SELECT max(version) FROM klieo_schema")
        .fetch_one(&mut *tx)
        .await
        .map_err(connect)?;
    let found = found.unwrap_or(0);
    if found > SCHEMA_VERSION {
        return Err(OpenError::TooNew {
            found,
            known: SCHEMA_VERSION,
        });
    }
    // While it migrates: a table lock queued behind a long reader would
    // hold every worker's writes up behind it for as long.
    sqlx::raw_sql("SET LOCAL lock_timeout = '10s'")
        .execute(&mut *tx)
        .await
        .map_err(|source| OpenError::Migrate {
            version: found + 1,
            source,
        })?;
    for (version, sql) in (1..)
        .zip(MIGRATIONS)
        .skip(usize::try_from(found).unwrap_or(0))
    {
        let failed = |source| OpenError::Migrate { version, source };
        sqlx::raw_sql(*sql)
            .execute(&mut *tx)
            .await
            .map_err(failed)?;
        sqlx::query("DELETE FROM klieo_schema")
            .execute(&mut *tx)
            .await
            .map_err(failed)?;
        sqlx::query("INSERT INTO klieo_schema (version) VALUES ($1)")
            .bind(version)
            .execute(&mut *tx)
            .await
            .map_err(failed)?;
    }
    tx.commit().await.map_err(connect)
}

/// Checks, reading only (no lock, no DDL), that the database is a klieo
/// store of [`SCHEMA_VERSION`]: [`OpenError::NotAStore`] without klieo's
/// schema, [`OpenError::TooOld`] or [`OpenError::TooNew`] for another
/// version.
async fn check(pool: &PgPool) -> Result<(), OpenError> {
    let connect = |source| OpenError::Connect { source };
    let known: bool = sqlx::query_scalar("SELECT to_regclass('klieo_schema') IS NOT NULL")
        .fetch_one(pool)
        .await
        .map_err(connect)?;
    if !known {
        return Err(OpenError::NotAStore);
    }
    let found: Option<i64> = sqlx::query_scalar("SELECT max(version) FROM klieo_schema")
        .fetch_one(pool)
        .await
        .map_err(connect)?;
    match found.unwrap_or(0) {
        0 => Err(OpenError::NotAStore),
        found if found < SCHEMA_VERSION => Err(OpenError::TooOld {
            found,
            known: SCHEMA_VERSION,
        }),
        found if found > SCHEMA_VERSION => Err(OpenError::TooNew {
            found,
            known: SCHEMA_VERSION,
        }),
        _ => Ok(()),
    }
}
