//! Leases: a run another worker drives, blocking or streamed, is not
//! resumed by a second.

use crate::support::{open, Counted};
use klieo::prelude::*;
use klieo::types::testing::ScriptedLlm;
use klieo::types::{EpisodicMemory, Journal, MemoryError};
use serde_json::json;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_worker_cannot_resume_a_run_another_is_driving() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("agent.db");
    let mails = Arc::new(AtomicUsize::new(0));
    let started = Arc::new(Notify::new());
    let call = ToolCall::new("c1", "send_mail", json!({}));
    let first = Agent::builder(ScriptedLlm::new().then_tool_calls(vec![call]))
        .with_tool(Counted::new("send_mail", false, &mails).hanging(&started))
        .with_memory(open(&path).await)
        .build()
        .expect("the options are valid");
    let chat = first.session("t");
    let mut run = Box::pin(chat.run("mail Ada"));
    let ended = tokio::select! {
        answer = &mut run => Some(answer),
        () = started.notified() => None,
    };
    assert!(ended.is_none(), "send_mail hangs: {ended:?}");
    // The first worker is alive, holding the run's lease.
    refused_while_driven(&path, &mails).await;
    drop(run);
}

/// While another worker drives the store's one run, holding its lease, a
/// second worker's resume is refused and runs and writes nothing.
async fn refused_while_driven(path: &Path, mails: &Arc<AtomicUsize>) -> RunId {
    let store = open(path).await;
    let id = store.list_runs().await.expect("list")[0];
    let second = Agent::builder(ScriptedLlm::new().then_text("Sent."))
        .with_tool(Counted::new("send_mail", false, mails))
        .with_memory(open(path).await)
        .build()
        .expect("the options are valid");
    let error = second.resume(id).await.expect_err("the lease is held");
    assert!(
        matches!(error, Error::Memory(MemoryError::Conflict(_))),
        "{error:?}"
    );
    assert!(error.to_string().contains("another worker"), "{error}");
    assert_eq!(
        mails.load(Ordering::SeqCst),
        1,
        "the second worker ran nothing"
    );
    let log = store.replay(id).await.expect("replay");
    assert!(
        !log.iter()
            .any(|e| matches!(e, Episode::Resumed { .. } | Episode::Failed { .. })),
        "the second worker wrote nothing: {log:?}"
    );
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_run_holds_its_lease_until_its_stream_ends() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("agent.db");
    let mails = Arc::new(AtomicUsize::new(0));
    let (started, proceed) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let call = ToolCall::new("c1", "send_mail", json!({}));
    let llm = ScriptedLlm::new()
        .then_tool_calls(vec![call])
        .then_text("Sent.");
    let first = Agent::builder(llm)
        .with_tool(Counted::new("send_mail", false, &mails).waiting(&started, &proceed))
        .with_memory(open(&path).await)
        .build()
        .expect("the options are valid");
    let mut events = first.session("t").stream("mail Ada");
    let mut read = std::pin::pin!(async {
        let mut answer = None;
        while let Some(event) = events.next().await {
            if let RunEvent::Finished(done) = event.expect("the run goes on") {
                answer = Some(done.text);
            }
        }
        answer
    });
    tokio::select! {
        ended = &mut read => panic!("the run ended while send_mail waits: {ended:?}"),
        () = started.notified() => {}
    }
    let id = refused_while_driven(&path, &mails).await;
    proceed.notify_one();
    let answer = read.await;
    assert_eq!(answer.as_deref(), Some("Sent."));
    // The stream gave the lease up before it ended.
    let store = open(&path).await;
    let free = store.lease(id, "another worker", std::time::Duration::from_secs(30));
    assert!(free.await.expect("lease"), "the lease was given up");
}
