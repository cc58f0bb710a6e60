//! Approvals: a run suspends at a call that needs one, and goes on when a
//! person approves or denies it, from another agent on the same store.

use super::store::{fresh, Store};
use klieo_runtime::{Agent, TypedTool};
use klieo_types::testing::ScriptedLlm;
use klieo_types::{
    Episode, EpisodicMemory, Error, Journal, Ticket, ToolCall, ToolError, ToolOutcome,
};
use serde::Deserialize;
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[derive(Deserialize, schemars::JsonSchema)]
struct Mail {
    /// Who to.
    to: String,
}

pub(super) fn agent(llm: ScriptedLlm, store: &Store, sent: &Arc<AtomicUsize>) -> Agent {
    let sent = Arc::clone(sent);
    let send = TypedTool::new("send_mail", "Sends a mail.", move |mail: Mail| {
        let sent = Arc::clone(&sent);
        async move {
            sent.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ToolError>(format!("sent to {}", mail.to))
        }
    })
    .with_approval(true);
    Agent::builder(llm)
        .add_tool(send)
        .with_memory(store.clone())
        .build()
        .expect("the options are valid")
}

/// The log of a run approved and answered.
pub(super) const APPROVED: [&str; 7] = [
    "started",
    "llm_call",
    "suspended",
    "approved",
    "tool_call",
    "llm_call",
    "completed",
];

/// The system prompt of the model's first request.
pub(super) fn first_system_prompt(llm: &ScriptedLlm) -> String {
    let requests = llm.requests();
    let first = requests[0].messages.iter().next().expect("a message");
    first.content.clone()
}

pub(super) fn kinds(log: &[Episode]) -> Vec<&'static str> {
    log.iter().map(Episode::kind).collect()
}

/// The result of call `c1` that the model was first told.
fn told_of_c1(llm: &ScriptedLlm) -> String {
    let told = &llm.requests()[0];
    let result = told
        .messages
        .iter()
        .find(|m| m.tool_call_id.as_deref() == Some("c1"))
        .expect("the call's result");
    result.content.clone()
}

/// Starts a run that suspends at send_mail; returns its ticket.
pub(super) async fn suspend(store: &Store, sent: &Arc<AtomicUsize>) -> Ticket {
    let call = ToolCall::new("c1", "send_mail", json!({"to": "ada"}));
    let agent = agent(ScriptedLlm::new().then_tool_calls(vec![call]), store, sent);
    let error = agent
        .session("t")
        .run("mail Ada")
        .await
        .expect_err("suspends");
    let Error::Suspended { ticket, tool } = error else {
        panic!("not suspended: {error}");
    };
    assert_eq!(tool, "send_mail");
    // A ticket travels as text (a link, a queue message).
    ticket.to_string().parse().unwrap()
}

#[tokio::test]
async fn an_approved_call_runs_once_and_the_run_goes_on() {
    let (_dir, store) = fresh().await;
    let sent = Arc::new(AtomicUsize::new(0));
    let ticket = suspend(&store, &sent).await;
    assert_eq!(
        sent.load(Ordering::SeqCst),
        0,
        "nothing runs before approval"
    );
    assert_eq!(
        kinds(&store.replay(ticket.run).await.unwrap()),
        ["started", "llm_call", "suspended"]
    );

    // Another process: resuming without a decision still waits.
    let later = agent(ScriptedLlm::new().then_text("Sent."), &store, &sent);
    let still = later.resume(ticket.run).await.expect_err("still waits");
    assert!(matches!(still, Error::Suspended { .. }), "{still:?}");
    assert_eq!(
        store.replay(ticket.run).await.unwrap().len(),
        3,
        "nothing written"
    );

    let answer = later.approve(&ticket).await.unwrap();
    assert_eq!(answer.text, "Sent.");
    assert_eq!(sent.load(Ordering::SeqCst), 1);
    assert_eq!(kinds(&store.replay(ticket.run).await.unwrap()), APPROVED);
    assert_eq!(store.pending(ticket.run).await.unwrap(), None);

    let again = later.approve(&ticket).await.expect_err("a used ticket");
    assert!(matches!(again, Error::TicketRejected { .. }), "{again:?}");
    assert_eq!(sent.load(Ordering::SeqCst), 1, "nothing ran again");
}

