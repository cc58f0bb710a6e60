//! The store's reads: read-only rusqlite connections, at most
//! `max_readers` in use at once, each read run whole on tokio's blocking
//! threads (one hop there and one back, where the async driver made one
//! per statement and per row). WAL mode lets them read while the writer
//! writes; each read sees what was committed when it began.

use crate::memory::ROWS;
use klieo_types::MemoryError;
use rusqlite::{Connection, OpenFlags};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::Semaphore;

/// The connections, shared by every clone of a store.
pub(crate) struct Readers {
    path: PathBuf,
    busy_timeout: Duration,
    idle: Arc<Mutex<Vec<Connection>>>,
    /// One a connection in use; a read holds its permit until its work
    /// on the blocking thread ends, even if its caller stopped waiting.
    permits: Arc<Semaphore>,
    max: u32,
}

impl Readers {
    /// At most `max` connections to the file at `path`, opened as reads
    /// need them.
    pub(crate) fn new(path: PathBuf, busy_timeout: Duration, max: u32) -> Self {
        let max = max.max(1);
        Self {
            path,
            busy_timeout,
            idle: Arc::new(Mutex::new(Vec::new())),
            permits: Arc::new(Semaphore::new(usize::try_from(max).unwrap_or(1))),
            max,
        }
    }

    /// Runs `work` on a reader connection and returns its result.
    pub(crate) async fn read<T, F>(&self, doing: &'static str, work: F) -> Result<T, MemoryError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, MemoryError> + Send + 'static,
    {
        let closed = || {
            MemoryError::backend(format!(
                "SQLite store: {doing}: the store was closed; open it again"
            ))
        };
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| closed())?;
        let (idle, path, busy) = (Arc::clone(&self.idle), self.path.clone(), self.busy_timeout);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let taken = idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
            let connection = match taken {
                Some(connection) => connection,
                None => open(&path, busy).map_err(|e| ROWS.backend(doing, e))?,
            };
            let result = work(&connection);
            idle.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(connection);
            result
        })
        .await
        // The read's thread panicked (or its runtime is shutting down):
        // that, not a closed store, is the error.
        .map_err(|e| ROWS.backend(doing, e))?
    }

    /// A read-only connection of the caller's own, as the store's are
    /// opened.
    pub(crate) fn open_own(&self) -> rusqlite::Result<Connection> {
        open(&self.path, self.busy_timeout)
    }

    /// Whether the store was closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.permits.is_closed()
    }

    /// Waits for the reads in progress, takes no more, and closes the
    /// connections.
    pub(crate) async fn close(&self) {
        // Every permit back: no read is running.
        let all = self.permits.acquire_many(self.max).await;
        self.permits.close();
        drop(all);
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

/// A read-only connection to `path`.
fn open(path: &PathBuf, busy: Duration) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(path, flags)?;
    connection.busy_timeout(busy)?;
    connection.set_prepared_statement_cache_capacity(32);
    stable_plans(&connection)?;
    Ok(connection)
}

/// Keeps each cached statement's plan whatever values are bound to it.
/// SQLite built with STAT4 (as the bundled one is) otherwise parses a
/// statement again whenever a bound value that its plan looked at
/// changes: a thread's next `seq`, a run's id, every step. That was a
/// fifth of a durable step's instructions (2026-12-05, callgrind), for
/// plans that are the same on these tables.
pub(crate) fn stable_plans(connection: &Connection) -> rusqlite::Result<()> {
    connection
        .set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )
        .map(drop)
}
