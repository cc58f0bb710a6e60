//! The in-memory journal behaves like every journal, and like klieo's
//! database stores where the suite leaves room: a refused commit writes
//! nothing, clones share one store, the golden content reads back.

use klieo_store::testing::{golden, memory};
use klieo_store::InMemoryJournal;
use klieo_types::{
    Commit, Episode, EpisodicMemory, Journal, MemoryError, Message, PendingStep, RunId,
    ShortTermMemory, ThreadId, ToolCall,
};
use serde_json::json;

fn reply() -> Message {
    Message::assistant_tool_calls("", vec![ToolCall::new("c1", "echo", json!({}))])
}

mod like_every_journal {
    klieo_store::testing::memory::journal_suite!(Box::new(klieo_store::InMemoryJournal::new()));
}

mod like_every_ledger {
    klieo_store::testing::ledger::ledger_suite!(Box::new(klieo_store::InMemoryJournal::new()));
}

mod like_every_queue {
    klieo_store::testing::queue::queue_suite!(Box::new(klieo_store::InMemoryJournal::new()));
}

mod like_every_catalog {
    klieo_store::testing::catalog::catalog_suite!(Box::new(klieo_store::InMemoryJournal::new()));
}

/// Clones of one in-memory limiter share it, like two processes on one
/// store.
mod like_every_rate_limiter {
    use klieo_store::testing::rate::limits;
    use klieo_store::InMemoryRateLimiter;

    klieo_store::testing::rate::rate_limiter_suite!({
        let limiter = InMemoryRateLimiter::new(limits()).expect("valid limits");
        (Box::new(limiter.clone()), Box::new(limiter))
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_from_two_clones_all_land_in_order() {
    let store = InMemoryJournal::new();
    let other = store.clone();
    memory::concurrent_appends(&[&store, &other]).await;
}

#[tokio::test]
async fn the_golden_content_reads_back() {
    let store = InMemoryJournal::new();
    golden::write(&store).await.unwrap();
    golden::check(&store).await;
}

#[tokio::test]
async fn a_refused_commit_writes_nothing_at_all() {
    let store = InMemoryJournal::new();
    let (run, thread) = (RunId::new(), ThreadId::new("t"));
    store
        .commit(
            Commit::new(run, thread.clone())
                .with_messages(vec![Message::user("go")])
                .with_episodes(vec![Episode::Started { agent: "a".into() }])
                .with_pending(PendingStep::new(1, reply())),
        )
        .await
        .unwrap();
    let stale = Commit::new(run, ThreadId::new("elsewhere"))
        .with_messages(vec![reply(), Message::tool_result("c1", "{}")])
        .with_episodes(vec![Episode::Completed { steps: 1 }])
        .with_expected_episodes(0);
    let refused = store.commit(stale).await;
    assert!(
        matches!(refused, Err(MemoryError::Conflict(_))),
        "{refused:?}"
    );

    let record = store.run(run).await.unwrap().expect("the run is known");
    assert_eq!(record.thread, thread, "the run's thread is unchanged");
    assert_eq!(record.pending, Some(PendingStep::new(1, reply())));
    assert_eq!(store.replay(run).await.unwrap().len(), 1);
    assert_eq!(store.load(&thread, 1_000).await.unwrap().len(), 1);
    let elsewhere = store.load(&ThreadId::new("elsewhere"), 1_000).await;
    assert!(elsewhere.unwrap().is_empty());
}

#[tokio::test]
async fn a_run_only_recorded_has_no_journal_record() {
    let store = InMemoryJournal::new();
    let run = RunId::new();
    store
        .record(run, Episode::Started { agent: "a".into() })
        .await
        .unwrap();
    assert_eq!(store.list_runs().await.unwrap(), [run]);
    assert_eq!(store.run(run).await.unwrap(), None);
    assert_eq!(store.pending(run).await.unwrap(), None);
}

#[tokio::test]
async fn a_commit_without_episodes_lists_no_run_but_keeps_its_record() {
    let store = InMemoryJournal::new();
    let (run, thread) = (RunId::new(), ThreadId::new("t"));
    store
        .commit(Commit::new(run, thread.clone()).with_pending(PendingStep::new(2, reply())))
        .await
        .unwrap();
    assert!(
        store.list_runs().await.unwrap().is_empty(),
        "runs are listed by their episodes, as the database stores list them"
    );
    let record = store.run(run).await.unwrap().expect("known to the journal");
    assert_eq!(record.pending.map(|p| p.step), Some(2));
}

#[tokio::test]
async fn clones_share_one_store() {
    let store = InMemoryJournal::new();
    let other = store.clone();
    let (run, thread) = (RunId::new(), ThreadId::new("t"));
    store
        .commit(
            Commit::new(run, thread.clone())
                .with_messages(vec![Message::user("hi")])
                .with_episodes(vec![Episode::Started { agent: "a".into() }]),
        )
        .await
        .unwrap();
    assert_eq!(other.load(&thread, 1_000).await.unwrap().len(), 1);
    assert_eq!(other.list_runs().await.unwrap(), [run]);
    other.clear(&thread).await.unwrap();
    assert!(store.load(&thread, 1_000).await.unwrap().is_empty());
    let debug = format!("{store:?}");
    assert!(debug.starts_with("InMemoryJournal"), "{debug}");
}