#[tokio::test]
async fn a_denied_call_does_not_run_and_the_model_is_told_why() {
    let (_dir, store) = fresh().await;
    let sent = Arc::new(AtomicUsize::new(0));
    let ticket = suspend(&store, &sent).await;
    let llm = ScriptedLlm::new().then_text("I did not send it.");
    let later = agent(llm.clone(), &store, &sent);
    let answer = later.deny(&ticket, "not today").await.unwrap();
    assert_eq!(answer.text, "I did not send it.");
    assert_eq!(sent.load(Ordering::SeqCst), 0);
    let result = told_of_c1(&llm);
    assert!(result.contains("not today"), "{result}");
    let log = store.replay(ticket.run).await.unwrap();
    assert!(log.iter().any(|e| matches!(
        e,
        Episode::ToolCall { result: ToolOutcome::Denied { reason }, .. } if reason == "not today"
    )));
}

#[tokio::test]
async fn a_ticket_for_other_arguments_fails_closed() {
    let (_dir, store) = fresh().await;
    let sent = Arc::new(AtomicUsize::new(0));
    let ticket = suspend(&store, &sent).await;
    let forged = Ticket::for_call(
        ticket.run,
        1,
        &ToolCall::new("c1", "send_mail", json!({"to": "eve"})),
    );
    let later = agent(ScriptedLlm::new().then_text("Sent."), &store, &sent);
    let error = later.approve(&forged).await.expect_err("refused");
    assert!(matches!(error, Error::TicketRejected { .. }), "{error:?}");
    assert!(error.to_string().contains("arguments differ"), "{error}");
    assert_eq!(sent.load(Ordering::SeqCst), 0, "nothing ran");
    // The real ticket still works.
    later.approve(&ticket).await.unwrap();
    assert_eq!(sent.load(Ordering::SeqCst), 1);
}

