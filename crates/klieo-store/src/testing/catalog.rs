//! The behaviour every [`RunCatalog`] must show, as checks a store's
//! tests call with a fresh, empty store that is also its [`RunQueue`];
//! [`catalog_suite!`](crate::testing::catalog::catalog_suite) makes one
//! named test per scenario.

#![allow(clippy::panic, reason = "a failed check is a panic, like assert!")]

use futures_util::StreamExt;
use klieo_types::{
    CallSpend, Commit, Episode, FinishReason, MemoryError, Message, RunCatalog, RunId, RunPage,
    RunQuery, RunQueue, RunStatus, RunTally, Submission, ThreadId, Usage,
};
use std::time::Duration;

async fn submit(store: &dyn RunQueue, agent: &str) -> RunId {
    match store.submit(&Submission::new(agent, "hello")).await {
        Ok(run) => run,
        Err(e) => panic!("submit for {agent} failed: {e}"),
    }
}

async fn list<S: RunCatalog + ?Sized>(store: &S, query: &RunQuery) -> RunPage {
    match store.runs(query).await {
        Ok(page) => page,
        Err(e) => panic!("runs({query:?}) failed: {e}"),
    }
}

fn ids(page: &RunPage) -> Vec<RunId> {
    page.runs.iter().map(|entry| entry.run).collect()
}

async fn commit(store: &dyn RunQueue, commit: Commit) {
    if let Err(e) = store.commit(commit).await {
        panic!("commit failed: {e}");
    }
}

/// Every run, queued (never claimed) or written straight through the
/// journal, is listed newest first, with its agent when it was submitted
/// and its thread.
pub async fn lists_queued_and_journaled_runs_newest_first<S: RunQueue + RunCatalog>(store: &S) {
    let first = submit(store, "billing").await;
    let second = submit(store, "support").await;
    let journaled = RunId::new();
    let thread = ThreadId::new("direct");
    commit(
        store,
        Commit::new(journaled, thread.clone())
            .with_messages(vec![Message::user("hi")])
            .with_episodes(vec![Episode::Started {
                agent: "calc".into(),
            }]),
    )
    .await;
    let page = list(store, &RunQuery::new()).await;
    assert_eq!(ids(&page), [journaled, second, first], "newest first");
    assert_eq!(page.next, None, "one page holds every run");
    let entry = |run| page.runs.iter().find(|e| e.run == run);
    let Some(queued) = entry(first) else {
        panic!("the queued run is listed")
    };
    assert_eq!(queued.agent.as_deref(), Some("billing"));
    assert_eq!(queued.state.status(), RunStatus::Queued);
    assert!(
        queued
            .updated_ms
            .is_some_and(|ms| ms + 1_000 >= first.timestamp_ms()),
        "a queued run says when it was submitted: {queued:?}"
    );
    let Some(direct) = entry(journaled) else {
        panic!("the journaled run is listed")
    };
    assert_eq!((direct.agent.as_deref(), &direct.thread), (None, &thread));
    assert_eq!(direct.state.status(), RunStatus::Running);
    match store.entry(first).await {
        Ok(Some(entry)) => assert_eq!(&entry, queued, "one run's entry is its listed one"),
        other => panic!("entry({first}): {other:?}"),
    }
    match store.entry(RunId::new()).await {
        Ok(None) => {}
        other => panic!("an unknown run has no entry: {other:?}"),
    }
}

/// A status, an agent, or both, list only the runs that match.
pub async fn filters_by_status_and_agent<S: RunQueue + RunCatalog>(store: &S) {
    let waiting = submit(store, "billing").await;
    let cancelled = submit(store, "billing").await;
    let other = submit(store, "support").await;
    match store.cancel(cancelled, "ops").await {
        Ok(Some(_)) => {}
        other => panic!("cancel: {other:?}"),
    }
    let claimed = match store
        .claim("w1", &["support".to_owned()], 1, Duration::from_secs(60))
        .await
    {
        Ok(claimed) => claimed,
        Err(e) => panic!("claim failed: {e}"),
    };
    assert_eq!(claimed.len(), 1);
    let by = |query: RunQuery| async move { ids(&list(store, &query).await) };
    assert_eq!(
        by(RunQuery::new().with_status(RunStatus::Queued)).await,
        [waiting]
    );
    assert_eq!(
        by(RunQuery::new().with_status(RunStatus::Running)).await,
        [other]
    );
    assert_eq!(
        by(RunQuery::new().with_agent("billing")).await,
        [cancelled, waiting]
    );
    assert_eq!(
        by(RunQuery::new()
            .with_agent("billing")
            .with_status(RunStatus::Cancelled))
        .await,
        [cancelled]
    );
    assert_eq!(
        by(RunQuery::new()
            .with_agent("support")
            .with_status(RunStatus::Queued))
        .await,
        Vec::<RunId>::new()
    );
    assert!(by(RunQuery::new().with_agent("nobody")).await.is_empty());
    // A filter from a web page's query holds what it holds: no agent's
    // name holds a NUL (PostgreSQL's text cannot), so none matches.
    assert!(by(RunQuery::new().with_agent("bill\0ing")).await.is_empty());
}

