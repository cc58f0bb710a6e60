//! Key budgets: the runs of one key share its limits through the
//! journal's ledger, whichever worker drives them; a refused call is not
//! made, and the refusal is an episode, an event and the run's error;
//! the ledger's settled spend is what the runs' journals record.

mod children;
mod dropped;

use crate::support::kinds;
use futures_util::StreamExt;
use klieo_runtime::{
    Agent, Budget, DenyKeywords, KeyBudget, ModelPrice, Prices, RunEvent, RunOptions, TypedTool,
};
use klieo_store::InMemoryJournal;
use klieo_types::testing::ScriptedLlm;
use klieo_types::{
    BudgetLimit, ChatResponse, ConfigError, Episode, EpisodicMemory, Error, FinishReason, Journal,
    KeySpend, LlmError, Message, RunId, TimeLimit, ToolCall, Usage,
};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

fn answer(input: u32, output: u32) -> ChatResponse {
    let mut reply = ChatResponse::new(Message::assistant("done"), FinishReason::Stop);
    reply.usage = Some(Usage::new(input, output));
    reply
}

/// A worker: an agent on `store` whose runs count against `key`.
fn worker(llm: &ScriptedLlm, store: &InMemoryJournal, key: KeyBudget) -> Agent {
    Agent::builder(llm.clone())
        .with_memory(store.clone())
        .with_options(RunOptions::default().with_budget(Budget::new().with_key(key)))
        .build()
        .unwrap()
}

/// Sum of the spend the journal's `LlmCall`s record, as the ledger counts it.
async fn journaled(store: &InMemoryJournal) -> KeySpend {
    let mut sum = KeySpend::default();
    for run in store.list_runs().await.unwrap() {
        for episode in store.replay(run).await.unwrap() {
            if let Episode::LlmCall {
                spend: Some(spend), ..
            } = episode
            {
                sum = sum.plus(KeySpend::of_call(&spend));
            }
        }
    }
    sum
}

async fn settled(store: &InMemoryJournal, key: &str) -> KeySpend {
    let ledger = store.ledger().unwrap();
    ledger.standing(key, 0, RunId::new()).await.unwrap().settled
}

#[tokio::test]
async fn two_workers_share_a_keys_limit_and_settle_what_they_journal() {
    let store = InMemoryJournal::new();
    let key = || KeyBudget::new("acme").with_total_tokens(300);
    let (one, two) = (ScriptedLlm::new(), ScriptedLlm::new());
    let first = worker(&one.clone().then_reply(answer(100, 200)), &store, key());
    let second = worker(
        &two.clone().then_reply(answer(10, 5)),
        &store.clone(),
        key(),
    );
    first.session("a").run("go").await.unwrap();
    let error = second.session("b").run("go").await.expect_err("over");
    match error {
        Error::KeyBudgetExceeded {
            key,
            limit: BudgetLimit::TotalTokens,
            max: 300,
            spent: 300,
            needed,
        } => {
            assert_eq!(key, "acme");
            assert!(needed > 1, "the request's input and one token: {needed}");
        }
        other => panic!("expected the key's token limit, got {other:?}"),
    }
    assert!(two.requests().is_empty(), "the refused call was not made");
    assert_eq!(settled(&store, "acme").await, KeySpend::new(300, 0, 1));
    assert_eq!(settled(&store, "acme").await, journaled(&store).await);
}

#[tokio::test]
async fn a_call_may_generate_only_what_the_key_has_left() {
    let store = InMemoryJournal::new();
    let llm = ScriptedLlm::new()
        .then_reply(answer(100, 400))
        .then_reply(answer(10, 5));
    let key = KeyBudget::new("acme").with_total_tokens(1_000);
    let agent = worker(&llm, &store, key);
    agent.session("a").run("go").await.unwrap();
    agent.session("b").run("go").await.unwrap();
    let asked: Vec<_> = llm.requests().iter().map(|r| r.max_tokens).collect();
    let Some(Some(second)) = asked.get(1) else {
        panic!("two calls, each with a max_tokens: {asked:?}");
    };
    assert!(
        *second < 500,
        "500 tokens are settled, and the input is reserved: {asked:?}"
    );
    assert_eq!(settled(&store, "acme").await, KeySpend::new(515, 0, 2));
}

