//! `Agent`: runs with their own run ids, sessions that keep history, the
//! typed event stream, and the same typed error for the same ending in
//! both modes.

use crate::support::{echo_call, echo_tools};
use klieo_runtime::{
    run_steps, run_steps_streaming, Agent, AgentContext, Answer, DenyKeywords, RunEvent, RunEvents,
    RunOptions,
};
use klieo_types::testing::ScriptedLlm;
use klieo_types::{
    ChatResponse, ConfigError, Episode, Error, FinishReason, FnTool, Message, Role, ThreadId,
    ToolDef, ToolError, ToolOutcome, Usage,
};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

fn agent(llm: &ScriptedLlm) -> Agent {
    Agent::builder(llm.clone())
        .with_instructions("Be terse.")
        .add_tools(echo_tools())
        .with_name("tester")
        .build()
        .expect("the options are valid")
}

/// A tool call of `echo`, then an answer with usage.
fn tool_then_answer() -> ScriptedLlm {
    let answer = ChatResponse::new(Message::assistant("done"), FinishReason::Stop)
        .with_usage(Usage::new(7, 2));
    ScriptedLlm::new()
        .then_tool_calls(vec![echo_call("c1")])
        .then_reply(answer)
}

/// Every event of a stream, the error (if any) last.
async fn events(mut stream: RunEvents) -> Vec<Result<RunEvent, Error>> {
    let mut out = Vec::new();
    while let Some(event) = stream.next().await {
        out.push(event);
    }
    assert!(stream.next().await.is_none(), "an ended stream stays ended");
    out
}

#[tokio::test]
async fn run_answers_with_a_summary_in_a_fresh_run_each_time() {
    let llm = tool_then_answer().then_text("again");
    let agent = agent(&llm);

    let first = agent.run("go").await.unwrap();
    assert_eq!(first.text, "done");
    let s = &first.summary;
    assert_eq!(s.steps, 2);
    assert_eq!(s.usage, Some(Usage::new(7, 2)));
    assert_eq!(s.steps_without_usage, 1);
    assert_eq!(s.tool_calls.len(), 1);
    assert_eq!(s.tool_calls[0].name, "echo".into());
    assert_eq!(
        s.tool_calls[0].outcome,
        ToolOutcome::Ok {
            output: json!({"echo": {"id": "c1"}})
        }
    );

    let second = agent.run("go").await.unwrap();
    assert_ne!(first.summary.run_id, second.summary.run_id);
    assert_ne!(
        first.summary.thread, second.summary.thread,
        "a one-off run does not see another's history"
    );
    let context = agent.context();
    let log = context.episodic();
    assert_eq!(log.list_runs().await.unwrap().len(), 2);
    for run in [first.summary.run_id, second.summary.run_id] {
        let episodes = log.replay(run).await.unwrap();
        let started = episodes
            .iter()
            .filter(|e| matches!(e, Episode::Started { agent } if agent == "tester"))
            .count();
        assert_eq!(started, 1, "{episodes:?}");
    }
    let req = &llm.requests()[0];
    let system = req.messages.iter().next().unwrap();
    assert_eq!(
        (system.role, system.content.as_str()),
        (Role::System, "Be terse.")
    );
}

#[tokio::test]
async fn a_session_keeps_the_conversation_across_runs() {
    let llm = ScriptedLlm::new().then_text("Hi, Ada.").then_text("Ada.");
    let agent = agent(&llm);
    let chat = agent.session("user-1");

    let one = chat.run("I am Ada.").await.unwrap();
    let two = chat.run("Who am I?").await.unwrap();
    assert_ne!(one.summary.run_id, two.summary.run_id);
    assert_eq!(two.summary.thread.as_str(), "user-1");

    let sent: Vec<_> = llm.requests()[1]
        .messages
        .iter()
        .map(|m| (m.role, m.content.clone()))
        .collect();
    assert_eq!(
        sent,
        vec![
            (Role::System, "Be terse.".to_owned()),
            (Role::User, "I am Ada.".to_owned()),
            (Role::Assistant, "Hi, Ada.".to_owned()),
            (Role::User, "Who am I?".to_owned()),
        ]
    );
    assert_eq!(chat.messages().await.unwrap().len(), 4);
    let again = agent.session("user-1");
    assert_eq!(
        again.messages().await.unwrap().len(),
        4,
        "same id, same thread"
    );
}

/// A reply whose calls share an id, or hold a line break in it: the
/// stream's `ToolCall`s name them as their `ToolResult`s and the log do.
#[tokio::test]
async fn streamed_calls_are_named_as_their_results_are() {
    let llm = ScriptedLlm::new()
        .then_tool_calls(vec![echo_call("c1"), echo_call("c1"), echo_call("c\n2")])
        .then_text("done");
    let all = events(agent(&llm).stream("go")).await;
    let calls: Vec<String> = all
        .iter()
        .filter_map(|e| match e {
            Ok(RunEvent::ToolCall(call)) => Some(call.id.to_string()),
            _ => None,
        })
        .collect();
    let mut results: Vec<String> = all
        .iter()
        .filter_map(|e| match e {
            Ok(RunEvent::ToolResult { call_id, .. }) => Some(call_id.to_string()),
            _ => None,
        })
        .collect();
    results.sort();
    assert_eq!(calls, ["c1", "c1~2", "c_2"]);
    assert_eq!(results, calls);
}

