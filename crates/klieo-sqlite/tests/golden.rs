//! What the golden fixture `tests/fixtures/schema-v1.db` holds: written by
//! `cargo run -p klieo-sqlite --example golden_fixture` with schema
//! version 1, read back by every later version's tests.

use klieo_types::{Episode, FinishReason, Message, RunId, ThreadId, ToolCall, ToolOutcome, Usage};
use serde_json::json;

/// The fixture's file name, under `tests/fixtures/`.
pub(crate) const FILE: &str = "schema-v1.db";

/// The thread the fixture holds.
pub(crate) fn thread() -> ThreadId {
    ThreadId::new("golden-thread")
}

/// The run the fixture holds.
pub(crate) fn run() -> RunId {
    "01890a5d-ac96-774b-bcce-b302099a8057"
        .parse()
        .expect("a valid run id")
}

/// The thread's messages, in order.
pub(crate) fn messages() -> Vec<Message> {
    vec![
        Message::system("You are a calculator."),
        Message::user("What is 17 × 23?"),
        Message::assistant_tool_calls(
            "",
            vec![ToolCall::new(
                "c1",
                "calculator",
                json!({"expression": "17*23"}),
            )],
        ),
        Message::tool_result("c1", "391"),
        Message::assistant("17 × 23 = 391"),
    ]
}

/// The run's episodes, in order.
pub(crate) fn episodes() -> Vec<Episode> {
    vec![
        Episode::Started {
            agent: "calc".into(),
        },
        Episode::LlmCall {
            step: 1,
            tokens: Some(Usage::new(52, 9)),
            latency_ms: 310,
            finish_reason: FinishReason::ToolCalls,
            tool_calls: 1,
        },
        Episode::ToolCall {
            step: 1,
            call_id: "c1".into(),
            name: "calculator".into(),
            args: json!({"expression": "17*23"}),
            result: ToolOutcome::Ok { output: json!(391) },
            latency_ms: 0,
        },
        Episode::LlmCall {
            step: 2,
            tokens: None,
            latency_ms: 120,
            finish_reason: FinishReason::Stop,
            tool_calls: 0,
        },
        Episode::Completed { steps: 2 },
    ]
}