/// A server that numbers its calls from zero each step repeats their
/// ids: the same call asked for again at a later step waits for a
/// decision of its own, and a ticket kept from the first (an approval form
/// left open) approves nothing.
#[tokio::test]
async fn a_ticket_for_a_call_asked_for_again_later_approves_nothing() {
    let (_dir, store) = fresh().await;
    let sent = Arc::new(AtomicUsize::new(0));
    let mail = || ToolCall::new("c1", "send_mail", json!({"to": "ada"}));
    let llm = ScriptedLlm::new()
        .then_tool_calls(vec![mail()])
        .then_tool_calls(vec![mail()])
        .then_text("Sent twice.");
    let first = agent(llm.clone(), &store, &sent);
    let Err(Error::Suspended { ticket, .. }) = first.session("t").run("mail Ada").await else {
        panic!("the first call waits for a person");
    };
    let later = agent(llm, &store, &sent);
    let again = later.approve(&ticket).await;
    let Err(Error::Suspended {
        ticket: asked_again,
        ..
    }) = again
    else {
        panic!("the same call, asked for again, waits too: {again:?}");
    };
    assert_eq!(
        asked_again.call_id, ticket.call_id,
        "the server repeated the id"
    );
    assert_eq!(sent.load(Ordering::SeqCst), 1);

    let stale = later
        .approve(&ticket)
        .await
        .expect_err("a ticket of step 1");
    assert!(matches!(stale, Error::TicketRejected { .. }), "{stale:?}");
    assert_eq!(sent.load(Ordering::SeqCst), 1, "nothing ran");
    let answer = later.approve(&asked_again).await.unwrap();
    assert_eq!(answer.text, "Sent twice.");
    assert_eq!(sent.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn two_approvals_at_once_run_the_call_once() {
    let (_dir, store) = fresh().await;
    let sent = Arc::new(AtomicUsize::new(0));
    let ticket = suspend(&store, &sent).await;
    let script = || ScriptedLlm::new().then_text("Sent.");
    let (one, two) = (
        agent(script(), &store, &sent),
        agent(script(), &store, &sent),
    );
    let (a, b) = tokio::join!(one.approve(&ticket), two.approve(&ticket));
    assert_eq!(
        u8::from(a.is_ok()) + u8::from(b.is_ok()),
        1,
        "one approval wins: {a:?} {b:?}"
    );
    assert_eq!(sent.load(Ordering::SeqCst), 1, "the mail went once");
}

/// What the model is asked to answer with, after the mail.
#[derive(Debug, PartialEq, Deserialize, schemars::JsonSchema)]
struct Sent {
    /// Whether it went.
    sent: bool,
}

#[tokio::test]
async fn a_typed_run_goes_on_typed_after_its_approval() {
    let (_dir, store) = fresh().await;
    let sent = Arc::new(AtomicUsize::new(0));
    let ticket = suspend(&store, &sent).await;
    let llm = ScriptedLlm::new().then_text(r#"{"sent": true}"#);
    let later = agent(llm.clone(), &store, &sent);
    let typed = later.approve_typed::<Sent>(&ticket).await.unwrap();
    assert_eq!(typed.value, Sent { sent: true });
    assert_eq!(sent.load(Ordering::SeqCst), 1);
    let system = first_system_prompt(&llm);
    assert!(
        system.contains("\"sent\""),
        "the model is asked for the type again: {system}"
    );
}

#[tokio::test]
async fn a_typed_run_streamed_on_after_its_approval_repairs_an_answer_that_is_not_its_type() {
    let (_dir, store) = fresh().await;
    let sent = Arc::new(AtomicUsize::new(0));
    let ticket = suspend(&store, &sent).await;
    let llm = ScriptedLlm::new()
        .then_text(r#"{"sent": "yes"}"#)
        .then_text(r#"{"sent": true}"#);
    let later = agent(llm.clone(), &store, &sent);
    let mut events = later.approve_stream_typed::<Sent>(&ticket);
    let mut finished = None;
    while let Some(event) = events.next().await {
        if let klieo_runtime::TypedEvent::Finished(typed) = event.unwrap() {
            finished = Some(typed.value);
        }
    }
    assert_eq!(finished, Some(Sent { sent: true }));
    assert_eq!(
        llm.requests().len(),
        2,
        "the answer of another type is repaired"
    );
}

#[tokio::test]
async fn a_typed_run_taken_up_without_its_type_is_asked_for_its_shape_again() {
    let (_dir, store) = fresh().await;
    let sent = Arc::new(AtomicUsize::new(0));
    let call = ToolCall::new("c1", "send_mail", json!({"to": "ada"}));
    let first = agent(
        ScriptedLlm::new().then_tool_calls(vec![call]),
        &store,
        &sent,
    );
    let error = first
        .session("t")
        .run_typed::<Sent>("mail Ada")
        .await
        .expect_err("suspends");
    let Error::Suspended { ticket, .. } = error else {
        panic!("not suspended: {error}");
    };
    assert_eq!(
        kinds(&store.replay(ticket.run).await.unwrap()),
        ["started", "output_shape", "llm_call", "suspended"],
        "the shape is in the journal"
    );

    // Another process approves it without knowing its type.
    let llm = ScriptedLlm::new()
        .then_text("I sent it.")
        .then_text(r#"{"sent": true}"#);
    let later = agent(llm.clone(), &store, &sent);
    let answer = later.approve(&ticket).await.unwrap();
    assert_eq!(answer.text, r#"{"sent": true}"#, "a JSON answer, as asked");
    let system = first_system_prompt(&llm);
    assert!(system.contains("\"sent\""), "asked for the shape: {system}");
    assert_eq!(
        llm.requests().len(),
        2,
        "the answer without JSON was sent back"
    );
}

/// A call id holding a line break (a model's, or a server's) changes on
/// its way through a web form: its ticket names it without one, and the
/// call is decided by that ticket as text.
#[tokio::test]
async fn a_call_whose_id_holds_a_line_break_is_approved_by_its_ticket_as_text() {
    let (_dir, store) = fresh().await;
    let sent = Arc::new(AtomicUsize::new(0));
    let call = ToolCall::new("c\n1", "send_mail", json!({"to": "ada"}));
    let llm = ScriptedLlm::new()
        .then_tool_calls(vec![call])
        .then_text("Sent.");
    let agent = agent(llm, &store, &sent);
    let Err(Error::Suspended { ticket, .. }) = agent.session("t").run("mail Ada").await else {
        panic!("suspends");
    };
    assert_eq!(ticket.call_id, "c_1");
    let text = ticket.to_string();
    assert!(!text.chars().any(char::is_control), "{text:?}");
    let answer = agent.approve(&text.parse().unwrap()).await.unwrap();
    assert_eq!(answer.text, "Sent.");
    assert_eq!(sent.load(Ordering::SeqCst), 1);
}

/// A person's reason is bounded as a tool's result is
/// (`max_tool_result_bytes`, 16 KiB by default).
#[tokio::test]
async fn a_denial_past_the_result_bound_is_cut_for_the_model_and_the_log() {
    let (_dir, store) = fresh().await;
    let sent = Arc::new(AtomicUsize::new(0));
    let ticket = suspend(&store, &sent).await;
    let llm = ScriptedLlm::new().then_text("I did not send it.");
    let later = agent(llm.clone(), &store, &sent);
    later.deny(&ticket, "no ".repeat(50_000)).await.unwrap();
    let told = &llm.requests()[0];
    let result = told
        .messages
        .iter()
        .find(|m| m.tool_call_id.as_deref() == Some("c1"))
        .expect("the call's result");
    assert!(
        result.content.len() < 17 * 1024,
        "{} bytes",
        result.content.len()
    );
    let log = store.replay(ticket.run).await.unwrap();
    assert!(log.iter().any(|e| matches!(
        e,
        Episode::ToolCall { result: ToolOutcome::Denied { reason }, .. } if reason.len() < 17 * 1024
    )));
}