#[tokio::test]
async fn a_refusal_is_an_episode_and_an_event_before_the_runs_error() {
    let store = InMemoryJournal::new();
    let llm = ScriptedLlm::new().then_reply(answer(10, 5));
    let agent = worker(&llm, &store, KeyBudget::new("acme").with_model_calls(1));
    agent.session("a").run("go").await.unwrap();
    let events: Vec<_> = agent.session("b").stream("go").collect().await;
    let refused = events
        .iter()
        .find_map(|event| match event {
            Ok(RunEvent::BudgetRefused { limit, key, .. }) => Some((*limit, key.clone())),
            _ => None,
        })
        .expect("a BudgetRefused event");
    assert_eq!(refused, (BudgetLimit::ModelCalls, Some("acme".to_owned())));
    assert!(
        matches!(events.last(), Some(Err(Error::KeyBudgetExceeded { .. }))),
        "{events:?}"
    );
    let runs = store.list_runs().await.unwrap();
    let log = store.replay(runs[1]).await.unwrap();
    let tail: Vec<_> = log.iter().rev().take(2).map(Episode::kind).collect();
    assert_eq!(tail, ["failed", "budget_refused"], "{log:?}");
    assert!(matches!(
        &log[log.len() - 2],
        Episode::BudgetRefused {
            limit: BudgetLimit::ModelCalls,
            max: 1,
            spent: 1,
            needed: 1,
            key: Some(key),
        } if key == "acme"
    ));
}

