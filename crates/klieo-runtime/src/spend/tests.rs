//! What a run spends, checked and counted: tokens, calls, cost and time.
#![allow(clippy::unwrap_used, clippy::panic)]

use super::*;
use crate::options::Prices;
use klieo_types::{Episode, FinishReason, Message, Usage};
use std::time::Duration;

fn request(words: usize) -> ChatRequest {
    ChatRequest::new(vec![Message::user("word ".repeat(words))])
}

/// A request's window: the thread's first message, no summary.
const SAME: Option<Window> = Some(Window {
    start: Start::Index(0),
    summary: None,
});

fn answered(input: u32, output: u32) -> ChatResponse {
    let mut reply = ChatResponse::new(Message::assistant("ok"), FinishReason::Stop);
    reply.usage = Some(Usage::new(input, output));
    reply
}

#[test]
fn a_call_that_would_pass_a_token_limit_is_refused_naming_it() {
    let budget = Budget::new().with_total_tokens(100);
    let mut spend = Spend::default();
    let mut req = request(10);
    spend
        .reserve(&budget, &mut req, Duration::ZERO, SAME)
        .unwrap();
    assert!(req.max_tokens.is_some_and(|left| left < 100), "{req:?}");
    spend.settle(&budget, &answered(60, 30));
    let refused = spend
        .reserve(&budget, &mut request(10), Duration::ZERO, SAME)
        .unwrap_err();
    match refused {
        Error::BudgetExceeded {
            limit: BudgetLimit::TotalTokens,
            max: 100,
            spent: 90,
            needed,
        } => assert!(needed > 10, "{needed}"),
        other => panic!("expected the total-token limit, got {other:?}"),
    }
}

#[test]
fn calls_are_counted_and_refused_past_their_limits() {
    let budget = Budget::new().with_model_calls(1).with_tool_calls(2);
    let mut spend = Spend::default();
    spend
        .reserve(&budget, &mut request(1), Duration::ZERO, SAME)
        .unwrap();
    spend.settle(&budget, &answered(1, 1));
    assert!(matches!(
        spend.reserve(&budget, &mut request(1), Duration::ZERO, SAME),
        Err(Error::BudgetExceeded {
            limit: BudgetLimit::ModelCalls,
            max: 1,
            spent: 1,
            needed: 1
        })
    ));
    spend.tool_calls(&budget, 2).unwrap();
    assert!(matches!(
        spend.tool_calls(&budget, 1),
        Err(Error::BudgetExceeded {
            limit: BudgetLimit::ToolCalls,
            max: 2,
            spent: 2,
            needed: 1
        })
    ));
}

#[test]
fn a_log_gives_back_the_spend_it_records() {
    let call = |usage: Option<Usage>| Episode::LlmCall {
        step: 1,
        tokens: usage,
        latency_ms: 1,
        finish_reason: FinishReason::ToolCalls,
        tool_calls: 1,
        spend: None,
    };
    let log = vec![
        Episode::Started { agent: "a".into() },
        call(Some(Usage::new(40, 10))),
        call(None),
    ];
    let spend = Spend::from_log(&Budget::new(), &["m".to_owned()], &log);
    assert_eq!((spend.input, spend.output, spend.model_calls), (40, 10, 2));
}

#[test]
fn a_logs_working_time_saturates() {
    let call = |step| Episode::LlmCall {
        step,
        tokens: None,
        latency_ms: u64::MAX,
        finish_reason: FinishReason::ToolCalls,
        tool_calls: 1,
        spend: None,
    };
    let spend = Spend::from_log(&Budget::new(), &["m".to_owned()], &[call(1), call(2)]);
    assert_eq!(spend.logged(), Duration::from_millis(u64::MAX));
}

