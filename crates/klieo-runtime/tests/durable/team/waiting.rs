//! A call that needs a person inside a child run: the child suspends, its
//! parent waits with it (its step left open), and one decision, from the
//! parent's agent or from the store alone, carries the whole tree on.

use super::super::store::{fresh, Store};
use super::super::support::{count, outcomes, Counted};
use super::{ask, child_of, desk, lookup};
use klieo_runtime::decisions::{
    cancel_tree, pending_approval, record_decision, wake_if_decided, Decision,
};
use klieo_types::testing::{ScriptedLlm, ScriptedStep};
use klieo_types::{
    ChatChunk, Commit, Episode, EpisodicMemory, Error, Journal, Role, RunId, RunQueue, RunState,
    ToolCall,
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
        call_id: ticket.call_id.into(),
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
    assert!(cancelled.cancelled_now);
    assert_eq!(cancelled.under, 1, "its waiting child is cancelled with it");
    assert_eq!(store.state(ticket.run).await.unwrap(), Some(by_ops.clone()));
    assert!(pending_approval(&store, ticket.run)
        .await
        .unwrap()
        .is_none());
    assert_eq!(count(&sends), 0);
    let again = cancel_tree(&store, &store, parent, "bob").await.unwrap();
    let again = again.expect("the store knows the run");
    assert!(!again.cancelled_now, "a second cancel cancels nothing");
    assert_eq!(again.state, by_ops, "and says whose cancel stands");
}

#[tokio::test]
async fn a_call_after_one_that_waits_runs_once_and_is_not_reported_interrupted() {
    let (_dir, store) = fresh().await;
    let (sends, notes) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let send = Counted::new("send", false, &sends).watched();
    let note = Counted::new("note", false, &notes);
    let child_llm = ScriptedLlm::new()
        .then_tool_calls(vec![ToolCall::new("s1", "send", json!({}))])
        .then_text("Sent.");
    // One call at a time: the note comes after the call that waits.
    let parent_llm = ScriptedLlm::new()
        .then_tool_calls(vec![
            ask("c1", "mail Ada"),
            ToolCall::new("n1", "note", json!({})),
        ])
        .then_text("Noted, and Ada has her mail.");
    let lookup = lookup(&store, &child_llm, vec![send]);
    let desk = desk(&store, &parent_llm, lookup, vec![note]);
    let Err(Error::Suspended { ticket, .. }) = desk.run("mail Ada").await else {
        panic!("the tree waits for a person");
    };
    let answer = desk.approve(&ticket).await.unwrap();
    assert_eq!(answer.text, "Noted, and Ada has her mail.");
    assert_eq!(count(&notes), 1, "the note ran once");
    let parent = the_other_run(&store, ticket.run).await;
    let log = store.replay(parent).await.unwrap();
    let note_outcome = log.iter().find_map(|e| match e {
        Episode::ToolCall {
            call_id, result, ..
        } if call_id.as_ref() == "n1" => Some(result.clone()),
        _ => None,
    });
    assert!(
        matches!(note_outcome, Some(klieo_types::ToolOutcome::Ok { .. })),
        "{note_outcome:?}"
    );
}

/// An approval streamed from the root, dropped while the child it woke
/// still answers: the root is stopped as its consumer went away, as the
/// child is, not left to be taken up again to find its child gone.
#[tokio::test]
async fn an_approval_streamed_and_dropped_mid_child_ends_the_root_too() {
    let (_dir, store) = fresh().await;
    let sends = Arc::new(AtomicUsize::new(0));
    let send = Counted::new("send", false, &sends).watched();
    let stalls = ScriptedStep::ChunksThenStall(vec![Ok(ChatChunk::delta("Sen"))]);
    let child_llm = ScriptedLlm::new()
        .then_tool_calls(vec![ToolCall::new("s1", "send", json!({}))])
        .then(stalls);
    let parent_llm = ScriptedLlm::new()
        .then_tool_calls(vec![ask("c1", "mail Ada")])
        .then_text("Ada has her mail.");
    let desk = desk(
        &store,
        &parent_llm,
        lookup(&store, &child_llm, vec![send]),
        vec![],
    );
    let Err(Error::Suspended { ticket, .. }) = desk.run("mail Ada").await else {
        panic!("the tree waits for a person");
    };
    let parent = the_other_run(&store, ticket.run).await;
    let mut events = desk.approve_stream(&ticket);
    loop {
        match events.next().await {
            Some(Ok(klieo_runtime::RunEvent::Child { .. })) => break,
            Some(Ok(_)) => {}
            other => panic!("the child's events come first: {other:?}"),
        }
    }
    drop(events);
    let last = |log: Vec<Episode>| log.last().map(Episode::kind);
    let mut ends = (None, None);
    for _ in 0..10_000 {
        tokio::task::yield_now().await;
        ends = (
            last(store.replay(parent).await.unwrap()),
            last(store.replay(ticket.run).await.unwrap()),
        );
        if ends == (Some("failed"), Some("failed")) {
            break;
        }
    }
    assert_eq!(
        ends,
        (Some("failed"), Some("failed")),
        "the root's, the child's"
    );
    let log = store.replay(parent).await.unwrap();
    assert!(
        matches!(log.last(), Some(Episode::Failed { error }) if error == "consumer-dropped"),
        "{log:?}"
    );
}

/// The root of a tree whose child waits for a person shows the child's
/// call (a person looking at the root, or `klieo runs show`, sees what
/// to decide), and approving the root's run approves it.
#[tokio::test]
async fn a_root_waiting_with_its_child_shows_the_childs_call() {
    let (_dir, store) = fresh().await;
    let (desk, _, _, sends) = team(&store);
    let Err(Error::Suspended { ticket, .. }) = desk.run("mail Ada").await else {
        panic!("the tree waits for a person");
    };
    let root = the_other_run(&store, ticket.run).await;
    let waiting = pending_approval(&store, root).await.unwrap();
    assert_eq!(
        waiting.map(|w| (w.ticket, w.tool)),
        Some((ticket.clone(), "send".to_owned()))
    );
    assert_eq!(
        desk.pending_approval(root).await.unwrap().map(|w| w.ticket),
        Some(ticket)
    );
    let answer = desk.approve_run(root).await.unwrap();
    assert_eq!(answer.text, "Ada has her mail.");
    assert_eq!(count(&sends), 1);
}
