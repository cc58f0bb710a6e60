//! `Agent::run_typed`: the format the provider allows, the schema only on
//! the final answer when tools are in play, repairs, and the typed error.

use crate::support::{echo_call, echo_tools};
use klieo_runtime::{Agent, RunOptions};
use klieo_types::testing::ScriptedLlm;
use klieo_types::{Capabilities, Error, ResponseFormat, Role, ToolChoice};
use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Debug, Deserialize, JsonSchema, PartialEq)]
struct Summary {
    /// The result.
    result: i64,
    /// A remark, if any.
    remark: Option<String>,
}

fn agent(llm: &ScriptedLlm) -> Agent {
    Agent::builder(llm.clone())
        .with_instructions("Be exact.")
        .build()
        .expect("the options are valid")
}

fn system_of(llm: &ScriptedLlm, request: usize) -> String {
    let req = &llm.requests()[request];
    let first = req.messages.iter().next().unwrap();
    assert_eq!(first.role, Role::System);
    first.content.clone()
}

#[tokio::test]
async fn a_provider_with_strict_schemas_gets_one() {
    let llm = ScriptedLlm::new()
        .with_capabilities(Capabilities::default().with_json_schema(true))
        .then_text(r#"{"result": 391, "remark": null}"#);
    let typed = agent(&llm).run_typed::<Summary>("17*23?").await.unwrap();
    assert_eq!(
        typed.value,
        Summary {
            result: 391,
            remark: None
        }
    );
    match &llm.requests()[0].response_format {
        ResponseFormat::JsonSchema {
            name,
            schema,
            strict,
        } => {
            assert_eq!(name, "Summary");
            assert!(*strict);
            assert_eq!(schema["additionalProperties"], false);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(system_of(&llm, 0), "Be exact.", "the provider enforces it");
}

#[tokio::test]
async fn json_mode_gets_json_object_and_the_schema_in_the_instructions() {
    let llm = ScriptedLlm::new()
        .with_capabilities(Capabilities::default().with_json_mode(true))
        .then_text("```json\n{\"result\": 4}\n```");
    let typed = agent(&llm).run_typed::<Summary>("2+2?").await.unwrap();
    assert_eq!(typed.value.result, 4);
    assert_eq!(
        llm.requests()[0].response_format,
        ResponseFormat::JsonObject
    );
    let system = system_of(&llm, 0);
    assert!(system.starts_with("Be exact.\n\n"), "{system}");
    assert!(
        system.contains("\"result\"") && system.contains("The result."),
        "{system}"
    );
}

#[tokio::test]
async fn an_answer_that_does_not_fit_is_sent_back_then_fails_typed() {
    let llm = ScriptedLlm::new()
        .then_text("It is 391.")
        .then_text(r#"{"value": 391}"#)
        .then_text(r#"{"result": "391"}"#);
    let error = agent(&llm)
        .run_typed::<Summary>("17*23?")
        .await
        .unwrap_err();
    match &error {
        Error::InvalidOutput {
            reason,
            reply,
            attempts,
        } => {
            assert_eq!(*attempts, 3, "one answer and the default two repairs");
            assert_eq!(reply, r#"{"result": "391"}"#);
            assert!(reason.contains("invalid type"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(!error.retryable());
    let repair = llm.requests()[1].messages.iter().last().unwrap().clone();
    assert_eq!(repair.role, Role::User);
    assert!(
        repair.content.contains("holds no JSON value"),
        "{}",
        repair.content
    );
    let third = llm.requests()[2].messages.iter().last().unwrap().clone();
    assert!(
        third.content.contains("missing field `result`"),
        "{}",
        third.content
    );
}

#[tokio::test]
async fn repairs_are_an_option() {
    let llm = ScriptedLlm::new().then_text("no").then_text("still no");
    let agent = Agent::builder(llm.clone())
        .with_options(RunOptions::default().with_output_repairs(0))
        .build()
        .expect("the options are valid");
    let error = agent.run_typed::<Summary>("?").await.unwrap_err();
    assert!(
        matches!(error, Error::InvalidOutput { attempts: 1, .. }),
        "{error:?}"
    );
    assert_eq!(llm.requests().len(), 1);
}

/// An answer that does not fit at the run's last step is the run's
/// `InvalidOutput` (with the answer and why), not `MaxStepsExceeded`
/// after a repair no step is left to ask.
#[tokio::test]
async fn a_repair_with_no_step_left_is_invalid_output() {
    let llm = ScriptedLlm::new().then_text("I think it holds.");
    let agent = Agent::builder(llm.clone())
        .with_options(RunOptions::default().with_max_steps(1))
        .build()
        .expect("the options are valid");
    let error = agent.run_typed::<Summary>("?").await.unwrap_err();
    assert!(
        matches!(&error, Error::InvalidOutput { reply, attempts: 1, .. } if reply == "I think it holds."),
        "{error:?}"
    );
    assert_eq!(llm.requests().len(), 1);
}

#[tokio::test]
async fn with_tools_the_schema_binds_only_the_final_answer() {
    let llm = ScriptedLlm::new()
        .with_capabilities(Capabilities::default().with_json_mode(true))
        .then_tool_calls(vec![echo_call("c1")])
        .then_text("The echo said c1.")
        .then_text(r#"{"result": 1}"#);
    let agent = Agent::builder(llm.clone())
        .add_tools(echo_tools())
        .build()
        .expect("the options are valid");
    let typed = agent
        .run_typed::<Summary>("Echo, then sum up.")
        .await
        .unwrap();
    assert_eq!(typed.value.result, 1);
    assert_eq!(typed.answer.summary.tool_calls.len(), 1);

    let requests = llm.requests();
    assert_eq!(
        requests[0].response_format,
        ResponseFormat::Text,
        "tools stay callable"
    );
    assert_eq!(requests[1].response_format, ResponseFormat::Text);
    assert_eq!(requests[2].response_format, ResponseFormat::JsonObject);
    assert_eq!(
        requests[2].tool_choice,
        Some(ToolChoice::None),
        "repairing: answer now"
    );
}

/// On a provider that enforces a schema, tools keep the format from the
/// first requests: the instructions carry the schema then, so the first
/// answer can fit without a repair.
#[tokio::test]
async fn with_tools_a_schema_the_provider_enforces_is_in_the_instructions() {
    let llm = ScriptedLlm::new()
        .with_capabilities(Capabilities::default().with_json_schema(true))
        .then_text(r#"{"result": 1}"#);
    let agent = Agent::builder(llm.clone())
        .add_tools(echo_tools())
        .build()
        .expect("the options are valid");
    let typed = agent.run_typed::<Summary>("Sum up.").await.unwrap();
    assert_eq!(typed.value.result, 1);
    let requests = llm.requests();
    let system = &requests[0]
        .messages
        .iter()
        .next()
        .expect("a message")
        .content;
    assert!(system.contains("\"result\""), "{system}");
}

#[tokio::test]
async fn a_session_keeps_typed_answers_in_its_history() {
    let llm = ScriptedLlm::new().then_text(r#"{"result": 2}"#);
    let agent = agent(&llm);
    let chat = agent.session("s");
    let typed = chat.run_typed::<Summary>("1+1?").await.unwrap();
    assert_eq!(typed.value.result, 2);
    assert_eq!(chat.messages().await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_streamed_typed_run_repairs_like_a_blocking_one_and_ends_with_the_value() {
    use klieo_runtime::TypedEvent;
    let llm = ScriptedLlm::new()
        .then_text("It is 391.")
        .then_text(r#"{"result": 391}"#);
    let mut events = agent(&llm).session("t").stream_typed::<Summary>("17*23?");
    let (mut text, mut value) = (String::new(), None);
    while let Some(event) = events.next().await {
        match event.unwrap() {
            TypedEvent::Event(klieo_runtime::RunEvent::Text(delta)) => text.push_str(&delta),
            TypedEvent::Finished(typed) => value = Some(typed.value),
            _ => {}
        }
    }
    assert_eq!(
        value,
        Some(Summary {
            result: 391,
            remark: None
        })
    );
    assert_eq!(text, "It is 391.{\"result\": 391}", "both answers streamed");
    assert_eq!(llm.requests().len(), 2, "one repair");
    assert!(
        system_of(&llm, 0).contains("JSON"),
        "the schema is asked for"
    );

    let failing = ScriptedLlm::new()
        .then_text("no")
        .then_text("no")
        .then_text("no");
    let mut events = agent(&failing)
        .session("t")
        .stream_typed::<Summary>("17*23?");
    let mut last = None;
    while let Some(event) = events.next().await {
        last = Some(event);
    }
    assert!(
        matches!(last, Some(Err(Error::InvalidOutput { attempts: 3, .. }))),
        "{last:?}"
    );
}

#[tokio::test]
async fn a_typed_stream_dropped_after_an_answer_that_does_not_fit_asks_no_more() {
    use klieo_runtime::{RunEvent, TypedEvent};
    // The answer and its finish come in one chunk.
    let mut answer = klieo_types::ChatChunk::delta("It is 391.");
    answer.finish_reason = Some(klieo_types::FinishReason::Stop);
    let llm = ScriptedLlm::new()
        .then_chunks(vec![Ok(answer)])
        .then_text(r#"{"result": 391}"#);
    let agent = agent(&llm);
    let chat = agent.session("t");
    let mut events = chat.stream_typed::<Summary>("17*23?");
    // The consumer reads the answer, finish and all, and goes away.
    while let Some(event) = events.next().await {
        if matches!(event, Ok(TypedEvent::Event(RunEvent::Text(_)))) {
            break;
        }
    }
    drop(events);
    for _ in 0..1000 {
        tokio::task::yield_now().await;
    }
    assert_eq!(llm.requests().len(), 1, "no repair is asked of the model");
    let messages = chat.messages().await.unwrap();
    let shown: Vec<(Role, &str)> = messages
        .iter()
        .map(|m| (m.role, m.content.as_str()))
        .collect();
    assert_eq!(shown, [(Role::User, "17*23?")], "no repair prompt is left");
}