#[test]
fn the_input_is_reserved_at_its_bound_then_from_what_calls_report() {
    let budget = Budget::new().with_total_tokens(10_000);
    let mut spend = Spend::default();
    // 500 bytes, one message, the request's markers; a reply of up to
    // 100,000 tokens asked for.
    let mut first = request(100);
    first.max_tokens = Some(100_000);
    spend
        .reserve(&budget, &mut first, Duration::ZERO, SAME)
        .unwrap();
    assert_eq!(first.max_tokens, Some(10_000 - 540));
    spend.settle(&budget, &answered(120, 10));
    // The same message and a reply of 2 bytes: 10 more than before.
    let words = "word ".repeat(100);
    let mut next = ChatRequest::new(vec![Message::user(words), Message::assistant("ok")]);
    next.max_tokens = Some(100_000);
    spend
        .reserve(&budget, &mut next, Duration::ZERO, SAME)
        .unwrap();
    assert_eq!(spend.reserved_input, 130);
    assert_eq!(next.max_tokens, Some(10_000 - 130 - 130));
}

#[test]
fn a_request_whose_window_moved_is_reserved_at_its_bound() {
    let budget = Budget::new().with_total_tokens(100_000);
    let mut spend = Spend::default();
    // Prose, about four bytes a token, reported as such.
    let mut first = ChatRequest::new(vec![
        Message::user("word ".repeat(1_200)),
        Message::user("list the ids"),
    ]);
    spend
        .reserve(&budget, &mut first, Duration::ZERO, SAME)
        .unwrap();
    spend.settle(&budget, &answered(1_500, 10));
    // The window moved past the prose, and a result of digits came in:
    // a token a digit, as a server may count them.
    let moved = Some(Window {
        start: Start::Index(1),
        summary: None,
    });
    let mut next = ChatRequest::new(vec![
        Message::user("list the ids"),
        Message::assistant("..."),
        Message::user("0123456789".repeat(700)),
    ]);
    spend
        .reserve(&budget, &mut next, Duration::ZERO, moved)
        .unwrap();
    assert!(
        spend.reserved_input >= 7_000,
        "reserved {} input tokens for 7,000 digits",
        spend.reserved_input
    );
}

#[test]
fn an_unreported_usage_is_estimated() {
    let mut spend = Spend::default();
    let budget = Budget::new().with_input_tokens(1_000);
    spend
        .reserve(&budget, &mut request(20), Duration::ZERO, SAME)
        .unwrap();
    let reply = ChatResponse::new(Message::assistant("a reply"), FinishReason::Stop);
    spend.settle(&budget, &reply);
    assert!(spend.input > 0 && spend.output > 0, "{spend:?}");
}

fn priced(usd: f64) -> Budget {
    let prices = Prices::new().add_model("m", ModelPrice::per_million_tokens(1.0, 10.0));
    Budget::new().with_cost_usd(usd, prices)
}

/// A call counted under a budget without a cost limit (an earlier part's
/// of a team's run) is priced by a part whose budget has one, as a call
/// counted under no budget is.
#[test]
fn a_call_counted_without_a_cost_is_priced_by_a_cost_limit_taking_it_up() {
    let tokens = Some(Usage::new(900_000, 50_000));
    let counted = |spend| Episode::LlmCall {
        step: 1,
        tokens,
        latency_ms: 0,
        finish_reason: FinishReason::Stop,
        tool_calls: 0,
        spend,
    };
    let uncounted = Spend::from_log(&priced(0.01), &["m".to_owned()], &[counted(None)]);
    let without_cost = Some(Box::new(klieo_types::CallSpend::new(
        900_000, 50_000, None, false,
    )));
    let tokens_only = Spend::from_log(&priced(0.01), &["m".to_owned()], &[counted(without_cost)]);
    // 0.9 M input at 1 and 0.05 M output at 10 a million: 1.40 USD.
    assert_eq!(uncounted.report().cost_usd, Some(1.4));
    assert_eq!(tokens_only.report().cost_usd, Some(1.4));
}

