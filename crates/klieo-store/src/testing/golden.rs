//! What every store's golden fixture holds: one thread, a completed run on
//! it, and a run left waiting with a pending step. A store writes it with
//! [`write()`] when a schema version ships and keeps the file; every later
//! version's tests open that file and call [`check`] (or
//! [`check_memories`] for a fixture from before the store had a journal).
//!
//! The values are fixed for ever: changing one would make every shipped
//! fixture fail.

#![allow(clippy::panic, reason = "a failed check is a panic, like assert!")]

use klieo_types::{
    Commit, Episode, EpisodicMemory, FinishReason, Journal, MemoryError, Message, PendingStep,
    RunCatalog, RunId, RunQuery, RunTally, ShortTermMemory, ThreadId, ToolCall, ToolOutcome, Usage,
};
use serde_json::json;

/// The thread the fixture holds.
pub fn thread() -> ThreadId {
    ThreadId::new("golden-thread")
}

/// The completed run.
pub fn run() -> RunId {
    id("01890a5d-ac96-774b-bcce-b302099a8057")
}

/// The run left waiting with [`pending`] as its pending step.
pub fn waiting_run() -> RunId {
    id("01890a5d-ac96-774b-bcce-b302099a8058")
}

fn id(text: &str) -> RunId {
    match text.parse() {
        Ok(id) => id,
        Err(e) => panic!("{text} is not a run id: {e}"),
    }
}

/// The waiting run's pending step: a reply calling `send_mail`.
pub fn pending() -> PendingStep {
    PendingStep::new(
        1,
        Message::assistant_tool_calls(
            "",
            vec![ToolCall::new("c9", "send_mail", json!({"to": "ada"}))],
        ),
    )
}

/// The thread's messages, in order.
pub fn messages() -> Vec<Message> {
    vec![
        Message::system("You are a calculator."),
        Message::user("What is 17 × 23?"),
        Message::assistant_tool_calls(
            "",
            vec![ToolCall::new(
                "c1",
                "calculator",
                json!({"expression": "17*23"}),
            )],
        ),
        Message::tool_result("c1", "391"),
        Message::assistant("17 × 23 = 391"),
    ]
}

/// The completed run's episodes, in order.
pub fn episodes() -> Vec<Episode> {
    vec![
        Episode::Started {
            agent: "calc".into(),
        },
        Episode::LlmCall {
            step: 1,
            tokens: Some(Usage::new(52, 9)),
            latency_ms: 310,
            finish_reason: FinishReason::ToolCalls,
            tool_calls: 1,
            spend: None,
        },
        Episode::ToolCall {
            step: 1,
            call_id: "c1".into(),
            name: "calculator".into(),
            args: json!({"expression": "17*23"}).into(),
            result: ToolOutcome::Ok { output: json!(391) },
            latency_ms: 0,
        },
        Episode::LlmCall {
            step: 2,
            tokens: None,
            latency_ms: 120,
            finish_reason: FinishReason::Stop,
            tool_calls: 0,
            spend: None,
        },
        Episode::Completed { steps: 2 },
    ]
}

/// Writes the fixture's content into an empty store, through its journal.
///
/// # Errors
///
/// The store's error, if a commit fails.
pub async fn write(store: &dyn Journal) -> Result<(), MemoryError> {
    let completed = Commit::new(run(), thread())
        .with_messages(messages())
        .with_episodes(episodes());
    store.commit(completed).await?;
    let waiting = Commit::new(waiting_run(), thread())
        .with_episodes(vec![Episode::Started {
            agent: "mail".into(),
        }])
        .with_pending(pending());
    store.commit(waiting).await
}

/// Checks that a store opened on a fixture holds its thread and its
/// completed run.
pub async fn check_memories(store: &(impl ShortTermMemory + EpisodicMemory)) {
    let loaded = match store.load(&thread(), usize::MAX).await {
        Ok(transcript) => transcript.to_vec(),
        Err(e) => panic!("loading the fixture's thread failed: {e}"),
    };
    assert_eq!(loaded, messages(), "the fixture's thread");
    match store.replay(run()).await {
        Ok(log) => assert_eq!(log, episodes(), "the fixture's completed run"),
        Err(e) => panic!("replaying the fixture's run failed: {e}"),
    }
}

/// Checks that a store opened on a fixture holds everything [`write()`]
/// wrote: the thread, the completed run, and the waiting run's pending
/// step.
pub async fn check(store: &impl Journal) {
    check_memories(store).await;
    let record = match store.run(waiting_run()).await {
        Ok(Some(record)) => record,
        Ok(None) => panic!("the fixture's waiting run {} is unknown", waiting_run()),
        Err(e) => panic!("reading the fixture's waiting run failed: {e}"),
    };
    assert_eq!(record.thread, thread(), "the waiting run's thread");
    assert_eq!(
        record.pending,
        Some(pending()),
        "the waiting run's pending step"
    );
}

/// Checks that the catalog of a store opened on a fixture tallies the
/// completed run's model calls from its log (the catalog's migration sums
/// the runs written before it).
pub async fn check_catalog(store: &impl RunCatalog) {
    let page = match store.runs(&RunQuery::new()).await {
        Ok(page) => page,
        Err(e) => panic!("listing the fixture's runs failed: {e}"),
    };
    let Some(completed) = page.runs.iter().find(|entry| entry.run == run()) else {
        panic!("the fixture's completed run {} is not listed", run())
    };
    assert_eq!(
        completed.tally,
        RunTally::of(&episodes()),
        "the completed run's tally, from its log"
    );
    assert_eq!(completed.thread, thread(), "the completed run's thread");
}