/// Pages of `limit` runs, each starting before the last one's `next`,
/// list every run once, in order; the last page says there is no next,
/// and is never empty (4 runs are 2 pages of 2, 5 are 3).
pub async fn pages_through_every_run_once<S: RunQueue + RunCatalog>(store: &S) {
    let mut made = Vec::new();
    for count in 1_usize..=5 {
        made.insert(0, submit(store, "billing").await);
        if count < 4 {
            continue;
        }
        let mut seen = Vec::new();
        let mut query = RunQuery::new().with_limit(2);
        let mut pages = 0;
        loop {
            let page = list(store, &query).await;
            pages += 1;
            assert!(
                (1..=2).contains(&page.runs.len()),
                "a page holds 1 to its limit: {page:?}"
            );
            seen.extend(ids(&page));
            match page.next {
                Some(next) => query = query.with_before(next),
                None => break,
            }
            assert!(pages < 10, "paging ends");
        }
        assert_eq!(seen, made, "every run once, newest first");
        assert_eq!(pages, count.div_ceil(2), "{count} runs");
    }
}

/// The tally sums the model calls each commit recorded: reported tokens,
/// else a budget's estimate; the cost of priced calls only; other
/// episodes count for nothing.
pub async fn tallies_what_commits_recorded<S: RunQueue + RunCatalog>(store: &S) {
    let run = submit(store, "billing").await;
    let thread = ThreadId::new("tallied");
    let reported = Episode::LlmCall {
        step: 1,
        tokens: Some(Usage::new(100, 20)),
        latency_ms: 5,
        finish_reason: FinishReason::ToolCalls,
        tool_calls: 2,
        spend: None,
    };
    let estimated = Episode::LlmCall {
        step: 2,
        tokens: None,
        latency_ms: 5,
        finish_reason: FinishReason::Stop,
        tool_calls: 0,
        spend: Some(Box::new(CallSpend::new(30, 7, Some(1_250), true))),
    };
    let tool = Episode::ToolCall {
        step: 1,
        call_id: "c1".into(),
        name: "echo".into(),
        args: serde_json::json!({"x": 1}).into(),
        result: klieo_types::ToolOutcome::Ok {
            output: serde_json::json!(1),
        },
        latency_ms: 1,
    };
    let first = vec![reported.clone(), tool];
    commit(
        store,
        Commit::new(run, thread.clone()).with_episodes(first.clone()),
    )
    .await;
    commit(
        store,
        Commit::new(run, thread).with_episodes(vec![estimated.clone()]),
    )
    .await;
    let page = list(store, &RunQuery::new()).await;
    let Some(entry) = page.runs.first() else {
        panic!("the run is listed")
    };
    let expected = RunTally::of(first.iter().chain([&estimated]));
    assert_eq!(entry.tally, expected);
    assert_eq!(
        (
            entry.tally.model_calls,
            entry.tally.tool_calls,
            entry.tally.input_tokens,
            entry.tally.output_tokens,
            entry.tally.cost_micros
        ),
        (2, 2, 130, 27, Some(1_250))
    );
}

/// A store tells of a followed run's changes as they happen: after a
/// commit of a run no one follows and then one of the followed run, the
/// first change told concerns the followed run (its id, or the store as
/// a whole). Every klieo store has a feed of changes; a store without one
/// (followers poll) fails this scenario and leaves it out of its list.
pub async fn changes_tell_of_a_followed_run<S: RunQueue + RunCatalog>(store: &S) {
    let followed = submit(store, "support").await;
    let other = submit(store, "support").await;
    if let Err(e) = store.follow(followed, Duration::from_secs(3600)).await {
        panic!("follow({followed}) failed: {e}");
    }
    let mut changes = match store.changes().await {
        Ok(Some(changes)) => changes,
        Ok(None) => panic!("the store tells no changes: followers would only poll"),
        Err(e) => panic!("changes() failed: {e}"),
    };
    for run in [other, followed] {
        let started = Episode::Started {
            agent: "support".into(),
        };
        commit(
            store,
            Commit::new(run, ThreadId::new(format!("run-{run}"))).with_episodes(vec![started]),
        )
        .await;
    }
    // A bound, not a timing: a store that tells nothing fails here.
    let told = tokio::time::timeout(Duration::from_secs(30), changes.next()).await;
    match told {
        Ok(Some(change)) => assert!(
            change.concerns(followed),
            "the first change told is of the followed run, not of {other}: {change:?}"
        ),
        Ok(None) => panic!("the changes stream ended"),
        Err(_) => panic!("no change was told within 30 s of a followed run's commit"),
    }
}

