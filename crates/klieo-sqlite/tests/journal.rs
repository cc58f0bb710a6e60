//! A commit is all or nothing, and survives reopening.

use klieo_sqlite::SqliteStore;
use klieo_types::{
    Commit, Episode, EpisodicMemory, Journal, Message, PendingStep, RunId, ShortTermMemory,
    ThreadId, ToolCall,
};
use serde_json::json;

/// Makes every later write of a `Completed` episode to the store at
/// `path` fail, as a full disk would; the connection that made it so.
async fn fail_completed_writes(path: &std::path::Path) -> sqlx::SqlitePool {
    let url = format!("sqlite://{}", path.display());
    let raw = sqlx::SqlitePool::connect(&url)
        .await
        .expect("a raw connection");
    sqlx::query(
        "CREATE TRIGGER no_completed BEFORE INSERT ON episodes \
         WHEN NEW.kind = 'completed' BEGIN SELECT RAISE(ABORT, 'disk full'); END",
    )
    .execute(&raw)
    .await
    .expect("the trigger");
    raw
}

fn reply() -> Message {
    Message::assistant_tool_calls("", vec![ToolCall::new("c1", "echo", json!({}))])
}

#[tokio::test]
async fn a_commit_that_fails_part_way_writes_nothing() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("a.db");
    let store = SqliteStore::open(&path).await.expect("opens");
    let (run, thread) = (RunId::new(), ThreadId::new("t"));
    store
        .commit(
            Commit::new(run, thread.clone())
                .with_messages(vec![Message::user("go")])
                .with_pending(PendingStep::new(1, reply())),
        )
        .await
        .expect("the first commit");

    // Make the last write of the next commit fail, as a full disk would.
    let raw = fail_completed_writes(&path).await;
    let failed = store
        .commit(
            Commit::new(run, thread.clone())
                .with_messages(vec![reply(), Message::tool_result("c1", "{}")])
                .with_episodes(vec![
                    Episode::Started { agent: "a".into() },
                    Episode::Completed { steps: 1 },
                ]),
        )
        .await;
    let error = failed.expect_err("the trigger fails the commit");
    let chain = klieo_types::ErrorChain(&error).to_string();
    assert!(
        chain.contains("disk full"),
        "the driver's error is the source: {chain}"
    );

    let history = store.load(&thread, 1_000).await.expect("load").to_vec();
    assert_eq!(
        history,
        [Message::user("go")],
        "no message of the failed commit"
    );
    assert!(
        store.replay(run).await.expect("replay").is_empty(),
        "no episode of it"
    );
    assert_eq!(
        store.pending(run).await.expect("pending"),
        Some(PendingStep::new(1, reply())),
        "the pending step is still the one before"
    );
    raw.close().await;
}

#[tokio::test]
async fn a_pending_step_is_there_after_reopening() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("a.db");
    let run = RunId::new();
    {
        let store = SqliteStore::open(&path).await.expect("opens");
        store
            .commit(Commit::new(run, ThreadId::new("t")).with_pending(PendingStep::new(3, reply())))
            .await
            .expect("commit");
        // No close: the process could have died here.
    }
    let store = SqliteStore::open(&path).await.expect("opens again");
    assert_eq!(
        store.pending(run).await.expect("pending"),
        Some(PendingStep::new(3, reply()))
    );
}

/// A step's episodes recorded together (memories given apart, no
/// journal commit) are all written, or none: a log that ends mid-step
/// would show a finished run as unfinished.
#[tokio::test]
async fn episodes_recorded_together_that_fail_part_way_record_nothing() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("a.db");
    let store = SqliteStore::open(&path).await.expect("opens");
    fail_completed_writes(&path).await;
    let run = RunId::new();
    let episodes = vec![
        Episode::Started { agent: "a".into() },
        Episode::Completed { steps: 1 },
    ];
    assert!(store.record_all(run, episodes).await.is_err());
    assert!(store.replay(run).await.expect("replays").is_empty());
    store.close().await;
}
