//! A tool result bounded where it enters the run, and a conversation whose
//! newest turn does not fit the history budget: a typed error, never a
//! request that leaves it out.

use crate::support::with_user;
use klieo_runtime::{run_steps, AgentContext, RunOptions};
use klieo_types::testing::ScriptedLlm;
use klieo_types::{
    Episode, Error, FnTool, Message, Role, ToolCall, ToolDef, ToolError, ToolOutcome, ToolSet,
};
use serde_json::{json, Value};

/// A tool `big` that answers with `bytes` bytes of text, or fails with
/// them when `fail` is set.
fn big(bytes: usize, fail: bool) -> ToolSet {
    ToolSet::new().add_tool(FnTool::new(
        ToolDef::new("big", "Answers at length.", json!({"type": "object"})),
        move |_| {
            let text = "y".repeat(bytes);
            if fail {
                Err(ToolError::Failed {
                    tool: "big".into(),
                    message: text,
                })
            } else {
                Ok(Value::String(text))
            }
        },
    ))
}

fn call_big_then_answer() -> ScriptedLlm {
    ScriptedLlm::new()
        .then_tool_calls(vec![ToolCall::new("c1", "big", json!({}))])
        .then_text("done")
}

/// The text of the tool result the model was sent in its second request.
fn result_sent(llm: &ScriptedLlm) -> String {
    let requests = llm.requests();
    let tool = requests[1]
        .messages
        .iter()
        .find(|m| m.role == Role::Tool)
        .expect("the second request carries the tool result");
    tool.content.clone()
}

fn recorded(log: &[Episode]) -> ToolOutcome {
    log.iter()
        .find_map(|e| match e {
            Episode::ToolCall { result, .. } => Some(result.clone()),
            _ => None,
        })
        .expect("the call is in the log")
}

#[tokio::test]
async fn a_tool_result_over_the_limit_is_cut_with_a_note_the_model_reads_and_the_log_records() {
    let llm = call_big_then_answer();
    let ctx = AgentContext::new(llm.clone()).with_tools(big(15 * 1024 * 1024, false));
    let (ctx, thread) = with_user(ctx, "go").await;
    let answer = run_steps(&ctx, "", thread, RunOptions::default()).await;
    assert_eq!(answer.as_deref(), Ok("done"));

    let sent = result_sent(&llm);
    assert!(sent.starts_with(&"y".repeat(16 * 1024)), "the first 16 KiB");
    assert!(sent.len() < 16 * 1024 + 300, "{} bytes", sent.len());
    assert!(
        sent.contains("it has 15728640 bytes") && sent.contains("max_tool_result_bytes"),
        "{}",
        &sent[16 * 1024..]
    );
    let log = ctx.episodic().replay(ctx.run_id()).await.unwrap();
    assert_eq!(
        recorded(&log),
        ToolOutcome::Ok {
            output: Value::String(sent)
        }
    );
}

#[tokio::test]
async fn a_failing_tools_long_error_is_cut_too() {
    let llm = call_big_then_answer();
    let ctx = AgentContext::new(llm.clone()).with_tools(big(1024 * 1024, true));
    let (ctx, thread) = with_user(ctx, "go").await;
    let opts = RunOptions::default().with_max_tool_result_bytes(1000);
    assert_eq!(
        run_steps(&ctx, "", thread, opts).await.as_deref(),
        Ok("done")
    );
    let sent = result_sent(&llm);
    assert!(sent.len() < 1000 + 300, "{} bytes", sent.len());
    assert!(sent.contains("it has 1048"), "{sent}");
    let log = ctx.episodic().replay(ctx.run_id()).await.unwrap();
    assert!(
        matches!(recorded(&log), ToolOutcome::Error { message } if sent.ends_with(&message)),
        "{log:?}"
    );
}

