//! What the golden fixtures `tests/fixtures/schema-v{N}.db` hold: written
//! by `cargo run -p klieo-sqlite --example golden_fixture` when schema
//! version N shipped, read back by every later version's tests. From
//! version 3 a fixture also holds a run with a pending step, written
//! through the journal.

use klieo_types::{
    Episode, FinishReason, Message, PendingStep, RunId, ThreadId, ToolCall, ToolOutcome, Usage,
};
use serde_json::json;

/// The fixture of schema version `version`, under `tests/fixtures/`.
pub(crate) fn file(version: i64) -> String {
    format!("schema-v{version}.db")
}

/// The run left with a pending step (fixtures from version 3).
pub(crate) fn pending_run() -> RunId {
    "01890a5d-ac96-774b-bcce-b302099a8058"
        .parse()
        .expect("a valid run id")
}

/// That run's pending step.
pub(crate) fn pending() -> PendingStep {
    PendingStep::new(
        1,
        Message::assistant_tool_calls(
            "",
            vec![ToolCall::new("c9", "send_mail", json!({"to": "ada"}))],
        ),
    )
}

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