#[test]
fn a_cost_limit_lowers_max_tokens_to_what_the_money_left_buys() {
    // 1,000 millionths: the request's bound (50 bytes, its markers: 90
    // tokens at 1) leaves 910, which buys 91 output tokens at 10.
    let budget = priced(0.001);
    let mut spend = Spend::new(&budget, &["m".to_owned()]);
    let mut req = request(10);
    spend
        .reserve(&budget, &mut req, Duration::ZERO, SAME)
        .unwrap();
    assert_eq!(req.max_tokens, Some(91));
    spend.settle(&budget, &answered(20, 50));
    assert_eq!(spend.cost, 20 + 500);
    // 970 input at most (20 reported, and the bound of 950 more bytes),
    // and one output token: past 1,000 with the 520 spent.
    let refused = spend
        .reserve(&budget, &mut request(200), Duration::ZERO, SAME)
        .unwrap_err();
    assert!(
        matches!(
            refused,
            Error::BudgetExceeded {
                limit: BudgetLimit::Cost,
                max: 1_000,
                spent: 520,
                ..
            }
        ),
        "{refused:?}"
    );
}

#[test]
fn a_reply_is_priced_at_the_model_it_names() {
    let prices = Prices::new()
        .add_model("m", ModelPrice::per_million_tokens(1.0, 1.0))
        .add_model("big", ModelPrice::per_million_tokens(100.0, 100.0));
    let budget = Budget::new().with_cost_usd(1.0, prices);
    let mut spend = Spend::new(&budget, &["m".to_owned()]);
    let mut reply = answered(10, 10);
    reply.info = Some(Box::new(klieo_types::ReplyInfo::new(
        None,
        Some("big-2025".into()),
    )));
    spend.settle(&budget, &reply);
    assert_eq!(spend.cost, 2_000);
}

#[test]
fn the_time_limit_counts_logged_and_present_work_and_bounds_the_call() {
    let budget = Budget::new().with_time(Duration::from_secs(10));
    let tool = |step, ms| Episode::ToolCall {
        step,
        call_id: "c".into(),
        name: "t".into(),
        args: serde_json::Value::Null.into(),
        result: klieo_types::ToolOutcome::Ok {
            output: serde_json::Value::Null,
        },
        latency_ms: ms,
    };
    let call = Episode::LlmCall {
        step: 1,
        tokens: None,
        latency_ms: 2_000,
        finish_reason: FinishReason::ToolCalls,
        tool_calls: 2,
        spend: None,
    };
    // The model call, and the longer of the step's two tool calls.
    let log = vec![call, tool(1, 1_000), tool(1, 3_000)];
    let mut spend = Spend::from_log(&budget, &["m".to_owned()], &log);
    assert_eq!(spend.logged_ms, 5_000);
    let mut req = request(1);
    spend
        .reserve(&budget, &mut req, Duration::from_secs(1), SAME)
        .unwrap();
    assert_eq!(
        req.timeout, None,
        "the client's own timeout is left as it is"
    );
    let over = spend
        .reserve(&budget, &mut request(1), Duration::from_secs(5), SAME)
        .unwrap_err();
    assert!(
        matches!(
            over,
            Error::BudgetExceeded {
                limit: BudgetLimit::Time,
                max: 10_000,
                spent: 10_000,
                ..
            }
        ),
        "{over:?}"
    );
}

#[test]
fn max_tokens_is_what_the_money_buys_as_the_budget_rounds() {
    // Free input, 0.07 a million output: 77 millionths buy 1,099 tokens,
    // for 1,100 × 0.07 comes to 77.00000000000001, which rounds up to 78.
    let prices = Prices::new().add_model("m", ModelPrice::per_million_tokens(0.0, 0.07));
    let budget = Budget::new().with_cost_usd(0.000077, prices);
    let mut spend = Spend::new(&budget, &["m".to_owned()]);
    let mut req = request(10);
    spend
        .reserve(&budget, &mut req, Duration::ZERO, SAME)
        .unwrap();
    assert_eq!(req.max_tokens, Some(1_099));
}

