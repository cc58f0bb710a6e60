//! A reply cut at a `max_tokens` a budget lowered ran out of the budget:
//! the run ends with the budget's refusal (its call kept and counted, its
//! text not kept), not with the cut text as its answer. A reply cut at the
//! caller's own `max_tokens`, or short of the budget's, stays an answer.

use futures_util::StreamExt;
use klieo_runtime::{Agent, Budget, KeyBudget, RunOptions};
use klieo_store::InMemoryJournal;
use klieo_types::testing::ScriptedLlm;
use klieo_types::{
    BudgetLimit, ChatChunk, ChatResponse, Episode, EpisodicMemory, Error, FinishReason, Message,
    ShortTermMemory, ThreadId, Usage,
};

/// A reply the server cut at its `max_tokens`, reporting `output` tokens
/// when it reports usage.
fn cut_reply(output: Option<u32>) -> ChatResponse {
    let text = Message::assistant("The answer is a long");
    let mut reply = ChatResponse::new(text, FinishReason::Length);
    reply.usage = output.map(|output| Usage::new(10, output));
    reply
}

fn agent(llm: &ScriptedLlm, store: &InMemoryJournal, opts: RunOptions) -> Agent {
    Agent::builder(llm.clone())
        .with_memory(store.clone())
        .with_options(opts)
        .build()
        .expect("the options are valid")
}

async fn kinds(store: &InMemoryJournal) -> Vec<&'static str> {
    let run = store.list_runs().await.unwrap()[0];
    store
        .replay(run)
        .await
        .unwrap()
        .iter()
        .map(Episode::kind)
        .collect()
}

#[tokio::test]
async fn a_reply_cut_where_the_budget_lowered_its_cap_ends_the_run_over_budget() {
    let store = InMemoryJournal::new();
    let llm = ScriptedLlm::new().then_reply(cut_reply(Some(50)));
    let budget = Budget::new().with_output_tokens(50);
    let opts = RunOptions::default().with_budget(budget);
    let error = agent(&llm, &store, opts)
        .session("t")
        .run("go")
        .await
        .unwrap_err();
    assert_eq!(
        llm.requests()[0].max_tokens,
        Some(50),
        "the budget lowered the cap"
    );
    assert!(
        matches!(
            error,
            Error::BudgetExceeded {
                limit: BudgetLimit::OutputTokens,
                max: 50,
                spent: 0,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        kinds(&store).await,
        ["started", "llm_call", "budget_refused", "failed"]
    );
    let thread = store.load(&ThreadId::new("t"), usize::MAX).await.unwrap();
    let texts: Vec<String> = thread.iter().map(|m| m.content.clone()).collect();
    assert_eq!(texts, ["go"], "the cut text is not kept");
}

#[tokio::test]
async fn a_reply_cut_short_of_the_budgets_cap_is_still_the_answer() {
    // The server cut it at a cap of its own, before the budget's.
    let store = InMemoryJournal::new();
    let llm = ScriptedLlm::new().then_reply(cut_reply(Some(30)));
    let opts = RunOptions::default().with_budget(Budget::new().with_output_tokens(50));
    let answer = agent(&llm, &store, opts).run("go").await.unwrap();
    assert_eq!(
        llm.requests()[0].max_tokens,
        Some(50),
        "the budget lowered the cap"
    );
    assert_eq!(answer.text, "The answer is a long");
}

#[tokio::test]
async fn a_streamed_reply_cut_at_the_budgets_cap_ends_the_stream_over_budget() {
    let store = InMemoryJournal::new();
    let chunks = vec![
        Ok(ChatChunk::delta("The answer is a long")),
        Ok(ChatChunk::finish(FinishReason::Length)),
    ];
    let llm = ScriptedLlm::new().then_chunks(chunks);
    let opts = RunOptions::default().with_budget(Budget::new().with_total_tokens(10_000));
    let items: Vec<_> = agent(&llm, &store, opts.with_max_tokens(Some(100_000)))
        .stream("go")
        .collect()
        .await;
    let last = items.last();
    assert!(
        matches!(
            last,
            Some(Err(Error::BudgetExceeded {
                limit: BudgetLimit::TotalTokens,
                max: 10_000,
                ..
            }))
        ),
        "{last:?}"
    );
}

#[tokio::test]
async fn a_reply_cut_at_the_keys_cap_ends_the_run_over_the_keys_budget() {
    let store = InMemoryJournal::new();
    let llm = ScriptedLlm::new().then_reply(cut_reply(None));
    let key = KeyBudget::new("acme").with_total_tokens(300);
    let opts = RunOptions::default().with_budget(Budget::new().with_key(key));
    let error = agent(&llm, &store, opts).run("go").await.unwrap_err();
    assert!(
        matches!(
            &error,
            Error::KeyBudgetExceeded { key, limit: BudgetLimit::TotalTokens, max: 300, .. }
                if key == "acme"
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_reply_cut_at_the_callers_own_cap_is_still_the_answer() {
    let store = InMemoryJournal::new();
    let llm = ScriptedLlm::new().then_reply(cut_reply(Some(20)));
    let budget = Budget::new().with_output_tokens(10_000);
    let opts = RunOptions::default()
        .with_budget(budget)
        .with_max_tokens(Some(20));
    let answer = agent(&llm, &store, opts).run("go").await.unwrap();
    assert_eq!(answer.text, "The answer is a long");
    assert_eq!(llm.requests()[0].max_tokens, Some(20));
    assert_eq!(kinds(&store).await, ["started", "llm_call", "completed"]);
}
