//! Tool calls under the run's bounds, on paused time: cancellation while a
//! tool hangs, timeouts (the run's and a tool's own), and retries a tool
//! asks for.

use crate::support::{episodes, with_user};
use klieo_runtime::{run_steps, Agent, AgentContext, RunOptions, TypedTool};
use klieo_types::testing::ScriptedLlm;
use klieo_types::{Episode, Error, OwnedToolContext, ToolCall, ToolError, ToolOutcome, ToolSet};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};
use std::future::Pending;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

#[derive(Deserialize, JsonSchema)]
struct NoArgs {}

/// A tool that never returns.
fn hanging() -> TypedTool<
    NoArgs,
    impl Fn(NoArgs, OwnedToolContext) -> Pending<Result<Value, ToolError>> + Send + Sync,
> {
    TypedTool::new("hang", "Never returns.", |_: NoArgs| std::future::pending())
}

fn call_hang() -> ScriptedLlm {
    ScriptedLlm::new().then_tool_calls(vec![ToolCall::new("c1", "hang", json!({}))])
}

fn tool_outcomes(log: &[Episode]) -> Vec<ToolOutcome> {
    log.iter()
        .filter_map(|e| match e {
            Episode::ToolCall { result, .. } => Some(result.clone()),
            _ => None,
        })
        .collect()
}

/// Cancels `token` after `after`, on the (paused) clock.
fn cancel_after(token: &CancellationToken, after: Duration) {
    let token = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        token.cancel();
    });
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_run_stops_a_hanging_tool_and_records_the_call_as_cancelled() {
    let cancel = CancellationToken::new();
    let ctx = AgentContext::new(call_hang().then_text("never"))
        .with_tools(ToolSet::new().add_tool(hanging()))
        .with_cancel(cancel.clone());
    let (ctx, thread) = with_user(ctx, "go").await;
    cancel_after(&cancel, Duration::from_millis(50));
    let started = Instant::now();
    let outcome = run_steps(&ctx, "", thread, RunOptions::default()).await;

    assert_eq!(outcome, Err(Error::Cancelled));
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "{:?}",
        started.elapsed()
    );
    let log = episodes(&ctx).await;
    assert_eq!(tool_outcomes(&log), [ToolOutcome::Cancelled]);
    assert!(matches!(log.last(), Some(Episode::Failed { error }) if error == "cancelled"));
}

#[tokio::test(start_paused = true)]
async fn a_streamed_run_is_cancelled_the_same_way() {
    let cancel = CancellationToken::new();
    let agent = Agent::builder(call_hang().then_text("never"))
        .add_tool(hanging())
        .with_cancel(cancel.clone())
        .build()
        .expect("the options are valid");
    cancel_after(&cancel, Duration::from_millis(50));
    let started = Instant::now();
    let mut events = agent.stream("go");
    let mut last = None;
    while let Some(event) = events.next().await {
        last = Some(event);
    }
    assert_eq!(last, Some(Err(Error::Cancelled)));
    assert!(started.elapsed() < Duration::from_millis(100));
}

#[tokio::test(start_paused = true)]
async fn a_call_past_the_timeout_goes_back_to_the_model_as_a_timeout() {
    let llm = call_hang().then_text("it hung");
    let agent = Agent::builder(llm.clone())
        .add_tool(hanging())
        .with_options(RunOptions::default().with_tool_timeout(Duration::from_secs(1)))
        .build()
        .expect("the options are valid");
    let started = Instant::now();
    let answer = agent.run("go").await.unwrap();

    assert_eq!(answer.text, "it hung");
    assert_eq!(started.elapsed(), Duration::from_secs(1));
    let expected = ToolError::Timeout {
        tool: "hang".into(),
        after: Duration::from_secs(1),
    };
    assert_eq!(
        answer.summary.tool_calls[0].outcome,
        ToolOutcome::Error {
            message: expected.to_string()
        }
    );
    let told = llm.requests()[1].messages.iter().last().unwrap().clone();
    assert!(
        told.content.contains("did not finish within 1000 ms"),
        "{}",
        told.content
    );
}

#[tokio::test(start_paused = true)]
async fn a_tool_can_set_its_own_timeout() {
    let agent = Agent::builder(call_hang().then_text("ok"))
        .add_tool(hanging().with_timeout(Duration::from_millis(200)))
        .build()
        .expect("the options are valid");
    let started = Instant::now();
    agent.run("go").await.unwrap();
    assert_eq!(started.elapsed(), Duration::from_millis(200));
}

/// A tool that fails `failures` times asking to be retried after 300 ms,
/// then answers; counts its calls.
fn flaky(failures: u32, calls: Arc<AtomicU32>) -> impl klieo_types::Tool {
    TypedTool::new("flaky", "Busy at first.", move |_: NoArgs| {
        let n = calls.fetch_add(1, Ordering::SeqCst);
        async move {
            if n < failures {
                Err(ToolError::Retryable {
                    message: "busy".into(),
                    retry_after: Some(Duration::from_millis(300)),
                })
            } else {
                Ok(json!("done"))
            }
        }
    })
}

fn call_flaky() -> ScriptedLlm {
    ScriptedLlm::new()
        .then_tool_calls(vec![ToolCall::new("c1", "flaky", json!({}))])
        .then_text("answered")
}

#[tokio::test(start_paused = true)]
async fn a_tool_that_asks_to_be_retried_is_retried_after_its_delay() {
    let calls = Arc::new(AtomicU32::new(0));
    let agent = Agent::builder(call_flaky())
        .add_tool(flaky(2, Arc::clone(&calls)))
        .build()
        .expect("the options are valid");
    let started = Instant::now();
    let answer = agent.run("go").await.unwrap();

    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(started.elapsed(), Duration::from_millis(600));
    assert_eq!(
        answer.summary.tool_calls[0].outcome,
        ToolOutcome::Ok {
            output: json!("done")
        }
    );
}

#[tokio::test(start_paused = true)]
async fn retries_are_bounded_and_then_the_model_is_told() {
    let calls = Arc::new(AtomicU32::new(0));
    let agent = Agent::builder(call_flaky())
        .add_tool(flaky(10, Arc::clone(&calls)))
        .with_options(RunOptions::default().with_tool_retries(1))
        .build()
        .expect("the options are valid");
    let answer = agent.run("go").await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2, "one try and one retry");
    assert!(matches!(
        &answer.summary.tool_calls[0].outcome,
        ToolOutcome::Error { message } if message.contains("busy")
    ));
}