#[test]
fn a_request_that_asks_no_limit_is_sent_one_a_server_takes() {
    let budget = Budget::new().with_total_tokens(1_000_000_000);
    let mut spend = Spend::default();
    let mut req = request(1);
    spend
        .reserve(&budget, &mut req, Duration::ZERO, SAME)
        .unwrap();
    assert_eq!(req.max_tokens, Some(UNASKED_MAX_TOKENS));
}

#[test]
fn a_reply_without_usage_is_counted_at_no_more_output_than_it_was_sent_with() {
    let budget = Budget::new().with_total_tokens(10_000);
    let mut spend = Spend::default();
    let mut req = request(10).with_max_tokens(3);
    spend
        .reserve(&budget, &mut req, Duration::ZERO, SAME)
        .unwrap();
    spend.noted(&budget, &req);
    // A long reply a server would have cut: the estimate is over 3.
    let long = ChatResponse::new(Message::assistant("word ".repeat(40)), FinishReason::Length);
    assert!(long.message.estimated_tokens() > 3);
    let settled = spend.settle(&budget, &long);
    assert!(settled.estimated);
    assert_eq!(settled.output_tokens, 3);
    assert!(settled.input_tokens + settled.output_tokens <= settled.reserved_tokens.unwrap());
}

#[test]
fn the_output_may_use_what_the_inputs_rounding_left() {
    // 1,001 input tokens cost 150.15 micro-dollars, 151 rounded up; one
    // output token more costs 150.75, still 151.
    let price = ModelPrice::per_million_tokens(0.15, 0.60);
    assert_eq!(price.bound_micros(1_001, 1), 151);
    assert_eq!(affordable(&price, 1_001, 0), 1);
    // One micro-dollar more buys up to 151.95: three tokens, not four.
    assert_eq!(price.bound_micros(1_001, 3), 152);
    assert_eq!(price.bound_micros(1_001, 4), 153);
    assert_eq!(affordable(&price, 1_001, 1), 3);
    assert_eq!(affordable(&price, 0, 6), 10);
    // A token almost free: the input's rounding (1.5 to 2) leaves half a
    // micro-dollar, half a billion tokens, found without a step for each.
    let cheap = ModelPrice::per_million_tokens(0.15, 1e-9);
    let most = affordable(&cheap, 10, 0);
    assert!(most > 400_000_000, "{most}");
    assert!(cheap.bound_micros(10, most) <= 2);
    assert!(cheap.bound_micros(10, most + 1) > 2);
}

/// A table shared by a fleet prices dear models other runs use: a run on
/// a cheap model is reserved at its own price, and one whose client may
/// answer from a dear one at that one's.
#[test]
fn a_call_is_reserved_at_the_dearest_of_the_clients_models_not_the_tables() {
    let prices = Prices::new()
        .add_model("cheap", ModelPrice::per_million_tokens(0.15, 0.6))
        .add_model("dear", ModelPrice::per_million_tokens(15.0, 60.0));
    let budget = Budget::new().with_cost_usd(0.01, prices);
    let mut cheap = Spend::new(&budget, &["cheap".to_owned()]);
    let mut req = request(400);
    cheap
        .reserve(&budget, &mut req, Duration::ZERO, SAME)
        .unwrap();
    assert_eq!(req.max_tokens, Some(crate::spend::UNASKED_MAX_TOKENS));
    let mut either = Spend::new(&budget, &["cheap".to_owned(), "dear".to_owned()]);
    let mut req = request(400);
    let reserved = either.reserve(&budget, &mut req, Duration::ZERO, SAME);
    assert!(
        reserved.is_err() || req.max_tokens < Some(crate::spend::UNASKED_MAX_TOKENS),
        "a client that may answer from `dear` is reserved at its price: {reserved:?} {req:?}"
    );
}
