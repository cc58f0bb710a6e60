//! Episode logging: the same sequence from both loops, the seed's failure
//! texts, real token usage, and the checks made before every cycle.

use crate::support::{
    collect, context, echo_call, echo_tools, ended, episodes, failed_text, kinds, start, terminal,
    wait_for_failed,
};
use klieo_runtime::{run_steps, run_steps_streaming, RunOptions};
use klieo_types::testing::{next, text_chunks, ScriptedLlm, ScriptedStep};
use klieo_types::{
    ChatChunk, ChatResponse, Episode, Error, FinishReason, FnTool, LlmError, Message, ToolDef,
    ToolOutcome, ToolSet, Usage,
};
use serde_json::json;
use tokio_util::sync::CancellationToken;

const TOOL_THEN_ANSWER: [&str; 5] = ["started", "llm_call", "tool_call", "llm_call", "completed"];

fn tool_then_answer() -> ScriptedLlm {
    ScriptedLlm::new()
        .then_tool_calls(vec![echo_call("c1")])
        .then_text("done")
}

/// Checks the details of a Started, LlmCall, ToolCall, LlmCall, Completed log.
fn check_tool_then_answer(log: &[Episode]) {
    assert_eq!(kinds(log), TOOL_THEN_ANSWER, "{log:?}");
    assert_eq!(
        log[0],
        Episode::Started {
            agent: "agent".into()
        }
    );
    let Episode::LlmCall {
        step: 1,
        finish_reason: FinishReason::ToolCalls,
        tool_calls: 1,
        ..
    } = &log[1]
    else {
        panic!("first LlmCall: {:?}", log[1]);
    };
    let Episode::ToolCall {
        step: 1,
        call_id,
        name,
        args,
        result: ToolOutcome::Ok { output },
        ..
    } = &log[2]
    else {
        panic!("ToolCall: {:?}", log[2]);
    };
    assert_eq!((call_id.as_ref(), name.as_ref()), ("c1", "echo"));
    assert_eq!(args, &json!({"id": "c1"}));
    assert_eq!(output, &json!({"echo": {"id": "c1"}}));
    let Episode::LlmCall {
        step: 2,
        finish_reason: FinishReason::Stop,
        tool_calls: 0,
        ..
    } = &log[3]
    else {
        panic!("second LlmCall: {:?}", log[3]);
    };
    assert_eq!(log[4], Episode::Completed { steps: 2 });
}

#[tokio::test]
async fn episode_sequence_blocking() {
    let llm = tool_then_answer();
    let (ctx, thread) = context(&llm).await;
    let answer = run_steps(&ctx, "", thread, RunOptions::default()).await;
    assert_eq!(answer, Ok("done".to_owned()));
    check_tool_then_answer(&episodes(&ctx).await);
}

#[tokio::test]
async fn episode_sequence_streaming() {
    let llm = tool_then_answer();
    let (ctx, thread) = context(&llm).await;
    let items = collect(start(&ctx, thread, RunOptions::default()).await).await;
    assert!(items.iter().all(Result::is_ok));
    // Every episode is recorded before the stream ends: no waiting here.
    check_tool_then_answer(&episodes(&ctx).await);
}

#[tokio::test]
async fn failed_episode_texts_match_the_seed() {
    // Cancelled before the first cycle, blocking and streamed.
    let llm = ScriptedLlm::new().then_text("never");
    let (ctx, thread) = context(&llm).await;
    ctx.cancel().cancel();
    let blocking = run_steps(&ctx, "", thread.clone(), RunOptions::default()).await;
    assert_eq!(blocking, Err(Error::Cancelled));
    assert_eq!(
        failed_text(&episodes(&ctx).await).as_deref(),
        Some("cancelled")
    );
    let ctx = ctx.child("streamed");
    ctx.cancel().cancel();
    let streamed = run_steps_streaming(&ctx, "", thread, RunOptions::default()).await;
    assert!(matches!(streamed, Err(Error::Cancelled)));
    assert_eq!(kinds(&episodes(&ctx).await), ["started", "failed"]);
    assert_eq!(
        failed_text(&episodes(&ctx).await).as_deref(),
        Some("cancelled")
    );
    assert_eq!(llm.requests().len(), 0);

    // Consumer dropped mid-stream.
    let stall = ScriptedStep::ChunksThenStall(vec![Ok(ChatChunk::delta("x"))]);
    let (ctx, thread) = context(&ScriptedLlm::new().then(stall)).await;
    let mut stream = start(&ctx, thread, RunOptions::default()).await;
    assert!(next(&mut stream).await.is_some());
    drop(stream);
    let log = wait_for_failed(&ctx).await;
    assert_eq!(failed_text(&log).as_deref(), Some("consumer-dropped"));

    // Max steps, blocking and streamed.
    let loops = || {
        ScriptedLlm::new()
            .then_tool_calls(vec![echo_call("c1")])
            .then_tool_calls(vec![echo_call("c2")])
            .then_text("late")
    };
    let opts = RunOptions::default().with_max_steps(2);
    let (ctx, thread) = context(&loops()).await;
    let blocking = run_steps(&ctx, "", thread, opts.clone()).await;
    assert_eq!(blocking, Err(Error::MaxStepsExceeded { steps: 2 }));
    let log = episodes(&ctx).await;
    assert_eq!(failed_text(&log).as_deref(), Some("max steps exceeded: 2"));
    let (ctx, thread) = context(&loops()).await;
    let items = collect(start(&ctx, thread, opts).await).await;
    assert_eq!(
        ended(&terminal(&items), "max steps exceeded: 2"),
        &Error::MaxStepsExceeded { steps: 2 }
    );
    let log = episodes(&ctx).await;
    assert_eq!(failed_text(&log).as_deref(), Some("max steps exceeded: 2"));
}

