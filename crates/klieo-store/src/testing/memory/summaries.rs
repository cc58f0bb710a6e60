//! Thread summaries: kept only when they follow the thread's latest,
//! read in place of the messages before them, and written whole with a
//! journal's commit or not at all.

use super::{append, commit, contents, load, replay};
use klieo_types::{
    Commit, Episode, History, Journal, MemoryError, Message, RunId, ShortTermMemory, ThreadId,
    ThreadSummary,
};

/// Messages `range` of a thread, user and assistant in turn: seven
/// letters and two digits, 8 estimated tokens each.
fn numbered(range: std::ops::Range<usize>) -> Vec<Message> {
    range
        .map(|i| {
            let text = format!("message{i:02}");
            if i % 2 == 0 {
                Message::user(text)
            } else {
                Message::assistant(text)
            }
        })
        .collect()
}

async fn history(memory: &dyn ShortTermMemory, thread: &ThreadId, budget: usize) -> History {
    match memory.load_history(thread, budget, 1).await {
        Ok(history) => history,
        Err(e) => panic!("load_history({thread}, {budget}) failed: {e}"),
    }
}

async fn summarise(memory: &dyn ShortTermMemory, thread: &ThreadId, summary: ThreadSummary) {
    let replaced = summary.replaced();
    if let Err(e) = memory.add_summary(thread, summary).await {
        panic!("add_summary({thread}, {replaced:?}) failed: {e}");
    }
}

async fn refused(memory: &dyn ShortTermMemory, thread: &ThreadId, summary: ThreadSummary) {
    let replaced = summary.replaced();
    match memory.add_summary(thread, summary).await {
        Err(MemoryError::SummaryRefused { .. }) => {}
        other => panic!("add_summary({thread}, {replaced:?}) was not refused: {other:?}"),
    }
}

/// A [`ShortTermMemory`] keeps a summary that follows the thread's latest
/// and ends within it, and refuses any other; its history is then the
/// latest summary and the newest messages after it, numbered, while the
/// messages themselves stay. `clear` forgets the summaries too.
pub async fn summaries_replace_older_messages_when_loaded(memory: &dyn ShortTermMemory) {
    let thread = ThreadId::new("summarised");
    append(memory, &thread, numbered(0..10)).await;
    let first = ThreadSummary::new(0, 6, "The first six messages.");
    summarise(memory, &thread, first.clone()).await;
    let loaded = history(memory, &thread, 10_000).await;
    assert_eq!(loaded.summary, Some(first.clone()), "the summary is read");
    assert_eq!(
        contents(&loaded.messages.to_vec()),
        ["message06", "message07", "message08", "message09"],
        "in place of the messages before its end"
    );
    assert_eq!(loaded.first, Some(6), "the first loaded is numbered");
    let counted: u64 = loaded
        .messages
        .iter()
        .map(|m| m.estimated_tokens() as u64)
        .sum();
    assert_eq!(loaded.tokens, Some(counted), "and counted by the store");
    assert_eq!(
        loaded.transcript().get(0),
        Some(&first.message()),
        "a model reads the summary first"
    );

    refused(memory, &thread, ThreadSummary::new(0, 4, "Again.")).await;
    refused(memory, &thread, ThreadSummary::new(6, 11, "Past the end.")).await;
    refused(memory, &thread, ThreadSummary::new(6, 6, "Nothing.")).await;
    let second = ThreadSummary::new(6, 8, "The first eight messages.");
    summarise(memory, &thread, second.clone()).await;
    let loaded = history(memory, &thread, 10_000).await;
    assert_eq!(loaded.summary, Some(second.clone()), "only the latest");
    assert_eq!(
        contents(&loaded.messages.to_vec()),
        ["message08", "message09"]
    );
    assert_eq!(loaded.first, Some(8));
    assert_eq!(
        contents(&load(memory, &thread, 10_000).await),
        contents(&numbered(0..10)),
        "the summarised messages stay in the thread"
    );

    let room = second.estimated_tokens();
    let tight = history(memory, &thread, room + 8).await;
    assert_eq!(
        contents(&tight.messages.to_vec()),
        ["message09"],
        "the summary's message comes out of the budget"
    );
    assert_eq!(tight.first, Some(9));
    let full = history(memory, &thread, room).await;
    assert!(full.messages.is_empty(), "the summary fills the budget");
    assert_eq!(full.first, Some(10), "an empty window starts at the end");
    assert_eq!(
        full.summary,
        Some(second),
        "the summary is read all the same"
    );

    // In granules, as `load_stable` cuts: the summary's budget is 16
    // tokens, so 12-token granules move the cut from message 8 to 9.
    let coarse = match memory.load_history(&thread, room + 16, 12).await {
        Ok(history) => history,
        Err(e) => panic!("load_history in granules failed: {e}"),
    };
    assert_eq!(contents(&coarse.messages.to_vec()), ["message09"]);
    assert_eq!(coarse.first, Some(9), "the cut moves in granules");

    let unknown = history(memory, &ThreadId::new("unsummarised"), 10_000).await;
    assert_eq!(
        (unknown.summary, unknown.messages.len(), unknown.first),
        (None, 0, Some(0)),
        "an unknown thread has nothing"
    );

    if let Err(e) = memory.clear(&thread).await {
        panic!("clear failed: {e}");
    }
    let cleared = history(memory, &thread, 10_000).await;
    assert_eq!(cleared.summary, None, "clear forgets the summaries");
    assert!(cleared.messages.is_empty(), "and the messages");
    refused(memory, &thread, ThreadSummary::new(0, 1, "Of nothing.")).await;
    append(memory, &thread, numbered(0..2)).await;
    summarise(memory, &thread, ThreadSummary::new(0, 2, "A new start.")).await;
}