#[tokio::test]
async fn the_stream_tells_the_whole_run_in_order_and_ends_with_the_answer() {
    let llm = tool_then_answer();
    let all = events(agent(&llm).stream("go")).await;
    let all: Vec<RunEvent> = all.into_iter().map(Result::unwrap).collect();

    assert!(
        matches!(&all[0], RunEvent::ToolCall(call) if call.id == "c1".into() && call.name == "echo".into())
    );
    assert!(matches!(
        &all[1],
        RunEvent::StepFinished {
            step: 1,
            usage: None,
            finish_reason: FinishReason::ToolCalls
        }
    ));
    assert!(
        matches!(&all[2], RunEvent::ToolResult { call_id, outcome: ToolOutcome::Ok { .. }, .. } if call_id.as_ref() == "c1")
    );
    assert_eq!(all[3], RunEvent::Text("done".into()));
    assert!(matches!(
        &all[4],
        RunEvent::StepFinished {
            step: 2,
            usage: Some(_),
            ..
        }
    ));
    match &all[5] {
        RunEvent::Finished(Answer { text, summary, .. }) => {
            assert_eq!(text, "done");
            assert_eq!(summary.steps, 2);
            assert_eq!(summary.tool_calls.len(), 1);
            assert_eq!(summary.usage, Some(Usage::new(7, 2)));
        }
        other => panic!("expected the end, got {other:?}"),
    }
    assert_eq!(all.len(), 6);
}

/// Runs the same script blocking and streamed; returns both errors.
async fn both_endings(llm: impl Fn() -> ScriptedLlm, options: RunOptions) -> (Error, Error) {
    let build = |llm: ScriptedLlm| {
        let failing = FnTool::new(
            ToolDef::new("broken", "Always fails.", json!({"type": "object"})),
            |_| Err(ToolError::Permanent("disk full".into())),
        );
        Agent::builder(llm)
            .add_tools(echo_tools())
            .add_tool(failing)
            .with_options(options.clone())
            .build()
            .expect("the options are valid")
    };
    let blocking = build(llm()).run("go").await.unwrap_err();
    let mut streamed = events(build(llm()).stream("go")).await;
    let last = streamed.pop().unwrap().unwrap_err();
    assert!(streamed.iter().all(Result::is_ok), "one Err, the last item");
    (blocking, last)
}

#[tokio::test]
async fn a_tool_failure_is_error_tool_in_both_modes_and_not_retryable() {
    let call = klieo_types::ToolCall::new("c1", "broken", json!({}));
    let (blocking, streamed) = both_endings(
        || ScriptedLlm::new().then_tool_calls(vec![call.clone()]),
        RunOptions::default(),
    )
    .await;
    let expected = Error::Tool(ToolError::Permanent("disk full".into()));
    assert_eq!(blocking, expected);
    assert_eq!(streamed, expected);
    assert!(!streamed.retryable());
}

#[tokio::test]
async fn max_steps_is_max_steps_exceeded_in_both_modes() {
    let opts = RunOptions::default().with_max_steps(1);
    let (blocking, streamed) = both_endings(
        || ScriptedLlm::new().then_tool_calls(vec![echo_call("c1")]),
        opts,
    )
    .await;
    assert_eq!(blocking, Error::MaxStepsExceeded { steps: 1 });
    assert_eq!(streamed, blocking);
    assert!(!streamed.retryable());
}

#[tokio::test]
async fn a_refusal_is_refused_in_both_modes() {
    let opts = RunOptions::default().add_guardrail(Arc::new(DenyKeywords::new(["secret"])));
    let (blocking, streamed) =
        both_endings(|| ScriptedLlm::new().then_text("the secret is 42"), opts).await;
    assert!(matches!(blocking, Error::Refused { .. }), "{blocking:?}");
    assert_eq!(streamed, blocking);
}

#[tokio::test]
async fn printed_events_show_text_calls_and_results_and_return_the_answer() {
    let llm = ScriptedLlm::new()
        .then_tool_calls(vec![echo_call("c1")])
        .then_text("done");
    let agent = Agent::builder(llm)
        .add_tools(echo_tools())
        .build()
        .expect("the options are valid");
    let mut shown = Vec::new();
    let answer = agent.stream("go").print(&mut shown).await.unwrap();
    assert_eq!(answer.text, "done");
    assert_eq!(answer.summary.tool_calls.len(), 1);
    assert_eq!(
        String::from_utf8(shown).unwrap(),
        "[echo({\"id\":\"c1\"})]\n[= {\"echo\":{\"id\":\"c1\"}}]\ndone"
    );

    let failing = Agent::builder(
        ScriptedLlm::new().then_error(klieo_types::LlmError::unauthorized("bad key")),
    )
    .build()
    .expect("the options are valid");
    let error = failing
        .stream("go")
        .print(std::io::sink())
        .await
        .unwrap_err();
    assert_eq!(
        error,
        Error::Llm(klieo_types::LlmError::unauthorized("bad key"))
    );
}