/// A child run (an agent used as a tool) names its parent, from the
/// `ChildOf` of its first commit; a query of a run's children lists them
/// alone, a page at a time; once the parent is cancelled, no child of it
/// starts.
pub async fn lists_a_runs_children<S: RunQueue + RunCatalog>(store: &S) {
    let started = |agent: &str| Episode::Started {
        agent: agent.into(),
    };
    let parent = RunId::new();
    commit(
        store,
        Commit::new(parent, ThreadId::new("desk")).with_episodes(vec![started("desk")]),
    )
    .await;
    let mut children = Vec::new();
    for call in ["c1", "c2"] {
        let child = parent.child(&format!("{parent}:1:{call}"));
        let child_of = Episode::ChildOf {
            parent,
            step: 1,
            call_id: call.into(),
        };
        commit(
            store,
            Commit::new(child, ThreadId::new(format!("run-{child}")))
                .with_episodes(vec![started("lookup"), child_of]),
        )
        .await;
        children.push(child);
    }
    let other = RunId::new();
    commit(
        store,
        Commit::new(other, ThreadId::new("other")).with_episodes(vec![started("desk")]),
    )
    .await;
    children.sort_unstable_by(|a, b| b.cmp(a));
    let page = list(store, &RunQuery::new().with_parent(parent)).await;
    assert_eq!(ids(&page), children, "the parent's children, newest first");
    assert!(page.runs.iter().all(|e| e.parent == Some(parent)));
    let entry = match store.entry(other).await {
        Ok(Some(entry)) => entry,
        other => panic!("entry({other:?})"),
    };
    assert_eq!(entry.parent, None, "a run that is no child has no parent");
    let first = list(store, &RunQuery::new().with_parent(parent).with_limit(1)).await;
    assert_eq!(ids(&first), children[..1], "a page of one");
    let Some(next) = first.next else {
        panic!("a second page follows");
    };
    let second = list(
        store,
        &RunQuery::new()
            .with_parent(parent)
            .with_limit(1)
            .with_before(next),
    )
    .await;
    assert_eq!(ids(&second), children[1..], "and holds the other child");

    // No child starts under a cancelled run.
    if let Err(e) = store.cancel(parent, "ops").await {
        panic!("cancel failed: {e}");
    }
    let late = parent.child(&format!("{parent}:2:c3"));
    let child_of = Episode::ChildOf {
        parent,
        step: 2,
        call_id: "c3".into(),
    };
    let refused = store
        .commit(
            Commit::new(late, ThreadId::new(format!("run-{late}")))
                .with_episodes(vec![started("lookup"), child_of]),
        )
        .await;
    assert_eq!(
        refused,
        Err(MemoryError::Cancelled {
            run: parent,
            by: "ops".into()
        }),
        "a child's first commit under a cancelled parent is refused"
    );
    assert!(
        matches!(store.entry(late).await, Ok(None)),
        "and writes nothing"
    );
}

/// A child whose call id holds a NUL (a model may write the id) starts,
/// and is listed under its parent.
pub async fn lists_a_child_whose_call_id_holds_a_nul<S: RunQueue + RunCatalog>(store: &S) {
    let parent = RunId::new();
    let started = |agent: &str| Episode::Started {
        agent: agent.into(),
    };
    commit(
        store,
        Commit::new(parent, ThreadId::new("desk")).with_episodes(vec![started("desk")]),
    )
    .await;
    let child = parent.child(&format!("{parent}:1:c\0 1"));
    let child_of = Episode::ChildOf {
        parent,
        step: 1,
        call_id: "c\0 1".into(),
    };
    commit(
        store,
        Commit::new(child, ThreadId::new(format!("run-{child}")))
            .with_episodes(vec![started("lookup"), child_of]),
    )
    .await;
    let page = list(store, &RunQuery::new().with_parent(parent)).await;
    assert_eq!(ids(&page), [child]);
}

/// One test per [`RunCatalog`] scenario of this module, each on a fresh
/// store from `$fresh` (an expression giving something that derefs to
/// the store), with the attributes given after it.
///
/// ```ignore
/// mod catalog {
///     klieo_store::testing::catalog::catalog_suite!(Box::new(klieo_store::InMemoryJournal::new()));
/// }
/// ```
#[doc(hidden)]
#[macro_export]
macro_rules! __klieo_store_catalog_suite {
    ($fresh:expr $(, #[$attr:meta])* $(,)?) => {
        $crate::__klieo_store_catalog_scenarios!([$(#[$attr])*] $fresh;
            lists_queued_and_journaled_runs_newest_first,
            filters_by_status_and_agent,
            pages_through_every_run_once,
            tallies_what_commits_recorded,
            changes_tell_of_a_followed_run,
            lists_a_runs_children,
            lists_a_child_whose_call_id_holds_a_nul,
        );
    };
}

/// One test per named catalog scenario.
#[doc(hidden)]
#[macro_export]
macro_rules! __klieo_store_catalog_scenarios {
    (@one [$(#[$attr:meta])*] $fresh:expr; $scenario:ident) => {
        $(#[$attr])*
        #[tokio::test]
        async fn $scenario() {
            let fresh = $fresh;
            $crate::testing::catalog::$scenario(&*fresh).await;
        }
    };
    ($attrs:tt $fresh:expr; $($scenario:ident),* $(,)?) => {
        $(
            $crate::__klieo_store_catalog_scenarios!(@one $attrs $fresh; $scenario);
        )*
    };
}

#[doc(inline)]
pub use crate::__klieo_store_catalog_suite as catalog_suite;
