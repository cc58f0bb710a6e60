//! Tracing: span names and attributes after the OpenTelemetry GenAI
//! conventions, captured by a minimal subscriber; never message contents.

mod attempts;
mod budget;
pub(crate) mod capture;
mod content;
mod dropped;
mod not_started;
mod team;

use crate::support::{collect, start, with_user};
use capture::{captured, Captured};
use klieo_runtime::{run_steps, run_steps_streaming, AgentContext, RunOptions};
use klieo_types::testing::ScriptedLlm;
use klieo_types::{
    ChatChunk, ChatResponse, FinishReason, FnTool, LlmError, Message, ToolCall, ToolDef, ToolSet,
    Usage,
};
use serde_json::json;

const MARKER: &str = "MARKER-7f3a9c";

/// A run of two cycles with `opts`: a tool call with usage reported (some
/// of it read from, some written to the prompt cache), then an answer
/// without. Markers sit in the system prompt, the user's message, the tool
/// arguments and output, and the reply.
fn traced_run(streamed: bool, opts: RunOptions) -> (String, Captured) {
    captured(|| async move {
        let call = ToolCall::new("c1", "echo", json!({ "text": format!("{MARKER}-args") }));
        let calls = ChatResponse::new(
            Message::assistant_tool_calls("", vec![call]),
            FinishReason::ToolCalls,
        )
        .with_usage(Usage::new(52, 9).with_cache(32, 8));
        let llm = ScriptedLlm::new()
            .then_reply(calls)
            .then_text(format!("{MARKER}-reply"));
        let echo = FnTool::new(
            ToolDef::new("echo", "Echoes.", json!({"type": "object"})),
            |args| Ok(json!(format!("{MARKER}-output {args}"))),
        );
        let ctx = AgentContext::new(llm)
            .with_tools(ToolSet::new().add_tool(echo))
            .with_agent_name("tracer");
        let (ctx, thread) = with_user(ctx, &format!("{MARKER}-user")).await;
        let system = format!("{MARKER}-system");
        if streamed {
            let outcome = run_steps_streaming(&ctx, &system, thread, opts).await;
            let Ok(stream) = outcome else {
                panic!("the streamed run did not start");
            };
            assert!(collect(stream).await.iter().all(Result::is_ok));
        } else {
            let answer = run_steps(&ctx, &system, thread, opts).await;
            assert_eq!(answer, Ok(format!("{MARKER}-reply")));
        }
        ctx.run_id().to_string()
    })
}

fn check_spans(streamed: bool) {
    let (run_id, captured) = traced_run(streamed, RunOptions::default());
    let [agent] = captured.named("invoke_agent")[..] else {
        panic!("one invoke_agent span: {:?}", captured.spans);
    };
    let [first, second] = captured.named("chat")[..] else {
        panic!("two chat spans: {:?}", captured.spans);
    };
    let [tool] = captured.named("execute_tool")[..] else {
        panic!("one execute_tool span: {:?}", captured.spans);
    };

    assert_eq!(agent.get("gen_ai.operation.name"), Some("invoke_agent"));
    assert_eq!(agent.get("gen_ai.agent.name"), Some("tracer"));
    assert_eq!(agent.get("gen_ai.request.model"), Some("scripted"));
    for span in [agent, first, second, tool] {
        assert_eq!(span.get("klieo.run_id"), Some(run_id.as_str()), "{span:?}");
    }

    for (span, step) in [(first, "1"), (second, "2")] {
        assert_eq!(span.get("gen_ai.operation.name"), Some("chat"));
        assert_eq!(span.get("gen_ai.request.model"), Some("scripted"));
        assert_eq!(span.get("klieo.step"), Some(step));
        assert_eq!(span.parent, Some(agent.id), "chat is a child of the run");
    }
    assert_eq!(first.get("gen_ai.usage.input_tokens"), Some("52"));
    assert_eq!(first.get("gen_ai.usage.output_tokens"), Some("9"));
    assert_eq!(
        first.get("gen_ai.usage.cache_read.input_tokens"),
        Some("32")
    );
    assert_eq!(
        first.get("gen_ai.usage.cache_creation.input_tokens"),
        Some("8"),
        "the conventions' name for tokens written to the prompt cache"
    );
    assert_eq!(
        first.get("gen_ai.response.finish_reasons"),
        Some("tool_calls")
    );
    assert_eq!(
        second.get("gen_ai.usage.input_tokens"),
        None,
        "unknown usage"
    );
    assert_eq!(
        second.get("gen_ai.usage.output_tokens"),
        None,
        "unknown usage"
    );
    assert_eq!(second.get("gen_ai.response.finish_reasons"), Some("stop"));

    assert_eq!(tool.get("gen_ai.operation.name"), Some("execute_tool"));
    assert_eq!(tool.get("gen_ai.tool.name"), Some("echo"));
    assert_eq!(tool.get("gen_ai.tool.call.id"), Some("c1"));
    assert_eq!(
        tool.parent,
        Some(agent.id),
        "execute_tool is a child of the run"
    );

    let leaks: Vec<&str> = captured
        .all_values()
        .filter(|v| v.contains(MARKER))
        .collect();
    assert!(leaks.is_empty(), "message contents in traces: {leaks:?}");
}