/// Hands every run off to `billing` before the first model call.
struct ToBilling;

#[klieo_types::async_trait]
impl klieo_runtime::Guardrail for ToBilling {
    fn name(&self) -> &str {
        "to-billing"
    }
    async fn pre_llm(&self, _req: &klieo_types::ChatRequest) -> klieo_runtime::GuardrailOutcome {
        klieo_runtime::GuardrailOutcome::Handoff {
            agent: "billing".into(),
            reason: "an invoice question".into(),
        }
    }
}

#[tokio::test]
async fn a_handoff_is_handoff_in_both_modes() {
    let opts = RunOptions::default().add_guardrail(Arc::new(ToBilling));
    let (blocking, streamed) = both_endings(|| ScriptedLlm::new().then_text("never"), opts).await;
    assert_eq!(
        blocking,
        Error::Handoff {
            agent: "billing".into(),
            reason: "an invoice question".into()
        }
    );
    assert_eq!(streamed, blocking);
}

#[tokio::test]
async fn a_cancelled_agent_ends_cancelled_in_both_modes() {
    let cancel = tokio_util::sync::CancellationToken::new();
    cancel.cancel();
    let agent = Agent::builder(ScriptedLlm::new().then_text("never"))
        .with_cancel(cancel)
        .build()
        .expect("the options are valid");
    assert_eq!(agent.run("go").await.unwrap_err(), Error::Cancelled);
    let mut streamed = events(agent.stream("go")).await;
    assert_eq!(streamed.len(), 1);
    assert_eq!(streamed.pop().unwrap().unwrap_err(), Error::Cancelled);
}

#[tokio::test]
async fn a_provider_error_is_the_same_llm_error_in_both_modes() {
    let (blocking, streamed) = both_endings(
        || ScriptedLlm::new().then_error(klieo_types::LlmError::unauthorized("bad key")),
        RunOptions::default(),
    )
    .await;
    assert_eq!(
        blocking,
        Error::Llm(klieo_types::LlmError::unauthorized("bad key"))
    );
    assert_eq!(streamed, blocking);
}

/// A lease too short to renew (zero panicked in the renewal task, and the
/// lease was already expired) is a configuration error before the run
/// does anything: the agent is not built, and the low-level API, in both
/// modes, makes no model call and writes no message and no episode.
#[tokio::test]
async fn a_lease_too_short_to_renew_is_refused_before_anything_runs() {
    for ttl in [
        Duration::ZERO,
        Duration::from_nanos(2),
        Duration::from_millis(999),
    ] {
        let llm = ScriptedLlm::new().then_text("never asked");
        let opts = RunOptions::default().with_lease_ttl(Some(ttl));
        let built = Agent::builder(llm.clone())
            .with_options(opts.clone())
            .build();
        let refused_at_build = matches!(&built, Err(ConfigError::Invalid { name, reason, .. })
            if name == "RunOptions::lease_ttl" && reason.contains("use at least 1 s"));
        assert!(refused_at_build, "{built:?}");
        let refused = |e: &Error| matches!(e, Error::Config(ConfigError::Invalid { name, .. }) if name == "RunOptions::lease_ttl");

        let ctx = AgentContext::new(llm.clone());
        let thread = ThreadId::new("t");
        let low = run_steps(&ctx, "", thread.clone(), opts.clone()).await;
        assert!(refused(&low.unwrap_err()));
        let streamed = run_steps_streaming(&ctx, "", thread, opts).await;
        assert!(refused(&streamed.err().unwrap()));
        assert!(ctx
            .episodic()
            .replay(ctx.run_id())
            .await
            .unwrap()
            .is_empty());
        assert!(llm.requests().is_empty(), "the model was never asked");
    }
}

#[test]
fn an_agent_with_an_empty_name_is_refused() {
    let built = Agent::builder(ScriptedLlm::new()).with_name("").build();
    assert!(
        matches!(&built, Err(ConfigError::Invalid { name, .. }) if name == "AgentBuilder::with_name"),
        "{built:?}"
    );
}

#[test]
fn a_tool_whose_own_timeout_is_zero_is_refused_naming_it() {
    let instant =
        klieo_runtime::TypedTool::new("lookup", "Looks up.", |_: serde_json::Value| async {
            Ok::<_, ToolError>("found")
        })
        .with_timeout(Duration::ZERO);
    let built = Agent::builder(ScriptedLlm::new()).add_tool(instant).build();
    assert!(
        matches!(&built, Err(ConfigError::Invalid { name, .. }) if name.contains("tool `lookup`")),
        "{built:?}"
    );
}
