//! A lease's time to live, on paused tokio time (no waiting): a crashed
//! worker's lease runs out at it and the run is taken over; a live worker
//! keeps its lease past it by renewing it. On the in-memory journal,
//! whose leases run on tokio's clock (a database's run on its own).

use super::leases::{refused_while_held, second_worker_resumes};
use super::support::{count, driven_while_hanging, Counted, Hooked, OnCommit, OnLease};
use klieo_runtime::{Agent, RunOptions};
use klieo_store::InMemoryJournal;
use klieo_types::testing::ScriptedLlm;
use klieo_types::{Episode, EpisodicMemory, Error, Journal, MemoryError, RunId, ToolCall};
use serde_json::json;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// An agent on `memory`, with leases of `ttl`, whose model calls `send`
/// once, then says "Sent."; its calls' own bound is longer than any time
/// these tests let pass.
fn mailer<J: Journal + 'static>(memory: J, send: Counted, ttl: Duration) -> Agent {
    let call = ToolCall::new("c1", "send_mail", json!({}));
    let llm = ScriptedLlm::new()
        .then_tool_calls(vec![call])
        .then_text("Sent.");
    let options = RunOptions::default()
        .with_lease_ttl(Some(ttl))
        .with_tool_timeout(ttl * 10);
    Agent::builder(llm)
        .add_tool(send)
        .with_memory(memory)
        .with_options(options)
        .build()
        .expect("the options are valid")
}

