//! Tool dispatch: bounded concurrency, results in the model's order,
//! failures, and the feedback and tool-choice policies.

use crate::support::{context, echo_call, episodes, failed_text, kinds, with_user};
use klieo_runtime::{run_steps, AfterToolCalls, AgentContext, RunOptions};
use klieo_types::testing::ScriptedLlm;
use klieo_types::{
    async_trait, ConfigError, Episode, Error, FnTool, Message, Role, Tool, ToolCall, ToolChoice,
    ToolContext, ToolDef, ToolError, ToolOutcome, ToolSet,
};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{Barrier, Notify};

fn calls(name: &str, n: usize) -> Vec<ToolCall> {
    (0..n)
        .map(|i| ToolCall::new(format!("c{i}"), name, json!({ "i": i })))
        .collect()
}

fn object_def(name: &str) -> ToolDef {
    ToolDef::new(name, "A test tool.", json!({"type": "object"}))
}

/// Counts calls in flight; each waits at `barrier` (when set) and yields a
/// few times while counted, so calls that may overlap do.
struct Gauge {
    def: ToolDef,
    current: AtomicUsize,
    max: AtomicUsize,
    barrier: Option<Barrier>,
}

#[async_trait]
impl Tool for Gauge {
    fn def(&self) -> &ToolDef {
        &self.def
    }
    async fn invoke(&self, args: Value, _ctx: ToolContext<'_>) -> Result<Value, ToolError> {
        let now = self.current.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(now, Ordering::SeqCst);
        if let Some(barrier) = &self.barrier {
            barrier.wait().await;
        }
        for _ in 0..5 {
            tokio::task::yield_now().await;
        }
        self.current.fetch_sub(1, Ordering::SeqCst);
        Ok(args)
    }
}

async fn max_in_flight(bound: usize, barrier: Option<usize>) -> usize {
    let gauge = Arc::new(Gauge {
        def: object_def("gauge"),
        current: AtomicUsize::new(0),
        max: AtomicUsize::new(0),
        barrier: barrier.map(Barrier::new),
    });
    let llm = ScriptedLlm::new()
        .then_tool_calls(calls("gauge", 4))
        .then_text("done");
    let ctx = AgentContext::new(llm).with_tools(ToolSet::new().add_shared(gauge.clone()));
    let (ctx, thread) = with_user(ctx, "go").await;
    let opts = RunOptions::default().with_tool_concurrency(bound);
    assert_eq!(run_steps(&ctx, "", thread, opts).await, Ok("done".into()));
    gauge.max.load(Ordering::SeqCst)
}

#[tokio::test]
async fn tool_calls_run_concurrently_up_to_the_bound() {
    assert_eq!(max_in_flight(2, Some(2)).await, 2);
    assert_eq!(max_in_flight(4, Some(4)).await, 4);
    assert_eq!(max_in_flight(3, None).await, 3);
    assert_eq!(max_in_flight(1, None).await, 1);
}

/// "No limit", said as the largest number, is no limit: the calls run
/// all at once.
#[tokio::test]
async fn a_tool_concurrency_of_usize_max_runs_every_call_at_once() {
    assert_eq!(max_in_flight(usize::MAX, Some(4)).await, 4);
}

#[tokio::test]
async fn a_tool_concurrency_of_zero_is_refused_before_the_run_starts() {
    let llm = ScriptedLlm::new().then_text("never");
    let (ctx, thread) = with_user(AgentContext::new(llm), "go").await;
    let opts = RunOptions::default().with_tool_concurrency(0);
    let outcome = run_steps(&ctx, "", thread, opts).await;
    assert!(
        matches!(&outcome, Err(Error::Config(ConfigError::Invalid { name, .. }))
            if name == "RunOptions::tool_concurrency"),
        "{outcome:?}"
    );
    assert!(
        ctx.episodic()
            .replay(ctx.run_id())
            .await
            .unwrap()
            .is_empty(),
        "nothing ran"
    );
}

/// Call `i` of `n` finishes only after call `i + 1` did: reverse order.
struct Reverse {
    def: ToolDef,
    gates: Vec<Notify>,
    finished: Mutex<Vec<usize>>,
}

