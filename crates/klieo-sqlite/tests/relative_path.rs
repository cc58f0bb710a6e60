//! A store opened by a relative path keeps reading the file it opened
//! when the process changes directory (a tool may): its readers open as
//! they are needed. Alone in its test binary, as it changes the process's
//! directory.
#![allow(clippy::unwrap_used)]

use klieo_sqlite::SqliteStore;
use klieo_types::{Message, ShortTermMemory, ThreadId};

#[tokio::test]
async fn a_relative_path_reads_the_same_file_after_a_directory_change() {
    let (first, second) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    std::env::set_current_dir(first.path()).unwrap();
    let store = SqliteStore::open("agent.db").await.unwrap();
    assert!(store.path().is_absolute(), "{:?}", store.path());
    let thread = ThreadId::new("t");
    store
        .append(&thread, vec![Message::user("hi")])
        .await
        .unwrap();
    std::env::set_current_dir(second.path()).unwrap();
    let read = store.load(&thread, 1_000).await.unwrap();
    assert_eq!(read.len(), 1);
    store.close().await;
}
