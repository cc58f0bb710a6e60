//! What a strategy is given: every message since the last summary, those
//! the window left out too, in chunks that fit the budget, each after the
//! summary so far.

use super::*;

/// One call of a strategy: the summary so far, and the messages' texts.
type Call = (Option<String>, Vec<String>);

/// A strategy that keeps what it was given and answers `summary N`.
#[derive(Clone, Default)]
struct Recording(std::sync::Arc<std::sync::Mutex<Vec<Call>>>);

#[klieo_types::async_trait]
impl klieo_runtime::compaction::Compactor for Recording {
    async fn summarize(
        &self,
        input: klieo_runtime::compaction::CompactionInput<'_>,
    ) -> Result<klieo_runtime::compaction::Summarized, klieo_runtime::compaction::CompactionError>
    {
        let mut calls = self.0.lock().unwrap();
        let seen = input.messages.iter().map(|m| m.content.clone()).collect();
        calls.push((input.previous.map(str::to_owned), seen));
        let text = format!("summary {}", calls.len());
        Ok(klieo_runtime::compaction::Summarized::new(text, None))
    }
}

#[tokio::test]
async fn messages_the_window_left_out_are_summarised_too_in_chunks() {
    let store = InMemoryJournal::new();
    // Twenty turns, about 1,040 tokens: the window of 400 holds the
    // newest seven.
    filled(&store, 20).await;
    let recording = Recording::default();
    let llm = ScriptedLlm::new().then_text("done");
    let agent = Agent::builder(llm.clone())
        .with_options(
            RunOptions::default()
                .with_max_history_tokens(BUDGET)
                .with_compaction(Compaction::new(recording.clone())),
        )
        .with_memory(store.clone())
        .build()
        .unwrap();
    agent.session("long").run("one more").await.unwrap();

    let calls = recording.0.lock().unwrap().clone();
    assert!(calls.len() > 1, "in chunks of the budget: {}", calls.len());
    let seen: Vec<String> = calls.iter().flat_map(|(_, seen)| seen.clone()).collect();
    assert!(
        seen[0].starts_with("question 0 "),
        "from the thread's start"
    );
    for (i, (previous, _)) in calls.iter().enumerate() {
        let expected = (i > 0).then(|| format!("summary {i}"));
        assert_eq!(previous, &expected, "each chunk after the summary so far");
    }
    let log = log(&store, 0).await;
    let (from, through, summary) = log
        .iter()
        .find_map(|e| match e {
            Episode::Compacted {
                from,
                through,
                summary,
                ..
            } => Some((*from, *through, summary.clone())),
            _ => None,
        })
        .unwrap();
    assert_eq!(from, 0);
    assert_eq!(
        through,
        seen.len() as u64,
        "the range is what was summarised"
    );
    assert_eq!(summary, format!("summary {}", calls.len()));
    assert!(reads_summary(&llm.requests()[0], &summary));
}
