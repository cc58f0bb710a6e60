//! Compactions that fail: the strategy errs, returns nothing, or takes
//! too long; the history is left as it was and the run goes on. And a
//! strategy refused at build.

use super::*;

#[tokio::test]
async fn a_failed_summary_leaves_the_history_and_the_run_answers() {
    let store = InMemoryJournal::new();
    filled(&store, 7).await;
    let llm = ScriptedLlm::new()
        .then_error(LlmError::bad_request("no summaries today"))
        .then_text("done");
    let answer = agent(&llm, &store).session("long").run("one more").await;
    assert_eq!(answer.unwrap().text, "done");

    let requests = llm.requests();
    assert_eq!(requests.len(), 2);
    assert!(!requests[1]
        .messages
        .iter()
        .any(|m| m.content.starts_with(SUMMARY_PREFIX)));
    let log = log(&store, 0).await;
    let reason = log
        .iter()
        .find_map(|e| match e {
            Episode::CompactionFailed { step: 1, reason } => Some(reason.clone()),
            _ => None,
        })
        .expect("a CompactionFailed episode");
    assert!(reason.contains("no summaries today"), "{reason}");
    assert!(matches!(log.last(), Some(Episode::Completed { .. })));
}

#[tokio::test]
async fn an_empty_summary_is_refused_and_not_tried_again_in_the_run() {
    let store = InMemoryJournal::new();
    filled(&store, 7).await;
    let call = klieo_types::ToolCall::new("c1", "echo", serde_json::json!({}));
    let llm = ScriptedLlm::new()
        .then_text("   ")
        .then_tool_calls(vec![call])
        .then_text("done");
    let agent = echoing(&llm, &store);
    let answer = agent.session("long").run("one more").await.unwrap();
    assert_eq!(answer.text, "done");
    assert_eq!(llm.requests().len(), 3, "no second summary call in the run");
    let failures: Vec<String> = log(&store, 0)
        .await
        .into_iter()
        .filter_map(|e| match e {
            Episode::CompactionFailed { reason, .. } => Some(reason),
            _ => None,
        })
        .collect();
    assert_eq!(failures.len(), 1);
    assert!(failures[0].contains("empty"), "{}", failures[0]);
}

#[tokio::test(start_paused = true)]
async fn a_strategy_past_its_timeout_is_given_up_and_the_run_answers() {
    struct Stalled;
    #[klieo_types::async_trait]
    impl klieo_runtime::compaction::Compactor for Stalled {
        async fn summarize(
            &self,
            _: klieo_runtime::compaction::CompactionInput<'_>,
        ) -> Result<klieo_runtime::compaction::Summarized, klieo_runtime::compaction::CompactionError>
        {
            std::future::pending().await
        }
    }
    let store = InMemoryJournal::new();
    filled(&store, 7).await;
    let llm = ScriptedLlm::new().then_text("done");
    let compaction = Compaction::new(Stalled).with_timeout(std::time::Duration::from_secs(5));
    let agent = Agent::builder(llm.clone())
        .with_options(
            RunOptions::default()
                .with_max_history_tokens(BUDGET)
                .with_compaction(compaction),
        )
        .with_memory(store.clone())
        .build()
        .unwrap();
    let answer = agent.session("long").run("one more").await.unwrap();
    assert_eq!(answer.text, "done");
    let reason = log(&store, 0)
        .await
        .into_iter()
        .find_map(|e| match e {
            Episode::CompactionFailed { reason, .. } => Some(reason),
            _ => None,
        })
        .unwrap();
    assert!(reason.contains("longer than 5s"), "{reason}");
}

#[tokio::test]
async fn a_summarize_of_no_tokens_is_refused_at_build() {
    let opts =
        RunOptions::default().with_compaction(Compaction::new(Summarize::new().with_max_tokens(0)));
    let error = Agent::builder(ScriptedLlm::new())
        .with_options(opts)
        .build()
        .unwrap_err();
    assert!(
        error.to_string().contains("Summarize::max_tokens"),
        "{error}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_summary_call_that_fails_for_a_while_is_retried() {
    let store = InMemoryJournal::new();
    filled(&store, 7).await;
    let llm = ScriptedLlm::new()
        .then_error(LlmError::server("overloaded for a moment"))
        .then_text("Seven questions.")
        .then_text("done");
    let answer = agent(&llm, &store).session("long").run("one more").await;
    assert_eq!(answer.unwrap().text, "done");
    assert_eq!(
        llm.requests().len(),
        3,
        "the summary call twice, then the run's"
    );
    let log = log(&store, 0).await;
    assert!(log
        .iter()
        .any(|e| matches!(e, Episode::Compacted { summary, .. } if summary == "Seven questions.")));
    assert!(!log
        .iter()
        .any(|e| matches!(e, Episode::CompactionFailed { .. })));
}
