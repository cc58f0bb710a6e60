//! The streaming terminal-error contract of `run_steps_streaming`, one test
//! per line: every ending other than an answer yields exactly one last
//! `Err` item, then the stream ends.

use crate::support::{
    collect, context, echo_call, ended, episodes, failed_text, kinds, start, terminal, text,
    wait_for_failed,
};
use klieo_runtime::{run_steps, run_steps_streaming, Guardrail, GuardrailOutcome, RunOptions};
use klieo_types::testing::{next, text_chunks, ScriptedLlm, ScriptedStep};
use klieo_types::{
    async_trait, ChatChunk, ChatRequest, ChatResponse, Episode, Error, FinishReason, FnTool,
    LlmError, TimeLimit, ToolCall, ToolDef, ToolError, ToolSet,
};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

fn stall_after(first: &str) -> ScriptedLlm {
    ScriptedLlm::new().then(ScriptedStep::ChunksThenStall(vec![Ok(ChatChunk::delta(
        first,
    ))]))
}

#[tokio::test]
async fn cancellation_mid_stream_yields_one_cancelled_item() {
    let llm = stall_after("first");
    let (ctx, thread) = context(&llm).await;
    let mut stream = start(&ctx, thread, RunOptions::default()).await;
    let first = next(&mut stream).await;
    assert_eq!(first, Some(Ok(ChatChunk::delta("first"))));

    // The provider stalls; a consumer on another task waits for it.
    let consumer = tokio::spawn(collect(stream));
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert!(
        !consumer.is_finished(),
        "a stalled provider keeps the consumer waiting"
    );
    ctx.cancel().cancel();
    let rest = consumer.await.unwrap();

    assert_eq!(rest, vec![Err(LlmError::Cancelled)]);
    assert_eq!(
        failed_text(&episodes(&ctx).await).as_deref(),
        Some("cancelled")
    );
}

/// The log's model call was cut off as its consumer went: counted, its
/// spend estimated (the provider was paying for it).
fn assert_interrupted(log: &[Episode]) {
    assert!(
        log.iter().any(|e| matches!(
            e,
            Episode::LlmCall {
                finish_reason: FinishReason::Interrupted,
                tokens: None,
                ..
            }
        )),
        "{log:?}"
    );
}

#[tokio::test]
async fn consumer_dropped_records_consumer_dropped_episode() {
    let llm = stall_after("first");
    let (ctx, thread) = context(&llm).await;
    let mut stream = start(&ctx, thread, RunOptions::default()).await;
    assert!(matches!(next(&mut stream).await, Some(Ok(_))));
    drop(stream);

    let log = wait_for_failed(&ctx).await;
    assert_eq!(
        kinds(&log),
        ["started", "llm_call", "failed"],
        "Started, the call cut off, then Failed: {log:?}"
    );
    assert_interrupted(&log);
    assert_eq!(failed_text(&log).as_deref(), Some("consumer-dropped"));
    assert!(
        !ctx.cancel().is_cancelled(),
        "dropping the stream does not cancel the token"
    );
}

/// A consumer that cancels the run, then stops reading, stopped it: the
/// log says `cancelled`, as it would had the stream been read on.
#[tokio::test]
async fn a_stream_cancelled_then_dropped_records_cancelled() {
    let llm = stall_after("first");
    let (ctx, thread) = context(&llm).await;
    let mut stream = start(&ctx, thread, RunOptions::default()).await;
    assert!(matches!(next(&mut stream).await, Some(Ok(_))));
    ctx.cancel().cancel();
    drop(stream);

    let log = wait_for_failed(&ctx).await;
    assert_eq!(
        kinds(&log),
        ["started", "llm_call", "failed"],
        "Started, the call cut off, then Failed: {log:?}"
    );
    assert_interrupted(&log);
    assert_eq!(failed_text(&log).as_deref(), Some("cancelled"));
}

#[tokio::test]
async fn max_steps_exceeded_yields_server_item_with_step_count() {
    let mut llm = ScriptedLlm::new();
    for i in 0..4 {
        llm = llm.then_tool_calls(vec![echo_call(&format!("c{i}"))]);
    }
    let (ctx, thread) = context(&llm).await;
    let opts = RunOptions::default().with_max_steps(3);
    let items = collect(start(&ctx, thread, opts).await).await;

    assert_eq!(
        ended(&terminal(&items), "max steps exceeded: 3"),
        &Error::MaxStepsExceeded { steps: 3 }
    );
    assert!(!terminal(&items).retryable());
    assert_eq!(llm.requests().len(), 3, "no fourth model call");
    assert_eq!(llm.remaining(), 1);
    let log = episodes(&ctx).await;
    assert_eq!(failed_text(&log).as_deref(), Some("max steps exceeded: 3"));
}