#[test]
fn a_requests_temperature_is_recorded_as_written() {
    let opts = RunOptions::default().with_temperature(Some(0.7));
    let (_, captured) = traced_run(false, opts);
    let chats = captured.named("chat");
    assert!(!chats.is_empty());
    for chat in chats {
        assert_eq!(
            chat.get("gen_ai.request.temperature"),
            Some("0.7"),
            "{chat:?}"
        );
    }
}

#[test]
fn blocking_run_spans_follow_the_genai_conventions() {
    check_spans(false);
}

#[test]
fn streamed_run_spans_follow_the_genai_conventions() {
    check_spans(true);
}

#[test]
fn a_failed_streamed_cycle_records_its_cut_reply_but_no_contents() {
    // A cycle that fails mid-stream: the chat span says its reply was
    // cut off (what came was paid for), and keeps none of its text.
    let ((), captured) = captured(|| async {
        let llm = ScriptedLlm::new().then_chunks(vec![
            Ok(ChatChunk::delta(format!("{MARKER}-partial"))),
            Err(LlmError::bad_request(format!("{MARKER} in error"))),
        ]);
        let (ctx, thread) = with_user(AgentContext::new(llm), &format!("{MARKER}-user")).await;
        let items = collect(start(&ctx, thread, RunOptions::default()).await).await;
        assert!(items.last().is_some_and(Result::is_err));
    });
    let [chat] = captured.named("chat")[..] else {
        panic!("one chat span: {:?}", captured.spans);
    };
    assert_eq!(
        chat.get("gen_ai.response.finish_reasons"),
        Some("interrupted")
    );
    assert_eq!(chat.get("error.type"), Some("bad_request"));
    let leaks: Vec<&str> = captured
        .all_values()
        .filter(|v| v.contains(&format!("{MARKER}-")))
        .collect();
    assert!(leaks.is_empty(), "message contents in traces: {leaks:?}");
}

#[test]
fn a_run_whose_stream_its_consumer_drops_ends_its_span_failed() {
    let ((), captured) = captured(|| async {
        let pieces = klieo_types::testing::text_chunks(&["Hel", "lo"], None);
        let llm = ScriptedLlm::new().then_chunks(pieces);
        let (ctx, thread) = with_user(AgentContext::new(llm), "Hello?").await;
        let mut stream = start(&ctx, thread, RunOptions::default()).await;
        assert!(klieo_types::testing::next(&mut stream).await.is_some());
        drop(stream);
        // The drop is recorded by a task of the runtime.
        for _ in 0..1_000 {
            tokio::task::yield_now().await;
        }
    });
    let [run] = captured.named("invoke_agent")[..] else {
        panic!("one invoke_agent span: {:?}", captured.spans);
    };
    assert_eq!(run.get("error.type"), Some("consumer-dropped"));
    assert_eq!(run.get("otel.status_code"), Some("ERROR"));
}

