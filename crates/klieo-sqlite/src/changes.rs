//! The store's changes, for whoever follows a run: SQLite counts the
//! commits other connections make to the file (`PRAGMA data_version`), so
//! a connection of the follower's own asks that counter every [`POLL`]
//! (it reads no table and takes no lock) and tells
//! [`RunChange::Any`] when it moved. The store cannot say which run
//! changed; the follower reads its run's entry then.

use crate::memory::ROWS;
use crate::reader::Readers;
use crate::SqliteStore;
use futures_util::stream;
use klieo_types::{MemoryError, RunChange, RunChanges};
use rusqlite::Connection;
use std::sync::Arc;
use std::time::Duration;

/// How often the counter is asked.
pub(crate) const POLL: Duration = Duration::from_millis(100);

/// What the stream keeps between two looks.
struct Counter {
    readers: Arc<Readers>,
    /// Its own connection, opened at the first look (and again after a
    /// failure).
    connection: Option<Connection>,
    seen: Option<i64>,
}

impl SqliteStore {
    /// A stream of the store's changes from now (the counter is read
    /// before it is returned); it ends when the store is closed.
    pub(crate) async fn change_counter(&self) -> Result<RunChanges, MemoryError> {
        let doing = "following the store's changes";
        let readers = Arc::clone(&self.readers);
        let (connection, seen) = tokio::task::spawn_blocking(move || look(&readers, None))
            .await
            .map_err(|e| ROWS.backend(doing, e))?
            .map_err(|e| ROWS.backend(doing, e))?;
        let counter = Counter {
            readers: Arc::clone(&self.readers),
            connection: Some(connection),
            seen: Some(seen),
        };
        Ok(Box::pin(stream::unfold(
            counter,
            |mut counter| async move {
                loop {
                    tokio::time::sleep(POLL).await;
                    if counter.readers.is_closed() {
                        return None;
                    }
                    let (readers, connection) =
                        (Arc::clone(&counter.readers), counter.connection.take());
                    match tokio::task::spawn_blocking(move || look(&readers, connection)).await {
                        Ok(Ok((connection, version))) => {
                            counter.connection = Some(connection);
                            let moved = counter.seen.is_some_and(|seen| seen != version);
                            counter.seen = Some(version);
                            if moved {
                                return Some((RunChange::Any, counter));
                            }
                        }
                        // A connection that failed is opened again at the next
                        // look; what changed meanwhile is not known.
                        Ok(Err(_)) => {
                            counter.seen = None;
                            return Some((RunChange::Any, counter));
                        }
                        // The runtime is shutting down.
                        Err(_) => return None,
                    }
                }
            },
        )))
    }
}

/// The counter, read on `connection` (or a new one of the caller's own).
fn look(readers: &Readers, connection: Option<Connection>) -> rusqlite::Result<(Connection, i64)> {
    let connection = match connection {
        Some(connection) => connection,
        None => readers.open_own()?,
    };
    let version = connection.query_row("PRAGMA data_version", [], |row| row.get(0))?;
    Ok((connection, version))
}