#[tokio::test]
async fn tool_failure_yields_server_item_prefixed_with_tool() {
    let llm = ScriptedLlm::new()
        .then_tool_calls(vec![ToolCall::new("c1", "disk", json!({}))])
        .then_text("never");
    let disk = FnTool::new(
        ToolDef::new("disk", "Writes.", json!({"type": "object"})),
        |_| Err(ToolError::Permanent("disk full".into())),
    );
    let (ctx, thread) = context(&llm).await;
    let ctx = ctx.with_tools(ToolSet::new().add_tool(disk));
    let items = collect(start(&ctx, thread, RunOptions::default()).await).await;

    assert_eq!(
        ended(&terminal(&items), "tool: disk full"),
        &Error::Tool(ToolError::Permanent("disk full".into()))
    );
    assert!(!terminal(&items).retryable());
    assert_eq!(
        llm.remaining(),
        1,
        "the model is not called after the failure"
    );
    let log = episodes(&ctx).await;
    assert_eq!(failed_text(&log).as_deref(), Some("tool: disk full"));
}

#[tokio::test(start_paused = true)]
async fn mid_stream_provider_error_keeps_its_variant() {
    let errors = [
        LlmError::rate_limit("slow down", Some(Duration::from_millis(1500))),
        LlmError::network("connection reset"),
        LlmError::timeout(TimeLimit::Idle, Duration::from_secs(60)),
    ];
    for error in errors {
        let llm = ScriptedLlm::new()
            .then_chunks(vec![Ok(ChatChunk::delta("part")), Err(error.clone())])
            .then_text("a replay");
        let (ctx, thread) = context(&llm).await;
        let items = collect(start(&ctx, thread, RunOptions::default()).await).await;

        assert_eq!(items.len(), 2, "{items:?}");
        assert_eq!(text(&items), "part");
        assert_eq!(terminal(&items), error, "the variant is kept, emitted once");
        assert_eq!(llm.requests().len(), 1);
        let log = episodes(&ctx).await;
        assert_eq!(failed_text(&log), Some(error.to_string()));
    }
}

#[tokio::test]
async fn response_over_byte_cap_yields_cap_item() {
    let llm = ScriptedLlm::new().then_chunks(text_chunks(&["abc", "defg", "h"], None));
    let (ctx, thread) = context(&llm).await;
    let opts = RunOptions::default().with_max_response_bytes(5);
    let items = collect(start(&ctx, thread, opts).await).await;

    assert_eq!(
        text(&items),
        "abc",
        "the chunk crossing the cap is not relayed"
    );
    let cap = "response exceeded max_response_bytes cap";
    ended(&terminal(&items), cap);
    assert_eq!(
        terminal(&items).cause(),
        Some(&Error::ResponseTooLarge { limit: 5 }),
        "the limit is a field of the cause"
    );
    assert_eq!(failed_text(&episodes(&ctx).await).as_deref(), Some(cap));
}

#[tokio::test]
async fn cycle_one_init_error_is_returned_by_the_function() {
    let unauthorized = LlmError::unauthorized("bad key");
    let llm = ScriptedLlm::new()
        .then_error(unauthorized.clone())
        .then_text("never");
    let (ctx, thread) = context(&llm).await;
    let outcome = run_steps_streaming(&ctx, "", thread, RunOptions::default()).await;

    let Err(e) = outcome else {
        panic!("the init error was not returned by the function");
    };
    assert_eq!(e, Error::Llm(unauthorized.clone()));
    assert_eq!(llm.requests().len(), 1);
    let log = episodes(&ctx).await;
    assert_eq!(failed_text(&log), Some(unauthorized.to_string()));
}

#[tokio::test]
async fn cycle_two_init_error_arrives_in_band() {
    let unauthorized = LlmError::unauthorized("key revoked");
    let llm = ScriptedLlm::new()
        .then_tool_calls(vec![echo_call("c1")])
        .then_error(unauthorized.clone());
    let (ctx, thread) = context(&llm).await;
    let items = collect(start(&ctx, thread, RunOptions::default()).await).await;

    assert!(items.len() > 1, "cycle one's chunks come first: {items:?}");
    assert_eq!(terminal(&items), unauthorized);
    assert_eq!(llm.requests().len(), 2);
    let log = episodes(&ctx).await;
    assert_eq!(failed_text(&log), Some(unauthorized.to_string()));
}

/// Refuses or hands off in one hook, passes otherwise.
struct Stop {
    pre: bool,
    outcome: GuardrailOutcome,
}

#[async_trait]
impl Guardrail for Stop {
    fn name(&self) -> &str {
        "stop"
    }
    async fn pre_llm(&self, req: &ChatRequest) -> GuardrailOutcome {
        // Cycle one's request ends with the user's message; let it through
        // so the stop happens in band.
        let first_cycle = req.messages.last().map(|m| m.tool_call_id.is_none()) == Some(true);
        if self.pre && !first_cycle {
            self.outcome.clone()
        } else {
            GuardrailOutcome::Pass
        }
    }
    async fn post_llm(&self, _req: &ChatRequest, _resp: &ChatResponse) -> GuardrailOutcome {
        if self.pre {
            GuardrailOutcome::Pass
        } else {
            self.outcome.clone()
        }
    }
}

