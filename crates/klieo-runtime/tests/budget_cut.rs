//! A reply cut at a `max_tokens` a budget lowered ran out of the budget:
//! the run answers with it, its summary naming the limit
//! (`RunSummary::cut_by_budget`), as a blocking and a streamed run alike.
//! A reply cut at the caller's own `max_tokens`, or short of the budget's,
//! names none.

use crate::support::kinds;
use futures_util::StreamExt;
use klieo_runtime::{Agent, Answer, Budget, KeyBudget, RunEvent, RunOptions};
use klieo_store::InMemoryJournal;
use klieo_types::testing::ScriptedLlm;
use klieo_types::{
    BudgetLimit, ChatChunk, ChatResponse, EpisodicMemory, FinishReason, Message, Usage,
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

/// The blocking answer of a run under `opts` whose one reply is cut,
/// reporting `output` tokens when it reports usage, on `store`; with the
/// model, for its requests.
async fn answered_cut(
    output: Option<u32>,
    store: &InMemoryJournal,
    opts: RunOptions,
) -> (ScriptedLlm, Answer) {
    let llm = ScriptedLlm::new().then_reply(cut_reply(output));
    let answer = agent(&llm, store, opts).run("go").await.unwrap();
    (llm, answer)
}

#[tokio::test]
async fn an_answer_cut_where_the_budget_lowered_its_cap_names_the_limit() {
    let opts = RunOptions::default().with_budget(Budget::new().with_output_tokens(50));
    let (llm, answer) = answered_cut(Some(50), &InMemoryJournal::new(), opts).await;
    assert_eq!(
        llm.requests()[0].max_tokens,
        Some(50),
        "the budget lowered the cap"
    );
    assert_eq!(answer.text, "The answer is a long");
    assert_eq!(
        answer.summary.cut_by_budget,
        Some(BudgetLimit::OutputTokens)
    );
}

#[tokio::test]
async fn an_answer_cut_short_of_the_budgets_cap_names_none() {
    // The server cut it at a cap of its own, before the budget's.
    let opts = RunOptions::default().with_budget(Budget::new().with_output_tokens(50));
    let (llm, answer) = answered_cut(Some(30), &InMemoryJournal::new(), opts).await;
    assert_eq!(
        llm.requests()[0].max_tokens,
        Some(50),
        "the budget lowered the cap"
    );
    assert_eq!(answer.summary.cut_by_budget, None);
}

#[tokio::test]
async fn a_streamed_answer_cut_at_the_budgets_cap_names_the_limit() {
    let chunks = vec![
        Ok(ChatChunk::delta("The answer is a long")),
        Ok(ChatChunk::finish(FinishReason::Length)),
    ];
    let llm = ScriptedLlm::new().then_chunks(chunks);
    let opts = RunOptions::default()
        .with_budget(Budget::new().with_total_tokens(10_000))
        .with_max_tokens(Some(100_000));
    let items: Vec<_> = agent(&llm, &InMemoryJournal::new(), opts)
        .stream("go")
        .collect()
        .await;
    let Some(Ok(RunEvent::Finished(answer))) = items.last() else {
        panic!("the run answers: {items:?}");
    };
    assert_eq!(answer.summary.cut_by_budget, Some(BudgetLimit::TotalTokens));
}

#[tokio::test]
async fn an_answer_cut_at_the_keys_cap_names_the_keys_limit() {
    let key = KeyBudget::new("acme").with_total_tokens(300);
    let opts = RunOptions::default().with_budget(Budget::new().with_key(key));
    let (llm, answer) = answered_cut(None, &InMemoryJournal::new(), opts).await;
    assert!(llm.requests()[0].max_tokens.is_some_and(|cap| cap < 300));
    assert_eq!(answer.summary.cut_by_budget, Some(BudgetLimit::TotalTokens));
}

#[tokio::test]
async fn an_answer_cut_at_the_callers_own_cap_names_none() {
    let store = InMemoryJournal::new();
    let budget = Budget::new().with_output_tokens(10_000);
    let opts = RunOptions::default()
        .with_budget(budget)
        .with_max_tokens(Some(20));
    let (llm, answer) = answered_cut(Some(20), &store, opts).await;
    assert_eq!(answer.text, "The answer is a long");
    assert_eq!(llm.requests()[0].max_tokens, Some(20));
    assert_eq!(answer.summary.cut_by_budget, None);
    let run = store.list_runs().await.unwrap()[0];
    let log = store.replay(run).await.unwrap();
    assert_eq!(kinds(&log), ["started", "llm_call", "completed"]);
}
