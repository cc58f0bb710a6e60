//! The store's one writer: a thread of its own holding the write
//! connection (rusqlite, straight on SQLite), running each write as a job
//! and committing the jobs that queued meanwhile as one transaction, so
//! runs writing at once share a commit and its fsync (group commit).
//!
//! Why not the async driver's connection, as the reads use: through it
//! every statement is a round trip to the driver's own thread, and a
//! commit is five to eight statements; here a write is one hop to this
//! thread and one back (docs/PERFORMANCE.md, "Durable runs"). Each job
//! runs in a savepoint: one refused (a lease another worker holds, a
//! fence missed) leaves the others' writes in.
//!
//! The thread holds a second connection for writes that need not survive
//! a power cut (a rate limit's counts): a transaction of those alone
//! commits there, unsynced. That connection never checkpoints (neither as
//! the WAL grows nor when it closes, and it closes first), since a
//! checkpoint on it would copy the journal's pages into the file without
//! syncing them. The synced connection checkpoints for it instead, after
//! every [`UNSYNCED_COMMITS_PER_CHECKPOINT`] unsynced commits in a row
//! (a synced commit checkpoints by SQLite's own rule): SQLite
//! checkpoints only after a commit of the connection that checkpoints, so
//! a process that only counts rate limits would otherwise grow the WAL
//! with every count, for as long as it runs.

use crate::memory::ROWS;
use klieo_types::MemoryError;
use rusqlite::Connection;
use std::panic::AssertUnwindSafe;
use std::sync::{mpsc, Mutex, PoisonError};
use std::thread::JoinHandle;
use tokio::sync::oneshot;

/// The most jobs one transaction commits.
const MOST_JOBS: usize = 512;

/// Commits of the unsynced connection alone between two checkpoints by the
/// synced one. Each writes a page or more to the WAL, and SQLite's own
/// checkpoint comes after 1,000 pages: the WAL stays about as long as a
/// synced connection's.
const UNSYNCED_COMMITS_PER_CHECKPOINT: u32 = 1_000;

/// A write the thread runs, answered once its transaction ended.
trait Job: Send {
    /// Runs the write; whether its changes stay (an error rolls its
    /// savepoint back).
    fn run(&mut self, connection: &Connection) -> bool;

    /// Answers the caller: the write's own result, or `failed` when the
    /// transaction it ran in did not commit.
    fn answer(self: Box<Self>, failed: Option<&MemoryError>);

    /// Whether the write must survive a power cut once answered (a
    /// journal's must; a rate limit's count need not).
    fn durable(&self) -> bool;
}

/// A job of a closure, its result kept until the commit.
struct Pending<T, F> {
    work: Option<F>,
    result: Option<Result<T, MemoryError>>,
    reply: oneshot::Sender<Result<T, MemoryError>>,
    durable: bool,
}

impl<T, F> Job for Pending<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> Result<T, MemoryError> + Send,
{
    fn run(&mut self, connection: &Connection) -> bool {
        let Some(work) = self.work.take() else {
            return false;
        };
        // A job that panics fails alone; the writer goes on.
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| work(connection)))
            .unwrap_or_else(|_| {
                Err(MemoryError::backend(
                    "SQLite store: a write panicked; nothing of it was written",
                ))
            });
        let kept = result.is_ok();
        self.result = Some(result);
        kept
    }

    fn answer(self: Box<Self>, failed: Option<&MemoryError>) {
        let result = match (self.result, failed) {
            // The transaction did not commit: whatever this job saw (a
            // refusal too) may rest on writes of others that are not in.
            (_, Some(failed)) => Err(failed.clone()),
            (Some(result), None) => result,
            (None, None) => Err(MemoryError::backend(
                "SQLite store: a write was queued but never run",
            )),
        };
        // A caller that stopped waiting no longer wants the answer.
        let _ = self.reply.send(result);
    }

    fn durable(&self) -> bool {
        self.durable
    }
}

