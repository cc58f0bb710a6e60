//! The store as a memory: the shared behaviour, across reopening, and
//! under concurrent writers.

use klieo_sqlite::{SqliteOptions, SqliteStore, Synchronous};
use klieo_store::testing::memory;
use klieo_store::{RateLimit, RateLimits};
use klieo_types::{
    Episode, EpisodicMemory, Message, RateLimiter, RunId, ShortTermMemory, ThreadId,
};
use std::path::Path;

async fn open(path: &Path) -> SqliteStore {
    SqliteStore::open(path).await.expect("the store opens")
}

/// A fresh store in a temporary directory, which lives as long as it.
struct Fresh {
    store: SqliteStore,
    _dir: tempfile::TempDir,
}

impl Fresh {
    async fn new(synchronous: Synchronous) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let options = SqliteOptions::new(dir.path().join("a.db")).with_synchronous(synchronous);
        let store = SqliteStore::open_with(options)
            .await
            .expect("the store opens");
        Self { store, _dir: dir }
    }
}

impl std::ops::Deref for Fresh {
    type Target = SqliteStore;

    fn deref(&self) -> &SqliteStore {
        &self.store
    }
}

mod like_every_journal {
    use super::{Fresh, Synchronous};
    klieo_store::testing::memory::journal_suite!(Fresh::new(Synchronous::Full).await);
}

mod like_every_ledger {
    use super::{Fresh, Synchronous};
    klieo_store::testing::ledger::ledger_suite!(Fresh::new(Synchronous::Full).await);
}

mod like_every_queue {
    use super::{Fresh, Synchronous};
    klieo_store::testing::queue::queue_suite!(Fresh::new(Synchronous::Full).await);
}

mod like_every_catalog {
    use super::{Fresh, Synchronous};
    klieo_store::testing::catalog::catalog_suite!(Fresh::new(Synchronous::Full).await);
}

/// A limiter over a fresh file, beside its temporary directory.
struct Limiter {
    limiter: klieo_sqlite::SqliteRateLimiter,
    _dir: std::sync::Arc<tempfile::TempDir>,
}

impl std::ops::Deref for Limiter {
    type Target = klieo_sqlite::SqliteRateLimiter;

    fn deref(&self) -> &Self::Target {
        &self.limiter
    }
}

/// Two limiters of the suite's limits over one file, each through a store
/// of its own (as two processes have).
async fn two_limiters() -> (Limiter, Limiter) {
    let dir = std::sync::Arc::new(tempfile::tempdir().expect("a temporary directory"));
    let path = dir.path().join("a.db");
    let limits = klieo_store::testing::rate::limits();
    let mut pair = Vec::new();
    for _ in 0..2 {
        let limiter = open(&path).await.rate_limiter(limits.clone());
        pair.push(Limiter {
            limiter: limiter.expect("valid limits"),
            _dir: std::sync::Arc::clone(&dir),
        });
    }
    let b = pair.pop().expect("two");
    (pair.pop().expect("two"), b)
}

mod like_every_rate_limiter {
    klieo_store::testing::rate::rate_limiter_suite!(super::two_limiters().await);
}

mod under_normal_sync_too {
    use super::{Fresh, Synchronous};
    klieo_store::testing::memory::short_term_suite!(Fresh::new(Synchronous::Normal).await);
}

#[tokio::test]
async fn what_was_written_is_there_after_reopening() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("a.db");
    let (thread, run) = (ThreadId::new("t"), RunId::new());
    {
        let store = open(&path).await;
        store
            .append(
                &thread,
                vec![Message::user("hi"), Message::assistant("hello")],
            )
            .await
            .expect("append");
        store
            .record(run, Episode::Started { agent: "a".into() })
            .await
            .expect("record");
        store.close().await;
    }
    let store = open(&path).await;
    let history = store.load(&thread, 1_000).await.expect("load").to_vec();
    assert_eq!(history, [Message::user("hi"), Message::assistant("hello")]);
    assert_eq!(store.list_runs().await.expect("list"), [run]);
    // And the next append goes after what was there.
    store
        .append(&thread, vec![Message::user("again")])
        .await
        .expect("append");
    assert_eq!(store.load(&thread, 1_000).await.expect("load").len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_from_two_stores_on_one_file_all_land_in_order() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("a.db");
    // Two stores on one file stand for two processes.
    let (a, b) = (open(&path).await, open(&path).await);
    memory::concurrent_appends(&[&a, &b]).await;
}

/// A process that only counts rate limits keeps its WAL short: the counts
/// commit unsynced on a connection that never checkpoints, and the synced
/// one checkpoints for it. Before, every count grew the WAL by a page for
/// as long as the process ran (3,000 counts, about 12 MB).
#[tokio::test]
async fn counting_rate_limits_alone_keeps_the_wal_short() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("a.db");
    let store = open(&path).await;
    let limits =
        RateLimits::new().add_scope("s", RateLimit::new().with_requests_per_minute(1_000_000));
    let limiter = store.rate_limiter(limits).expect("valid limits");
    for _ in 0..3_000 {
        let wait = limiter.acquire("s", 1).await.expect("the count is written");
        assert_eq!(wait, None, "far within the limit");
    }
    // A page and its header.
    let frame = 4_096 + 24;
    let wal = std::fs::metadata(dir.path().join("a.db-wal"))
        .expect("the WAL is there while the store is open")
        .len();
    assert!(
        wal < 1_500 * frame,
        "the WAL holds {wal} bytes, {} pages, after 3,000 counts",
        wal / frame
    );
}
