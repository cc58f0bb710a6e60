//! [`SqliteStore`]: one SQLite file holding conversations and event logs.

use crate::error::OpenError;
use crate::options::{SqliteOptions, Synchronous};
use crate::reader::Readers;
use crate::schema;
use crate::writer::Writer;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Conversations ([`ShortTermMemory`](klieo_types::ShortTermMemory)) and
/// event logs ([`EpisodicMemory`](klieo_types::EpisodicMemory)) in one
/// SQLite file, in WAL mode: they survive the process, and any process
/// that opens the file sees them.
///
/// Opening creates the file if it is missing and brings its schema up to
/// date ([`SCHEMA_VERSION`](crate::SCHEMA_VERSION)). Writes go through one
/// connection on a thread of its own, which commits what was queued
/// together (SQLite has one writer at a time; other processes wait up to
/// the busy timeout), reads through a small pool of their own. Cloning is
/// cheap and shares both.
///
/// ```
/// use klieo_sqlite::SqliteStore;
/// use klieo_types::{Message, ShortTermMemory, ThreadId};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("agent.db");
/// let thread = ThreadId::new("t1");
/// {
///     let store = SqliteStore::open(&path).await?;
///     store.append(&thread, vec![Message::user("hi")]).await?;
///     store.close().await;
/// }
/// // Another process, or this one after a restart:
/// let store = SqliteStore::open(&path).await?;
/// assert_eq!(store.load(&thread, 1_000).await?.len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct SqliteStore {
    pub(crate) writer: Arc<Writer>,
    pub(crate) readers: Arc<Readers>,
    path: PathBuf,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (or creates) the store at `path` with the default
    /// [`SqliteOptions`].
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, OpenError> {
        Self::open_with(SqliteOptions::new(path)).await
    }

    /// Opens the store `options` describe: creating the file and giving
    /// it the klieo schema if need be, or, with
    /// [`with_create(false)`](SqliteOptions::with_create), only a file that
    /// is a klieo store of this version's schema, written to by nothing
    /// before that is checked.
    pub async fn open_with(options: SqliteOptions) -> Result<Self, OpenError> {
        options
            .validate()
            .map_err(|source| OpenError::Config { source })?;
        // Made absolute once: readers open as they are needed, and a
        // relative path would be read against wherever the process is then
        // (a tool that changed directory), another file or none.
        let path = std::path::absolute(&options.path).unwrap_or_else(|_| options.path.clone());
        if !options.create {
            // Looked at read-only first: a file that is not a klieo store
            // of this schema is refused before anything opens it for
            // writing (which would switch it to WAL).
            let probe = path.clone();
            tokio::task::spawn_blocking(move || schema::probe(&probe))
                .await
                .map_err(|e| OpenError::Writer {
                    path: path.clone(),
                    source: Box::new(e),
                })??;
        }
        let connect = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(options.create)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match options.synchronous {
                Synchronous::Full => SqliteSynchronous::Full,
                Synchronous::Normal => SqliteSynchronous::Normal,
            })
            .busy_timeout(options.busy_timeout);
        // Migrated through the driver, then written through a connection
        // of the writer's own (see `Writer`).
        let migrator = open_writer(&connect, &path, options.busy_timeout, options.create).await?;
        migrator.close().await;
        let writer = Arc::new(start_writer(&path, &options).await?);
        let readers = Arc::new(Readers::new(
            path.clone(),
            options.busy_timeout,
            options.max_readers,
        ));
        Ok(Self {
            writer,
            readers,
            path,
        })
    }

    /// The database file, as an absolute path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes every connection, waiting for those in use to be returned.
    /// Dropping the last clone closes them too, without waiting.
    pub async fn close(&self) {
        self.readers.close().await;
        self.writer.close().await;
    }
}

/// The writer's connection, with the schema up to date.
///
/// Two connections that open one *new* file at the same instant both try
/// to switch it to WAL, and SQLite answers one of them "database is
/// locked" at once instead of calling its busy handler (waiting could
/// deadlock inside SQLite). Such a refusal is waited out here, as the
/// busy timeout promises for every other write: the open is tried again,
/// after 5, 10, 20 … 100 ms, until `busy_timeout` has passed.
async fn open_writer(
    connect: &SqliteConnectOptions,
    path: &Path,
    busy_timeout: Duration,
    create: bool,
) -> Result<SqlitePool, OpenError> {
    let deadline = Instant::now() + busy_timeout;
    let mut pause = Duration::from_millis(5);
    loop {
        match try_open_writer(connect, path, create).await {
            Err(e) if e.is_busy() && Instant::now() + pause < deadline => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            opened => return opened,
        }
    }
}

async fn try_open_writer(
    connect: &SqliteConnectOptions,
    path: &Path,
    create: bool,
) -> Result<SqlitePool, OpenError> {
    let writer = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(connect.clone())
        .await
        .map_err(|source| OpenError::Open {
            path: path.to_owned(),
            source,
        })?;
    if let Err(e) = schema::migrate(&writer, path, create).await {
        writer.close().await;
        return Err(e);
    }
    Ok(writer)
}

/// The writer's thread, on a connection of its own to the migrated file,
/// set as the options say.
async fn start_writer(path: &Path, options: &SqliteOptions) -> Result<Writer, OpenError> {
    let (file, busy, synchronous) = (path.to_owned(), options.busy_timeout, options.synchronous);
    let failed = |source| OpenError::Writer {
        path: path.to_owned(),
        source,
    };
    let connections = tokio::task::spawn_blocking(move || {
        let open = |synchronous: &str| {
            let connection = rusqlite::Connection::open(&file)?;
            connection.busy_timeout(busy)?;
            connection.pragma_update(None, "synchronous", synchronous)?;
            connection.pragma_update(None, "foreign_keys", "ON")?;
            connection.set_prepared_statement_cache_capacity(64);
            crate::reader::stable_plans(&connection)?;
            Ok::<_, rusqlite::Error>(connection)
        };
        let synchronous = match synchronous {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        };
        // Writes that need not survive a power cut commit on a second
        // connection that does not sync; switching one connection's
        // setting back and forth would make SQLite parse every statement
        // again.
        let volatile = open("OFF")?;
        // It never checkpoints: it would copy pages into the file unsynced
        // (the synced one checkpoints for it; see `writer`).
        volatile.pragma_update(None, "wal_autocheckpoint", 0)?;
        volatile.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
            true,
        )?;
        Ok::<_, rusqlite::Error>((open(synchronous)?, volatile))
    })
    .await
    .map_err(|e| failed(Box::new(e)))?
    .map_err(|e| failed(Box::new(e)))?;
    Writer::start(connections).map_err(|e| failed(Box::new(e)))
}
