//! Calls in doubt: a run whose process stopped while a call of a tool a
//! person watches ran waits for them to settle it, runs nothing again,
//! and tells the model what they said.

use super::store::{fresh, Store};
use super::support::{count, outcomes, Counted};
use klieo_runtime::decisions::{in_doubt, record_settlement, Settled};
use klieo_runtime::{Agent, RunOptions};
use klieo_types::testing::ScriptedLlm;
use klieo_types::{Episode, EpisodicMemory, Error, RunId, Ticket, ToolCall, ToolOutcome};
use serde_json::json;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use tokio::sync::Notify;

/// An agent whose `pay` needs approval, is not idempotent, and hangs
/// once it starts when `started` is given.
fn payer(
    llm: ScriptedLlm,
    store: &Store,
    paid: &Arc<AtomicUsize>,
    started: Option<&Arc<Notify>>,
) -> Agent {
    let mut pay = Counted::new("pay", false, paid).watched();
    if let Some(started) = started {
        pay = pay.hanging(started);
    }
    Agent::builder(llm)
        .add_tool(pay)
        .with_memory(store.clone())
        .with_options(RunOptions::default().with_lease_ttl(None))
        .build()
        .expect("the options are valid")
}

/// A run whose approved `pay` was running when its process stopped; its
/// id, once a resume found the call in doubt, with the ticket it gave.
async fn stopped_while_paying(store: &Store, paid: &Arc<AtomicUsize>) -> (RunId, Ticket) {
    let run = stop_while_paying(store, paid).await;
    let later = payer(ScriptedLlm::new(), store, paid, None);
    let doubt = later.resume(run).await.expect_err("in doubt");
    let Error::InDoubt {
        ticket: doubted,
        tool,
    } = doubt
    else {
        panic!("not in doubt: {doubt}");
    };
    assert_eq!(tool, "pay");
    (run, doubted)
}

/// A run whose approved `pay` was running when its process stopped.
async fn stop_while_paying(store: &Store, paid: &Arc<AtomicUsize>) -> RunId {
    let started = Arc::new(Notify::new());
    let call = ToolCall::new("c1", "pay", json!({"cents": 1200}));
    let first = payer(
        ScriptedLlm::new().then_tool_calls(vec![call]),
        store,
        paid,
        Some(&started),
    );
    let Err(Error::Suspended { ticket, .. }) = first.session("t").run("pay Ada").await else {
        panic!("the run waits for approval");
    };
    tokio::select! {
        done = first.approve(&ticket) => panic!("pay hangs; the run cannot end: {done:?}"),
        () = started.notified() => {}
    }
    // The process dies here, with pay running.
    drop(first);
    ticket.run
}

#[tokio::test]
async fn a_watched_call_a_stop_cut_short_waits_for_a_person_and_the_model_reads_what_they_said() {
    let (_dir, store) = fresh().await;
    let paid = Arc::new(AtomicUsize::new(0));
    let (run, ticket) = stopped_while_paying(&store, &paid).await;
    assert_eq!(count(&paid), 1);
    let log = store.replay(run).await.unwrap();
    assert!(
        matches!(log.last(), Some(Episode::InDoubt { call_id, .. }) if call_id.as_ref() == "c1"),
        "{log:?}"
    );

    // Resumed again before anyone settles it: still waits, writes nothing.
    let again = payer(ScriptedLlm::new(), &store, &paid, None)
        .resume(run)
        .await;
    assert!(matches!(again, Err(Error::InDoubt { .. })), "{again:?}");
    assert_eq!(store.replay(run).await.unwrap().len(), log.len());

    let waiting = in_doubt(&store, run)
        .await
        .unwrap()
        .expect("a call in doubt");
    assert_eq!(
        (waiting.tool.as_str(), &waiting.arguments),
        ("pay", &json!({"cents": 1200}))
    );
    assert_eq!(waiting.ticket, ticket);
    let happened = Settled::Happened {
        output: json!("receipt 42"),
    };
    record_settlement(&store, &ticket, happened.clone(), "ada")
        .await
        .unwrap();
    let twice = record_settlement(&store, &ticket, happened, "ada").await;
    assert!(
        matches!(twice, Err(Error::TicketRejected { .. })),
        "{twice:?}"
    );
    assert_eq!(in_doubt(&store, run).await.unwrap(), None);

    let llm = ScriptedLlm::new().then_text("Paid: receipt 42.");
    let answer = payer(llm.clone(), &store, &paid, None)
        .resume(run)
        .await
        .unwrap();
    assert_eq!(answer.text, "Paid: receipt 42.");
    assert_eq!(count(&paid), 1, "the call is not run again");
    let told = &llm.requests()[0];
    let result = told
        .messages
        .iter()
        .find(|m| m.tool_call_id.as_deref() == Some("c1"))
        .unwrap();
    assert_eq!(
        result.content, "receipt 42",
        "the model reads what the person said"
    );
    let log = store.replay(run).await.unwrap();
    let tail: Vec<String> = outcomes(&log)
        .into_iter()
        .skip_while(|k| k != "in_doubt")
        .collect();
    assert_eq!(
        tail,
        [
            "in_doubt",
            "settled",
            "resumed",
            "tool_call:ok",
            "llm_call",
            "completed"
        ]
    );
    assert!(log
        .iter()
        .any(|e| matches!(e, Episode::Settled { by: Some(by), .. } if by == "ada")));
}

