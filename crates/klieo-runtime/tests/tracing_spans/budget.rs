//! A budget's facts on the spans: each chat span carries what its call
//! was reserved as and counted at; a refused run's span names the limit.

use super::capture::captured;
use super::traced_run;
use klieo_runtime::{run_steps, AgentContext, Budget, ModelPrice, Prices, RunOptions};
use klieo_types::testing::ScriptedLlm;
use klieo_types::ThreadId;

#[test]
fn chat_spans_carry_the_calls_reservation_and_its_count() {
    let prices = Prices::new().add_model("scripted", ModelPrice::per_million_tokens(1.0, 2.0));
    let budget = Budget::new()
        .with_total_tokens(100_000)
        .with_cost_usd(1.0, prices);
    let (_, captured) = traced_run(false, RunOptions::default().with_budget(budget));
    let chats = captured.named("chat");
    assert_eq!(chats.len(), 2);
    for chat in chats {
        let reserved: u64 = chat
            .get("klieo.budget.reserved_tokens")
            .and_then(|v| v.parse().ok())
            .expect("the reservation's tokens");
        let max_tokens: u64 = chat
            .get("gen_ai.request.max_tokens")
            .and_then(|v| v.parse().ok())
            .expect("a max_tokens under a token limit");
        assert!(reserved > max_tokens, "the input's bound and max_tokens");
        assert!(chat.get("klieo.budget.reserved_cost_micros").is_some());
        assert!(chat.get("klieo.budget.cost_micros").is_some());
    }
}

#[test]
fn a_refused_runs_span_names_the_limit() {
    let ((), captured) = captured(|| async {
        let ctx = AgentContext::new(ScriptedLlm::new().then_text("never"));
        let opts = RunOptions::default().with_budget(Budget::new().with_input_tokens(1));
        let refused = run_steps(&ctx, "Be brief.", ThreadId::new("t"), opts).await;
        assert!(refused.is_err());
    });
    let [agent] = captured.named("invoke_agent")[..] else {
        panic!("one run span");
    };
    assert_eq!(agent.get("klieo.budget.refused"), Some("input_tokens"));
}
