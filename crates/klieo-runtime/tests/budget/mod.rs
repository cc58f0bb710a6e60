//! Budgets: a run stops before the model call that would pass a limit,
//! a reply's tool calls are checked before any runs, a run taken up again
//! counts what its log says it spent (`taken_up`), and a limit of 0 is
//! refused when the agent is built.

mod taken_up;

use crate::support::kinds;
use klieo_runtime::{
    Agent, AgentBuilder, Budget, Journaled, ModelPrice, Prices, RunEvent, RunOptions, TypedTool,
};
use klieo_store::InMemoryJournal;
use klieo_types::testing::ScriptedLlm;
use klieo_types::{
    BudgetLimit, ChatResponse, ConfigError, Episode, EpisodicMemory, Error, FinishReason, Message,
    ToolCall, ToolError, Usage,
};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

fn reported(mut reply: ChatResponse, input: u32, output: u32) -> ChatResponse {
    reply.usage = Some(Usage::new(input, output));
    reply
}

/// A reply calling `work` `n` times.
fn calls(n: usize) -> ChatResponse {
    let calls = (1..=n)
        .map(|i| ToolCall::new(format!("c{i}"), "work", json!({})))
        .collect();
    ChatResponse::new(
        Message::assistant_tool_calls("", calls),
        FinishReason::ToolCalls,
    )
}

fn text(answer: &str) -> ChatResponse {
    ChatResponse::new(Message::assistant(answer), FinishReason::Stop)
}

/// An agent with `budget` and a `work` tool counting its runs (needing
/// approval with `approval`), on `store`.
fn agent(
    llm: &ScriptedLlm,
    budget: Budget,
    store: &InMemoryJournal,
    runs: &Arc<AtomicUsize>,
    approval: bool,
) -> Agent {
    builder(llm, budget, store, runs, approval)
        .build()
        .expect("the options are valid")
}

/// [`agent`]'s builder.
fn builder(
    llm: &ScriptedLlm,
    budget: Budget,
    store: &InMemoryJournal,
    runs: &Arc<AtomicUsize>,
    approval: bool,
) -> AgentBuilder<Journaled> {
    let runs = Arc::clone(runs);
    let work = TypedTool::new("work", "works", move |_: serde_json::Value| {
        let runs = Arc::clone(&runs);
        async move {
            runs.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ToolError>("worked")
        }
    })
    .with_approval(approval);
    Agent::builder(llm.clone())
        .add_tool(work)
        .with_memory(store.clone())
        .with_options(RunOptions::default().with_budget(budget))
}