#[tokio::test]
async fn refusal_and_handoff_yield_prefixed_server_items() {
    let refuse = GuardrailOutcome::Refuse {
        reason: "off topic".into(),
    };
    let handoff = GuardrailOutcome::Handoff {
        agent: "billing".into(),
        reason: "invoice question".into(),
    };
    let cases = [
        (false, refuse.clone(), "refused: off topic"),
        (true, refuse, "refused: off topic"),
        (
            false,
            handoff.clone(),
            "handoff to billing: invoice question",
        ),
        (true, handoff, "handoff to billing: invoice question"),
    ];
    for (pre, outcome, expected) in cases {
        let llm = ScriptedLlm::new()
            .then_tool_calls(vec![echo_call("c1")])
            .then_text("never");
        let (ctx, thread) = context(&llm).await;
        let opts = RunOptions::default().add_guardrail(Arc::new(Stop { pre, outcome }));
        let items = collect(start(&ctx, thread, opts).await).await;

        ended(&terminal(&items), expected);
        assert_eq!(llm.requests().len(), 1, "pre: {pre}");
        assert_eq!(
            failed_text(&episodes(&ctx).await).as_deref(),
            Some(expected)
        );
    }
}

#[tokio::test]
async fn content_filter_finish_maps_to_bad_request() {
    let filtered = || {
        vec![
            Ok(ChatChunk::delta("partial")),
            Ok(ChatChunk::finish(FinishReason::ContentFilter)),
        ]
    };
    let expected = LlmError::bad_request("the provider's content filter withheld the reply");

    let llm = ScriptedLlm::new().then_chunks(filtered());
    let (ctx, thread) = context(&llm).await;
    let items = collect(start(&ctx, thread, RunOptions::default()).await).await;
    assert_eq!(terminal(&items), expected);
    assert_eq!(
        failed_text(&episodes(&ctx).await),
        Some(expected.to_string())
    );

    let reply = ChatResponse::new(
        klieo_types::Message::assistant("partial"),
        FinishReason::ContentFilter,
    );
    let llm = ScriptedLlm::new().then_reply(reply);
    let (ctx, thread) = context(&llm).await;
    let blocking = run_steps(&ctx, "", thread, RunOptions::default()).await;
    assert_eq!(blocking, Err(Error::Llm(expected)));
}

/// A reply the provider's filter withheld, or that ended in error, is
/// not kept in the thread: a session's next turn would send it back as
/// the model's words (and a filter that checks input refuse it again).
#[tokio::test]
async fn a_withheld_or_failed_reply_is_not_kept_in_the_thread() {
    for finish in [FinishReason::ContentFilter, FinishReason::Error] {
        let reply = ChatResponse::new(klieo_types::Message::assistant("partial"), finish);
        let llm = ScriptedLlm::new().then_reply(reply);
        let (ctx, thread) = context(&llm).await;
        let ended = run_steps(&ctx, "", thread.clone(), RunOptions::default()).await;
        assert!(ended.is_err(), "{ended:?}");
        let kept = ctx.short_term().load(&thread, usize::MAX).await.unwrap();
        assert!(
            kept.iter().all(|m| m.content != "partial"),
            "{finish:?}: {:?}",
            kept.to_vec()
        );
    }
}

#[tokio::test]
async fn error_finish_maps_to_server_error() {
    let expected = LlmError::server("the provider reported an error finish reason");
    let llm = ScriptedLlm::new().then_chunks(vec![Ok(ChatChunk::finish(FinishReason::Error))]);
    let (ctx, thread) = context(&llm).await;
    let items = collect(start(&ctx, thread, RunOptions::default()).await).await;
    assert_eq!(terminal(&items), expected);

    let reply = ChatResponse::new(klieo_types::Message::assistant(""), FinishReason::Error);
    let llm = ScriptedLlm::new().then_reply(reply);
    let (ctx, thread) = context(&llm).await;
    let blocking = run_steps(&ctx, "", thread, RunOptions::default()).await;
    assert_eq!(blocking, Err(Error::Llm(expected)));
}

#[tokio::test]
async fn an_answer_ends_the_stream_without_an_err_item() {
    let llm = ScriptedLlm::new()
        .then_tool_calls(vec![echo_call("c1")])
        .then_chunks(text_chunks(&["Hel", "lo"], None));
    let (ctx, thread) = context(&llm).await;
    let items = collect(start(&ctx, thread, RunOptions::default()).await).await;
    assert!(items.iter().all(Result::is_ok), "{items:?}");
    assert_eq!(text(&items), "Hello");
}

#[test]
fn stream_dropped_outside_a_runtime_does_not_panic() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let llm = stall_after("first");
    let stream = runtime.block_on(async {
        let (ctx, thread) = context(&llm).await;
        start(&ctx, thread, RunOptions::default()).await
    });
    drop(runtime);
    drop(stream);
}