#[async_trait]
impl Tool for Reverse {
    fn def(&self) -> &ToolDef {
        &self.def
    }
    async fn invoke(&self, args: Value, _ctx: ToolContext<'_>) -> Result<Value, ToolError> {
        let i = usize::try_from(args["i"].as_u64().unwrap_or(0)).unwrap_or(0);
        if i + 1 < self.gates.len() {
            self.gates[i].notified().await;
        }
        self.finished.lock().unwrap().push(i);
        if i > 0 {
            self.gates[i - 1].notify_one();
        }
        Ok(json!(format!("r{i}")))
    }
}

#[tokio::test]
async fn results_recorded_in_model_call_order() {
    let tool = Arc::new(Reverse {
        def: object_def("rev"),
        gates: (0..4).map(|_| Notify::new()).collect(),
        finished: Mutex::new(Vec::new()),
    });
    let llm = ScriptedLlm::new()
        .then_tool_calls(calls("rev", 4))
        .then_text("done");
    let ctx = AgentContext::new(llm.clone()).with_tools(ToolSet::new().add_shared(tool.clone()));
    let (ctx, thread) = with_user(ctx, "go").await;
    let answer = run_steps(&ctx, "", thread.clone(), RunOptions::default()).await;
    assert_eq!(answer, Ok("done".into()));
    assert_eq!(*tool.finished.lock().unwrap(), [3, 2, 1, 0]);

    let ids: Vec<String> = episodes(&ctx)
        .await
        .into_iter()
        .filter_map(|e| match e {
            Episode::ToolCall { call_id, .. } => Some(call_id.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(ids, ["c0", "c1", "c2", "c3"]);

    let history = ctx.short_term().load(&thread, 100_000).await.unwrap();
    let roles: Vec<Role> = history.iter().map(|m| m.role).collect();
    use Role::{Assistant, Tool as T, User};
    assert_eq!(roles, [User, Assistant, T, T, T, T, Assistant]);
    let results: Vec<(Option<&str>, &str)> = history
        .iter()
        .filter(|m| m.role == Role::Tool)
        .map(|m| (m.tool_call_id.as_deref(), m.content.as_str()))
        .collect();
    let expected = [
        (Some("c0"), "r0"),
        (Some("c1"), "r1"),
        (Some("c2"), "r2"),
        (Some("c3"), "r3"),
    ];
    assert_eq!(results, expected);
    let sent = &llm.requests()[1].messages;
    let sent: Vec<&Message> = sent.iter().filter(|m| m.role == Role::Tool).collect();
    assert_eq!(sent.len(), 4);
    assert_eq!(sent[0].tool_call_id.as_deref(), Some("c0"));
    assert_eq!(sent[3].tool_call_id.as_deref(), Some("c3"));
}

/// `job` fails for good with the text of its `fail` argument.
fn job_tools() -> ToolSet {
    ToolSet::new().add_tool(FnTool::new(object_def("job"), |args| {
        match args["fail"].as_str() {
            Some(reason) => Err(ToolError::Permanent(reason.into())),
            None => Ok(json!("fine")),
        }
    }))
}

fn job(id: &str, fail: Option<&str>) -> ToolCall {
    let args = fail.map_or_else(|| json!({}), |f| json!({ "fail": f }));
    ToolCall::new(id, "job", args)
}

fn tool_outcomes(log: &[Episode]) -> Vec<(String, ToolOutcome)> {
    log.iter()
        .filter_map(|e| match e {
            Episode::ToolCall {
                call_id, result, ..
            } => Some((call_id.to_string(), result.clone())),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn permanent_failure_records_started_calls_then_fails_with_first_error() {
    let batch = vec![
        job("c0", None),
        job("c1", Some("A")),
        job("c2", None),
        job("c3", Some("B")),
    ];
    let llm = ScriptedLlm::new().then_tool_calls(batch).then_text("never");
    let (ctx, thread) = context(&llm).await;
    let ctx = ctx.with_tools(job_tools());
    let outcome = run_steps(&ctx, "", thread.clone(), RunOptions::default()).await;

    assert_eq!(outcome, Err(Error::Tool(ToolError::Permanent("A".into()))));
    let log = episodes(&ctx).await;
    let ok = ToolOutcome::Ok {
        output: json!("fine"),
    };
    let err = |m: &str| ToolOutcome::Error {
        message: m.to_owned(),
    };
    let expected = vec![
        ("c0".to_owned(), ok.clone()),
        ("c1".to_owned(), err("A")),
        ("c2".to_owned(), ok),
        ("c3".to_owned(), err("B")),
    ];
    assert_eq!(tool_outcomes(&log), expected);
    assert_eq!(failed_text(&log).as_deref(), Some("tool: A"));
    assert_eq!(llm.requests().len(), 1);
    let history = ctx.short_term().load(&thread, 100_000).await.unwrap();
    let results = history.iter().filter(|m| m.role == Role::Tool).count();
    assert_eq!(results, 4, "every call keeps a result in the thread");
}

#[tokio::test]
async fn calls_not_started_after_a_failure_get_a_not_run_result() {
    let batch = vec![job("c0", Some("A")), job("c1", None), job("c2", None)];
    let llm = ScriptedLlm::new().then_tool_calls(batch).then_text("never");
    let (ctx, thread) = context(&llm).await;
    let ctx = ctx.with_tools(job_tools());
    let opts = RunOptions::default().with_tool_concurrency(1);
    let outcome = run_steps(&ctx, "", thread.clone(), opts).await;
    assert_eq!(outcome, Err(Error::Tool(ToolError::Permanent("A".into()))));
    let log = episodes(&ctx).await;
    assert_eq!(
        tool_outcomes(&log).len(),
        1,
        "only the started call is recorded"
    );
    let history = ctx.short_term().load(&thread, 100_000).await.unwrap();
    let results: Vec<&Message> = history.iter().filter(|m| m.role == Role::Tool).collect();
    assert_eq!(results.len(), 3);
    assert!(results[1].content.contains("not run"), "{:?}", results[1]);
    assert_eq!(results[2].tool_call_id.as_deref(), Some("c2"));
}

pub(crate) fn calculator_tools() -> ToolSet {
    ToolSet::new().add_tool(FnTool::new(object_def("calculator"), |_| Ok(json!(2))))
}

fn last_tool_message(llm: &ScriptedLlm, request: usize) -> Message {
    let req = &llm.requests()[request];
    let last = req.messages.last().cloned();
    match last {
        Some(m) if m.role == Role::Tool => m,
        other => panic!("request {request} does not end with a tool result: {other:?}"),
    }
}

/// A tool that panics is a failure the model reads, not a panic of the
/// run (whose task, and worker, it would take down; a run taken up again
/// would call it again).
#[tokio::test]
async fn a_tool_that_panics_is_a_failure_the_model_reads() {
    let llm = ScriptedLlm::new()
        .then_tool_calls(vec![ToolCall::new("c1", "broken", json!({}))])
        .then_text("It broke.");
    let (ctx, thread) = context(&llm).await;
    let broken = FnTool::new(object_def("broken"), |_| -> Result<Value, ToolError> {
        panic!("index out of bounds")
    });
    let ctx = ctx.with_tools(ToolSet::new().add_tool(broken));
    let answer =
        tokio::spawn(async move { run_steps(&ctx, "", thread, RunOptions::default()).await })
            .await
            .expect("the run's task does not panic");
    assert_eq!(answer, Ok("It broke.".into()));
    let told = last_tool_message(&llm, 1);
    assert!(
        told.content
            .contains("the tool panicked (index out of bounds)"),
        "{}",
        told.content
    );
}

#[tokio::test]
async fn unknown_tool_is_fed_back_with_available_tools() {
    let llm = ScriptedLlm::new()
        .then_tool_calls(vec![ToolCall::new("c1", "calc", json!({}))])
        .then_text("2");
    let (ctx, thread) = context(&llm).await;
    let ctx = ctx.with_tools(calculator_tools());
    let answer = run_steps(&ctx, "", thread, RunOptions::default()).await;
    assert_eq!(answer, Ok("2".into()));
    let fed_back = last_tool_message(&llm, 1);
    assert_eq!(fed_back.tool_call_id.as_deref(), Some("c1"));
    assert!(fed_back.content.contains("`calc`"), "{}", fed_back.content);
    assert!(
        fed_back.content.contains("calculator"),
        "{}",
        fed_back.content
    );
    let log = episodes(&ctx).await;
    assert!(matches!(
        tool_outcomes(&log)[0].1,
        ToolOutcome::Error { .. }
    ));
    assert_eq!(kinds(&log).last(), Some(&"completed"));
}

#[tokio::test]
async fn invalid_json_arguments_are_fed_back() {
    let raw = "{\"id\": ";
    let llm = ScriptedLlm::new()
        .then_tool_calls(vec![ToolCall::from_raw("c1", "echo", raw)])
        .then_text("sorry");
    let (ctx, thread) = context(&llm).await;
    let answer = run_steps(&ctx, "", thread, RunOptions::default()).await;
    assert_eq!(answer, Ok("sorry".into()));
    let fed_back = last_tool_message(&llm, 1);
    assert!(
        fed_back.content.contains("not valid JSON"),
        "{}",
        fed_back.content
    );
    let log = episodes(&ctx).await;
    let Some(Episode::ToolCall { args, result, .. }) = log.get(2) else {
        panic!("no ToolCall episode: {log:?}");
    };
    assert_eq!(args, &Value::String(raw.into()));
    assert!(matches!(result, ToolOutcome::Error { .. }));
}

#[tokio::test]
async fn tool_choice_policy_across_steps() {
    let forced = ToolChoice::Function("echo".into());
    let cases = [
        (AfterToolCalls::Auto, ToolChoice::Auto),
        (AfterToolCalls::None, ToolChoice::None),
        (AfterToolCalls::Keep, forced.clone()),
    ];
    for (after, second) in cases {
        let llm = ScriptedLlm::new()
            .then_tool_calls(vec![echo_call("c1")])
            .then_tool_calls(vec![echo_call("c2")])
            .then_text("done");
        let (ctx, thread) = context(&llm).await;
        let opts = RunOptions::default()
            .with_tool_choice(Some(forced.clone()))
            .with_after_tool_calls(after);
        run_steps(&ctx, "", thread, opts).await.unwrap();
        let choices: Vec<Option<ToolChoice>> =
            llm.requests().into_iter().map(|r| r.tool_choice).collect();
        assert_eq!(
            choices,
            [Some(forced.clone()), Some(second.clone()), Some(second)],
            "{after:?}"
        );
    }

    // Without tools, no tool choice is sent.
    let llm = ScriptedLlm::new().then_text("hi");
    let (ctx, thread) = with_user(AgentContext::new(llm.clone()), "hi").await;
    let opts = RunOptions::default().with_tool_choice(Some(forced));
    run_steps(&ctx, "", thread, opts).await.unwrap();
    assert_eq!(llm.requests()[0].tool_choice, None);
    assert!(llm.requests()[0].tools.is_empty());
}

#[tokio::test]
async fn a_failure_the_tool_reports_goes_back_to_the_model_and_the_run_goes_on() {
    let lookup = FnTool::new(object_def("lookup"), |_| {
        Err(ToolError::Failed {
            tool: "lookup".into(),
            message: "no such file: notes.txt".into(),
        })
    });
    let llm = ScriptedLlm::new()
        .then_tool_calls(vec![ToolCall::new("c0", "lookup", json!({}))])
        .then_text("the file is missing");
    let (ctx, thread) = context(&llm).await;
    let ctx = ctx.with_tools(ToolSet::new().add_tool(lookup));
    let outcome = run_steps(&ctx, "", thread, RunOptions::default()).await;

    assert_eq!(outcome.unwrap(), "the file is missing");
    let sent = &llm.requests()[1].messages;
    let result = sent.iter().find(|m| m.role == Role::Tool).unwrap();
    assert_eq!(
        result.content,
        "error: tool `lookup` failed: no such file: notes.txt"
    );
}
