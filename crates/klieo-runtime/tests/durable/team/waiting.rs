//! A call that needs a person inside a child run: the child suspends, its
//! parent waits with it (its step left open), and one decision, from the
//! parent's agent or from the store alone, carries the whole tree on.

use super::super::store::{fresh, Store};
use super::super::support::{count, outcomes, Counted};
use super::{ask, built, child_of, desk, lookup, no_lease, parent_of};
use klieo_runtime::decisions::{
    cancel_tree, pending_approval, record_decision, wake_if_decided, Decision,
};
use klieo_runtime::Agent;
use klieo_types::testing::ScriptedLlm;
use klieo_types::{
    Commit, Episode, EpisodicMemory, Error, FnTool, Journal, Role, RunId, RunQueue, RunState,
    ToolCall, ToolDef, ToolError, WaitingOn,
};
use serde_json::json;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

/// The store's run that is not `child`: the desk's.
async fn the_other_run(store: &Store, child: RunId) -> RunId {
    let runs = store.list_runs().await.unwrap();
    runs.into_iter()
        .find(|&r| r != child)
        .expect("the desk's run")
}

/// A desk whose lookup agent sends mail, which needs approval; its
/// models, and the count of mails sent.
fn team(
    store: &Store,
) -> (
    klieo_runtime::Agent,
    ScriptedLlm,
    ScriptedLlm,
    Arc<AtomicUsize>,
) {
    let sends = Arc::new(AtomicUsize::new(0));
    let send = Counted::new("send", false, &sends).watched();
    let child_llm = ScriptedLlm::new()
        .then_tool_calls(vec![ToolCall::new("s1", "send", json!({}))])
        .then_text("Sent.");
    let parent_llm = ScriptedLlm::new()
        .then_tool_calls(vec![ask("c1", "mail Ada")])
        .then_text("Ada has her mail.");
    let desk = desk(
        store,
        &parent_llm,
        lookup(store, &child_llm, vec![send]),
        vec![],
    );
    (desk, parent_llm, child_llm, sends)
}

#[tokio::test]
async fn a_call_needing_approval_in_a_child_suspends_the_tree_until_one_approval() {
    let (_dir, store) = fresh().await;
    let (desk, _, _, sends) = team(&store);
    let Err(Error::Suspended { ticket, tool }) = desk.run("mail Ada").await else {
        panic!("the tree waits for a person");
    };
    assert_eq!(tool, "send");
    let runs = store.list_runs().await.unwrap();
    let parent = runs
        .iter()
        .copied()
        .find(|&r| child_of(r, "c1") == ticket.run);
    let parent = parent.expect("the ticket is the child's, of the desk's call");
    assert_eq!(
        store.state(parent).await.unwrap(),
        Some(RunState::Suspended)
    );
    assert_eq!(
        store.state(ticket.run).await.unwrap(),
        Some(RunState::Suspended)
    );
    assert_eq!(
        outcomes(&store.replay(parent).await.unwrap()),
        ["started", "llm_call", "waiting_on_child"],
        "the parent's step is left open, waiting"
    );

    let answer = desk.approve(&ticket).await.unwrap();
    assert_eq!(answer.text, "Ada has her mail.");
    assert_eq!(answer.summary.run_id, parent, "the tree's root went on");
    assert_eq!(count(&sends), 1, "the approved mail was sent once");
    assert_eq!(
        outcomes(&store.replay(ticket.run).await.unwrap()),
        [
            "started",
            "child_of",
            "llm_call",
            "suspended",
            "approved",
            "resumed",
            "tool_call:ok",
            "llm_call",
            "completed"
        ]
    );
    assert_eq!(
        outcomes(&store.replay(parent).await.unwrap()),
        [
            "started",
            "llm_call",
            "waiting_on_child",
            "child_woken",
            "resumed",
            "tool_call:ok",
            "llm_call",
            "completed"
        ]
    );
}

#[tokio::test]
async fn a_decision_from_the_store_alone_wakes_the_tree() {
    let (_dir, store) = fresh().await;
    let (desk, parent_llm, child_llm, sends) = team(&store);
    let Err(Error::Suspended { ticket, .. }) = desk.run("mail Ada").await else {
        panic!("the tree waits for a person");
    };
    let waiting = pending_approval(&store, ticket.run).await.unwrap();
    assert_eq!(waiting.map(|w| w.ticket), Some(ticket.clone()));
    let parent = the_other_run(&store, ticket.run).await;

    let deny = Decision::Deny {
        reason: "not to Ada".into(),
        by: "grace".into(),
    };
    record_decision(&store, &ticket, deny).await.unwrap();
    assert_eq!(
        store.state(parent).await.unwrap(),
        Some(RunState::Running),
        "the parent is woken, for its worker or agent to take up"
    );
    assert_eq!(desk.resume(parent).await.unwrap().text, "Ada has her mail.");
    assert_eq!(count(&sends), 0, "a denied mail is not sent");
    let told = child_llm.requests()[1]
        .messages
        .iter()
        .any(|m| m.role == Role::Tool && m.content.contains("not to Ada"));
    assert!(told, "the child's model reads the denial");
    let read = parent_llm.requests()[1]
        .messages
        .iter()
        .any(|m| m.role == Role::Tool && m.content == "Sent.");
    assert!(read, "the parent reads its child's answer");
}