fn llm_call_tokens(log: &[Episode]) -> Vec<Option<Usage>> {
    log.iter()
        .filter_map(|e| match e {
            Episode::LlmCall { tokens, .. } => Some(*tokens),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn streamed_step_records_real_tokens_when_reported() {
    let usage = Usage::new(52, 9);
    let llm = ScriptedLlm::new().then_chunks(text_chunks(&["a", "b"], Some(usage)));
    let (ctx, thread) = context(&llm).await;
    collect(start(&ctx, thread, RunOptions::default()).await).await;
    assert_eq!(llm_call_tokens(&episodes(&ctx).await), [Some(usage)]);

    let reply = ChatResponse::new(Message::assistant("ab"), FinishReason::Stop).with_usage(usage);
    let llm = ScriptedLlm::new().then_reply(reply);
    let (ctx, thread) = context(&llm).await;
    run_steps(&ctx, "", thread, RunOptions::default())
        .await
        .unwrap();
    assert_eq!(llm_call_tokens(&episodes(&ctx).await), [Some(usage)]);
}

#[tokio::test]
async fn unknown_usage_stays_unknown() {
    let llm = ScriptedLlm::new().then_chunks(text_chunks(&["a", "b"], None));
    let (ctx, thread) = context(&llm).await;
    collect(start(&ctx, thread, RunOptions::default()).await).await;
    assert_eq!(llm_call_tokens(&episodes(&ctx).await), [None]);

    let llm = ScriptedLlm::new().then_text("ab");
    let (ctx, thread) = context(&llm).await;
    run_steps(&ctx, "", thread, RunOptions::default())
        .await
        .unwrap();
    let log = episodes(&ctx).await;
    assert_eq!(llm_call_tokens(&log), [None]);
    let json = serde_json::to_value(&log[1]).unwrap();
    assert_eq!(
        json["tokens"],
        serde_json::Value::Null,
        "unknown is not zero"
    );
}

/// A tool set with `echo` and `stop`, which cancels `token`.
fn tools_cancelling(token: CancellationToken) -> ToolSet {
    echo_tools().add_tool(FnTool::new(
        ToolDef::new("stop", "Cancels the run.", json!({"type": "object"})),
        move |_| {
            token.cancel();
            Ok(json!("stopping"))
        },
    ))
}

#[tokio::test]
async fn max_steps_and_cancellation_checked_every_cycle() {
    let stop_call = || klieo_types::ToolCall::new("c1", "stop", json!({}));
    // Blocking: the tool cancels; the next cycle does not call the model.
    let llm = ScriptedLlm::new()
        .then_tool_calls(vec![stop_call()])
        .then_text("never");
    let (ctx, thread) = context(&llm).await;
    let ctx = ctx
        .clone()
        .with_tools(tools_cancelling(ctx.cancel().clone()));
    let outcome = run_steps(&ctx, "", thread, RunOptions::default()).await;
    assert_eq!(outcome, Err(Error::Cancelled));
    assert_eq!(llm.requests().len(), 1);
    assert_eq!(llm.remaining(), 1);
    let log = episodes(&ctx).await;
    assert_eq!(kinds(&log), ["started", "llm_call", "tool_call", "failed"]);
    assert_eq!(failed_text(&log).as_deref(), Some("cancelled"));

    // Streamed: the same, ending in band.
    let llm = ScriptedLlm::new()
        .then_tool_calls(vec![stop_call()])
        .then_text("never");
    let (ctx, thread) = context(&llm).await;
    let ctx = ctx
        .clone()
        .with_tools(tools_cancelling(ctx.cancel().clone()));
    let items = collect(start(&ctx, thread, RunOptions::default()).await).await;
    assert_eq!(terminal(&items), LlmError::Cancelled);
    assert_eq!(llm.requests().len(), 1);
    assert_eq!(
        failed_text(&episodes(&ctx).await).as_deref(),
        Some("cancelled")
    );

    // Max steps: one step allowed, the model asks for a tool.
    let llm = ScriptedLlm::new()
        .then_tool_calls(vec![echo_call("c1")])
        .then_text("never");
    let (ctx, thread) = context(&llm).await;
    let opts = RunOptions::default().with_max_steps(1);
    let outcome = run_steps(&ctx, "", thread, opts).await;
    assert_eq!(outcome, Err(Error::MaxStepsExceeded { steps: 1 }));
    assert_eq!(llm.requests().len(), 1);
    assert_eq!(
        kinds(&episodes(&ctx).await),
        ["started", "llm_call", "tool_call", "failed"]
    );
}
