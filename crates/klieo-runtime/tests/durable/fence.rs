//! Without leases, every commit of a resumed run is fenced against the
//! log it read: of two resumes that both got their `Resumed` in, the one
//! that read first fails with a `Conflict` at its next write, and nothing
//! runs twice.

use super::store::fresh;
use super::support::{count, held_after, Counted, Hooked};
use klieo_runtime::{Agent, AgentBuilder, RunOptions};
use klieo_types::testing::ScriptedLlm;
use klieo_types::{Episode, EpisodicMemory, Error, MemoryError, ToolCall};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

fn no_lease() -> RunOptions {
    RunOptions::default().with_lease_ttl(None)
}

/// A resumer whose model asks for `send_mail` once, then answers.
fn resumer(mails: &Arc<AtomicUsize>) -> AgentBuilder {
    let call = ToolCall::new("c2", "send_mail", json!({}));
    Agent::builder(
        ScriptedLlm::new()
            .then_tool_calls(vec![call])
            .then_text("Sent."),
    )
    .add_tool(Counted::new("send_mail", false, mails))
    .with_options(no_lease())
}

#[tokio::test]
async fn of_two_resumes_without_leases_the_one_that_read_first_stops_before_running_anything() {
    let (_dir, store) = fresh().await;
    let mails = Arc::new(AtomicUsize::new(0));

    // A run that stopped while its (not idempotent) call ran.
    let started = Arc::new(Notify::new());
    let call = ToolCall::new("c1", "send_mail", json!({}));
    let crashed = Agent::builder(ScriptedLlm::new().then_tool_calls(vec![call]))
        .add_tool(Counted::new("send_mail", false, &mails).hanging(&started))
        .with_options(no_lease())
        .with_memory(store.clone())
        .build()
        .expect("the options are valid");
    let chat = crashed.session("t");
    let mut run = Box::pin(chat.run("mail Ada"));
    tokio::select! {
        answer = &mut run => panic!("send_mail hangs: {answer:?}"),
        () = started.notified() => {}
    }
    drop(run);
    let id = store.list_runs().await.unwrap()[0];
    mails.store(0, Ordering::SeqCst);

    // The first resumer gets its `Resumed` in, then pauses.
    let (on_commit, paused, go_on) = held_after(|e| matches!(e, Episode::Resumed { .. }));
    let first = resumer(&mails)
        .with_memory(Hooked::new(store.clone(), on_commit))
        .build()
        .expect("the options are valid");
    let first = tokio::spawn(async move { first.resume(id).await });
    paused.notified().await;

    // The second reads the log after it, gets its own `Resumed` in, and
    // drives the run to its answer.
    let second = resumer(&mails)
        .with_memory(store.clone())
        .build()
        .expect("the options are valid");
    let answer = second.resume(id).await.unwrap();
    assert_eq!(answer.text, "Sent.");
    assert_eq!(count(&mails), 1);

    go_on.notify_one();
    let error = first
        .await
        .unwrap()
        .expect_err("the first resume is fenced out");
    assert!(
        matches!(error, Error::Memory(MemoryError::Conflict(_))),
        "{error:?}"
    );
    assert_eq!(count(&mails), 1, "send_mail ran once");
    let log = store.replay(id).await.unwrap();
    let completed = log
        .iter()
        .filter(|e| matches!(e, Episode::Completed { .. }))
        .count();
    assert_eq!(completed, 1, "{log:?}");
    assert!(
        matches!(log.last(), Some(Episode::Completed { .. })),
        "{log:?}"
    );
}