#[tokio::test]
async fn a_child_that_waits_again_keeps_its_parent_waiting_until_the_last_decision() {
    let (_dir, store) = fresh().await;
    let sends = Arc::new(AtomicUsize::new(0));
    let send = Counted::new("send", false, &sends).watched();
    let child_llm = ScriptedLlm::new()
        .then_tool_calls(vec![ToolCall::new("s1", "send", json!({}))])
        .then_tool_calls(vec![ToolCall::new("s2", "send", json!({}))])
        .then_text("Sent twice.");
    let parent_llm = ScriptedLlm::new()
        .then_tool_calls(vec![ask("c1", "mail Ada twice")])
        .then_text("Ada has both.");
    let lookup = lookup(&store, &child_llm, vec![send]);
    let desk = desk(&store, &parent_llm, lookup.clone(), vec![]);
    let Err(Error::Suspended { ticket: first, .. }) = desk.run("mail Ada twice").await else {
        panic!("the tree waits for the first mail");
    };
    let parent = the_other_run(&store, first.run).await;
    assert_eq!(
        desk.unfinished_runs().await.unwrap(),
        [],
        "a tree that waits for a person is not a run to resume at start-up"
    );

    // The child's own agent cannot take up the desk's run.
    let refused = lookup.approve(&first).await;
    assert!(
        matches!(&refused, Err(Error::NotResumable { reason, .. }) if reason.contains("`desk`")),
        "{refused:?}"
    );
    // Resumed before anyone decides, the tree waits on as it was.
    let again = desk.resume(parent).await;
    assert!(
        matches!(&again, Err(Error::Suspended { ticket, .. }) if *ticket == first),
        "{again:?}"
    );
    assert_eq!(
        store.state(parent).await.unwrap(),
        Some(RunState::Suspended)
    );

    let Err(Error::Suspended { ticket: second, .. }) = desk.approve(&first).await else {
        panic!("the child waits again, and the tree with it");
    };
    assert_eq!(second.run, first.run, "the same child, its second call");
    assert_ne!(second.call_id, first.call_id);
    assert_eq!(
        store.state(parent).await.unwrap(),
        Some(RunState::Suspended)
    );
    assert_eq!(
        outcomes(&store.replay(parent).await.unwrap())
            .last()
            .map(String::as_str),
        Some("waiting_on_child"),
        "the parent's step is still open"
    );
    assert_eq!(count(&sends), 1);

    let answer = desk.approve(&second).await.unwrap();
    assert_eq!(answer.text, "Ada has both.");
    assert_eq!(count(&sends), 2, "each approved mail once");
    let results = parent_llm.requests()[1]
        .messages
        .iter()
        .filter(|m| m.role == Role::Tool)
        .map(|m| m.content.clone())
        .collect::<Vec<_>>();
    assert_eq!(
        results,
        ["Sent twice."],
        "the parent's call has one result, the child's answer"
    );
}

#[tokio::test]
async fn a_tree_whose_wake_was_cut_short_is_woken_once_its_child_is_decided() {
    let (_dir, store) = fresh().await;
    let (desk, _, _, sends) = team(&store);
    let Err(Error::Suspended { ticket, .. }) = desk.run("mail Ada").await else {
        panic!("the tree waits for a person");
    };
    let parent = the_other_run(&store, ticket.run).await;
    assert!(
        !wake_if_decided(&store, parent).await.unwrap(),
        "its child still waits"
    );

    // The decision lands in the child's log; the process stops before it
    // wakes the parent.
    let record = store.run(ticket.run).await.unwrap().unwrap();
    let seen = store.replay(ticket.run).await.unwrap().len();
    let approved = Episode::Approved {
        call_id: ticket.call_id.clone(),
        by: Some("grace".into()),
    };
    let mut decided = Commit::new(ticket.run, record.thread)
        .with_episodes(vec![approved])
        .with_expected_episodes(u64::try_from(seen).unwrap());
    decided.pending = record.pending;
    store.commit(decided).await.unwrap();
    assert_eq!(
        store.state(parent).await.unwrap(),
        Some(RunState::Suspended)
    );

    assert!(
        !wake_if_decided(&store, ticket.run).await.unwrap(),
        "no child of its own"
    );
    assert!(wake_if_decided(&store, parent).await.unwrap());
    assert_eq!(store.state(parent).await.unwrap(), Some(RunState::Running));
    assert!(
        !wake_if_decided(&store, parent).await.unwrap(),
        "woken once"
    );
    assert_eq!(desk.resume(parent).await.unwrap().text, "Ada has her mail.");
    assert_eq!(count(&sends), 1, "the approved mail, once");
}

