//! Budgets against llama-server: a token or cost limit caps what the
//! server's reported usage may come to (the call's `max_tokens` lowered
//! to what is left), and a call the budget cannot afford is not made.

use super::failover::client;
use super::{options, server};
use klieo::openai::OpenAiClient;
use klieo::prelude::*;
use klieo::runtime::{ModelPrice, Prices};
use klieo::types::{BudgetLimit, Usage};

fn llama() -> OpenAiClient {
    client("llama", format!("{}/v1", server()))
}

/// The usage llama-server reports for a long story asked under `budget`
/// (with room for 200 tokens asked).
async fn story_under(budget: Budget) -> Usage {
    let agent = Agent::builder(llama())
        .with_instructions("You are a friendly assistant.")
        .with_options(options().with_max_tokens(Some(200)).with_budget(budget))
        .build()
        .unwrap();
    let answer = agent
        .run("Tell me a long story about a lighthouse keeper.")
        .await
        .unwrap_or_else(|e| panic!("the run within its budget: {e}"));
    answer.summary.usage.expect("llama-server reports usage")
}

/// The budget lowers the call's `max_tokens` to what the limit leaves, so
/// the usage llama-server reports stays within it.
#[tokio::test]
#[ignore = "needs llama-server: cargo xtask ci builds and starts it"]
async fn a_token_budget_caps_what_llama_server_spends() {
    const LIMIT: u64 = 160;
    let usage = story_under(Budget::new().with_total_tokens(LIMIT)).await;
    assert!(
        u64::from(usage.total()) <= LIMIT,
        "{usage:?} passed the limit of {LIMIT}"
    );
}

/// A cost limit, with a price table for the model, caps what the run's
/// reported usage costs.
#[tokio::test]
#[ignore = "needs llama-server: cargo xtask ci builds and starts it"]
async fn a_cost_budget_caps_what_llama_server_costs() {
    // 1 dollar a million input tokens, 10 for output; 1,200 millionths.
    let prices = Prices::new().add_model("smollm2", ModelPrice::per_million_tokens(1.0, 10.0));
    let usage = story_under(Budget::new().with_cost_usd(0.0012, prices)).await;
    let cost = usage.input_tokens + 10 * usage.output_tokens;
    assert!(cost <= 1_200, "{usage:?} cost {cost} millionths");
}

/// A call that the budget cannot afford is not made: the run ends with the
/// limit named, and nothing was spent.
#[tokio::test]
#[ignore = "needs llama-server: cargo xtask ci builds and starts it"]
async fn a_token_budget_refuses_a_call_it_cannot_afford() {
    let agent = Agent::builder(llama())
        .with_options(options().with_budget(Budget::new().with_input_tokens(5)))
        .build()
        .unwrap();
    let refused = agent
        .run("Tell me a long story about a lighthouse keeper and the sea.")
        .await
        .unwrap_err();
    match refused {
        Error::BudgetExceeded {
            limit,
            spent,
            needed,
            ..
        } => {
            assert_eq!(limit, BudgetLimit::InputTokens);
            assert_eq!(spent, 0, "no call was made");
            assert!(needed > 5, "the call needed more: {needed}");
        }
        other => panic!("not refused for its budget: {other:?}"),
    }
}
