//! The strict tool-error policy: a tool error the model is not told ends
//! the run, after the step that made it is written.

use crate::support::{context, episodes, kinds};
use crate::tools::calculator_tools;
use klieo_runtime::{run_steps, AgentContext, RunOptions, ToolErrorPolicy};
use klieo_types::testing::ScriptedLlm;
use klieo_types::{Error, Role, ThreadId, ToolCall, ToolError};
use serde_json::json;

fn strict() -> RunOptions {
    RunOptions::default().with_tool_errors(ToolErrorPolicy::Strict)
}

/// A strict run whose model calls `calc`, which its tools do not have:
/// the model, the context, its thread and how the run ended.
async fn unknown_tool_called() -> (ScriptedLlm, AgentContext, ThreadId, Result<String, Error>) {
    let llm = ScriptedLlm::new()
        .then_tool_calls(vec![ToolCall::new("c1", "calc", json!({}))])
        .then_text("never");
    let (ctx, thread) = context(&llm).await;
    let ctx = ctx.with_tools(calculator_tools());
    let outcome = run_steps(&ctx, "", thread.clone(), strict()).await;
    (llm, ctx, thread, outcome)
}

#[tokio::test]
async fn strict_policy_aborts_on_unknown_tool() {
    let (llm, _, _, outcome) = unknown_tool_called().await;
    let Err(Error::Tool(ToolError::UnknownTool { name, available })) = outcome else {
        panic!("not an unknown-tool error: {outcome:?}");
    };
    assert_eq!(
        (name.as_str(), available),
        ("calc", vec!["calculator".into()])
    );
    assert_eq!(llm.requests().len(), 1);

    let llm = ScriptedLlm::new()
        .then_tool_calls(vec![ToolCall::from_raw("c1", "echo", "{oops")])
        .then_text("never");
    let (ctx, thread) = context(&llm).await;
    let outcome = run_steps(&ctx, "", thread, strict()).await;
    assert!(matches!(
        outcome,
        Err(Error::Tool(ToolError::InvalidArgs { .. }))
    ));
    assert_eq!(llm.requests().len(), 1);
}

#[tokio::test]
async fn a_step_ended_by_a_strict_tool_error_is_written_before_the_run_ends() {
    let (_, ctx, thread, outcome) = unknown_tool_called().await;
    assert!(
        matches!(outcome, Err(Error::Tool(ToolError::UnknownTool { .. }))),
        "{outcome:?}"
    );
    // The call and its result are kept, as the step's episodes are.
    let kept = ctx.short_term().load(&thread, usize::MAX).await.unwrap();
    let roles: Vec<Role> = kept.iter().map(|m| m.role).collect();
    assert_eq!(roles, [Role::User, Role::Assistant, Role::Tool]);
    let log = kinds(&episodes(&ctx).await);
    assert!(log.contains(&"tool_call"), "{log:?}");
}