#[tokio::test]
async fn a_token_budget_stops_the_run_before_the_call_that_would_pass_it() {
    let store = InMemoryJournal::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let llm = ScriptedLlm::new()
        .then_reply(reported(calls(1), 70, 25))
        .then_reply(reported(text("done"), 10, 5));
    let budget = Budget::new().with_total_tokens(100);
    let agent = agent(&llm, budget, &store, &runs, false);
    let error = agent.session("t").run("go").await.expect_err("over budget");
    match error {
        Error::BudgetExceeded {
            limit: BudgetLimit::TotalTokens,
            max: 100,
            spent: 95,
            needed,
        } => assert!(needed > 5, "the next call's request alone: {needed}"),
        other => panic!("expected the token budget, got {other:?}"),
    }
    assert_eq!(llm.requests().len(), 1, "the call over budget was not made");
    assert!(
        llm.requests()[0].max_tokens.is_some_and(|left| left < 100),
        "the first call could generate only what the budget left"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let run = store.list_runs().await.unwrap()[0];
    let log = store.replay(run).await.unwrap();
    assert!(
        matches!(log.last(), Some(Episode::Failed { error }) if error.contains("budget")),
        "{log:?}"
    );
}

#[tokio::test]
async fn tool_calls_past_the_budget_are_not_run() {
    let store = InMemoryJournal::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let llm = ScriptedLlm::new().then_reply(calls(2));
    let budget = Budget::new().with_tool_calls(1);
    let agent = agent(&llm, budget, &store, &runs, false);
    let error = agent.session("t").run("go").await.expect_err("over budget");
    assert!(
        matches!(
            error,
            Error::BudgetExceeded {
                limit: BudgetLimit::ToolCalls,
                max: 1,
                spent: 0,
                needed: 2
            }
        ),
        "{error:?}"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 0, "no call of the reply ran");
    let run = store.list_runs().await.unwrap()[0];
    assert_eq!(
        kinds(&store.replay(run).await.unwrap()),
        ["started", "llm_call", "budget_refused", "failed"],
        "the call is kept, and the refusal recorded"
    );
}

#[test]
fn a_limit_of_zero_is_refused_when_the_agent_is_built() {
    let budget = Budget::new().with_tool_calls(0);
    let refused = Agent::builder(ScriptedLlm::new())
        .with_options(RunOptions::default().with_budget(budget))
        .build();
    match refused {
        Err(ConfigError::Invalid { name, .. }) => assert_eq!(name, "Budget::tool_calls"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_time_limit_under_a_millisecond_is_refused_when_the_agent_is_built() {
    // Counted in milliseconds, it would be 0: every call refused.
    let budget = Budget::new().with_time(std::time::Duration::from_micros(500));
    let refused = Agent::builder(ScriptedLlm::new())
        .with_options(RunOptions::default().with_budget(budget))
        .build();
    match refused {
        Err(ConfigError::Invalid { name, reason, .. }) => {
            assert_eq!(name, "Budget::time");
            assert!(reason.contains("500"), "{reason}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// A price of 1 dollar a million input tokens and 10 for output, for the
/// scripted model.
fn priced(usd: f64) -> Budget {
    let prices = Prices::new().add_model("scripted", ModelPrice::per_million_tokens(1.0, 10.0));
    Budget::new().with_cost_usd(usd, prices)
}

#[tokio::test]
async fn a_cost_limit_stops_the_run_before_the_call_it_cannot_afford() {
    let store = InMemoryJournal::new();
    let runs = Arc::new(AtomicUsize::new(0));
    // 100 in and 90 out: 100 + 900 = 1,000 of the 1,050 millionths.
    let llm = ScriptedLlm::new()
        .then_reply(reported(calls(1), 100, 90))
        .then_reply(reported(text("done"), 10, 5));
    let agent = agent(&llm, priced(0.00105), &store, &runs, false);
    let error = agent.session("t").run("go").await.expect_err("over budget");
    match error {
        Error::BudgetExceeded {
            limit: BudgetLimit::Cost,
            max: 1_050,
            spent: 1_000,
            needed,
        } => assert!(needed > 50, "{needed}"),
        other => panic!("expected the cost limit, got {other:?}"),
    }
    assert_eq!(llm.requests().len(), 1, "the call it could not afford");
}

#[test]
fn a_model_without_a_price_under_a_cost_limit_is_refused_at_build() {
    let prices = Prices::new().add_model("gpt-4o", ModelPrice::per_million_tokens(2.5, 10.0));
    let refused = Agent::builder(ScriptedLlm::new())
        .with_options(RunOptions::default().with_budget(Budget::new().with_cost_usd(1.0, prices)))
        .build()
        .unwrap_err();
    assert!(
        refused.to_string().contains("`scripted` has no price"),
        "{refused}"
    );
    let negative = Agent::builder(ScriptedLlm::new())
        .with_options(RunOptions::default().with_budget(priced(-1.0)))
        .build();
    assert!(
        matches!(negative, Err(ConfigError::Invalid { name, .. }) if name == "Budget::cost_usd")
    );
}

/// The scripted model, whose replies may also come from a second model
/// (as a fallback's second provider's).
struct WithBackup(ScriptedLlm);

#[klieo_types::async_trait]
impl klieo_types::LlmClient for WithBackup {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn models(&self) -> Vec<String> {
        vec!["scripted".into(), "dear-backup".into()]
    }
    fn capabilities(&self) -> klieo_types::Capabilities {
        self.0.capabilities()
    }
    async fn complete(
        &self,
        req: klieo_types::ChatRequest,
    ) -> Result<ChatResponse, klieo_types::LlmError> {
        self.0.complete(req).await
    }
}

#[test]
fn a_client_whose_second_model_has_no_price_under_a_cost_limit_is_refused_at_build() {
    let refused = Agent::builder(WithBackup(ScriptedLlm::new()))
        .with_options(RunOptions::default().with_budget(priced(1.0)))
        .build()
        .unwrap_err();
    assert!(
        refused.to_string().contains("`dear-backup` has no price"),
        "{refused}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_time_limit_stops_the_run_after_its_tools_took_the_time() {
    let slow = TypedTool::new("work", "works slowly", |_: serde_json::Value| async {
        tokio::time::sleep(std::time::Duration::from_secs(30)).await;
        Ok::<_, ToolError>("worked")
    });
    let llm = ScriptedLlm::new()
        .then_reply(calls(1))
        .then_reply(text("done"));
    let budget = Budget::new().with_time(std::time::Duration::from_secs(20));
    let agent = Agent::builder(llm.clone())
        .add_tool(slow)
        .with_options(RunOptions::default().with_budget(budget))
        .build()
        .unwrap();
    let error = agent.run("go").await.expect_err("out of time");
    assert!(
        matches!(
            error,
            Error::BudgetExceeded {
                limit: BudgetLimit::Time,
                max: 20_000,
                ..
            }
        ),
        "{error:?}"
    );
    let sent = llm.requests();
    assert_eq!(sent.len(), 1, "the second call was not made");
    assert_eq!(
        sent[0].timeout, None,
        "the client's own request timeout still bounds the call (the budget cuts it at its \
         deadline, not by widening it)"
    );
}

/// An agent whose model never answers, under a 10 s time limit.
fn stalled_under_a_10_s_limit() -> Agent {
    let llm = ScriptedLlm::new().then_stall();
    let budget = Budget::new().with_time(std::time::Duration::from_secs(10));
    Agent::builder(llm)
        .with_options(RunOptions::default().with_budget(budget))
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_time_limit_cuts_off_a_model_call_that_outlasts_it() {
    let agent = stalled_under_a_10_s_limit();
    let began = tokio::time::Instant::now();
    let error = agent.run("go").await.expect_err("out of time");
    assert!(
        matches!(
            error,
            Error::BudgetExceeded {
                limit: BudgetLimit::Time,
                max: 10_000,
                spent: 10_000,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(began.elapsed(), std::time::Duration::from_secs(10));
}

#[tokio::test(start_paused = true)]
async fn a_time_limit_cuts_off_a_stream_that_never_begins() {
    let agent = stalled_under_a_10_s_limit();
    let mut events = agent.stream("go");
    let mut last = None;
    while let Some(event) = futures_util::StreamExt::next(&mut events).await {
        last = Some(event);
    }
    assert!(
        matches!(
            last,
            Some(Err(Error::BudgetExceeded {
                limit: BudgetLimit::Time,
                ..
            }))
        ),
        "{last:?}"
    );
}
