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

/// An answer of the wrong shape.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct Count {
    /// How many.
    #[allow(dead_code)]
    n: u32,
}

/// With capture off, an error that quotes content (a typed answer that
/// does not fit, a reply that cannot be read) is told by its kind: the
/// content reaches no span's status and no event.
#[test]
fn errors_that_quote_content_say_their_kind_only_with_capture_off() {
    use klieo_runtime::Agent;
    use klieo_types::testing::ScriptedLlm;
    use klieo_types::{Error, LlmError};

    let ((), captured) = super::capture::captured(|| async move {
        let llm = ScriptedLlm::new().then_text(format!("{MARKER}-answer"));
        let agent = Agent::builder(llm)
            .with_options(RunOptions::default().with_output_repairs(0))
            .build()
            .unwrap();
        let typed = agent.run_typed::<Count>("How many?").await;
        assert!(
            matches!(typed, Err(Error::InvalidOutput { .. })),
            "{typed:?}"
        );

        let unreadable = LlmError::Decoding {
            reason: "not JSON".into(),
            excerpt: format!("{MARKER}-excerpt"),
            cause: None,
        };
        let agent = Agent::builder(ScriptedLlm::new().then_error(unreadable))
            .build()
            .unwrap();
        assert!(agent.run("Hello?").await.is_err());
    });
    let leaked: Vec<&str> = captured
        .all_values()
        .filter(|v| v.contains(MARKER))
        .collect();
    assert!(leaked.is_empty(), "content in spans: {leaked:?}");
    assert!(
        captured
            .all_values()
            .any(|v| v.contains("after 1 answer(s)")),
        "the typed failure is still told"
    );
}

/// Refuses every reply after the model call.
struct RefusesReplies;

#[klieo_types::async_trait]
impl klieo_runtime::Guardrail for RefusesReplies {
    fn name(&self) -> &str {
        "refuses-replies"
    }
    async fn post_llm(
        &self,
        _req: &klieo_types::ChatRequest,
        _resp: &klieo_types::ChatResponse,
    ) -> klieo_runtime::GuardrailOutcome {
        klieo_runtime::GuardrailOutcome::Refuse {
            reason: "it names a person".into(),
        }
    }
}

/// A reply a guardrail refused is no answer of the run: with capture on,
/// the run's span does not show it as its output (its chat span shows
/// the reply the model made).
#[test]
fn a_refused_reply_is_not_the_runs_output() {
    use klieo_runtime::Agent;
    use klieo_types::testing::ScriptedLlm;

    let ((), captured) = super::capture::captured(|| async move {
        let llm = ScriptedLlm::new().then_text(format!("{MARKER}-refused"));
        let options = RunOptions::default()
            .with_capture_content(Some(true))
            .add_guardrail(std::sync::Arc::new(RefusesReplies));
        let agent = Agent::builder(llm).with_options(options).build().unwrap();
        assert!(agent.run("Who?").await.is_err());
    });
    let [agent] = captured.named("invoke_agent")[..] else {
        panic!("one invoke_agent span: {:?}", captured.spans);
    };
    assert_eq!(agent.get("gen_ai.output.messages"), None, "{agent:?}");
    let [chat] = captured.named("chat")[..] else {
        panic!("one chat span: {:?}", captured.spans);
    };
    assert!(chat
        .get("gen_ai.output.messages")
        .is_some_and(|out| out.contains(&format!("{MARKER}-refused"))));
}
