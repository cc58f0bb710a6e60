//! A run goes on as it started: an approval, a denial and a resume each
//! have a streamed form, whose run id is known before its first event and
//! whose events and episodes are those of the blocking form.

use super::approval::{agent, kinds, suspend, APPROVED};
use super::store::fresh;
use super::support::{
    count, failed_log, given_back, held_after, reserved, Counted, Hooked, OnCommit,
};
use klieo_runtime::{Agent, Budget, KeyBudget, RunEvent, RunEvents, RunOptions};
use klieo_types::testing::{text_chunks, ScriptedLlm};
use klieo_types::{Episode, EpisodicMemory, Error, Journal, KeySpend, ToolCall, ToolOutcome};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

/// Every item of a run's events.
async fn all(mut events: RunEvents) -> Vec<Result<RunEvent, Error>> {
    let mut items = Vec::new();
    while let Some(item) = events.next().await {
        items.push(item);
    }
    items
}

/// The text of the `Text` events.
fn text(items: &[Result<RunEvent, Error>]) -> String {
    items
        .iter()
        .filter_map(|item| match item {
            Ok(RunEvent::Text(delta)) => Some(delta.as_str()),
            _ => None,
        })
        .collect()
}

/// Reads `events` until `told` is notified; `why` says why the stream
/// cannot end first.
async fn read_until(events: &mut RunEvents, told: &Notify, why: &str) {
    tokio::select! {
        () = async { while events.next().await.is_some() {} } => panic!("{why}, yet the stream ended"),
        () = told.notified() => {}
    }
}

/// A streamed run on `store` (no lease) whose idempotent `lookup`
/// (counting into `lookups`) has started (told by `started`) and hangs,
/// when its process dies: its id.
async fn stopped_while_looking_up(
    store: &super::store::Store,
    lookups: &Arc<AtomicUsize>,
    started: &Arc<Notify>,
) -> klieo_types::RunId {
    let call = ToolCall::new("c1", "lookup", json!({}));
    let agent = Agent::builder(ScriptedLlm::new().then_tool_calls(vec![call]))
        .add_tool(Counted::new("lookup", true, lookups).hanging(started))
        .with_memory(store.clone())
        .with_options(RunOptions::default().with_lease_ttl(None))
        .build()
        .expect("the options are valid");
    let mut events = agent.session("t").stream("look it up");
    let run_id = events.run_id();
    read_until(&mut events, started, "lookup hangs").await;
    // The process dies here, with lookup running.
    std::mem::forget(events);
    run_id
}

#[tokio::test]
async fn an_approval_streamed_runs_the_call_once_and_streams_the_rest() {
    let (_dir, store) = fresh().await;
    let sent = Arc::new(AtomicUsize::new(0));
    let ticket = suspend(&store, &sent).await;
    let llm = ScriptedLlm::new().then_chunks(text_chunks(&["Se", "nt."], None));
    let later = agent(llm, &store, &sent);

    let events = later.approve_stream(&ticket);
    assert_eq!(events.run_id(), ticket.run, "known before the first event");
    let items = all(events).await;
    assert_eq!(sent.load(Ordering::SeqCst), 1, "the mail went once");
    assert!(
        matches!(&items[0], Ok(RunEvent::ToolResult { call_id, outcome: ToolOutcome::Ok { .. }, .. }) if call_id.as_ref() == "c1"),
        "the approved call's result comes first: {items:?}"
    );
    assert_eq!(text(&items), "Sent.");
    assert!(
        matches!(items.last(), Some(Ok(RunEvent::Finished(answer))) if answer.text == "Sent." && answer.summary.run_id == ticket.run),
        "{items:?}"
    );
    assert_eq!(
        kinds(&store.replay(ticket.run).await.unwrap()),
        APPROVED,
        "the log of a blocking approval"
    );
}

