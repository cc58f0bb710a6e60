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

#[tokio::test]
async fn each_summary_call_fits_the_models_window_as_the_runs_requests_do() {
    let store = InMemoryJournal::new();
    filled(&store, 40).await;
    let window = 1_024;
    let caps = klieo_types::Capabilities::default().with_max_context_tokens(window);
    let mut llm = ScriptedLlm::new().with_capabilities(caps);
    for i in 0..20 {
        llm = llm.then_text(format!("summary {i}"));
    }
    let llm = llm.then_text("done");
    // The run keeps little room for its reply and has no tools: the
    // summary's instructions and reply room are what could overflow.
    let agent = Agent::builder(llm.clone())
        .with_options(
            RunOptions::default()
                .with_max_tokens(Some(64))
                .with_compaction(Compaction::new(Summarize::new())),
        )
        .with_memory(store.clone())
        .build()
        .unwrap();
    agent.session("long").run("one more").await.unwrap();
    let asked = llm.requests();
    let summaries: Vec<&ChatRequest> = asked
        .iter()
        .filter(|req| req.max_tokens == Some(256))
        .collect();
    assert!(!summaries.is_empty(), "the thread was compacted");
    for req in summaries {
        // As the run fits its own: estimates scaled by 1.25, the reply's
        // room, a tenth of the window kept free.
        let estimated: usize = req.messages.iter().map(Message::estimated_tokens).sum();
        let needed = (estimated + 16) * 5 / 4 + 256;
        assert!(
            needed <= 1_024 * 9 / 10,
            "a summary call needs {needed} of 1,024"
        );
    }
}

/// A strategy whose summary is long (about 238 tokens) whatever it is
/// given.
struct Wordy;

#[klieo_types::async_trait]
impl klieo_runtime::compaction::Compactor for Wordy {
    async fn summarize(
        &self,
        _input: klieo_runtime::compaction::CompactionInput<'_>,
    ) -> Result<klieo_runtime::compaction::Summarized, klieo_runtime::compaction::CompactionError>
    {
        let text = "word ".repeat(160);
        Ok(klieo_runtime::compaction::Summarized::new(text, None))
    }
}

/// A long summary beside the kept messages stands near the trigger: a
/// turn or two later the thread passes it again. It is not rewritten
/// while that would retire fewer tokens than it holds itself (each
/// rewrite a model call that summed up a few messages).
#[tokio::test]
async fn a_long_summary_is_not_rewritten_every_turn() {
    let store = InMemoryJournal::new();
    filled(&store, 7).await;
    let llm = ScriptedLlm::new()
        .then_text("first")
        .then_text("second")
        .then_text("third")
        .then_text("fourth");
    let agent = Agent::builder(llm.clone())
        .with_options(
            RunOptions::default()
                .with_max_history_tokens(BUDGET)
                .with_compaction(Compaction::new(Wordy)),
        )
        .with_memory(store.clone())
        .build()
        .unwrap();
    agent.session("long").run("one more").await.unwrap();
    for n in 2..5 {
        let question = format!("question {n} {}", "word ".repeat(30));
        agent.session("long").run(question).await.unwrap();
    }
    let mut compactions = 0;
    for run in store.list_runs().await.unwrap() {
        let log = store.replay(run).await.unwrap();
        compactions += log
            .iter()
            .filter(|e| matches!(e, Episode::Compacted { .. }))
            .count();
    }
    assert!(compactions <= 2, "{compactions} compactions in four turns");
}
