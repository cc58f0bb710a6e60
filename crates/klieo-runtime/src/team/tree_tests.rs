//! A tree's waiting runs as its caller's step ends, and a call in doubt
//! settled after.
#![allow(clippy::unwrap_used, clippy::panic)]

use super::*;
use klieo_store::InMemoryJournal;
use klieo_types::{EpisodicMemory, Message, ThreadId, ToolCall};

/// A chain `caller` ← `middle` ← `waiting` in `journal`: `middle`
/// waits with `waiting`, whose log ends with `last`.
async fn chain(journal: &InMemoryJournal, last: Episode) -> (RunId, RunId, RunId) {
    let thread = ThreadId::new("t");
    let (caller, middle, waiting) = (RunId::new(), RunId::new(), RunId::new());
    let started = || Episode::Started { agent: "a".into() };
    let child_of = |parent| Episode::ChildOf {
        parent,
        step: 0,
        call_id: "c".into(),
    };
    let open = || PendingStep::new(0, Message::assistant_tool_calls("", vec![pay()]));
    let commits = [
        Commit::new(caller, thread.clone()).with_episodes(vec![started()]),
        Commit::new(middle, thread.clone())
            .with_episodes(vec![
                started(),
                child_of(caller),
                Episode::WaitingOnChild {
                    step: 0,
                    call_id: "c".into(),
                    child: waiting,
                },
            ])
            .with_pending(open()),
        Commit::new(waiting, thread.clone())
            .with_episodes(vec![started(), child_of(middle), last])
            .with_pending(open()),
    ];
    for commit in commits {
        journal.commit(commit).await.unwrap();
    }
    (caller, middle, waiting)
}

/// The call the waiting run's person is asked about.
fn pay() -> ToolCall {
    ToolCall::new("pay", "pay", serde_json::json!({"to": "ada"}))
}

fn last_kind(log: &[Episode]) -> &'static str {
    log.last().map_or("none", Episode::kind)
}

#[tokio::test]
async fn a_call_in_doubt_is_left_for_its_person_and_ends_once_settled() {
    let journal = InMemoryJournal::new();
    let in_doubt = Episode::InDoubt {
        step: 0,
        call_id: "pay".into(),
        tool: "pay".into(),
        digest: Ticket::for_call(RunId::new(), 0, &pay()).digest,
    };
    let (caller, middle, waiting) = chain(&journal, in_doubt).await;
    end_waiting(&journal, caller, waiting).await.unwrap();
    assert_eq!(
        last_kind(&journal.replay(waiting).await.unwrap()),
        "in_doubt"
    );
    assert_eq!(last_kind(&journal.replay(middle).await.unwrap()), "failed");
    // The caller's step ends for good.
    let ended = Commit::new(caller, ThreadId::new("t")).with_episodes(vec![Episode::Failed {
        error: "the ledger is closed".into(),
    }]);
    journal.commit(ended).await.unwrap();

    // Its person says what happened: kept, and the run is over.
    let ticket = Ticket::for_call(waiting, 0, &pay());
    let settled = crate::decisions::Settled::DidNotHappen;
    crate::decisions::record_settlement(&journal, &ticket, settled, "ada")
        .await
        .unwrap();
    let log = journal.replay(waiting).await.unwrap();
    let kinds: Vec<&str> = log.iter().rev().take(2).map(Episode::kind).collect();
    assert_eq!(kinds, ["failed", "settled"]);
    assert!(journal.pending(waiting).await.unwrap().is_none());
}

#[tokio::test]
async fn a_chain_waiting_for_an_approval_ends_with_its_caller() {
    let journal = InMemoryJournal::new();
    let suspended = Episode::Suspended {
        step: 0,
        call_id: "pay".into(),
        tool: "pay".into(),
        digest: "d".into(),
    };
    let (caller, middle, waiting) = chain(&journal, suspended).await;
    end_waiting(&journal, caller, waiting).await.unwrap();
    for run in [waiting, middle] {
        assert_eq!(last_kind(&journal.replay(run).await.unwrap()), "failed");
        assert!(journal.pending(run).await.unwrap().is_none());
    }
    assert_eq!(last_kind(&journal.replay(caller).await.unwrap()), "started");
}

#[tokio::test]
async fn a_childs_open_step_counts_its_calls_against_its_callers_budget() {
    let journal = InMemoryJournal::new();
    let thread = ThreadId::new("t");
    let (parent, step, call) = (RunId::new(), 1, "c1");
    let child = child_of_call(parent, step, call);
    let asked = |calls: Vec<ToolCall>| Message::assistant_tool_calls("", calls);
    let ask = ToolCall::new(call, "ask_lookup", serde_json::json!({}));
    let waits = Episode::WaitingOnChild {
        step,
        call_id: call.into(),
        child,
    };
    let parent_waits = Commit::new(parent, thread.clone())
        .with_episodes(vec![Episode::Started { agent: "a".into() }, waits])
        .with_pending(PendingStep::new(step, asked(vec![ask])));
    // The child's step asked for two calls, which wait for a person.
    let child_asked = Commit::new(child, thread)
        .with_episodes(vec![
            Episode::Started { agent: "b".into() },
            Episode::ChildOf {
                parent,
                step,
                call_id: call.into(),
            },
        ])
        .with_pending(PendingStep::new(1, asked(vec![pay(), pay()])));
    for commit in [parent_waits, child_asked] {
        journal.commit(commit).await.unwrap();
    }
    let log = journal.replay(parent).await.unwrap();
    let budget = crate::options::Budget::new().with_tool_calls(2);
    let memories = Memories::Journal(std::sync::Arc::new(journal));
    let mut spent = children_spent(&memories, &budget, parent, &log)
        .await
        .unwrap();
    assert!(
        spent.tool_calls(&budget, 1).is_err(),
        "the child's two calls fill a limit of two"
    );
}
