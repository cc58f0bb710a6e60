//! The behaviour every [`ShortTermMemory`] and [`EpisodicMemory`] must
//! show, as checks a backend's tests call with a fresh, empty backend.
//! klieo's in-memory memories, its in-memory journal and its database
//! stores all pass them.
//!
//! Each check is one scenario, on a fresh store, and panics with a
//! message naming what broke. A backend's tests are one line:
//! [`journal_suite!`](crate::testing::memory::journal_suite) (or
//! [`short_term_suite!`](crate::testing::memory::short_term_suite),
//! [`episodic_suite!`](crate::testing::memory::episodic_suite)) expands
//! to one named test per scenario, so a failure names its scenario and
//! hides none of the others.

#![allow(clippy::panic, reason = "a failed check is a panic, like assert!")]

mod concurrent;
mod suite;
mod summaries;

pub use concurrent::concurrent_appends;
pub use suite::{episodic_suite, journal_suite, short_term_suite};
pub use summaries::{
    a_commit_keeps_its_summary_or_is_refused_whole, summaries_replace_older_messages_when_loaded,
};

use super::golden;
use klieo_types::{
    Commit, Episode, EpisodicMemory, Journal, MemoryError, Message, PendingStep, Role, RunId,
    ShortTermMemory, ThreadId, ToolCall,
};
use serde_json::json;
use std::time::Duration;

fn contents(messages: &[Message]) -> Vec<&str> {
    messages.iter().map(|m| m.content.as_str()).collect()
}

async fn load(memory: &dyn ShortTermMemory, thread: &ThreadId, budget: usize) -> Vec<Message> {
    match memory.load(thread, budget).await {
        Ok(transcript) => transcript.to_vec(),
        Err(e) => panic!("load({thread}, {budget}) failed: {e}"),
    }
}

async fn append(memory: &dyn ShortTermMemory, thread: &ThreadId, messages: Vec<Message>) {
    if let Err(e) = memory.append(thread, messages).await {
        panic!("append to {thread} failed: {e}");
    }
}

/// A [`Journal`]'s leases exclude other holders (a store many processes
/// share; the default `lease` grants every lease), are renewed by their
/// holder, and are free once released or run out.
pub async fn leases_exclude_other_holders(journal: &dyn Journal) {
    let (run, thread) = (RunId::new(), ThreadId::new("leased"));
    let hour = Duration::from_secs(3600);
    let lease = |holder: &'static str, ttl: Duration| async move {
        match journal.lease(run, holder, ttl).await {
            Ok(taken) => taken,
            Err(e) => panic!("lease({run}, {holder}) failed: {e}"),
        }
    };
    assert!(lease("a", hour).await, "a free run's lease is taken");
    assert!(
        !lease("b", hour).await,
        "a live lease excludes another holder"
    );
    assert!(lease("a", hour).await, "its holder renews it");

    let started = || vec![Episode::Started { agent: "a".into() }];
    let by = |holder: &str| {
        Commit::new(run, thread.clone())
            .with_episodes(started())
            .with_holder(holder)
    };
    assert!(
        matches!(journal.commit(by("b")).await, Err(MemoryError::Conflict(_))),
        "a commit by another holder is refused while the lease is live"
    );
    commit(journal, by("a")).await;
    assert_eq!(
        replay(journal, run).await.len(),
        1,
        "only the holder's commit went in"
    );

    if let Err(e) = journal.release(run, "a").await {
        panic!("release failed: {e}");
    }
    assert!(lease("b", Duration::ZERO).await, "a released lease is free");
    assert!(lease("a", hour).await, "a lease that ran out is free");
    assert!(lease("a", Duration::MAX).await, "a lease as long as can be");
    assert!(!lease("b", hour).await, "holds");
}

async fn pending(journal: &dyn Journal, run: RunId) -> Option<PendingStep> {
    match journal.pending(run).await {
        Ok(step) => step,
        Err(e) => panic!("pending({run}) failed: {e}"),
    }
}

