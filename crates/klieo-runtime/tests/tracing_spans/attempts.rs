//! A failed model-call attempt is an OpenTelemetry `exception` event on
//! its `chat` span; `retryable` says whether another attempt followed, so
//! the attempt the call gives up after says `false`.

use super::capture::{captured, Captured};
use crate::support::with_user;
use klieo_retry::RetryPolicy;
use klieo_runtime::{run_steps, run_steps_streaming, AgentContext, RunOptions};
use klieo_types::testing::ScriptedLlm;
use klieo_types::{FnTool, LlmError, ToolDef, ToolSet};
use serde_json::json;
use std::time::Duration;

/// The exception events of a run whose model call fails three times with
/// a retryable error, under a policy of two retries, as (field, value)
/// lists.
fn attempt_events(streamed: bool) -> Vec<Vec<(String, String)>> {
    let ((), captured) = captured(|| async move {
        let llm = ScriptedLlm::new()
            .then_error(LlmError::server("overloaded 1"))
            .then_error(LlmError::server("overloaded 2"))
            .then_error(LlmError::server("overloaded 3"));
        let (ctx, thread) = with_user(AgentContext::new(llm), "Hello?").await;
        let options = RunOptions::default().with_retry(
            RetryPolicy::new()
                .with_max_retries(2)
                .with_base_delay(Duration::ZERO),
        );
        if streamed {
            // Failing before its first chunk, the run fails to start.
            let opened = run_steps_streaming(&ctx, "", thread, options).await;
            assert!(opened.is_err());
        } else {
            let answer = run_steps(&ctx, "", thread, options).await;
            assert!(answer.is_err(), "{answer:?}");
        }
    });
    exceptions(&captured).into_iter().cloned().collect()
}

fn check_attempts(streamed: bool) {
    let shown: Vec<Vec<(String, String)>> = attempt_events(streamed)
        .into_iter()
        .map(|fields| {
            fields
                .into_iter()
                .filter(|(name, _)| name != "message")
                .collect()
        })
        .collect();
    let expected: Vec<Vec<(String, String)>> = [(1, "true"), (2, "true"), (3, "false")]
        .into_iter()
        .map(|(n, retryable)| {
            vec![
                ("exception.type".into(), "server".into()),
                (
                    "exception.message".into(),
                    format!("the model server failed: overloaded {n}"),
                ),
                ("retryable".into(), retryable.into()),
            ]
        })
        .collect();
    assert_eq!(shown, expected);
}

#[test]
fn a_blocking_call_records_each_failed_attempt_and_the_last_is_not_retryable() {
    check_attempts(false);
}

#[test]
fn a_streamed_call_records_each_failed_attempt_and_the_last_is_not_retryable() {
    check_attempts(true);
}

/// A stream that fails after its first chunk ends its call: that attempt
/// is an exception event too, the one the call ended with.
#[test]
fn a_stream_that_fails_after_its_first_chunk_records_its_attempt() {
    let ((), captured) = captured(|| async move {
        let llm = ScriptedLlm::new().then_chunks(vec![
            Ok(klieo_types::ChatChunk::delta("Hel")),
            Err(LlmError::bad_request("the prompt is too long")),
        ]);
        let (ctx, thread) = with_user(AgentContext::new(llm), "Hello?").await;
        let mut stream = run_steps_streaming(&ctx, "", thread, RunOptions::default())
            .await
            .unwrap();
        while futures_util::StreamExt::next(&mut stream).await.is_some() {}
    });
    let exceptions = exceptions(&captured);
    assert_eq!(exceptions.len(), 1, "{exceptions:?}");
    let retryable = exceptions[0].iter().find(|(n, _)| n == "retryable");
    assert_eq!(retryable.map(|(_, v)| v.as_str()), Some("false"));
}

/// A stream the provider cannot make for a model choosing among tools is
/// sent blocking instead: no attempt failed, so no exception is recorded.
#[test]
fn a_stream_sent_blocking_after_all_records_no_failed_attempt() {
    let ((), captured) = captured(|| async move {
        let unsupported = LlmError::Unsupported("no streamed tool calls under auto".into());
        let llm = ScriptedLlm::new().then_error(unsupported).then_text("done");
        let echo = FnTool::new(
            ToolDef::new("echo", "Echoes.", json!({"type": "object"})),
            Ok,
        );
        let ctx = AgentContext::new(llm).with_tools(ToolSet::new().add_tool(echo));
        let (ctx, thread) = with_user(ctx, "Hello?").await;
        let stream = run_steps_streaming(&ctx, "", thread, RunOptions::default())
            .await
            .expect("the run starts, blocking");
        let items = crate::support::collect(stream).await;
        assert!(items.iter().all(Result::is_ok), "{items:?}");
    });
    assert!(exceptions(&captured).is_empty(), "{:?}", captured.events);
}

/// The `exception` events captured, as (field, value) lists.
fn exceptions(captured: &Captured) -> Vec<&Vec<(String, String)>> {
    captured
        .events
        .iter()
        .filter(|fields| {
            fields
                .iter()
                .any(|(n, v)| n == "message" && v == "exception")
        })
        .collect()
}