#[tokio::test]
async fn a_call_settled_as_not_having_happened_is_told_so_and_not_run() {
    let (_dir, store) = fresh().await;
    let paid = Arc::new(AtomicUsize::new(0));
    let (run, ticket) = stopped_while_paying(&store, &paid).await;
    record_settlement(&store, &ticket, Settled::DidNotHappen, "grace")
        .await
        .unwrap();

    let llm = ScriptedLlm::new().then_text("I will pay again later.");
    payer(llm.clone(), &store, &paid, None)
        .resume(run)
        .await
        .unwrap();
    assert_eq!(count(&paid), 1, "settling runs nothing");
    let told = &llm.requests()[0];
    let result = told
        .messages
        .iter()
        .find(|m| m.tool_call_id.as_deref() == Some("c1"))
        .unwrap();
    assert!(
        result.content.contains("did not happen"),
        "{}",
        result.content
    );
    let log = store.replay(run).await.unwrap();
    assert!(log.iter().any(|e| matches!(
        e,
        Episode::ToolCall { result: ToolOutcome::Error { message }, .. } if message.contains("did not happen")
    )));
}

#[tokio::test]
async fn a_settlement_for_another_call_or_run_is_refused_and_writes_nothing() {
    let (_dir, store) = fresh().await;
    let paid = Arc::new(AtomicUsize::new(0));
    let (run, ticket) = stopped_while_paying(&store, &paid).await;
    let before = store.replay(run).await.unwrap().len();
    let other = Ticket::for_call(
        run,
        1,
        &ToolCall::new("c1", "pay", json!({"cents": 99_999})),
    );
    let refused = record_settlement(&store, &other, Settled::DidNotHappen, "mallory").await;
    assert!(
        matches!(refused, Err(Error::TicketRejected { .. })),
        "{refused:?}"
    );
    let elsewhere = Ticket::for_call(
        RunId::new(),
        1,
        &ToolCall::new("c1", "pay", json!({"cents": 1200})),
    );
    let refused = record_settlement(&store, &elsewhere, Settled::DidNotHappen, "mallory").await;
    assert!(
        matches!(refused, Err(Error::TicketRejected { .. })),
        "{refused:?}"
    );
    assert_eq!(store.replay(run).await.unwrap().len(), before);
    assert!(
        in_doubt(&store, run).await.unwrap().is_some(),
        "{ticket} still waits"
    );
}

#[tokio::test]
async fn a_call_whose_approval_is_logged_is_in_doubt_whatever_its_tool_says_now() {
    let (_dir, store) = fresh().await;
    let paid = Arc::new(AtomicUsize::new(0));
    let run = stop_while_paying(&store, &paid).await;

    // A process whose `pay` is not routed (yet): the default policy.
    let bare = Agent::builder(ScriptedLlm::new())
        .with_memory(store.clone())
        .with_options(RunOptions::default().with_lease_ttl(None))
        .build()
        .expect("the options are valid");
    let found = bare.resume(run).await;
    let Err(Error::InDoubt { ticket, .. }) = found else {
        panic!("in doubt, not told interrupted: {found:?}");
    };
    let happened = Settled::Happened {
        output: json!("receipt 7"),
    };
    record_settlement(&store, &ticket, happened, "ada")
        .await
        .unwrap();

    // A process whose `pay` now says it is idempotent: settled, it is
    // still not run again.
    let again = Agent::builder(ScriptedLlm::new().then_text("Paid."))
        .add_tool(Counted::new("pay", true, &paid))
        .with_memory(store.clone())
        .with_options(RunOptions::default().with_lease_ttl(None))
        .build()
        .expect("the options are valid");
    assert_eq!(again.resume(run).await.unwrap().text, "Paid.");
    assert_eq!(count(&paid), 1, "a settled call is not run again");
}

#[tokio::test]
async fn a_run_in_doubt_is_not_among_the_runs_to_resume() {
    let (_dir, store) = fresh().await;
    let paid = Arc::new(AtomicUsize::new(0));
    let (run, _) = stopped_while_paying(&store, &paid).await;
    let starting_up = payer(ScriptedLlm::new(), &store, &paid, None);
    let unfinished = starting_up.unfinished_runs().await.unwrap();
    assert!(
        !unfinished.contains(&run),
        "it waits for a person to settle its call: {unfinished:?}"
    );
}