async fn commit(journal: &dyn Journal, commit: Commit) {
    if let Err(e) = journal.commit(commit).await {
        panic!("commit failed: {e}");
    }
}

/// A [`Journal`]'s commit writes its messages, episodes and pending step
/// together, and honours the episode count it expects.
pub async fn a_commit_writes_messages_episodes_and_pending(journal: &dyn Journal) {
    let (run, thread) = (RunId::new(), ThreadId::new("journal"));
    assert_eq!(
        pending(journal, run).await,
        None,
        "a new run has no pending step"
    );
    let call = ToolCall::new("c1", "echo", json!({"n": 1}));
    let reply = Message::assistant_tool_calls("", vec![call]);
    let started = Episode::Started { agent: "a".into() };
    let asked = golden::episodes()[1].clone();
    commit(
        journal,
        Commit::new(run, thread.clone())
            .with_messages(vec![Message::user("go")])
            .with_episodes(vec![started.clone()]),
    )
    .await;
    commit(
        journal,
        Commit::new(run, thread.clone())
            .with_episodes(vec![asked.clone()])
            .with_pending(PendingStep::new(1, reply.clone())),
    )
    .await;
    assert_eq!(
        pending(journal, run).await,
        Some(PendingStep::new(1, reply.clone())),
        "the pending step is kept"
    );
    assert_eq!(
        contents(&load(journal, &thread, 1_000).await),
        ["go"],
        "a pending reply is not in the thread"
    );
    let result = Message::tool_result("c1", "1");
    let ran = golden::episodes()[2].clone();
    commit(
        journal,
        Commit::new(run, thread.clone())
            .with_messages(vec![reply.clone(), result.clone()])
            .with_episodes(vec![ran.clone()]),
    )
    .await;
    assert_eq!(
        pending(journal, run).await,
        None,
        "a commit without one clears it"
    );
    assert_eq!(
        load(journal, &thread, 1_000).await,
        [Message::user("go"), reply, result],
        "the messages of every commit, in order"
    );
    assert_eq!(
        replay(journal, run).await,
        [started, asked, ran.clone()],
        "the episodes of every commit, in order"
    );

    let stale = Commit::new(run, thread.clone())
        .with_episodes(vec![ran.clone()])
        .with_expected_episodes(2);
    assert!(
        matches!(journal.commit(stale).await, Err(MemoryError::Conflict(_))),
        "a commit expecting another count of episodes is refused"
    );
    assert_eq!(replay(journal, run).await.len(), 3, "and writes nothing");
    commit(
        journal,
        Commit::new(run, thread)
            .with_episodes(vec![ran])
            .with_expected_episodes(3),
    )
    .await;
    assert_eq!(
        replay(journal, run).await.len(),
        4,
        "the expected count goes in"
    );
}

/// `load_stable` of 24 tokens in granules of 16.
async fn stable(memory: &dyn ShortTermMemory, thread: &ThreadId) -> Vec<Message> {
    match memory.load_stable(thread, 24, 16).await {
        Ok(transcript) => transcript.to_vec(),
        Err(e) => panic!("load_stable({thread}) failed: {e}"),
    }
}

