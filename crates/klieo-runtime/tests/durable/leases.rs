//! Leases: a run another worker drives, blocking or streamed, is not
//! resumed by a second. (When a lease runs out is `lease_expiry.rs`'s,
//! on paused tokio time.)

use super::store::{fresh, Store};
use super::support::{count, driven_while_hanging, Counted, Hooked, OnCommit};
use klieo_runtime::{Agent, RunEvent, RunOptions};
use klieo_types::testing::ScriptedLlm;
use klieo_types::{Episode, EpisodicMemory, Error, Journal, MemoryError, RunId, ToolCall};
use serde_json::json;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Tries to resume the store's one run from a second worker, whose tool
/// counts into `mails`.
pub(super) async fn second_worker_resumes(
    store: &Store,
    mails: &Arc<AtomicUsize>,
) -> (RunId, Result<String, Error>) {
    let id = store.list_runs().await.unwrap()[0];
    let second = Agent::builder(ScriptedLlm::new().then_text("Sent."))
        .add_tool(Counted::new("send_mail", false, mails))
        .with_memory(store.clone())
        .build()
        .expect("the options are valid");
    (id, second.resume(id).await.map(|answer| answer.text))
}

/// While another worker holds the lease of the store's one run, a second
/// worker's resume is refused and runs and writes nothing.
pub(super) async fn refused_while_held(store: &Store, mails: &Arc<AtomicUsize>) -> RunId {
    let (id, resumed) = second_worker_resumes(store, mails).await;
    let error = resumed.expect_err("the lease is held");
    assert!(
        matches!(error, Error::Memory(MemoryError::Conflict(_))),
        "{error:?}"
    );
    assert!(error.to_string().contains("another worker"), "{error}");
    assert_eq!(count(mails), 1, "the second worker ran nothing");
    let log = store.replay(id).await.unwrap();
    assert!(
        !log.iter()
            .any(|e| matches!(e, Episode::Resumed { .. } | Episode::Failed { .. })),
        "the second worker wrote nothing: {log:?}"
    );
    id
}

#[tokio::test]
async fn a_second_worker_cannot_resume_a_run_another_is_driving() {
    let (_dir, store) = fresh().await;
    let mails = Arc::new(AtomicUsize::new(0));
    let run = driven_while_hanging(&store, &mails, RunOptions::default()).await;
    // The first worker is alive, holding the run's lease.
    refused_while_held(&store, &mails).await;
    drop(run);
}

#[tokio::test]
async fn a_streamed_run_holds_its_lease_until_its_stream_ends() {
    let (_dir, store) = fresh().await;
    let mails = Arc::new(AtomicUsize::new(0));
    let (started, proceed) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let call = ToolCall::new("c1", "send_mail", json!({}));
    let llm = ScriptedLlm::new()
        .then_tool_calls(vec![call])
        .then_text("Sent.");
    let first = Agent::builder(llm)
        .add_tool(Counted::new("send_mail", false, &mails).waiting(&started, &proceed))
        .with_memory(store.clone())
        .build()
        .expect("the options are valid");
    let mut events = first.session("t").stream("mail Ada");
    let mut read = std::pin::pin!(async {
        let mut answer = None;
        while let Some(event) = events.next().await {
            if let RunEvent::Finished(done) = event.unwrap() {
                answer = Some(done.text);
            }
        }
        answer
    });
    tokio::select! {
        ended = &mut read => panic!("the run ended while send_mail waits: {ended:?}"),
        () = started.notified() => {}
    }
    let id = refused_while_held(&store, &mails).await;
    proceed.notify_one();
    let answer = read.await;
    assert_eq!(answer.as_deref(), Some("Sent."));
    // The stream gave the lease up before it ended.
    let free = store.lease(id, "another worker", Duration::from_secs(30));
    assert!(free.await.unwrap(), "the lease was given up");
}

#[tokio::test]
async fn a_run_whose_write_the_store_refuses_keeps_its_lease_until_it_runs_out() {
    let (_dir, store) = fresh().await;
    let mails = Arc::new(AtomicUsize::new(0));
    // The store refuses the run's last write, as PostgreSQL refuses a
    // text it cannot hold, each time it is tried.
    let on_commit: OnCommit = Arc::new(|store, commit| {
        Box::pin(async move {
            if commit
                .episodes
                .iter()
                .any(|e| matches!(e, Episode::Completed { .. }))
            {
                return Err(MemoryError::backend("the store cannot hold the answer"));
            }
            store.commit(commit).await
        })
    });
    let first = Agent::builder(ScriptedLlm::new().then_text("Sent."))
        .with_memory(Hooked::new(store.clone(), on_commit))
        .build()
        .expect("the options are valid");
    let error = first.session("t").run("mail Ada").await.unwrap_err();
    assert!(
        matches!(error, Error::Memory(MemoryError::Backend { .. })),
        "{error:?}"
    );
    // Left to be resumed, but not at once: a worker would claim it again
    // and call the model again only once its lease ran out.
    let (_, resumed) = second_worker_resumes(&store, &mails).await;
    let error = resumed.expect_err("the lease is held");
    assert!(
        matches!(error, Error::Memory(MemoryError::Conflict(_))),
        "{error:?}"
    );
}