#[test]
fn a_streamed_runs_call_sent_blocking_is_not_marked_streamed() {
    let ((), captured) = captured(|| async {
        // A provider that cannot stream a call where the model chooses
        // among tools: such a call goes out blocking.
        let caps = klieo_types::Capabilities::default().with_streamed_auto_tool_calls(false);
        let llm = ScriptedLlm::new().with_capabilities(caps).then_text("hi");
        let echo = FnTool::new(
            ToolDef::new("echo", "Echoes.", json!({"type": "object"})),
            Ok,
        );
        let ctx = AgentContext::new(llm).with_tools(ToolSet::new().add_tool(echo));
        let (ctx, thread) = with_user(ctx, "Hello?").await;
        let items = collect(start(&ctx, thread, RunOptions::default()).await).await;
        assert!(items.iter().all(Result::is_ok));
    });
    let [chat] = captured.named("chat")[..] else {
        panic!("one chat span: {:?}", captured.spans);
    };
    assert_eq!(chat.get("gen_ai.request.stream"), None);
}

/// An event stream lets go of its run once the run has ended, though its
/// consumer still holds the stream: the run's span closes (and goes to
/// the exporter) then, not when the stream is dropped.
#[test]
fn an_ended_event_stream_lets_go_of_its_runs_span() {
    let (events, captured) = captured(|| async {
        let agent = klieo_runtime::Agent::builder(ScriptedLlm::new().then_text("done"))
            .build()
            .unwrap();
        let mut events = agent.stream("hi");
        while let Some(item) = events.next().await {
            assert!(item.is_ok(), "{item:?}");
        }
        events
    });
    let [run] = captured.named("invoke_agent")[..] else {
        panic!("one invoke_agent span: {:?}", captured.spans);
    };
    assert!(
        captured.closed.contains(&run.id),
        "the run's span closed with the stream still held"
    );
    drop(events);
}

/// Names and ids a model or server sends (a tool's name, a call's id, a
/// reply's id and model) may be any length: each span records them cut,
/// so no batch of spans grows past what a collector takes.
#[test]
fn names_and_ids_from_the_model_are_cut_on_spans() {
    // Within the history's budget, past any bound a label should have.
    let huge = "x".repeat(4_096);
    let (_, captured) = captured(|| {
        let huge = huge.clone();
        async move {
            let call = ToolCall::new(huge.clone(), huge.clone(), json!({}));
            let calls = ChatResponse::new(
                Message::assistant_tool_calls("", vec![call]),
                FinishReason::ToolCalls,
            )
            .with_info(klieo_types::ReplyInfo::new(Some(huge.clone()), Some(huge)));
            let llm = ScriptedLlm::new().then_reply(calls).then_text("done");
            let ctx = AgentContext::new(llm);
            let (ctx, thread) = with_user(ctx, "go").await;
            let answer = run_steps(&ctx, "", thread, RunOptions::default()).await;
            assert_eq!(answer, Ok("done".to_owned()));
        }
    });
    let longest = captured
        .spans
        .iter()
        .flat_map(|span| span.fields.iter())
        .map(|(name, value)| (value.len(), name.clone()))
        .max()
        .expect("spans were recorded");
    assert!(longest.0 < 2_000, "{longest:?}");
    let [tool] = captured.named("execute_tool")[..] else {
        panic!("one tool span: {:?}", captured.spans);
    };
    let name = tool.get("gen_ai.tool.name").unwrap_or_default();
    assert!(
        name.starts_with("xxx") && name.ends_with('…'),
        "cut: {name}"
    );
}
