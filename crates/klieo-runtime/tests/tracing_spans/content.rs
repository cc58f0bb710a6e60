//! With content capture on, the run's span carries what the run was told
//! (system instructions, tool definitions), what it was asked and what it
//! answered, in the conventions' shape, once each.

use super::{traced_run, MARKER};
use klieo_runtime::RunOptions;
use serde_json::{json, Value};

fn check_run_span_content(streamed: bool) {
    let options = RunOptions::default().with_capture_content(Some(true));
    let (_, captured) = traced_run(streamed, options);
    let [agent] = captured.named("invoke_agent")[..] else {
        panic!("one invoke_agent span: {:?}", captured.spans);
    };
    let attribute = |name: &str| -> Value {
        let recorded = agent
            .fields
            .iter()
            .filter(|(field, _)| field == name)
            .count();
        assert_eq!(recorded, 1, "{name} recorded once: {agent:?}");
        serde_json::from_str(agent.get(name).unwrap_or_default()).unwrap()
    };
    assert_eq!(
        attribute("gen_ai.system_instructions"),
        json!([{"type": "text", "content": format!("{MARKER}-system")}])
    );
    assert_eq!(
        attribute("gen_ai.tool.definitions"),
        json!([{"type": "function", "name": "echo", "description": "Echoes.",
                "parameters": {"type": "object"}}])
    );
    assert_eq!(
        attribute("gen_ai.input.messages"),
        json!([{"role": "user", "parts": [{"type": "text", "content": format!("{MARKER}-user")}]}]),
        "the conversation the run was given, without its system prompt"
    );
    assert_eq!(
        attribute("gen_ai.output.messages"),
        json!([{"role": "assistant", "parts": [{"type": "text", "content": format!("{MARKER}-reply")}],
                "finish_reason": "stop"}]),
        "the answer, not the reply that called a tool"
    );
}

#[test]
fn a_blocking_run_span_carries_its_prompt_answer_instructions_and_tools() {
    check_run_span_content(false);
}

#[test]
fn a_streamed_run_span_carries_its_prompt_answer_instructions_and_tools() {
    check_run_span_content(true);
}
