//! A run that is not started, or not taken up, ends its `invoke_agent`
//! span with the error it was refused with, as a run that fails does.

use super::capture::{captured, Captured};
use crate::durable::support::{driven_while_hanging, Counted};
use klieo_runtime::{Agent, RunOptions};
use klieo_store::InMemoryJournal;
use klieo_types::testing::ScriptedLlm;
use klieo_types::{EpisodicMemory, Error, MemoryError, Ticket, ToolCall};
use serde_json::json;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

#[test]
fn a_run_another_worker_holds_ends_its_span_refused() {
    let (run_id, captured) = captured(|| async move {
        let store = InMemoryJournal::new();
        let mails = Arc::new(AtomicUsize::new(0));
        let run = driven_while_hanging(&store, &mails, RunOptions::default()).await;
        // The first worker drives the run, holding its lease.
        let id = store.list_runs().await.unwrap()[0];
        let second = Agent::builder(ScriptedLlm::new().then_text("Sent."))
            .with_memory(store.clone())
            .build()
            .expect("the options are valid");
        let refused = second.resume(id).await.expect_err("the lease is held");
        assert!(
            matches!(refused, Error::Memory(MemoryError::Conflict(_))),
            "{refused:?}"
        );
        drop(run);
        id.to_string()
    });
    let spans = captured.named("invoke_agent");
    let [driven, refused] = spans[..] else {
        panic!("two invoke_agent spans: {spans:?}");
    };
    for span in [driven, refused] {
        assert_eq!(span.get("klieo.run_id"), Some(run_id.as_str()));
    }
    // The first worker's run, dropped as its process would die, says so.
    assert_eq!(driven.get("error.type"), Some("dropped"), "{driven:?}");
    assert_eq!(
        refused.get("otel.status_code"),
        Some("ERROR"),
        "{refused:?}"
    );
    assert_eq!(refused.get("error.type"), Some("memory"), "{refused:?}");
}

#[test]
fn a_run_not_taken_up_for_a_forged_ticket_ends_its_span_refused() {
    let (kind, captured) = captured(|| async move {
        let store = InMemoryJournal::new();
        let sent = Arc::new(AtomicUsize::new(0));
        let agent = |llm: ScriptedLlm| {
            Agent::builder(llm)
                .add_tool(Counted::new("send_mail", false, &sent).watched())
                .with_memory(store.clone())
                .build()
                .expect("the options are valid")
        };
        let call = ToolCall::new("c1", "send_mail", json!({"to": "ada"}));
        let first = agent(ScriptedLlm::new().then_tool_calls(vec![call]));
        let suspended = first.session("t").run("mail Ada").await;
        let Err(Error::Suspended { ticket, .. }) = suspended else {
            panic!("the call waits for a person: {suspended:?}");
        };
        let forged = Ticket::for_call(
            ticket.run,
            1,
            &ToolCall::new("c1", "send_mail", json!({"to": "eve"})),
        );
        let later = agent(ScriptedLlm::new().then_text("Sent."));
        let refused = later.approve(&forged).await.expect_err("refused");
        assert!(
            matches!(refused, Error::TicketRejected { .. }),
            "{refused:?}"
        );
        refused.kind()
    });
    first_ended_well_second_refused(&captured, kind);
}

#[test]
fn a_run_resumed_after_it_completed_ends_its_span_refused() {
    let (kind, captured) = captured(|| async move {
        let store = InMemoryJournal::new();
        let agent = |llm: ScriptedLlm| {
            Agent::builder(llm)
                .with_memory(store.clone())
                .build()
                .expect("the options are valid")
        };
        agent(ScriptedLlm::new().then_text("Done."))
            .run("go")
            .await
            .expect("the run answers");
        let id = store.list_runs().await.unwrap()[0];
        let refused = agent(ScriptedLlm::new())
            .resume(id)
            .await
            .expect_err("a completed run is not taken up");
        assert!(matches!(refused, Error::NotResumable { .. }), "{refused:?}");
        refused.kind()
    });
    first_ended_well_second_refused(&captured, kind);
}

/// Two `invoke_agent` spans: the first ended with no error status, the
/// second refused, with `kind` as its error type.
fn first_ended_well_second_refused(captured: &Captured, kind: &str) {
    let spans = captured.named("invoke_agent");
    let [first, refused] = spans[..] else {
        panic!("two invoke_agent spans: {spans:?}");
    };
    assert_eq!(first.get("otel.status_code"), None, "{first:?}");
    assert_eq!(
        refused.get("otel.status_code"),
        Some("ERROR"),
        "{refused:?}"
    );
    assert_eq!(refused.get("error.type"), Some(kind), "{refused:?}");
}