#[tokio::test]
async fn children_waiting_when_their_callers_step_fails_for_good_end_with_it() {
    let (_dir, store) = fresh().await;
    let sends = Arc::new(AtomicUsize::new(0));
    let send = Counted::new("send", false, &sends).watched();
    let mail = || vec![ToolCall::new("s1", "send", json!({}))];
    let child_llm = ScriptedLlm::new()
        .then_tool_calls(mail())
        .then_tool_calls(mail());
    let closed = FnTool::new(
        ToolDef::new("ledger", "Books the mail.", json!({"type": "object"})),
        |_| Err(ToolError::Permanent("the ledger is closed".into())),
    );
    // The calls start at once: the ledger fails for good while both
    // children wait for a person.
    let parent_llm = ScriptedLlm::new().then_tool_calls(vec![
        ToolCall::new("b1", "ledger", json!({})),
        ask("c1", "mail Ada"),
        ask("c2", "mail Grace"),
    ]);
    let builder = Agent::builder(parent_llm)
        .with_name("desk")
        .add_agent_tool(
            "ask_lookup",
            "Finds orders.",
            lookup(&store, &child_llm, vec![send]),
        )
        .add_tool(closed);
    let desk = built(builder, &store, vec![], no_lease());
    let Err(Error::Tool(ToolError::Permanent(_))) = desk.run("mail Ada and Grace").await else {
        panic!("the desk's run ends with the ledger's failure");
    };
    let parent = parent_of(&store, |run| child_of(run, "c1")).await;
    assert!(matches!(
        store.state(parent).await.unwrap(),
        Some(RunState::Failed { .. })
    ));
    for call in ["c1", "c2"] {
        let child = child_of(parent, call);
        assert!(
            matches!(
                store.state(child).await.unwrap(),
                Some(RunState::Failed { .. })
            ),
            "{call}'s child ends with its caller, no longer waiting"
        );
        assert!(
            pending_approval(&store, child).await.unwrap().is_none(),
            "no person is asked about a call whose result nobody reads"
        );
        assert_eq!(
            outcomes(&store.replay(child).await.unwrap()),
            ["started", "child_of", "llm_call", "suspended", "failed"]
        );
    }
    assert_eq!(count(&sends), 0);
}

#[tokio::test]
async fn a_run_outside_the_callers_tree_is_left_waiting_when_the_step_fails() {
    let (_dir, store) = fresh().await;
    let sends = Arc::new(AtomicUsize::new(0));
    let send = Counted::new("send", false, &sends).watched();
    let llm = ScriptedLlm::new().then_tool_calls(vec![ToolCall::new("s1", "send", json!({}))]);
    let other = built(
        Agent::builder(llm).with_name("other"),
        &store,
        vec![send],
        no_lease(),
    );
    let Err(Error::Suspended { ticket, .. }) = other.run("mail Ada").await else {
        panic!("the other run waits for a person");
    };
    // A tool of the desk says it waits with that run, which the desk
    // did not start.
    let relay = FnTool::new(
        ToolDef::new("relay", "Relays.", json!({"type": "object"})),
        move |_| {
            Err(ToolError::Waiting {
                tool: "relay".into(),
                on: Box::new(WaitingOn::new(ticket.clone(), "send", false)),
            })
        },
    );
    let closed = FnTool::new(
        ToolDef::new("ledger", "Books the mail.", json!({"type": "object"})),
        |_| Err(ToolError::Permanent("the ledger is closed".into())),
    );
    let parent_llm = ScriptedLlm::new().then_tool_calls(vec![
        ToolCall::new("b1", "ledger", json!({})),
        ToolCall::new("r1", "relay", json!({})),
    ]);
    let builder = Agent::builder(parent_llm)
        .with_name("desk")
        .add_tool(closed)
        .add_tool(relay);
    let desk = built(builder, &store, vec![], no_lease());
    let Err(Error::Tool(ToolError::Permanent(_))) = desk.run("relay").await else {
        panic!("the desk's run ends with the ledger's failure");
    };
    let waiting = store.list_runs().await.unwrap();
    let mut suspended = Vec::new();
    for run in waiting {
        if store.state(run).await.unwrap() == Some(RunState::Suspended) {
            suspended.push(run);
        }
    }
    assert_eq!(suspended.len(), 1, "the other run still waits");
    let asked = pending_approval(&store, suspended[0]).await.unwrap();
    assert!(asked.is_some(), "its person is still asked");
}

#[tokio::test]
async fn a_waiting_tree_is_cancelled_whole_from_its_root() {
    let (_dir, store) = fresh().await;
    let (desk, _, _, sends) = team(&store);
    let Err(Error::Suspended { ticket, .. }) = desk.run("mail Ada").await else {
        panic!("the tree waits for a person");
    };
    let parent = the_other_run(&store, ticket.run).await;

    let cancelled = cancel_tree(&store, &store, parent, "ops").await.unwrap();
    let cancelled = cancelled.expect("the store knows the run");
    let by_ops = RunState::Cancelled { by: "ops".into() };
    assert_eq!(cancelled.state, by_ops);
    assert_eq!(cancelled.under, 1, "its waiting child is cancelled with it");
    assert_eq!(store.state(ticket.run).await.unwrap(), Some(by_ops));
    assert!(pending_approval(&store, ticket.run)
        .await
        .unwrap()
        .is_none());
    assert_eq!(count(&sends), 0);
}
