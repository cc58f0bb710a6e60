//! Retries of model calls on paused time: blocking calls, stream
//! initiation, and failures before versus after the first chunk.

use crate::support::{
    asked, collect, context, episodes, errors, kinds, start, terminal, text, with_user,
};
use klieo_retry::RetryPolicy;
use klieo_runtime::{run_steps, run_steps_streaming, AgentContext, RunOptions};
use klieo_types::testing::{text_chunks, ScriptedLlm};
use klieo_types::{
    Capabilities, ChatChunk, ChatRequest, ChatResponse, Error, LlmClient, LlmError, TimeLimit,
};
use std::time::Duration;

fn network() -> LlmError {
    LlmError::network("connection reset")
}

#[tokio::test(start_paused = true)]
async fn blocking_retries_server_errors_then_succeeds() {
    let llm = ScriptedLlm::new()
        .then_error(LlmError::server("503"))
        .then_error(LlmError::timeout(TimeLimit::Idle, Duration::from_secs(60)))
        .then_text("ok");
    let (ctx, thread) = context(&llm).await;
    let answer = run_steps(&ctx, "", thread, RunOptions::default()).await;
    assert_eq!(answer, Ok("ok".to_owned()));
    assert_eq!(llm.requests().len(), 3);
    assert_eq!(
        kinds(&episodes(&ctx).await),
        ["started", "llm_call", "completed"],
        "retries are not steps"
    );
}

#[tokio::test(start_paused = true)]
async fn blocking_gives_up_after_the_policy_and_keeps_the_last_error() {
    let mut llm = ScriptedLlm::new();
    for i in 0..5 {
        llm = llm.then_error(LlmError::server(format!("down {i}")));
    }
    let (ctx, thread) = context(&llm).await;
    let answer = run_steps(&ctx, "", thread, RunOptions::default()).await;
    assert_eq!(answer, Err(Error::Llm(LlmError::server("down 3"))));
    assert_eq!(llm.requests().len(), 4, "the default policy: 3 retries");
}

