//! Streams dropped by their consumers: a cut call is settled at its
//! estimate, and a failure no one read journals no call.

use super::{journaled, settled, worker};
use klieo_runtime::{KeyBudget, RunEvent};
use klieo_store::InMemoryJournal;
use klieo_types::testing::ScriptedLlm;
use klieo_types::{Episode, EpisodicMemory, KeySpend, LlmError};

/// A stream its consumer drops mid-reply was a call the provider was
/// paying for: it is journaled, cut off, and its estimate settled on the
/// key, not its reservation given up as nothing.
#[tokio::test]
async fn a_stream_dropped_mid_reply_settles_its_estimate_on_the_key() {
    let store = InMemoryJournal::new();
    let stalls = klieo_types::testing::ScriptedStep::ChunksThenStall(vec![Ok(
        klieo_types::ChatChunk::delta("The answer is"),
    )]);
    let llm = ScriptedLlm::new().then(stalls);
    let agent = worker(
        &llm,
        &store,
        KeyBudget::new("acme").with_total_tokens(100_000),
    );
    let mut events = agent.stream("a long question");
    while let Some(event) = events.next().await {
        if matches!(event, Ok(RunEvent::Text(_))) {
            break;
        }
    }
    drop(events);
    for _ in 0..1_000 {
        tokio::task::yield_now().await;
    }
    let spent = settled(&store, "acme").await;
    assert!(spent.tokens > 0, "the cut call is counted: {spent:?}");
    assert_eq!(spent, journaled(&store).await, "as its journal records it");
}

/// A stream whose failure was waiting to be read when its consumer went
/// away was no answer being paid for: no call is journaled for it.
#[tokio::test]
async fn a_stream_dropped_before_its_failure_was_read_journals_no_call() {
    let store = InMemoryJournal::new();
    let refused = vec![Err(LlmError::bad_request("the prompt is too long"))];
    let llm = ScriptedLlm::new().then_chunks(refused);
    let agent = worker(
        &llm,
        &store,
        KeyBudget::new("acme").with_total_tokens(100_000),
    );
    let mut events = agent.stream("a long question");
    let first = events.next().await;
    assert!(
        matches!(first, Some(Ok(RunEvent::BudgetReserved { .. }))),
        "the reservation's event comes before the failure: {first:?}"
    );
    drop(events);
    for _ in 0..1_000 {
        tokio::task::yield_now().await;
    }
    let runs = store.list_runs().await.unwrap();
    let log = store.replay(runs[0]).await.unwrap();
    assert!(
        !log.iter().any(|e| matches!(e, Episode::LlmCall { .. })),
        "{log:?}"
    );
    assert_eq!(settled(&store, "acme").await, KeySpend::default());
}