#[tokio::test]
async fn a_runs_own_refusal_is_recorded_without_a_key() {
    let store = InMemoryJournal::new();
    let llm = ScriptedLlm::new().then_reply(answer(10, 5));
    let agent = Agent::builder(llm)
        .with_memory(store.clone())
        .with_options(RunOptions::default().with_budget(Budget::new().with_input_tokens(1)))
        .build()
        .unwrap();
    let error = agent
        .run("a prompt longer than a token")
        .await
        .expect_err("over");
    assert!(matches!(error, Error::BudgetExceeded { .. }), "{error:?}");
    let run = store.list_runs().await.unwrap()[0];
    let log = store.replay(run).await.unwrap();
    assert!(
        log.iter().any(|e| matches!(
            e,
            Episode::BudgetRefused {
                limit: BudgetLimit::InputTokens,
                key: None,
                ..
            }
        )),
        "{log:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_call_that_outlives_its_reservation_is_cut_off_and_released() {
    let store = InMemoryJournal::new();
    let llm = ScriptedLlm::new().then_stall();
    let ttl = Duration::from_secs(30);
    let key = KeyBudget::new("acme")
        .with_total_tokens(10_000)
        .with_reservation_ttl(ttl);
    let agent = Agent::builder(llm)
        .with_memory(store.clone())
        .with_options(
            RunOptions::default()
                .with_budget(Budget::new().with_key(key))
                .with_retry(klieo_retry::RetryPolicy::default().with_total_budget(None)),
        )
        .build()
        .unwrap();
    let began = tokio::time::Instant::now();
    let error = agent.run("go").await.expect_err("cut off");
    assert!(
        matches!(
            error,
            Error::Llm(LlmError::Timeout {
                limit: TimeLimit::KeyReservation,
                ..
            })
        ),
        "{error:?}"
    );
    assert_eq!(began.elapsed(), ttl);
    let ledger = store.ledger().unwrap();
    let standing = ledger.standing("acme", 0, RunId::new()).await.unwrap();
    assert_eq!(
        standing.reserved,
        KeySpend::default(),
        "given up with the failure"
    );
}

#[test]
fn a_key_budget_needs_a_journal_that_keeps_a_ledger() {
    let key = Budget::new().with_key(KeyBudget::new("acme").with_model_calls(5));
    let refused = Agent::builder(ScriptedLlm::new())
        .with_options(RunOptions::default().with_budget(key))
        .build();
    assert!(
        matches!(&refused, Err(ConfigError::Invalid { name, .. }) if name == "Budget::key"),
        "{refused:?}"
    );
}

#[test]
fn a_key_cost_limit_needs_the_models_price() {
    let prices = Prices::new().add_model("other", ModelPrice::per_million_tokens(1.0, 2.0));
    let budget = Budget::new()
        .with_prices(prices)
        .with_key(KeyBudget::new("acme").with_cost_usd(1.0));
    let refused = Agent::builder(ScriptedLlm::new())
        .with_memory(InMemoryJournal::new())
        .with_options(RunOptions::default().with_budget(budget))
        .build();
    assert!(
        matches!(&refused, Err(ConfigError::Invalid { name, .. }) if name == "KeyBudget::cost_usd"),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_call_sized_by_a_stale_standing_is_sized_again_when_the_ledger_refuses_it() {
    let store = InMemoryJournal::new();
    let key = || KeyBudget::new("acme").with_total_tokens(2_000);
    // While run A's tool works, run B (another worker) spends 1,800 of
    // the key's 2,000 tokens: A's next call, sized by what A saw, is
    // refused by the ledger, sized again by what it says, and made.
    let other = worker(
        &ScriptedLlm::new().then_reply(answer(1_000, 800)),
        &store,
        key(),
    );
    let spend_elsewhere = TypedTool::new("spend", "spends", move |_: serde_json::Value| {
        let other = other.clone();
        async move {
            other.session("b").run("go").await.unwrap();
            Ok::<_, klieo_types::ToolError>("spent")
        }
    });
    let mut call = ChatResponse::new(
        Message::assistant_tool_calls("", vec![ToolCall::new("c1", "spend", json!({}))]),
        FinishReason::ToolCalls,
    );
    call.usage = Some(Usage::new(10, 5));
    let llm = ScriptedLlm::new()
        .then_reply(call)
        .then_reply(answer(10, 5));
    let agent = Agent::builder(llm.clone())
        .add_tool(spend_elsewhere)
        .with_memory(store.clone())
        .with_options(RunOptions::default().with_budget(Budget::new().with_key(key())))
        .build()
        .unwrap();
    agent.session("a").run("go").await.unwrap();
    let second = llm.requests()[1].max_tokens.unwrap();
    assert!(
        second < 2_000 - 1_815,
        "sized by the key's standing after B: {second}"
    );
    assert_eq!(settled(&store, "acme").await, journaled(&store).await);
}

#[tokio::test]
async fn each_call_is_reserved_before_it_is_made_and_the_log_keeps_both() {
    let store = InMemoryJournal::new();
    let llm = ScriptedLlm::new().then_reply(answer(10, 5));
    let agent = worker(
        &llm,
        &store,
        KeyBudget::new("acme").with_total_tokens(100_000),
    );
    let events: Vec<_> = agent.session("a").stream("go").collect().await;
    let reserved: Vec<_> = events
        .iter()
        .filter_map(|event| match event {
            Ok(RunEvent::BudgetReserved { step, tokens, .. }) => Some((*step, *tokens)),
            _ => None,
        })
        .collect();
    let [(1, tokens)] = reserved[..] else {
        panic!("one reservation, for step 1: {events:?}");
    };
    let sent = u64::from(llm.requests()[0].max_tokens.unwrap());
    assert!(tokens > sent, "the input's bound and the max_tokens sent");
    let run = store.list_runs().await.unwrap()[0];
    let spend = store
        .replay(run)
        .await
        .unwrap()
        .into_iter()
        .find_map(|episode| match episode {
            Episode::LlmCall { spend, .. } => spend,
            _ => None,
        })
        .unwrap();
    assert_eq!(spend.reserved_tokens, Some(tokens));
    assert_eq!((spend.input_tokens, spend.output_tokens), (10, 5));
}

#[tokio::test]
async fn a_reply_a_guardrail_refuses_is_spent_and_counted_against_the_key() {
    let store = InMemoryJournal::new();
    let llm = ScriptedLlm::new()
        .then_reply(answer(100, 50))
        .then_reply(answer(10, 5));
    let options = RunOptions::default()
        .with_budget(Budget::new().with_key(KeyBudget::new("acme").with_model_calls(1)))
        .add_guardrail(Arc::new(DenyKeywords::new(["done"])));
    let agent = Agent::builder(llm.clone())
        .with_memory(store.clone())
        .with_options(options)
        .build()
        .unwrap();
    let refused = agent.session("a").run("go").await;
    assert!(matches!(refused, Err(Error::Refused { .. })), "{refused:?}");
    assert_eq!(
        settled(&store, "acme").await,
        KeySpend::new(150, 0, 1),
        "the provider answered: its reply is spent"
    );
    assert_eq!(journaled(&store).await, KeySpend::new(150, 0, 1));
    let over = agent.session("b").run("go").await;
    assert!(
        matches!(over, Err(Error::KeyBudgetExceeded { .. })),
        "the key's one model call is spent: {over:?}"
    );
    assert_eq!(llm.requests().len(), 1, "no second call is made");
}

/// A stream that fails after some of its reply came was a call the
/// provider was paying for: it is journaled, cut off, and its estimate
/// settled on the key, in the same commit as the run's failure. One whose
/// stream ends without a finish reason keeps what it brought too.
#[tokio::test]
async fn a_stream_failing_mid_reply_settles_its_estimate_on_the_key() {
    let broken = vec![
        Ok(klieo_types::ChatChunk::delta("The answer is")),
        Err(LlmError::network("connection reset")),
    ];
    let ended_early = vec![Ok(klieo_types::ChatChunk::delta("The answer is"))];
    for chunks in [broken, ended_early] {
        let store = InMemoryJournal::new();
        let llm = ScriptedLlm::new().then_chunks(chunks);
        let agent = worker(
            &llm,
            &store,
            KeyBudget::new("acme").with_total_tokens(100_000),
        );
        let items: Vec<_> = agent.stream("a long question").collect().await;
        assert!(matches!(items.last(), Some(Err(_))), "{items:?}");
        let spent = settled(&store, "acme").await;
        assert!(spent.tokens > 0, "the cut call is counted: {spent:?}");
        assert_eq!(spent, journaled(&store).await, "as its journal records it");
        let runs = store.list_runs().await.unwrap();
        let kinds = kinds(&store.replay(runs[0]).await.unwrap());
        assert_eq!(
            kinds[kinds.len() - 2..],
            ["llm_call", "failed"],
            "{kinds:?}"
        );
    }
}
