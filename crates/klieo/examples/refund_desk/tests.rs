//! The desk's flow on the scripted model: asked, suspended at the
//! refund, approved in another "process", paid once, a typed
//! decision; and a process stopped while the refund ran.
#![allow(clippy::unwrap_used, clippy::panic)]
use crate::desk::*;
use klieo::prelude::*;
use klieo::types::testing::ScriptedLlm;
use klieo::types::{Error, ToolCall};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;

fn calls(name: &str, id: &str, args: serde_json::Value) -> Vec<ToolCall> {
    vec![ToolCall::new(id, name, args)]
}

fn decision() -> &'static str {
    r#"{"refunded_cents": 1200, "note": "Refunded, sorry for the damage."}"#
}

#[tokio::test]
async fn a_refund_waits_for_a_person_pays_once_and_ends_typed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("desk.db");
    let ledger = Ledger::beside(&path);
    let llm = ScriptedLlm::new()
        .then_tool_calls(calls("lookup_order", "c1", json!({"order": 7})))
        .then_tool_calls(calls("refund", "c2", json!({"order": 7, "cents": 1200})));
    let desk = agent(
        llm,
        open(&path).await.unwrap(),
        &ledger,
        RunOptions::default(),
    )
    .unwrap();
    let mut events = desk
        .session("order-7")
        .stream_typed::<Decision>("My order 7 arrived broken.");
    let run = events.run_id();
    let mut last = None;
    while let Some(event) = events.next().await {
        last = Some(event);
    }
    assert!(
        matches!(last, Some(Err(Error::Suspended { .. }))),
        "{last:?}"
    );
    assert!(ledger.payments().is_empty(), "nothing paid before approval");

    // Another process: it sees what waits, approves it, gets the decision.
    let llm = ScriptedLlm::new().then_text(decision());
    let later = agent(
        llm,
        open(&path).await.unwrap(),
        &ledger,
        RunOptions::default(),
    )
    .unwrap();
    let waiting = later
        .pending_approval(run)
        .await
        .unwrap()
        .expect("the refund waits");
    assert_eq!(waiting.tool, "refund");
    assert_eq!(waiting.arguments, json!({"order": 7, "cents": 1200}));
    let typed = later
        .approve_typed::<Decision>(&waiting.ticket)
        .await
        .unwrap();
    assert_eq!(typed.value.refunded_cents, 1200);
    assert_eq!(
        ledger.payments(),
        BTreeMap::from([(format!("{run}:2:c2"), 1200)]),
        "paid under the call's idempotency key"
    );
    let again = later.approve(&waiting.ticket).await.unwrap_err();
    assert!(matches!(again, Error::TicketRejected { .. }), "{again:?}");
    assert_eq!(ledger.payments().len(), 1, "paid once");
}

#[tokio::test]
async fn a_desk_stopped_mid_refund_does_not_pay_twice_when_resumed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("desk.db");
    let ledger = Ledger::beside(&path);
    let no_lease = RunOptions::default().with_lease_ttl(None);
    let llm = ScriptedLlm::new().then_tool_calls(calls(
        "refund",
        "c1",
        json!({"order": 7, "cents": 1200}),
    ));
    let desk = agent(llm, open(&path).await.unwrap(), &ledger, no_lease.clone()).unwrap();
    let Err(Error::Suspended { ticket, .. }) = desk.session("order-7").run("Refund 7.").await
    else {
        panic!("the refund waits");
    };
    let paid = Arc::new(tokio::sync::Notify::new());
    let stalling = ledger.stalling_after_paying(Arc::clone(&paid));
    let paying = agent(
        ScriptedLlm::new(),
        open(&path).await.unwrap(),
        &stalling,
        no_lease.clone(),
    )
    .unwrap();
    // The process is killed once the refund paid: its future dropped.
    tokio::select! {
        () = paid.notified() => {}
        done = paying.approve(&ticket) => panic!("the refund never returns: {done:?}"),
    }
    assert_eq!(ledger.payments().len(), 1);

    let llm = ScriptedLlm::new().then_text(decision());
    let resumed = agent(llm, open(&path).await.unwrap(), &ledger, no_lease).unwrap();
    assert!(resumed
        .unfinished_runs()
        .await
        .unwrap()
        .contains(&ticket.run));
    let typed = resumed.resume_typed::<Decision>(ticket.run).await.unwrap();
    assert_eq!(typed.value.refunded_cents, 1200);
    assert_eq!(ledger.payments().len(), 1, "the refund is never paid twice");
}
