//! Tracing: span names and attributes after the OpenTelemetry GenAI
//! conventions, captured by a minimal subscriber; never message contents.

use crate::support::{collect, start, with_user};
use klieo_runtime::{run_steps, run_steps_streaming, AgentContext, RunOptions};
use klieo_types::testing::ScriptedLlm;
use klieo_types::{
    ChatChunk, ChatResponse, FinishReason, FnTool, LlmError, Message, ToolCall, ToolDef, ToolSet,
    Usage,
};
use serde_json::json;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Dispatch, Event, Metadata, Subscriber};

const MARKER: &str = "MARKER-7f3a9c";

#[derive(Debug, Clone)]
struct SpanRec {
    id: u64,
    name: &'static str,
    parent: Option<u64>,
    fields: Vec<(String, String)>,
}

impl SpanRec {
    fn get(&self, field: &str) -> Option<&str> {
        self.fields
            .iter()
            .rev()
            .find(|(name, _)| name == field)
            .map(|(_, value)| value.as_str())
    }
}

#[derive(Debug, Default)]
struct Captured {
    spans: Vec<SpanRec>,
    events: Vec<Vec<(String, String)>>,
    stack: Vec<u64>,
}

impl Captured {
    fn named(&self, name: &str) -> Vec<&SpanRec> {
        self.spans.iter().filter(|s| s.name == name).collect()
    }

    fn all_values(&self) -> impl Iterator<Item = &str> {
        let spans = self.spans.iter().flat_map(|s| s.fields.iter());
        spans
            .chain(self.events.iter().flatten())
            .map(|(_, value)| value.as_str())
    }
}

/// Records every span's name, parent and field values, and every event's
/// field values.
#[derive(Clone, Default)]
struct Capture {
    next_id: Arc<AtomicU64>,
    state: Arc<Mutex<Captured>>,
}

impl Capture {
    fn with<T>(&self, f: impl FnOnce(&mut Captured) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

struct Fields<'a>(&'a mut Vec<(String, String)>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name().to_owned(), value.to_owned()));
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _metadata: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst) + 1;
        let mut fields = Vec::new();
        attrs.record(&mut Fields(&mut fields));
        self.with(|state| {
            let parent = match attrs.parent() {
                Some(parent) => Some(parent.into_u64()),
                None if attrs.is_contextual() => state.stack.last().copied(),
                None => None,
            };
            state.spans.push(SpanRec {
                id,
                name: attrs.metadata().name(),
                parent,
                fields,
            });
        });
        Id::from_u64(id)
    }
    fn record(&self, span: &Id, values: &Record<'_>) {
        self.with(|state| {
            if let Some(rec) = state.spans.iter_mut().find(|s| s.id == span.into_u64()) {
                values.record(&mut Fields(&mut rec.fields));
            }
        });
    }
    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = Vec::new();
        event.record(&mut Fields(&mut fields));
        self.with(|state| state.events.push(fields));
    }
    fn enter(&self, span: &Id) {
        self.with(|state| state.stack.push(span.into_u64()));
    }
    fn exit(&self, span: &Id) {
        self.with(|state| {
            if let Some(at) = state.stack.iter().rposition(|&s| s == span.into_u64()) {
                state.stack.remove(at);
            }
        });
    }
}

/// A subscriber that wants nothing, kept registered for the whole test
/// binary. With only one registered dispatcher, `tracing` asks the
/// *registering thread's* default about a new callsite, so a span first
/// hit by another test's thread would be cached as never wanted, here too.
/// Two live dispatchers make it ask every registered one; this one's `OFF`
/// level hint keeps spans off until a capture is installed.
struct Off;

impl Subscriber for Off {
    fn register_callsite(&self, _metadata: &'static Metadata<'static>) -> Interest {
        Interest::never()
    }
    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::OFF)
    }
    fn enabled(&self, _metadata: &Metadata<'_>) -> bool {
        false
    }
    fn new_span(&self, _attrs: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _span: &Id, _values: &Record<'_>) {}
    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}
    fn event(&self, _event: &Event<'_>) {}
    fn enter(&self, _span: &Id) {}
    fn exit(&self, _span: &Id) {}
}

/// Runs `scenario` on a current-thread runtime with a capturing subscriber
/// as this thread's default; returns its output and what was captured.
fn captured<T, F: Future<Output = T>>(scenario: impl FnOnce() -> F) -> (T, Captured) {
    static OFF: OnceLock<Dispatch> = OnceLock::new();
    OFF.get_or_init(|| Dispatch::new(Off));
    let capture = Capture::default();
    let guard = tracing::subscriber::set_default(capture.clone());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let output = runtime.block_on(scenario());
    drop(runtime);
    drop(guard);
    let state = std::mem::take(&mut *capture.state.lock().unwrap());
    (output, state)
}

/// A run of two cycles: a tool call with usage reported, then an answer
/// without. Markers sit in the system prompt, the user's message, the tool
/// arguments and output, and the reply.
fn traced_run(streamed: bool) -> (String, Captured) {
    captured(|| async move {
        let call = ToolCall::new("c1", "echo", json!({ "text": format!("{MARKER}-args") }));
        let calls = ChatResponse::new(
            Message::assistant_tool_calls("", vec![call]),
            FinishReason::ToolCalls,
        )
        .with_usage(Usage::new(52, 9));
        let llm = ScriptedLlm::new()
            .then_reply(calls)
            .then_text(format!("{MARKER}-reply"));
        let echo = FnTool::new(
            ToolDef::new("echo", "Echoes.", json!({"type": "object"})),
            |args| Ok(json!(format!("{MARKER}-output {args}"))),
        );
        let ctx = AgentContext::new(llm)
            .with_tools(ToolSet::new().with(echo))
            .with_agent_name("tracer");
        let (ctx, thread) = with_user(ctx, &format!("{MARKER}-user")).await;
        let system = format!("{MARKER}-system");
        if streamed {
            let outcome = run_steps_streaming(&ctx, &system, thread, RunOptions::default()).await;
            let Ok(stream) = outcome else {
                panic!("the streamed run did not start");
            };
            assert!(collect(stream).await.iter().all(Result::is_ok));
        } else {
            let answer = run_steps(&ctx, &system, thread, RunOptions::default()).await;
            assert_eq!(answer, Ok(format!("{MARKER}-reply")));
        }
        ctx.run_id.to_string()
    })
}

fn check_spans(streamed: bool) {
    let (run_id, captured) = traced_run(streamed);
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
fn blocking_run_spans_follow_the_genai_conventions() {
    check_spans(false);
}

#[test]
fn streamed_run_spans_follow_the_genai_conventions() {
    check_spans(true);
}

#[test]
fn a_failed_streamed_cycle_records_no_reply_fields_nor_contents() {
    // A cycle that fails mid-stream: the chat span gets no reply fields.
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
    assert_eq!(chat.get("gen_ai.response.finish_reasons"), None);
    let leaks: Vec<&str> = captured
        .all_values()
        .filter(|v| v.contains(&format!("{MARKER}-")))
        .collect();
    assert!(leaks.is_empty(), "message contents in traces: {leaks:?}");
}
