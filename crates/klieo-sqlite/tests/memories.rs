//! The store as a memory: the shared behaviour, across reopening, and
//! under concurrent writers.

use klieo_sqlite::{SqliteOptions, SqliteStore, Synchronous};
use klieo_store::testing::memory;
use klieo_types::{Episode, EpisodicMemory, Message, RunId, ShortTermMemory, ThreadId};
use std::path::Path;

async fn open(path: &Path) -> SqliteStore {
    SqliteStore::open(path).await.expect("the store opens")
}

#[tokio::test]
async fn the_store_behaves_like_every_journal() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = open(&dir.path().join("a.db")).await;
    memory::journal(&store).await;
    memory::leases(&store).await;
}

#[tokio::test]
async fn under_normal_sync_too() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let options = SqliteOptions::new(dir.path().join("a.db")).with_synchronous(Synchronous::Normal);
    let store = SqliteStore::open_with(options)
        .await
        .expect("the store opens");
    memory::short_term(&store).await;
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