#[tokio::test]
async fn a_denial_streamed_tells_the_model_why() {
    let (_dir, store) = fresh().await;
    let sent = Arc::new(AtomicUsize::new(0));
    let ticket = suspend(&store, &sent).await;
    let llm = ScriptedLlm::new().then_text("I did not send it.");
    let later = agent(llm.clone(), &store, &sent);
    let items = all(later.deny_stream(&ticket, "not today")).await;
    assert_eq!(sent.load(Ordering::SeqCst), 0, "a denied call does not run");
    assert!(
        matches!(&items[0], Ok(RunEvent::ToolResult { outcome: ToolOutcome::Denied { reason }, .. }) if reason == "not today"),
        "{items:?}"
    );
    assert_eq!(text(&items), "I did not send it.");
    let told = &llm.requests()[0];
    assert!(told
        .messages
        .iter()
        .any(|m| m.tool_call_id.as_deref() == Some("c1") && m.content.contains("not today")));
}

#[tokio::test]
async fn a_rejected_ticket_streamed_is_one_error_and_runs_nothing() {
    let (_dir, store) = fresh().await;
    let sent = Arc::new(AtomicUsize::new(0));
    let ticket = suspend(&store, &sent).await;
    let forged = klieo_types::Ticket::for_call(
        ticket.run,
        1,
        &ToolCall::new("c1", "send_mail", json!({"to": "eve"})),
    );
    let later = agent(ScriptedLlm::new().then_text("Sent."), &store, &sent);
    let items = all(later.approve_stream(&forged)).await;
    assert!(
        matches!(items.as_slice(), [Err(Error::TicketRejected { .. })]),
        "{items:?}"
    );
    assert_eq!(sent.load(Ordering::SeqCst), 0, "nothing ran");
    assert_eq!(
        store.replay(ticket.run).await.unwrap().len(),
        3,
        "nothing written"
    );

    // Resumed without a decision, the run still waits: one error, the
    // same the blocking resume returns.
    let items = all(later.resume_stream(ticket.run)).await;
    assert!(
        matches!(items.as_slice(), [Err(Error::Suspended { ticket: t, .. })] if *t == ticket),
        "{items:?}"
    );
}

#[tokio::test]
async fn a_resume_streamed_goes_on_from_where_the_process_stopped() {
    let (_dir, store) = fresh().await;
    let lookups = Arc::new(AtomicUsize::new(0));
    let started = Arc::new(Notify::new());
    let no_lease = RunOptions::default().with_lease_ttl(None);
    let run_id = stopped_while_looking_up(&store, &lookups, &started).await;
    assert_eq!(store.list_runs().await.unwrap(), [run_id], "the id it told");

    let llm = ScriptedLlm::new().then_chunks(text_chunks(&["Fo", "und."], None));
    let later = Agent::builder(llm)
        .add_tool(Counted::new("lookup", true, &lookups))
        .with_memory(store.clone())
        .with_options(no_lease)
        .build()
        .expect("the options are valid");
    let items = all(later.resume_stream(run_id)).await;
    assert_eq!(count(&lookups), 2, "the idempotent lookup ran again");
    assert_eq!(text(&items), "Found.");
    assert!(
        matches!(items.last(), Some(Ok(RunEvent::Finished(answer))) if answer.text == "Found."),
        "{items:?}"
    );
    assert_eq!(store.pending(run_id).await.unwrap(), None);
}

/// A resume streamed, its run cancelled and then its stream dropped while
/// it is taken up (its pending call running again): the run ends
/// `cancelled`, as reading on would have told, not `consumer-dropped`.
#[tokio::test]
async fn a_resume_cancelled_then_dropped_while_taken_up_records_cancelled() {
    let (_dir, store) = fresh().await;
    let lookups = Arc::new(AtomicUsize::new(0));
    let started = Arc::new(Notify::new());
    let run_id = stopped_while_looking_up(&store, &lookups, &started).await;

    let cancel = tokio_util::sync::CancellationToken::new();
    let later = Agent::builder(ScriptedLlm::new().then_text("Found."))
        .add_tool(Counted::new("lookup", true, &lookups).hanging(&started))
        .with_memory(store.clone())
        .with_options(RunOptions::default().with_lease_ttl(None))
        .with_cancel(cancel.clone())
        .build()
        .expect("the options are valid");
    let mut events = later.resume_stream(run_id);
    read_until(&mut events, &started, "lookup hangs").await;
    cancel.cancel();
    drop(events);
    let log = failed_log(&store, run_id).await;
    assert!(
        matches!(log.last(), Some(Episode::Failed { error }) if error == "cancelled"),
        "{log:?}"
    );
}

