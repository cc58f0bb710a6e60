//! The run both tests trace, and spans as comparable JSON.

use klieo_runtime::{Agent, RunOptions};
use klieo_types::testing::ScriptedLlm;
use klieo_types::{
    ChatResponse, FinishReason, FnTool, LlmError, Message, ReplyInfo, ToolCall, ToolDef, ToolError,
    Usage,
};
use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::{KeyValue, Value as OtelValue};
use opentelemetry_sdk::trace::SpanData;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// How the run is driven.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Mode {
    Blocking,
    Streamed,
}

/// A run that fails: its tool reports a failure (back to the model), then
/// the model call fails for good. Call it with a subscriber set.
pub(crate) async fn failing_run() {
    let lookup = FnTool::new(
        ToolDef::new("lookup", "Looks a city up.", json!({"type": "object"})),
        |_| {
            Err(ToolError::Failed {
                tool: "lookup".into(),
                message: "no such city".into(),
            })
        },
    );
    let llm = ScriptedLlm::new()
        .then_tool_calls(vec![ToolCall::new(
            "call-1",
            "lookup",
            json!({"city": "Atlantis"}),
        )])
        .then_error(LlmError::bad_request("the context is too long"));
    let agent = Agent::builder(llm)
        .with_name("helper")
        .add_tool(lookup)
        .build()
        .expect("the options are valid");
    let error = agent
        .session("thread-1")
        .run("Weather in Atlantis?")
        .await
        .unwrap_err();
    assert!(
        matches!(error, klieo_types::Error::Llm(LlmError::BadRequest { .. })),
        "{error:?}"
    );
}

/// A model call that fails once (and is retried), asks for `add`, then
/// answers; its replies carry ids, models and usage with cached tokens.
fn llm() -> ScriptedLlm {
    let call = ToolCall::new("call-1", "add", json!({"a": 2, "b": 3}));
    let asks = ChatResponse::new(
        Message::assistant_tool_calls("", vec![call]),
        FinishReason::ToolCalls,
    )
    .with_usage(Usage::new(40, 8).with_cache(32, 8))
    .with_info(ReplyInfo::new(
        Some("resp-1".into()),
        Some("scripted-2026-01".into()),
    ));
    let answers = ChatResponse::new(Message::assistant("5"), FinishReason::Stop)
        .with_usage(Usage::new(52, 1))
        .with_info(ReplyInfo::new(
            Some("resp-2".into()),
            Some("scripted-2026-01".into()),
        ));
    ScriptedLlm::new()
        .then_error(LlmError::server("overloaded"))
        .then_reply(asks)
        .then_reply(answers)
}

/// Runs the agent `helper` on thread `thread-1` in `mode`, content capture
/// as `capture` says. Call it with a subscriber set.
pub(crate) async fn run(mode: Mode, capture: bool) {
    let add = FnTool::new(
        ToolDef::new("add", "Adds a and b.", json!({"type": "object"})),
        |args| {
            Ok(json!(
                args["a"].as_i64().unwrap_or(0) + args["b"].as_i64().unwrap_or(0)
            ))
        },
    );
    let options = RunOptions::default()
        .with_temperature(Some(0.5))
        .with_max_tokens(Some(64))
        .with_capture_content(Some(capture));
    let agent = Agent::builder(llm())
        .with_name("helper")
        .with_instructions("Add with the tool.")
        .add_tool(add)
        .with_options(options)
        .build()
        .expect("the options are valid");
    let session = agent.session("thread-1");
    match mode {
        Mode::Blocking => {
            let answer = session.run("What is 2 + 3?").await.unwrap();
            assert_eq!(answer.text, "5");
        }
        Mode::Streamed => {
            let mut events = session.stream("What is 2 + 3?");
            while let Some(event) = events.next().await {
                event.unwrap();
            }
        }
    }
}

/// One span as the golden files hold it, from either source (the SDK's
/// in-memory exporter, or OTLP decoded).
pub(crate) struct Shown {
    pub(crate) id: Vec<u8>,
    pub(crate) parent: Vec<u8>,
    pub(crate) start: u64,
    pub(crate) name: String,
    pub(crate) kind: &'static str,
    pub(crate) status: Value,
    pub(crate) attributes: Vec<(String, Value)>,
    pub(crate) events: Vec<(String, Vec<(String, Value)>)>,
}

/// The spans as JSON, in the order they started: name, kind, parent's
/// name, status, attributes (the run id replaced, as it is new each run)
/// and events.
pub(crate) fn golden_json(mut spans: Vec<Shown>) -> Value {
    spans.sort_by_key(|s| s.start);
    let names: HashMap<Vec<u8>, String> = spans
        .iter()
        .map(|s| (s.id.clone(), s.name.clone()))
        .collect();
    let shown = spans.iter().map(|s| {
        json!({
            "name": s.name,
            "kind": s.kind,
            "parent": names.get(&s.parent),
            "status": s.status,
            "attributes": attribute_map(&s.attributes),
            "events": s.events.iter().map(|(name, attributes)| json!({
                "name": name,
                "attributes": attribute_map(attributes),
            })).collect::<Vec<_>>(),
        })
    });
    Value::Array(shown.collect())
}

fn attribute_map(pairs: &[(String, Value)]) -> Value {
    let map: Map<String, Value> = pairs
        .iter()
        .map(|(key, value)| {
            let value = if key == "klieo.run_id" {
                json!("<run id>")
            } else {
                value.clone()
            };
            (key.clone(), value)
        })
        .collect();
    Value::Object(map)
}

/// The SDK's spans as JSON ([`golden_json`]).
pub(crate) fn as_json(spans: &[SpanData]) -> Value {
    let shown = spans.iter().map(|s| Shown {
        id: s.span_context.span_id().to_bytes().to_vec(),
        parent: s.parent_span_id.to_bytes().to_vec(),
        start: s
            .start_time
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
        name: s.name.to_string(),
        kind: kind(&s.span_kind),
        status: status(&s.status),
        attributes: pairs(&s.attributes),
        events: s
            .events
            .iter()
            .map(|e| (e.name.to_string(), pairs(&e.attributes)))
            .collect(),
    });
    golden_json(shown.collect())
}

fn kind(kind: &SpanKind) -> &'static str {
    match kind {
        SpanKind::Client => "client",
        SpanKind::Server => "server",
        SpanKind::Producer => "producer",
        SpanKind::Consumer => "consumer",
        SpanKind::Internal => "internal",
    }
}

fn status(status: &Status) -> Value {
    match status {
        Status::Unset => json!("unset"),
        Status::Ok => json!("ok"),
        Status::Error { description } => json!({"error": description}),
    }
}

fn pairs(list: &[KeyValue]) -> Vec<(String, Value)> {
    list.iter()
        .map(|kv| (kv.key.as_str().to_owned(), value(&kv.value)))
        .collect()
}

fn value(v: &OtelValue) -> Value {
    match v {
        OtelValue::Bool(b) => json!(b),
        OtelValue::I64(i) => json!(i),
        OtelValue::F64(f) => json!(f),
        OtelValue::String(s) => json!(s.as_str()),
        OtelValue::Array(opentelemetry::Array::String(items)) => {
            json!(items.iter().map(|s| s.as_str()).collect::<Vec<_>>())
        }
        other => json!(format!("{other:?}")),
    }
}