/// A [`Journal`]'s commit that carries a summary keeps it with its
/// messages and episodes, checked against the thread before them; one
/// whose summary does not follow the thread's latest is refused whole.
pub async fn a_commit_keeps_its_summary_or_is_refused_whole(journal: &dyn Journal) {
    let (run, thread) = (RunId::new(), ThreadId::new("summarised in a commit"));
    let started = Episode::Started { agent: "a".into() };
    let done = Episode::Completed { steps: 1 };
    commit(
        journal,
        Commit::new(run, thread.clone())
            .with_messages(numbered(0..4))
            .with_episodes(vec![started.clone()]),
    )
    .await;

    let stray = Commit::new(run, thread.clone())
        .with_messages(numbered(4..6))
        .with_episodes(vec![done.clone()])
        .with_summary(ThreadSummary::new(2, 4, "Not from the start."));
    assert!(
        matches!(
            journal.commit(stray).await,
            Err(MemoryError::SummaryRefused { .. })
        ),
        "a commit whose summary does not follow is refused"
    );
    assert_eq!(
        contents(&load(journal, &thread, 10_000).await),
        contents(&numbered(0..4)),
        "its messages are not written"
    );
    assert_eq!(
        replay(journal, run).await,
        std::slice::from_ref(&started),
        "nor its episodes"
    );
    assert_eq!(
        history(journal, &thread, 10_000).await.summary,
        None,
        "nor its summary"
    );

    let summary = ThreadSummary::new(0, 4, "The first four messages.");
    commit(
        journal,
        Commit::new(run, thread.clone())
            .with_messages(numbered(4..6))
            .with_episodes(vec![done.clone()])
            .with_summary(summary.clone()),
    )
    .await;
    let loaded = history(journal, &thread, 10_000).await;
    assert_eq!(loaded.summary, Some(summary), "the summary is kept");
    assert_eq!(
        contents(&loaded.messages.to_vec()),
        ["message04", "message05"],
        "with the commit's messages after it"
    );
    assert_eq!(loaded.first, Some(4));
    assert_eq!(
        replay(journal, run).await,
        [started, done.clone()],
        "and its episodes"
    );

    let late = Commit::new(run, thread.clone())
        .with_episodes(vec![done])
        .with_summary(ThreadSummary::new(0, 2, "Another run's."));
    assert!(
        matches!(
            journal.commit(late).await,
            Err(MemoryError::SummaryRefused { .. })
        ),
        "a summary of what another summary replaced is refused"
    );
    assert_eq!(replay(journal, run).await.len(), 2, "and writes nothing");

    // A summary that follows, in a commit its fence refuses: not kept.
    let fenced = Commit::new(run, thread.clone())
        .with_episodes(vec![Episode::Completed { steps: 2 }])
        .with_expected_episodes(0)
        .with_summary(ThreadSummary::new(4, 5, "Fenced."));
    assert!(
        matches!(journal.commit(fenced).await, Err(MemoryError::Conflict(_))),
        "a commit its fence refuses"
    );
    assert_eq!(
        history(journal, &thread, 10_000)
            .await
            .summary
            .map(|s| s.through),
        Some(4),
        "keeps no summary"
    );

    // Its fence refuses it and its summary does not follow: the fence is
    // what it is told, as every store checks it first.
    let both = Commit::new(run, thread.clone())
        .with_episodes(vec![Episode::Completed { steps: 2 }])
        .with_expected_episodes(0)
        .with_summary(ThreadSummary::new(0, 2, "Stale and fenced."));
    assert!(
        matches!(journal.commit(both).await, Err(MemoryError::Conflict(_))),
        "a fenced commit with a stale summary is a conflict"
    );
}