/// A stable load cuts at a multiple of its granule of the thread's
/// tokens: its first message changes only each granule the thread grows
/// by, and what it loads fits the budget.
pub async fn a_stable_load_moves_its_cut_in_steps(memory: &dyn ShortTermMemory) {
    let thread = ThreadId::new("stable");
    // Seven letters and two digits: 4 + 2 + 2 = 8 estimated tokens each.
    let numbered = |range: std::ops::Range<usize>| {
        range
            .map(|i| Message::user(format!("message{i:02}")))
            .collect::<Vec<_>>()
    };
    append(memory, &thread, numbered(0..10)).await;
    // 80 tokens: the cut at 56 rounds up to 64, message 8.
    let first = stable(memory, &thread).await;
    assert_eq!(contents(&first), ["message08", "message09"]);
    append(memory, &thread, numbered(10..11)).await;
    let same = stable(memory, &thread).await;
    assert_eq!(
        contents(&same),
        ["message08", "message09", "message10"],
        "the cut stays while the thread grows less than a granule"
    );
    append(memory, &thread, numbered(11..12)).await;
    let moved = stable(memory, &thread).await;
    assert_eq!(contents(&moved), ["message10", "message11"]);
    let exact = load(memory, &thread, 24).await;
    assert_eq!(contents(&exact), ["message09", "message10", "message11"]);
    let nothing = stable(memory, &ThreadId::new("stable-none")).await;
    assert!(nothing.is_empty(), "an empty thread loads nothing");
    // A granule over the budget counts as the budget: 96 tokens, the cut
    // at 72 rounds up to 72.
    let coarse = match memory.load_stable(&thread, 24, usize::MAX).await {
        Ok(transcript) => transcript.to_vec(),
        Err(e) => panic!("load_stable with a huge granule failed: {e}"),
    };
    assert_eq!(contents(&coarse), ["message09", "message10", "message11"]);
}

/// A [`ShortTermMemory`] loads the newest messages that fit the token
/// budget.
pub async fn token_budget_keeps_the_newest(memory: &dyn ShortTermMemory) {
    let thread = ThreadId::new("budget");
    // Seven letters and a digit each: 4 + 2 + 1 = 7 estimated tokens per
    // message.
    let messages: Vec<Message> = (0..10)
        .map(|i| Message::user(format!("message{i}")))
        .collect();
    append(memory, &thread, messages.clone()).await;
    let cases: [(usize, &[&str]); 4] = [
        (21, &["message7", "message8", "message9"]),
        (20, &["message8", "message9"]),
        (7, &["message9"]),
        (6, &[]),
    ];
    for (budget, expected) in cases {
        assert_eq!(
            contents(&load(memory, &thread, budget).await),
            expected,
            "the newest messages within {budget} tokens"
        );
    }
    assert_eq!(
        load(memory, &thread, 1_000).await,
        messages,
        "the whole thread"
    );
    assert_eq!(
        load(memory, &thread, usize::MAX).await,
        messages,
        "an unbounded budget"
    );
    assert!(
        load(memory, &ThreadId::new("unknown"), 1_000)
            .await
            .is_empty(),
        "an unknown thread is empty"
    );
}

/// A [`ShortTermMemory`] never loads a history that starts with a tool
/// result whose call was cut off.
pub async fn never_starts_with_an_orphaned_tool_result(memory: &dyn ShortTermMemory) {
    let thread = ThreadId::new("orphans");
    let calls = vec![
        ToolCall::new("c1", "echo", json!({"n": 1})),
        ToolCall::new("c2", "echo", json!({"n": 2})),
    ];
    let messages = vec![
        Message::user("question"),
        Message::assistant_tool_calls("", calls),
        Message::tool_result("c1", "first result"),
        Message::tool_result("c2", "second result"),
        Message::assistant("the answer"),
    ];
    append(memory, &thread, messages.clone()).await;
    let total: usize = messages.iter().map(Message::estimated_tokens).sum();
    for budget in 0..=total + 1 {
        let window = load(memory, &thread, budget).await;
        if let Some(first) = window.first() {
            assert_ne!(first.role, Role::Tool, "budget {budget}: {window:?}");
        }
        let tail = &messages[messages.len() - window.len()..];
        assert_eq!(window, tail, "budget {budget}: a suffix of the thread");
        let used: usize = window.iter().map(Message::estimated_tokens).sum();
        assert!(used <= budget, "budget {budget}, used {used}");
    }
    let from_second: usize = messages[3..].iter().map(Message::estimated_tokens).sum();
    assert_eq!(
        contents(&load(memory, &thread, from_second).await),
        ["the answer"],
        "a window that would start at the second result drops both results"
    );
}