/// The handle every clone of a store shares. Dropping the last one ends
/// the thread once it has run what was queued.
pub(crate) struct Writer {
    jobs: Mutex<Option<mpsc::Sender<Box<dyn Job>>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Writer {
    /// Starts the thread on `connections`: the store's, and one that does
    /// not sync, for transactions of volatile writes alone.
    pub(crate) fn start(connections: (Connection, Connection)) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("klieo-sqlite-writer".into())
            .spawn(move || {
                let (durable, volatile) = connections;
                drive(&durable, &volatile, &queue);
                // The unsynced one first: the last to close checkpoints.
                drop(volatile);
                drop(durable);
            })?;
        Ok(Self {
            jobs: Mutex::new(Some(jobs)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Runs `work` on the writer's connection inside a transaction it
    /// may share with other writes, and returns its result once that
    /// transaction committed. Dropping the future does not stop the
    /// write: it may or may not be in.
    pub(crate) async fn write<T, F>(&self, doing: &str, work: F) -> Result<T, MemoryError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, MemoryError> + Send + 'static,
    {
        self.queue(doing, work, true).await
    }

    /// [`write`](Self::write) for a write that need not survive a power
    /// cut: a transaction of such writes alone commits without syncing,
    /// on the thread's second connection (`synchronous = OFF`); with
    /// others, it is synced with them.
    pub(crate) async fn write_volatile<T, F>(&self, doing: &str, work: F) -> Result<T, MemoryError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, MemoryError> + Send + 'static,
    {
        self.queue(doing, work, false).await
    }

    async fn queue<T, F>(&self, doing: &str, work: F, durable: bool) -> Result<T, MemoryError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, MemoryError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(Pending {
            work: Some(work),
            result: None,
            reply,
            durable,
        });
        let sent = match &*self.jobs.lock().unwrap_or_else(PoisonError::into_inner) {
            Some(jobs) => jobs.send(job).is_ok(),
            None => false,
        };
        if !sent {
            return Err(stopped(doing));
        }
        answer.await.map_err(|_| stopped(doing))?
    }

    /// Takes no more writes, and returns once those queued are in and
    /// the connection is closed.
    pub(crate) async fn close(&self) {
        drop(
            self.jobs
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            // Joining blocks: off the async threads.
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

/// The error of a write the writer cannot take or answer.
fn stopped(doing: &str) -> MemoryError {
    MemoryError::backend(format!(
        "SQLite store: {doing}: the store was closed (or its writer stopped); open it again"
    ))
}

/// The thread: waits for a job, takes every other one queued (up to
/// [`MOST_JOBS`]), commits them together and answers each.
fn drive(durable: &Connection, volatile: &Connection, queue: &mpsc::Receiver<Box<dyn Job>>) {
    let mut unsynced_commits = 0;
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MOST_JOBS {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        // A rollback that failed last time left a transaction open, on
        // either connection; it would hold the other one's writes back.
        for open in [durable, volatile] {
            if !open.is_autocommit() {
                let _ = open.execute_batch("ROLLBACK");
            }
        }
        let unsynced = batch.iter().all(|job| !job.durable());
        let connection = match unsynced {
            true => volatile,
            false => durable,
        };
        let failed = commit(connection, &mut batch).err();
        for job in batch {
            job.answer(failed.as_ref());
        }
        if failed.is_none() {
            unsynced_commits = match unsynced {
                true => unsynced_commits + 1,
                false => 0,
            };
            if unsynced_commits >= UNSYNCED_COMMITS_PER_CHECKPOINT {
                unsynced_commits = 0;
                checkpoint(durable);
            }
        }
    }
}

/// Copies the WAL's pages into the file and syncs them, as far as no
/// reader holds them (a passive checkpoint: it waits for nobody), so the
/// next commit can write the WAL from its start again. Run on the synced
/// connection, after the callers of the commit were answered; a
/// checkpoint that fails is left to the next one (the WAL only grows
/// meanwhile).
fn checkpoint(durable: &Connection) {
    // Its row says how far it got; a checkpoint cut short loses nothing.
    let _ = durable.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
}

/// Runs `sql`, a statement without parameters or rows, parsed once.
fn statement(connection: &Connection, sql: &str) -> rusqlite::Result<()> {
    connection.prepare_cached(sql)?.execute([]).map(drop)
}

/// Runs `batch` in one transaction, each job in a savepoint of its own.
fn commit(connection: &Connection, batch: &mut [Box<dyn Job>]) -> Result<(), MemoryError> {
    let failed = |e| ROWS.backend("committing writes", e);
    // A rollback that failed last time left a transaction open.
    if !connection.is_autocommit() {
        connection.execute_batch("ROLLBACK").map_err(failed)?;
    }
    statement(connection, "BEGIN IMMEDIATE").map_err(failed)?;
    for job in batch.iter_mut() {
        let ran = statement(connection, "SAVEPOINT job").and_then(|()| {
            if !job.run(connection) {
                statement(connection, "ROLLBACK TO job")?;
            }
            statement(connection, "RELEASE job")
        });
        if let Err(e) = ran {
            let _ = connection.execute_batch("ROLLBACK");
            return Err(failed(e));
        }
    }
    if let Err(e) = statement(connection, "COMMIT") {
        let _ = connection.execute_batch("ROLLBACK");
        return Err(failed(e));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A writer on a fresh WAL file: a `FULL` connection and the unsynced
    /// one, as the store opens them.
    fn writer(dir: &std::path::Path) -> Writer {
        let open = |synchronous: &str| {
            let connection = Connection::open(dir.join("w.db")).unwrap();
            connection
                .pragma_update(None, "journal_mode", "WAL")
                .unwrap();
            connection
                .pragma_update(None, "synchronous", synchronous)
                .unwrap();
            connection
        };
        Writer::start((open("FULL"), open("OFF"))).unwrap()
    }

    fn synchronous(connection: &Connection) -> Result<i64, MemoryError> {
        connection
            .query_row("PRAGMA synchronous", [], |row| row.get(0))
            .map_err(|e| ROWS.backend("reading the setting", e))
    }

    #[tokio::test]
    async fn a_volatile_write_alone_commits_unsynced_and_a_durable_one_synced() {
        let dir = tempfile::tempdir().unwrap();
        let writer = writer(dir.path());
        // 0 is OFF, 2 is FULL.
        assert_eq!(
            writer.write_volatile("a count", synchronous).await.unwrap(),
            0
        );
        assert_eq!(writer.write("a record", synchronous).await.unwrap(), 2);
        writer.close().await;
    }
}