/// A consumer gone while the answer is being written (its commit in, its
/// answer not back yet): the log ends with the answer, and no ending is
/// written after it.
#[tokio::test]
async fn a_stream_dropped_while_its_answer_is_written_ends_completed_once() {
    dropped_while_the_answer_is_written(false).await;
}

/// The same, its run cancelled before its stream is dropped: the answer
/// that got in is its end, and no `cancelled` is written after it.
#[tokio::test]
async fn a_stream_cancelled_and_dropped_while_its_answer_is_written_ends_completed_once() {
    dropped_while_the_answer_is_written(true).await;
}

/// A streamed run whose answer's commit is in but not yet returned,
/// cancelled first when `cancel`, then dropped: its log ends completed,
/// once.
async fn dropped_while_the_answer_is_written(cancel: bool) {
    let (_dir, store) = fresh().await;
    let (on_commit, landed, _held) = held_after(|e| matches!(e, Episode::Completed { .. }));
    let llm = ScriptedLlm::new().then_chunks(text_chunks(&["Hel", "lo"], None));
    let token = tokio_util::sync::CancellationToken::new();
    let agent = Agent::builder(llm)
        .with_memory(Hooked::new(store.clone(), on_commit))
        .with_cancel(token.clone())
        .build()
        .expect("the options are valid");
    let mut events = agent.session("t").stream("hi");
    let run = events.run_id();
    {
        let reading = async { while events.next().await.is_some() {} };
        tokio::select! {
            () = reading => panic!("the answer's write is held"),
            () = landed.notified() => {}
        }
    }
    if cancel {
        token.cancel();
    }
    drop(events);
    // The drop's ending runs in a task of its own: it is done once the
    // run's lease is free.
    let mut free = false;
    for _ in 0..10_000 {
        tokio::task::yield_now().await;
        if store
            .lease(run, "probe", std::time::Duration::from_secs(30))
            .await
            .unwrap()
        {
            free = true;
            break;
        }
    }
    assert!(free, "the dropped run gave its lease up");
    let log = store.replay(run).await.unwrap();
    let ends: Vec<&str> = log
        .iter()
        .filter(|e| matches!(e, Episode::Completed { .. } | Episode::Failed { .. }))
        .map(Episode::kind)
        .collect();
    assert_eq!(ends, ["completed"], "{log:?}");
}

/// A stream dropped while its step's first write is on its way, which
/// lands only after the drop read the log: the drop's ending, refused as
/// it was fenced by that read, is written after the read again, and the
/// log ends with it, after the write that landed late.
#[tokio::test]
async fn a_write_landing_after_the_drop_read_the_log_is_followed_by_the_ending() {
    dropped_as_its_intent_lands_late(false, "consumer-dropped").await;
}

/// The same, the run cancelled before its stream is dropped: its
/// `cancelled` ending is written after the read again as well.
#[tokio::test]
async fn a_cancelled_ending_refused_by_a_late_write_is_written_after_it() {
    dropped_as_its_intent_lands_late(true, "cancelled").await;
}

/// A streamed run whose step's intent is kept back (its writer never
/// answers) and lands only as the drop's ending is written, after the
/// drop read the log; the run cancelled first when `cancel`. Its log
/// ends with the intent's `LlmCall`, then the ending, failed with `ending`.
async fn dropped_as_its_intent_lands_late(cancel: bool, ending: &str) {
    let (_dir, store) = fresh().await;
    let arrived = Arc::new(Notify::new());
    let late: Arc<std::sync::Mutex<Option<klieo_types::Commit>>> = Arc::default();
    let (tell, slot) = (Arc::clone(&arrived), Arc::clone(&late));
    let on_commit: OnCommit = Arc::new(move |inner, commit| {
        let (tell, slot) = (Arc::clone(&tell), Arc::clone(&slot));
        Box::pin(async move {
            if commit.pending.is_some() && slot.lock().unwrap().is_none() {
                // The step's intent: kept back, its writer never answered.
                *slot.lock().unwrap() = Some(commit);
                tell.notify_one();
                return std::future::pending().await;
            }
            let ends = commit.episodes.iter().any(|e| e.kind() == "failed");
            let held = slot.lock().unwrap().take();
            if let (true, Some(held)) = (ends, held) {
                // The intent lands now, after the drop read the log.
                inner.commit(held).await?;
            }
            inner.commit(commit).await
        })
    });
    let call = ToolCall::new("c1", "lookup", json!({}));
    let lookups = Arc::new(AtomicUsize::new(0));
    let token = tokio_util::sync::CancellationToken::new();
    let agent = Agent::builder(ScriptedLlm::new().then_tool_calls(vec![call]))
        .add_tool(Counted::new("lookup", true, &lookups))
        .with_memory(Hooked::new(store.clone(), on_commit))
        .with_options(RunOptions::default().with_lease_ttl(None))
        .with_cancel(token.clone())
        .build()
        .expect("the options are valid");
    let mut events = agent.session("t").stream("look it up");
    let run = events.run_id();
    read_until(&mut events, &arrived, "the intent is held").await;
    if cancel {
        token.cancel();
    }
    drop(events);
    let log = failed_log(&store, run).await;
    let kinds: Vec<&str> = log.iter().map(Episode::kind).collect();
    assert_eq!(kinds[kinds.len() - 2..], ["llm_call", "failed"], "{log:?}");
    assert!(
        matches!(log.last(), Some(Episode::Failed { error }) if error == ending),
        "{log:?}"
    );
    assert_eq!(count(&lookups), 0, "the call never ran");
}