/// A [`ShortTermMemory`] gives back every field of a message as it went in.
pub async fn messages_come_back_as_they_went_in(memory: &dyn ShortTermMemory) {
    let thread = ThreadId::new("round trip");
    let call = ToolCall::new(
        "c-ü",
        "search",
        json!({"q": "naïve \"quotes\"", "n": [1, 2.5]}),
    );
    let first = vec![
        Message::system("Be brief."),
        Message::user("emoji 🦀 and\nnewlines\t"),
    ];
    let second = vec![
        Message::assistant_tool_calls("thinking", vec![call]),
        Message::tool_result("c-ü", "{\"found\": true}"),
        Message::assistant(""),
    ];
    append(memory, &thread, first.clone()).await;
    append(memory, &thread, second.clone()).await;
    append(memory, &thread, Vec::new()).await;
    let expected: Vec<Message> = first.into_iter().chain(second).collect();
    assert_eq!(
        load(memory, &thread, usize::MAX).await,
        expected,
        "appends keep their order and every field"
    );
}

/// A [`ShortTermMemory`] keeps threads apart, and `clear` empties one.
pub async fn threads_are_separate_and_clear_empties_one(memory: &dyn ShortTermMemory) {
    let (a, b) = (ThreadId::new("a"), ThreadId::new("b"));
    append(memory, &a, vec![Message::user("to a")]).await;
    append(memory, &b, vec![Message::user("to b")]).await;
    assert_eq!(contents(&load(memory, &a, 1_000).await), ["to a"]);
    if let Err(e) = memory.clear(&a).await {
        panic!("clear failed: {e}");
    }
    assert!(
        load(memory, &a, 1_000).await.is_empty(),
        "a cleared thread is empty"
    );
    assert_eq!(
        contents(&load(memory, &b, 1_000).await),
        ["to b"],
        "clearing one thread leaves the others"
    );
    append(memory, &a, vec![Message::user("again")]).await;
    assert_eq!(
        contents(&load(memory, &a, 1_000).await),
        ["again"],
        "a cleared thread starts over"
    );
}

async fn record(memory: &dyn EpisodicMemory, run: RunId, episode: Episode) {
    if let Err(e) = memory.record(run, episode).await {
        panic!("record for {run} failed: {e}");
    }
}

async fn replay(memory: &dyn EpisodicMemory, run: RunId) -> Vec<Episode> {
    match memory.replay(run).await {
        Ok(log) => log,
        Err(e) => panic!("replay of {run} failed: {e}"),
    }
}

/// An [`EpisodicMemory`] replays each run's episodes in the order they
/// were recorded.
pub async fn episodes_replay_in_order_per_run(memory: &dyn EpisodicMemory) {
    let (one, two) = (RunId::new(), RunId::new());
    let episodes = golden::episodes();
    for episode in &episodes {
        record(memory, one, episode.clone()).await;
        record(
            memory,
            two,
            Episode::Failed {
                error: "cancelled".into(),
            },
        )
        .await;
    }
    assert_eq!(
        replay(memory, one).await,
        episodes,
        "one run's episodes, in order"
    );
    assert_eq!(
        replay(memory, two).await.len(),
        episodes.len(),
        "the other run's"
    );
    assert!(
        replay(memory, RunId::new()).await.is_empty(),
        "an unknown run has no episodes"
    );
}

/// An [`EpisodicMemory`] lists runs in the order they were created.
pub async fn runs_are_listed_in_creation_order(memory: &dyn EpisodicMemory) {
    let before = match memory.list_runs().await {
        Ok(runs) => runs,
        Err(e) => panic!("list_runs failed: {e}"),
    };
    let ids: Vec<RunId> = (0..40).map(|_| RunId::new()).collect();
    for id in ids.iter().rev() {
        record(memory, *id, Episode::Started { agent: "a".into() }).await;
    }
    let listed = match memory.list_runs().await {
        Ok(runs) => runs,
        Err(e) => panic!("list_runs failed: {e}"),
    };
    let expected: Vec<RunId> = before.into_iter().chain(ids).collect();
    assert_eq!(listed, expected, "runs in the order their ids were made");
}