#[tokio::test]
async fn a_tool_result_over_the_history_budget_stops_the_run_before_an_empty_request() {
    let llm = call_big_then_answer();
    let ctx = AgentContext::new(llm.clone()).with_tools(big(4000, false));
    let (ctx, thread) = with_user(ctx, "go").await;
    let opts = RunOptions::default().with_max_history_tokens(500);
    let error = run_steps(&ctx, "", thread.clone(), opts).await.unwrap_err();
    match &error {
        Error::NewestTurnTooLarge {
            thread: of,
            tokens,
            max_history_tokens: 500,
        } => {
            assert_eq!(of, &thread);
            assert!(
                *tokens > 1000,
                "the call and its 4000-byte result: {tokens}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(error
        .to_string()
        .contains("raise RunOptions::max_history_tokens"));
    assert_eq!(
        llm.requests().len(),
        1,
        "no request without the newest turn"
    );
}

#[tokio::test]
async fn a_prompt_over_the_history_budget_is_never_sent_as_an_empty_request() {
    let llm = ScriptedLlm::new().then_text("never");
    let ctx = AgentContext::new(llm.clone());
    let (ctx, thread) = with_user(ctx, &"z".repeat(10_000)).await;
    let opts = RunOptions::default().with_max_history_tokens(100);
    let error = run_steps(&ctx, "Be terse.", thread, opts)
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::NewestTurnTooLarge { tokens, .. } if tokens > 2_000),
        "{error:?}"
    );
    assert!(llm.requests().is_empty());
}

#[tokio::test]
async fn an_empty_thread_is_still_sent() {
    let llm = ScriptedLlm::new().then_text("hi");
    let ctx = AgentContext::new(llm.clone());
    let thread = klieo_types::ThreadId::new("empty");
    let answer = run_steps(&ctx, "Greet.", thread, RunOptions::default()).await;
    assert_eq!(answer.as_deref(), Ok("hi"));
    let sent = &llm.requests()[0].messages;
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent.iter().next().map(|m: &Message| m.role),
        Some(Role::System)
    );
}

/// A model that calls `big` three times, then answers "done".
fn three_big_calls() -> ScriptedLlm {
    let call = |id: &str| vec![ToolCall::new(id, "big", json!({}))];
    ScriptedLlm::new()
        .then_tool_calls(call("c1"))
        .then_tool_calls(call("c2"))
        .then_tool_calls(call("c3"))
        .then_text("done")
}

/// A run whose tool results fill the history budget: each request still
/// holds the run's prompt, never a conversation starting mid-task.
#[tokio::test]
async fn a_long_tool_loop_keeps_the_runs_prompt_in_every_request() {
    let llm = three_big_calls();
    let ctx = AgentContext::new(llm.clone()).with_tools(big(2_400, false));
    let (ctx, thread) = with_user(ctx, "the task").await;
    let options = RunOptions::default().with_max_history_tokens(1_500);
    let answer = run_steps(&ctx, "", thread, options).await;
    assert_eq!(answer.as_deref(), Ok("done"));
    for (n, request) in llm.requests().iter().enumerate() {
        let first = request.messages.iter().find(|m| m.role != Role::System);
        assert_eq!(first.map(|m| m.role), Some(Role::User), "request {n}");
        assert!(
            request
                .messages
                .iter()
                .any(|m| m.role == Role::User && m.content == "the task"),
            "request {n} lost the prompt: {:?}",
            request.messages.iter().map(|m| m.role).collect::<Vec<_>>()
        );
    }
}

/// A run started on a thread whose newest message is a tool result (its
/// caller's) has no prompt of its own: none is put in front of its
/// window, and no request opens with a result whose call was cut.
#[tokio::test]
async fn a_run_started_after_a_tool_result_puts_nothing_in_front() {
    let llm = three_big_calls();
    let ctx = AgentContext::new(llm.clone()).with_tools(big(2_400, false));
    let (ctx, thread) = with_user(ctx, "the task").await;
    let earlier = vec![
        Message::assistant_tool_calls("", vec![ToolCall::new("c0", "big", json!({}))]),
        Message::tool_result("c0", "earlier"),
    ];
    ctx.short_term().append(&thread, earlier).await.unwrap();
    let options = RunOptions::default().with_max_history_tokens(1_500);
    let answer = run_steps(&ctx, "", thread, options).await;
    assert_eq!(answer.as_deref(), Ok("done"));
    for (n, request) in llm.requests().iter().enumerate() {
        let first = request.messages.iter().find(|m| m.role != Role::System);
        assert_ne!(first.map(|m| m.role), Some(Role::Tool), "request {n}");
    }
}