#[tokio::test(start_paused = true)]
async fn a_crashed_workers_lease_runs_out_at_its_ttl_and_the_run_is_taken_over() {
    let ttl = Duration::from_secs(30);
    let store = InMemoryJournal::new();
    let mails = Arc::new(AtomicUsize::new(0));
    let options = RunOptions::default().with_lease_ttl(Some(ttl));
    let run = driven_while_hanging(&store, &mails, options).await;
    // The first worker dies with send_mail running: its lease is neither
    // renewed nor given up.
    drop(run);
    refused_while_held(&store, &mails).await;
    tokio::time::advance(ttl - Duration::from_millis(1)).await;
    refused_while_held(&store, &mails).await;

    tokio::time::advance(Duration::from_millis(1)).await;
    let (id, resumed) = second_worker_resumes(&store, &mails).await;
    assert_eq!(resumed.unwrap(), "Sent.", "the lease ran out: taken over");
    assert_eq!(count(&mails), 1, "the mail was not sent again");
    let log = store.replay(id).await.unwrap();
    assert!(
        matches!(log.last(), Some(Episode::Completed { .. })),
        "{log:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_live_worker_keeps_its_lease_past_its_ttl_by_renewing_it() {
    let ttl = Duration::from_secs(30);
    let store = InMemoryJournal::new();
    let mails = Arc::new(AtomicUsize::new(0));
    let (started, proceed) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let send = Counted::new("send_mail", false, &mails).waiting(&started, &proceed);
    let first = mailer(store.clone(), send, ttl);
    let chat = first.session("t");
    let mut run = Box::pin(chat.run("mail Ada"));
    tokio::select! {
        answer = &mut run => panic!("send_mail waits: {answer:?}"),
        () = started.notified() => {}
    }
    // Over two lifetimes of the lease pass while send_mail works, a third
    // of one at a time; the worker renews it in the background, in a task
    // of its own that runs as each third passes.
    for _ in 0..7 {
        tokio::time::advance(ttl / 3).await;
    }
    refused_while_held(&store, &mails).await;
    proceed.notify_one();
    let answer = run.await.unwrap();
    assert_eq!(answer.text, "Sent.");
    assert_eq!(count(&mails), 1);
}

/// A store whose first lease is its own answer and each renewal after it
/// `renew`'s, and a mailer on it whose mail hangs: the store and the agent.
fn renewed_by<F, Fut>(ttl: Duration, renew: F) -> (InMemoryJournal, Agent)
where
    F: Fn(InMemoryJournal, RunId, String, Duration) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<bool, MemoryError>> + Send + 'static,
{
    let store = InMemoryJournal::new();
    let (mails, started) = (Arc::new(AtomicUsize::new(0)), Arc::new(Notify::new()));
    let asked = Arc::new(AtomicUsize::new(0));
    let renew = Arc::new(renew);
    let on_lease: OnLease = Arc::new(move |inner, run, holder, ttl| {
        let first = asked.fetch_add(1, Ordering::SeqCst) == 0;
        let renew = Arc::clone(&renew);
        Box::pin(async move {
            match first {
                true => inner.lease(run, &holder, ttl).await,
                false => renew(inner, run, holder, ttl).await,
            }
        })
    });
    let commit: OnCommit =
        Arc::new(|inner, commit| Box::pin(async move { inner.commit(commit).await }));
    let send = Counted::new("send_mail", false, &mails).hanging(&started);
    let hooked = Hooked::new(store.clone(), commit).with_leases(on_lease);
    (store, mailer(hooked, send, ttl))
}

/// Whether the log of `store`'s one run holds an ending or a call's
/// result: what a run its lease stopped must not write.
async fn wrote_an_end_or_a_result(store: &InMemoryJournal) -> bool {
    let runs = store.list_runs().await.unwrap();
    let log = store.replay(runs[0]).await.unwrap();
    log.iter()
        .any(|e| matches!(e, Episode::Failed { .. } | Episode::ToolCall { .. }))
}

/// A worker whose lease renewals fail (its store answers nothing, or
/// errors) stops the run before the lease runs out, as the store's
/// failure, recording nothing: another worker takes the run over once the
/// lease has run out, and this one starts nothing more meanwhile.
#[tokio::test(start_paused = true)]
async fn a_run_whose_lease_cannot_be_renewed_stops_before_it_runs_out() {
    let ttl = Duration::from_secs(30);
    let (store, agent) = renewed_by(ttl, |_, _, _, _| async {
        Err(MemoryError::backend("the store is out of reach"))
    });
    let began = tokio::time::Instant::now();
    let chat = agent.session("t");
    let ended = tokio::time::timeout(ttl, chat.run("mail Ada"))
        .await
        .expect("the run stops before its lease runs out");
    assert!(matches!(ended, Err(Error::Memory(_))), "{ended:?}");
    assert!(began.elapsed() < ttl, "{:?}", began.elapsed());
    assert!(
        !wrote_an_end_or_a_result(&store).await,
        "left to be taken up again, its call in doubt as after a crash"
    );
}

/// A worker whose lease was taken over meanwhile (its renewal refused)
/// stops the run and writes nothing, even once the store would take the
/// write (the taker gave the lease back): the run is not its own to end.
#[tokio::test(start_paused = true)]
async fn a_run_whose_lease_was_taken_over_is_stopped_and_left_as_it_is() {
    let ttl = Duration::from_secs(30);
    let (store, agent) = renewed_by(ttl, |inner, run, holder, ttl| async move {
        // Another worker took the run over, then gave it back.
        inner.release(run, &holder).await?;
        assert!(inner.lease(run, "another", ttl).await?);
        inner.release(run, "another").await?;
        Ok(false)
    });
    let ended = tokio::time::timeout(ttl, agent.session("t").run("mail Ada"))
        .await
        .expect("the run stops at the refused renewal");
    assert_eq!(ended, Err(Error::Cancelled), "stopped as a cancel stops it");
    assert!(
        !wrote_an_end_or_a_result(&store).await,
        "nothing written after the lease was lost"
    );
}

/// One renewal that fails is not the end: the next may be answered
/// before the lease runs out, and the run goes on to its answer.
#[tokio::test(start_paused = true)]
async fn a_run_whose_one_renewal_fails_goes_on() {
    let ttl = Duration::from_secs(30);
    let store = InMemoryJournal::new();
    let mails = Arc::new(AtomicUsize::new(0));
    let (started, proceed) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let asked = Arc::new(AtomicUsize::new(0));
    let on_lease: OnLease = Arc::new(move |inner, run, holder, ttl| {
        let nth = asked.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            match nth {
                1 => Err(MemoryError::backend("a blip")),
                _ => inner.lease(run, &holder, ttl).await,
            }
        })
    });
    let commit: OnCommit =
        Arc::new(|inner, commit| Box::pin(async move { inner.commit(commit).await }));
    let send = Counted::new("send_mail", false, &mails).waiting(&started, &proceed);
    let hooked = Hooked::new(store.clone(), commit).with_leases(on_lease);
    let agent = mailer(hooked, send, ttl);
    let chat = agent.session("t");
    let mut run = Box::pin(chat.run("mail Ada"));
    tokio::select! {
        answer = &mut run => panic!("send_mail waits: {answer:?}"),
        () = started.notified() => {}
    }
    // A lease's lifetime and more, a second at a time (each renewal is
    // asked within a second of its time): the first renewal fails, the
    // later ones are answered.
    for _ in 0..40 {
        tokio::time::advance(Duration::from_secs(1)).await;
    }
    proceed.notify_one();
    assert_eq!(run.await.unwrap().text, "Sent.");
    assert_eq!(count(&mails), 1);
}

#[tokio::test(start_paused = true)]
async fn a_run_that_answered_returns_though_giving_its_lease_up_hangs() {
    let store = InMemoryJournal::new();
    let ttl = Duration::from_secs(30);
    let on_commit: OnCommit =
        Arc::new(|store, commit| Box::pin(async move { store.commit(commit).await }));
    let agent = Agent::builder(ScriptedLlm::new().then_text("Hi."))
        .with_memory(Hooked::new(store, on_commit).hanging_on_release())
        .with_options(RunOptions::default().with_lease_ttl(Some(ttl)))
        .build()
        .expect("the options are valid");
    let answer = tokio::time::timeout(ttl * 2, agent.session("s").run("hi"))
        .await
        .expect("the answer does not wait on the store for ever")
        .unwrap();
    assert_eq!(answer.text, "Hi.");
}
