//! The schema's versions and the migrations between them, applied on
//! open. The version is SQLite's `user_version`; each migration and the
//! version it reaches commit together, so a failed or interrupted
//! migration leaves the file as it was.

use crate::error::OpenError;
use sqlx::SqlitePool;
use std::path::Path;

/// Every migration, in order; version `i + 1` is `MIGRATIONS[i]`. Never
/// edit one that has shipped: add the next.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_memories.sql"),
    include_str!("../migrations/0002_runs.sql"),
    include_str!("../migrations/0003_leases.sql"),
    include_str!("../migrations/0004_queue.sql"),
    include_str!("../migrations/0005_rate_limits.sql"),
    include_str!("../migrations/0006_key_ledger.sql"),
    include_str!("../migrations/0007_summaries.sql"),
    include_str!("../migrations/0008_catalog.sql"),
    include_str!("../migrations/0009_parent.sql"),
];

/// The schema version this crate writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database at `path` up to [`SCHEMA_VERSION`]; unless
/// `create`, only a database that has a klieo schema already.
pub(crate) async fn migrate(pool: &SqlitePool, path: &Path, create: bool) -> Result<(), OpenError> {
    let open = |source| OpenError::Open {
        path: path.to_owned(),
        source,
    };
    // Taken for writing at once, so two processes opening the same new file
    // do not both migrate it.
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(open)?;
    let found: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(&mut *tx)
        .await
        .map_err(open)?;
    if found != SCHEMA_VERSION && !create {
        // `probe` checked it; another process changed it since.
        return Err(OpenError::NotAStore {
            path: path.to_owned(),
            reason: format!("its schema changed while it was opened (version {found})"),
        });
    }
    if found > 0 {
        // Many applications number their schema in `user_version`: a
        // version says nothing of a file without klieo's tables.
        let tables: i64 = sqlx::query_scalar(COUNT_KLIEO_TABLES)
            .bind(KLIEO_TABLES[0])
            .bind(KLIEO_TABLES[1])
            .fetch_one(&mut *tx)
            .await
            .map_err(open)?;
        if tables < KLIEO_TABLES.len() as i64 {
            return Err(OpenError::NotAStore {
                path: path.to_owned(),
                reason: format!(
                    "it has no klieo schema (its user_version, {found}, is another \
                     application's): open another file"
                ),
            });
        }
    }
    if found > SCHEMA_VERSION {
        return Err(OpenError::TooNew {
            path: path.to_owned(),
            found,
            known: SCHEMA_VERSION,
        });
    }
    for (version, sql) in (1..)
        .zip(MIGRATIONS)
        .skip(usize::try_from(found).unwrap_or(0))
    {
        let failed = |source| OpenError::Migrate {
            path: path.to_owned(),
            version,
            source,
        };
        sqlx::raw_sql(*sql)
            .execute(&mut *tx)
            .await
            .map_err(failed)?;
        // PRAGMA takes no bound parameters; the version is our own integer.
        let set = format!("PRAGMA user_version = {version}");
        sqlx::raw_sql(sqlx::AssertSqlSafe(set))
            .execute(&mut *tx)
            .await
            .map_err(failed)?;
    }
    tx.commit().await.map_err(open)
}

/// The tables every klieo store has had since schema version 1.
const KLIEO_TABLES: [&str; 2] = ["messages", "episodes"];

/// How many of [`KLIEO_TABLES`] (bound as `?1`, `?2`) a file has.
const COUNT_KLIEO_TABLES: &str =
    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN (?1, ?2)";

/// Checks, on a read-only connection, that the file at `path` is a klieo
/// store of [`SCHEMA_VERSION`]: [`OpenError::NotAStore`] for a missing
/// file, one that is not SQLite, or one without klieo's tables;
/// [`OpenError::TooOld`] or [`OpenError::TooNew`] for another version.
/// Writes nothing.
pub(crate) fn probe(path: &Path) -> Result<(), OpenError> {
    let not_a_store = |reason: &str| OpenError::NotAStore {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    if !path.is_file() {
        return Err(not_a_store("there is no such file"));
    }
    let flags =
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let read = |connection: &rusqlite::Connection| -> rusqlite::Result<(i64, i64)> {
        let version = connection.query_row("PRAGMA user_version", [], |row| row.get(0))?;
        let tables = connection.query_row(COUNT_KLIEO_TABLES, KLIEO_TABLES, |row| row.get(0))?;
        Ok((version, tables))
    };
    let (found, tables) = rusqlite::Connection::open_with_flags(path, flags)
        .and_then(|connection| read(&connection))
        .map_err(|_| not_a_store("it is not a SQLite database SQLite can read"))?;
    if found == 0 || tables < KLIEO_TABLES.len() as i64 {
        return Err(not_a_store("it has no klieo schema"));
    }
    if found < SCHEMA_VERSION {
        return Err(OpenError::TooOld {
            path: path.to_owned(),
            found,
            known: SCHEMA_VERSION,
        });
    }
    if found > SCHEMA_VERSION {
        return Err(OpenError::TooNew {
            path: path.to_owned(),
            found,
            known: SCHEMA_VERSION,
        });
    }
    Ok(())
}
