//! What the end of a caller's step does to the runs its calls wait with:
//! a step that ends for good (a call failed for good) ends the child runs
//! that wait for a person, whether it ran first or after an approval, and
//! leaves any run outside its tree as it is.

use super::super::store::{fresh, Store};
use super::super::support::{count, outcomes, Counted, Hooked, OnCommit};
use super::{ask, built, child_of, lookup, no_lease, parent_of};
use klieo_runtime::decisions::pending_approval;
use klieo_runtime::{Agent, AgentBuilder};
use klieo_types::testing::ScriptedLlm;
use klieo_types::{
    Episode, EpisodicMemory, Error, FnTool, Journal, MemoryError, RunId, RunQueue, RunState,
    ToolCall, ToolDef, ToolError, WaitingOn,
};
use serde_json::json;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

/// A tool that fails for good, which ends its caller's run.
fn closed_ledger() -> FnTool<fn(serde_json::Value) -> Result<serde_json::Value, ToolError>> {
    FnTool::new(
        ToolDef::new("ledger", "Books the mail.", json!({"type": "object"})),
        |_| Err(ToolError::Permanent("the ledger is closed".into())),
    )
}

/// A desk on `parent_llm` whose tools are the closed ledger and a lookup
/// agent on `child_llm` (on `store`) that sends mail with `send`.
fn desk_builder(
    store: &Store,
    parent_llm: ScriptedLlm,
    child_llm: &ScriptedLlm,
    send: Counted,
) -> AgentBuilder {
    Agent::builder(parent_llm)
        .with_name("desk")
        .add_agent_tool(
            "ask_lookup",
            "Finds orders.",
            lookup(store, child_llm, vec![send]),
        )
        .add_tool(closed_ledger())
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
    // The calls start at once: the ledger fails for good while both
    // children wait for a person.
    let parent_llm = ScriptedLlm::new().then_tool_calls(vec![
        ToolCall::new("b1", "ledger", json!({})),
        ask("c1", "mail Ada"),
        ask("c2", "mail Grace"),
    ]);
    let builder = desk_builder(&store, parent_llm, &child_llm, send);
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
    let closed = closed_ledger();
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
async fn a_child_waiting_when_an_approved_step_fails_for_good_ends_with_it() {
    let (_dir, store) = fresh().await;
    let (sends, checks) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let send = Counted::new("send", false, &sends).watched();
    let child_llm =
        ScriptedLlm::new().then_tool_calls(vec![ToolCall::new("s1", "send", json!({}))]);
    // The step waits for a person's approval of `check` first; once
    // approved, its calls run: the ledger fails for good while the child
    // waits for a person of its own.
    let parent_llm = ScriptedLlm::new().then_tool_calls(vec![
        ToolCall::new("k1", "check", json!({})),
        ToolCall::new("b1", "ledger", json!({})),
        ask("c1", "mail Ada"),
    ]);
    let builder = desk_builder(&store, parent_llm, &child_llm, send);
    let desk = built(
        builder,
        &store,
        vec![Counted::new("check", true, &checks).watched()],
        no_lease(),
    );
    let Err(Error::Suspended { ticket, .. }) = desk.run("mail Ada").await else {
        panic!("the step waits for the check's approval");
    };
    let approved = desk.approve(&ticket).await;
    assert!(
        matches!(approved, Err(Error::Tool(ToolError::Permanent(_)))),
        "{approved:?}"
    );
    let child = child_of(ticket.run, "c1");
    assert!(
        matches!(
            store.state(child).await.unwrap(),
            Some(RunState::Failed { .. })
        ),
        "the child ends with its caller"
    );
    assert!(pending_approval(&store, child).await.unwrap().is_none());
    assert_eq!(count(&sends), 0);
}

/// The desk's step (the ledger's failure and the child that waits) on a
/// store that refuses the step's own write with `refusal`: the desk's
/// run ends with the store's error, and the child is left as it is.
async fn step_refused_with(refusal: fn(RunId) -> MemoryError) -> (impl Sized, Store, RunId, Error) {
    let (dir, store) = fresh().await;
    let sends = Arc::new(AtomicUsize::new(0));
    let send = Counted::new("send", false, &sends).watched();
    let child_llm =
        ScriptedLlm::new().then_tool_calls(vec![ToolCall::new("s1", "send", json!({}))]);
    let parent_llm = ScriptedLlm::new().then_tool_calls(vec![
        ToolCall::new("b1", "ledger", json!({})),
        ask("c1", "mail Ada"),
    ]);
    let on_commit: OnCommit = Arc::new(move |store, commit| {
        Box::pin(async move {
            let the_step = commit
                .episodes
                .iter()
                .any(|e| matches!(e, Episode::ToolCall { name, .. } if name.as_ref() == "ledger"));
            if the_step {
                return Err(refusal(commit.run));
            }
            store.commit(commit).await
        })
    });
    let hooked = Hooked::new(store.clone(), on_commit);
    let desk = desk_builder(&store, parent_llm, &child_llm, send)
        .with_memory(hooked)
        .with_options(no_lease())
        .build()
        .unwrap();
    let error = desk
        .run("mail Ada")
        .await
        .expect_err("the step is not written");
    let parent = parent_of(&store, |run| child_of(run, "c1")).await;
    // The store's directory (on SQLite) lives as long as the store.
    (dir, store, child_of(parent, "c1"), error)
}

#[tokio::test]
async fn a_child_is_left_waiting_when_its_callers_step_is_not_written() {
    let refusal = |_| MemoryError::Conflict("another process took the run".into());
    let (_dir, store, child, error) = step_refused_with(refusal).await;
    assert!(
        matches!(error, Error::Memory(MemoryError::Conflict(_))),
        "{error:?}"
    );
    assert_eq!(
        store.state(child).await.unwrap(),
        Some(RunState::Suspended),
        "the run that goes on finds its child waiting"
    );
}

#[tokio::test]
async fn a_child_ends_when_its_callers_step_is_refused_as_cancelled() {
    let (_dir, store, child, error) = step_refused_with(|run| MemoryError::Cancelled {
        run,
        by: "ops".into(),
    })
    .await;
    assert!(
        matches!(error, Error::Memory(MemoryError::Cancelled { .. })),
        "{error:?}"
    );
    assert!(
        matches!(
            store.state(child).await.unwrap(),
            Some(RunState::Failed { .. })
        ),
        "a cancelled caller's child ends with it"
    );
}

#[tokio::test]
async fn a_call_failing_for_good_after_a_waiting_one_ends_the_step() {
    let (_dir, store) = fresh().await;
    let sends = Arc::new(AtomicUsize::new(0));
    let send = Counted::new("send", false, &sends).watched();
    let child_llm =
        ScriptedLlm::new().then_tool_calls(vec![ToolCall::new("s1", "send", json!({}))]);
    // The child waits first, then the ledger fails for good.
    let parent_llm = ScriptedLlm::new().then_tool_calls(vec![
        ask("c1", "mail Ada"),
        ToolCall::new("b1", "ledger", json!({})),
    ]);
    let builder = desk_builder(&store, parent_llm, &child_llm, send);
    let desk = built(builder, &store, vec![], no_lease().with_tool_concurrency(1));
    let ended = desk.run("mail Ada").await;
    assert!(
        matches!(ended, Err(Error::Tool(ToolError::Permanent(_)))),
        "the ledger's failure ends the run, not the child's wait: {ended:?}"
    );
    let parent = parent_of(&store, |run| child_of(run, "c1")).await;
    let child = child_of(parent, "c1");
    assert!(matches!(
        store.state(child).await.unwrap(),
        Some(RunState::Failed { .. })
    ));
    assert_eq!(count(&sends), 0);
}