#[tokio::test(start_paused = true)]
async fn blocking_does_not_retry_a_permanent_error() {
    let llm = ScriptedLlm::new()
        .then_error(LlmError::bad_request("bad"))
        .then_text("never");
    let (ctx, thread) = context(&llm).await;
    let answer = run_steps(&ctx, "", thread, RunOptions::default()).await;
    assert_eq!(answer, Err(Error::Llm(LlmError::bad_request("bad"))));
    assert_eq!(llm.requests().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn stream_init_retries_then_succeeds() {
    let llm = ScriptedLlm::new()
        .then_error(network())
        .then_error(LlmError::rate_limit("slow down", None))
        .then_chunks(text_chunks(&["o", "k"], None));
    let (ctx, thread) = context(&llm).await;
    let items = collect(start(&ctx, thread, RunOptions::default()).await).await;
    assert!(errors(&items).is_empty(), "{items:?}");
    assert_eq!(text(&items), "ok");
    assert_eq!(llm.requests().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn stream_init_unauthorized_not_retried() {
    let llm = ScriptedLlm::new()
        .then_error(LlmError::unauthorized("no key"))
        .then_text("never");
    let (ctx, thread) = context(&llm).await;
    let outcome = run_steps_streaming(&ctx, "", thread, RunOptions::default()).await;
    assert!(matches!(
        outcome,
        Err(Error::Llm(LlmError::Unauthorized { .. }))
    ));
    assert_eq!(llm.requests().len(), 1);
    assert_eq!(llm.remaining(), 1);
}

#[tokio::test(start_paused = true)]
async fn stream_init_retries_exhausted_are_returned_by_the_function() {
    let mut llm = ScriptedLlm::new();
    for i in 0..5 {
        llm = llm.then_error(LlmError::network(format!("reset {i}")));
    }
    let (ctx, thread) = context(&llm).await;
    let outcome = run_steps_streaming(&ctx, "", thread, RunOptions::default()).await;
    assert!(matches!(outcome, Err(Error::Llm(LlmError::Network { .. }))));
    assert_eq!(
        outcome.map(|_| ()),
        Err(Error::Llm(LlmError::network("reset 3"))),
        "the last attempt's own error"
    );
    assert_eq!(llm.requests().len(), 4);
}

#[tokio::test(start_paused = true)]
async fn retryable_error_before_first_chunk_is_retried() {
    let llm = ScriptedLlm::new()
        .then_chunks(vec![Err(network())])
        .then_chunks(vec![Err(LlmError::timeout(
            TimeLimit::Idle,
            Duration::from_secs(60),
        ))])
        .then_chunks(text_chunks(&["go", "od"], None));
    let (ctx, thread) = context(&llm).await;
    let items = collect(start(&ctx, thread, RunOptions::default()).await).await;
    assert!(errors(&items).is_empty(), "{items:?}");
    assert_eq!(text(&items), "good", "the good text, exactly once");
    assert_eq!(llm.requests().len(), 3);
    assert_eq!(
        kinds(&episodes(&ctx).await),
        ["started", "llm_call", "completed"]
    );
}

#[tokio::test(start_paused = true)]
async fn first_chunk_retries_exhausted_arrive_in_band() {
    let mut llm = ScriptedLlm::new();
    for _ in 0..5 {
        llm = llm.then_chunks(vec![Err(network())]);
    }
    let (ctx, thread) = context(&llm).await;
    let items = collect(start(&ctx, thread, RunOptions::default()).await).await;
    assert_eq!(items, vec![Err(network())]);
    assert_eq!(llm.requests().len(), 4);
}

#[tokio::test(start_paused = true)]
async fn error_after_first_chunk_is_forwarded_not_replayed() {
    let llm = ScriptedLlm::new()
        .then_chunks(vec![Ok(ChatChunk::delta("par")), Err(network())])
        .then_chunks(text_chunks(&["par", "tial"], None));
    let (ctx, thread) = context(&llm).await;
    let items = collect(start(&ctx, thread, RunOptions::default()).await).await;
    assert_eq!(text(&items), "par");
    assert_eq!(terminal(&items), network());
    assert_eq!(llm.requests().len(), 1);
    assert_eq!(llm.remaining(), 1);
}

#[tokio::test(start_paused = true)]
async fn retry_policy_none_does_not_retry() {
    let llm = ScriptedLlm::new()
        .then_error(LlmError::server("503"))
        .then_text("never");
    let (ctx, thread) = context(&llm).await;
    let opts = RunOptions::default().with_retry(klieo_retry::RetryPolicy::none());
    let answer = run_steps(&ctx, "", thread, opts).await;
    assert_eq!(answer, Err(Error::Llm(LlmError::server("503"))));
    assert_eq!(llm.requests().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn cancellation_during_backoff_stops_retrying() {
    let llm = ScriptedLlm::new()
        .then_error(LlmError::server("503"))
        .then_text("never");
    let (ctx, thread) = context(&llm).await;
    let run = {
        let ctx = ctx.clone();
        tokio::spawn(async move { run_steps(&ctx, "", thread, RunOptions::default()).await })
    };
    // Yielding keeps paused time from advancing: the retry waits in backoff.
    asked(&llm, 1).await;
    assert_eq!(llm.requests().len(), 1);
    ctx.cancel().cancel();
    assert_eq!(run.await.unwrap(), Err(Error::Cancelled));
    assert_eq!(llm.requests().len(), 1, "no attempt after the cancellation");
    let log = episodes(&ctx).await;
    assert_eq!(kinds(&log), ["started", "failed"]);
}

/// A model that never answers: the default budget ends the call, the
/// retries included, with a typed timeout, blocking or streamed.
#[tokio::test(start_paused = true)]
async fn a_model_that_never_answers_ends_within_the_default_retry_budget() {
    let budget = klieo_runtime::DEFAULT_RETRY_BUDGET;
    let timeout = LlmError::timeout(TimeLimit::RetryBudget, budget);
    let stalls = || {
        ScriptedLlm::new()
            .then_stall()
            .then_stall()
            .then_text("never")
    };

    let llm = stalls();
    let (ctx, thread) = context(&llm).await;
    let began = tokio::time::Instant::now();
    let answer = run_steps(&ctx, "", thread, RunOptions::default()).await;
    assert_eq!(answer, Err(Error::Llm(timeout.clone())));
    assert_eq!(began.elapsed(), budget);
    assert_eq!(llm.requests().len(), 1, "no retry starts after the budget");

    let llm = stalls();
    let (ctx, thread) = context(&llm).await;
    let began = tokio::time::Instant::now();
    let outcome = run_steps_streaming(&ctx, "", thread, RunOptions::default()).await;
    assert!(
        matches!(outcome, Err(Error::Llm(ref e)) if *e == timeout),
        "{:?}",
        outcome.err()
    );
    assert_eq!(began.elapsed(), budget);
}

/// A provider's own timeout inside the budget is retried; the budget
/// still bounds the whole.
#[tokio::test(start_paused = true)]
async fn provider_timeouts_are_retried_within_the_budget() {
    let mut llm = ScriptedLlm::new();
    for _ in 0..3 {
        llm = llm.then_error(LlmError::timeout(
            TimeLimit::FirstByte,
            Duration::from_secs(30),
        ));
    }
    let llm = llm.then_text("ok");
    let (ctx, thread) = context(&llm).await;
    let answer = run_steps(&ctx, "", thread, RunOptions::default()).await;
    assert_eq!(answer, Ok("ok".to_owned()));
    assert_eq!(llm.requests().len(), 4);
}

/// A client 20 s slow to say its window (the first call's retry budget
/// counts the question, as the call's), and `answer` slow to answer.
struct SlowToSayItsWindow {
    llm: ScriptedLlm,
    answer: Duration,
}

impl SlowToSayItsWindow {
    fn new(llm: &ScriptedLlm) -> Self {
        Self {
            llm: llm.clone(),
            answer: Duration::ZERO,
        }
    }
}

#[async_trait::async_trait]
impl LlmClient for SlowToSayItsWindow {
    fn name(&self) -> &str {
        "slow"
    }
    fn capabilities(&self) -> Capabilities {
        self.llm.capabilities()
    }
    async fn discover_capabilities(&self) -> Capabilities {
        tokio::time::sleep(Duration::from_secs(20)).await;
        self.llm.capabilities()
    }
    async fn complete(&self, req: ChatRequest) -> Result<ChatResponse, LlmError> {
        tokio::time::sleep(self.answer).await;
        self.llm.complete(req).await
    }
}

/// The budget passes while the first call runs, after a slow window
/// question: the retry budget's own timeout is not retried (a retry's
/// deadline is as past as the call's).
#[tokio::test(start_paused = true)]
async fn no_retry_starts_once_the_budget_counted_from_the_window_question_is_spent() {
    let llm = ScriptedLlm::new().then_stall().then_text("never");
    let budget = Duration::from_secs(30);
    let ctx = AgentContext::new(SlowToSayItsWindow::new(&llm));
    let (ctx, thread) = with_user(ctx, "hi").await;
    let opts = RunOptions::default().with_retry(RetryPolicy::new().with_total_budget(Some(budget)));
    let began = tokio::time::Instant::now();
    let answer = run_steps(&ctx, "", thread, opts).await;
    let timeout = LlmError::timeout(TimeLimit::RetryBudget, budget);
    assert_eq!(answer, Err(Error::Llm(timeout)));
    assert_eq!(began.elapsed(), budget);
    assert_eq!(llm.requests().len(), 1, "no retry after the budget");
}

/// A retry the first call's budget has no room for, once the window
/// question's 20 s are counted, is not made: the server's error is
/// returned at once, not a timeout of the budget after a wait past it.
#[tokio::test(start_paused = true)]
async fn a_retry_past_the_budget_left_after_the_window_question_is_not_made() {
    let limited = LlmError::rate_limit("slow down", Some(Duration::from_secs(15)));
    let llm = ScriptedLlm::new()
        .then_error(limited.clone())
        .then_text("never");
    let ctx = AgentContext::new(SlowToSayItsWindow::new(&llm));
    let (ctx, thread) = with_user(ctx, "hi").await;
    let budget = RetryPolicy::new().with_total_budget(Some(Duration::from_secs(30)));
    let opts = RunOptions::default().with_retry(budget);
    let answer = run_steps(&ctx, "", thread, opts).await;
    assert_eq!(answer, Err(Error::Llm(limited)), "20 s + 15 s pass 30 s");
    assert_eq!(llm.requests().len(), 1, "no retry");
}

/// A guardrail that takes 25 s to pass a request.
struct SlowToPass;

#[async_trait::async_trait]
impl klieo_runtime::Guardrail for SlowToPass {
    fn name(&self) -> &str {
        "slow"
    }
    async fn pre_llm(&self, _: &ChatRequest) -> klieo_runtime::GuardrailOutcome {
        tokio::time::sleep(Duration::from_secs(25)).await;
        klieo_runtime::GuardrailOutcome::Pass
    }
}

/// The first call's retry budget counts the window question, not what
/// the run did between it and the call (a guardrail, a compaction): 20 s
/// of question and 25 s of guardrail leave a call of 5 s 10 s of 30.
#[tokio::test(start_paused = true)]
async fn the_budget_counts_the_window_question_and_not_the_work_after_it() {
    let llm = ScriptedLlm::new().then_text("ok");
    let slow = SlowToSayItsWindow {
        answer: Duration::from_secs(5),
        ..SlowToSayItsWindow::new(&llm)
    };
    let ctx = AgentContext::new(slow);
    let (ctx, thread) = with_user(ctx, "hi").await;
    let opts = RunOptions::default()
        .with_retry(RetryPolicy::new().with_total_budget(Some(Duration::from_secs(30))))
        .add_guardrail(std::sync::Arc::new(SlowToPass));
    let answer = run_steps(&ctx, "", thread, opts).await;
    assert_eq!(answer, Ok("ok".to_owned()));
}

/// A retry budget past what the clock can hold is no budget, not a panic.
#[tokio::test(start_paused = true)]
async fn a_retry_budget_of_duration_max_is_no_budget() {
    let llm = ScriptedLlm::new().then_error(network()).then_text("ok");
    let (ctx, thread) = context(&llm).await;
    let policy = RetryPolicy::new().with_total_budget(Some(Duration::MAX));
    let opts = RunOptions::default().with_retry(policy);
    assert_eq!(run_steps(&ctx, "", thread, opts).await, Ok("ok".to_owned()));
}

/// A server's requested delay is waited out, no more and no less, before
/// the retry, blocking or streamed; one past the policy's most ends the
/// retries at once.
#[tokio::test(start_paused = true)]
async fn a_rate_limit_is_retried_after_the_delay_the_server_asked_for() {
    let asked = Duration::from_secs(3);
    let limited = || LlmError::rate_limit("slow down", Some(asked));

    let llm = ScriptedLlm::new().then_error(limited()).then_text("ok");
    let (ctx, thread) = context(&llm).await;
    let began = tokio::time::Instant::now();
    let answer = run_steps(&ctx, "", thread, RunOptions::default()).await;
    assert_eq!(answer, Ok("ok".to_owned()));
    assert_eq!(began.elapsed(), asked);

    let llm = ScriptedLlm::new()
        .then_error(limited())
        .then_chunks(text_chunks(&["o", "k"], None));
    let (ctx, thread) = context(&llm).await;
    let began = tokio::time::Instant::now();
    let chunks = collect(start(&ctx, thread, RunOptions::default()).await).await;
    assert_eq!(text(&chunks), "ok");
    assert_eq!(began.elapsed(), asked);

    let too_long = LlmError::rate_limit("come back tomorrow", Some(Duration::from_secs(3_600)));
    let llm = ScriptedLlm::new()
        .then_error(too_long.clone())
        .then_text("ok");
    let (ctx, thread) = context(&llm).await;
    let began = tokio::time::Instant::now();
    let answer = run_steps(&ctx, "", thread, RunOptions::default()).await;
    assert_eq!(answer, Err(Error::Llm(too_long)));
    assert_eq!(began.elapsed(), Duration::ZERO);
    assert_eq!(llm.requests().len(), 1);
}