/// A resume of a run that waits for a person, streamed and dropped while
/// it is taken up: the run still waits, its call still to be decided.
#[tokio::test]
async fn a_resume_dropped_while_taken_up_leaves_a_waiting_run_waiting() {
    let (_dir, store) = fresh().await;
    let sent = Arc::new(AtomicUsize::new(0));
    let ticket = suspend(&store, &sent).await;
    let asked = Arc::new(Notify::new());
    let tell = Arc::clone(&asked);
    let on_lease: super::support::OnLease = Arc::new(move |_, _, _, _| {
        let tell = Arc::clone(&tell);
        Box::pin(async move {
            tell.notify_one();
            std::future::pending().await
        })
    });
    let commit: OnCommit =
        Arc::new(|inner, commit| Box::pin(async move { inner.commit(commit).await }));
    let hooked = Hooked::new(store.clone(), commit).with_leases(on_lease);
    let later = Agent::builder(ScriptedLlm::new().then_text("Sent."))
        .with_memory(hooked)
        .build()
        .expect("the options are valid");
    let mut events = later.resume_stream(ticket.run);
    {
        let reading = async { while events.next().await.is_some() {} };
        tokio::select! {
            () = reading => panic!("the take-up waits for its lease"),
            () = asked.notified() => {}
        }
    }
    drop(events);
    for _ in 0..1_000 {
        tokio::task::yield_now().await;
    }
    let log = store.replay(ticket.run).await.unwrap();
    assert_eq!(log.last().map(Episode::kind), Some("suspended"), "{log:?}");
    let answer = agent(ScriptedLlm::new().then_text("Sent."), &store, &sent)
        .approve(&ticket)
        .await
        .unwrap();
    assert_eq!(answer.text, "Sent.");
}

/// A stream dropped while its key's reservation is being made, which the
/// store goes on to write (SQLite's writer thread, a statement sent to
/// PostgreSQL), gives that reservation back with its ending: the key's
/// allowance is not held until the reservation lapses.
#[tokio::test]
async fn a_stream_dropped_while_its_reservation_is_made_gives_it_back() {
    let (_dir, store) = fresh().await;
    let made = Arc::new(Notify::new());
    let commit: OnCommit =
        Arc::new(|inner, commit| Box::pin(async move { inner.commit(commit).await }));
    let hooked = Hooked::new(store.clone(), commit).hanging_after_reserve(&made);
    let key = KeyBudget::new("acme").with_total_tokens(100_000);
    let agent = Agent::builder(ScriptedLlm::new().then_text("never asked"))
        .with_memory(hooked)
        .with_options(RunOptions::default().with_budget(Budget::new().with_key(key)))
        .build()
        .expect("the options are valid");
    let mut events = agent.session("t").stream("hi");
    read_until(&mut events, &made, "the reservation's answer never comes").await;
    assert_ne!(
        reserved(&store, "acme").await,
        KeySpend::default(),
        "the reservation landed"
    );
    drop(events);
    assert!(
        given_back(&store, "acme").await,
        "the dropped run gave its reservation back"
    );
}
