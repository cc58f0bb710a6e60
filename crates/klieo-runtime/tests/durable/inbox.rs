//! What a store holds for someone to act on: the call a suspended run
//! waits on, approved by the run's id; and the runs a process starting up
//! should resume.

use super::approval::{agent, suspend};
use super::store::fresh;
use super::support::{driven_while_hanging, Counted, Hooked, OnCommit};
use klieo_runtime::{Agent, RunOptions};
use klieo_types::testing::ScriptedLlm;
use klieo_types::Journal;
use klieo_types::{EpisodicMemory, Error, LlmError, ToolCall};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

#[tokio::test]
async fn a_suspended_runs_waiting_call_is_shown_and_approved_by_the_runs_id() {
    let (_dir, store) = fresh().await;
    let sent = Arc::new(AtomicUsize::new(0));
    let ticket = suspend(&store, &sent).await;

    // Another process, which never saw the `Suspended` error.
    let later = agent(ScriptedLlm::new().then_text("Sent."), &store, &sent);
    let waiting = later
        .pending_approval(ticket.run)
        .await
        .unwrap()
        .expect("a call waits");
    assert_eq!(
        waiting.ticket, ticket,
        "the ticket the run was suspended with"
    );
    assert_eq!(waiting.tool, "send_mail");
    assert_eq!(waiting.arguments, json!({"to": "ada"}));

    let answer = later.approve_run(ticket.run).await.unwrap();
    assert_eq!(answer.text, "Sent.");
    assert_eq!(sent.load(Ordering::SeqCst), 1, "the call ran once");
    assert_eq!(later.pending_approval(ticket.run).await.unwrap(), None);
    let again = later
        .approve_run(ticket.run)
        .await
        .expect_err("nothing waits");
    assert!(matches!(again, Error::NotResumable { .. }), "{again:?}");
    assert_eq!(sent.load(Ordering::SeqCst), 1, "nothing ran again");
}

#[tokio::test]
async fn unfinished_runs_are_those_that_stopped_without_ending() {
    let (_dir, store) = fresh().await;
    let sent = Arc::new(AtomicUsize::new(0));
    let no_lease = RunOptions::default().with_lease_ttl(None);

    // One answers, one fails, one waits for a person.
    let done = Agent::builder(ScriptedLlm::new().then_text("Hi."))
        .with_memory(store.clone())
        .build()
        .expect("the options are valid");
    done.session("done").run("hi").await.unwrap();
    let failing = Agent::builder(ScriptedLlm::new().then_error(LlmError::unauthorized("bad key")))
        .with_memory(store.clone())
        .build()
        .expect("the options are valid");
    failing
        .session("failed")
        .run("hi")
        .await
        .expect_err("fails");
    suspend(&store, &sent).await;

    // And one whose process stopped while its tool ran.
    let lookups = Arc::new(AtomicUsize::new(0));
    let started = Arc::new(Notify::new());
    let call = ToolCall::new("c1", "lookup", json!({}));
    let stopped = {
        let agent = Agent::builder(ScriptedLlm::new().then_tool_calls(vec![call]))
            .add_tool(Counted::new("lookup", true, &lookups).hanging(&started))
            .with_memory(store.clone())
            .with_options(no_lease.clone())
            .build()
            .expect("the options are valid");
        let chat = agent.session("stopped");
        let run = Box::pin(chat.run("look it up"));
        tokio::select! {
            answer = run => panic!("lookup hangs: {answer:?}"),
            () = started.notified() => {}
        }
        // The process dies here; a blocking run records nothing.
        store
            .list_runs()
            .await
            .unwrap()
            .last()
            .copied()
            .expect("its run")
    };

    let starting_up = agent(ScriptedLlm::new().then_text("Found."), &store, &sent);
    assert_eq!(starting_up.unfinished_runs().await.unwrap(), [stopped]);
    starting_up.resume(stopped).await.unwrap();
    assert_eq!(starting_up.unfinished_runs().await.unwrap(), []);
}

#[tokio::test]
async fn unfinished_runs_leave_out_a_run_whose_log_cannot_be_read() {
    let (_dir, store) = fresh().await;
    let sent = Arc::new(AtomicUsize::new(0));
    let done = Agent::builder(ScriptedLlm::new().then_text("Hi."))
        .with_memory(store.clone())
        .build()
        .expect("the options are valid");
    done.session("done").run("hi").await.unwrap();
    let newer = store.list_runs().await.unwrap()[0];
    let waiting = suspend(&store, &sent).await.run;
    let no_lease = RunOptions::default().with_lease_ttl(None);
    drop(driven_while_hanging(&store, &sent, no_lease).await);
    let stopped = *store.list_runs().await.unwrap().last().unwrap();
    let on_commit: OnCommit =
        Arc::new(|store, commit| Box::pin(async move { store.commit(commit).await }));
    let hooked = Hooked::new(store, on_commit).with_unreadable_log(newer);
    let starting_up = Agent::builder(ScriptedLlm::new())
        .with_memory(hooked)
        .build()
        .expect("the options are valid");
    // The suspended run waits for a person; the unreadable log fails
    // nothing.
    assert_eq!(starting_up.unfinished_runs().await.unwrap(), [stopped]);
    assert!(![newer, waiting].contains(&stopped));
}
