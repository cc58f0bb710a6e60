//! End-to-end runs against a real OpenAI-compatible model server: a blocking
//! and a streaming run that each call the calculator and answer, an
//! embeddings call, and an agent calling a tool of a real MCP server
//! (server-everything). `cargo xtask ci` starts the local model
//! (llama-cpp-python with SmolLM2-135M), installs the MCP server and runs
//! these with `--ignored`; against another server, set `OPENAI_BASE_URL`
//! (and `OPENAI_API_KEY`), `KLIEO_MCP_NODE` and `KLIEO_MCP_EVERYTHING` (a
//! Node.js and server-everything's `dist/index.js`) and run
//! `cargo test -p klieo --features openai,mcp --test e2e -- --ignored`.
#![allow(clippy::unwrap_used, clippy::panic)]

#[path = "../examples/agent/calculator.rs"]
mod calculator;

use klieo::openai::OpenAiClient;
use klieo::prelude::*;
use klieo::runtime::RunEvent;
use klieo::types::{Episode, FinishReason, LlmClient, ToolOutcome};
use serde_json::json;
use std::future::poll_fn;

const SYSTEM: &str = "You are a calculator assistant. Use the calculator tool for arithmetic.";

fn client() -> OpenAiClient {
    OpenAiClient::from_env().unwrap_or_else(|e| {
        panic!("set OPENAI_BASE_URL to a model server (cargo xtask ci starts one): {e}")
    })
}

async fn context() -> (AgentContext, ThreadId) {
    let ctx = AgentContext::new(client())
        .with_tools(ToolSet::new().add_tool(calculator::tool()))
        .with_agent_name("e2e");
    let thread = ThreadId::new("e2e");
    ctx.short_term()
        .append(&thread, vec![Message::user("Compute 17*23.")])
        .await
        .unwrap();
    (ctx, thread)
}

/// A forced calculator call first, then a text answer: this server keeps
/// calling tools otherwise, and streams tool calls only when forced.
fn options() -> RunOptions {
    RunOptions::default()
        .with_max_steps(4)
        .with_temperature(Some(0.0))
        .with_max_tokens(Some(128))
        .with_tool_choice(Some(ToolChoice::Function("calculator".into())))
        .with_after_tool_calls(AfterToolCalls::None)
}

/// Checks the episode log of a run that called the calculator once and
/// answered: Started, LlmCall (tool_calls), ToolCall = 391, LlmCall (stop),
/// Completed. Returns whether the model calls reported token usage.
fn check_log(episodes: &[Episode]) -> Vec<bool> {
    assert!(
        matches!(episodes.first(), Some(Episode::Started { agent }) if agent == "e2e"),
        "{episodes:#?}"
    );
    let calls: Vec<&Episode> = episodes
        .iter()
        .filter(|e| matches!(e, Episode::ToolCall { .. }))
        .collect();
    match calls.as_slice() {
        [Episode::ToolCall { name, result, .. }] => {
            assert_eq!(name.as_ref(), "calculator");
            assert_eq!(
                result,
                &ToolOutcome::Ok { output: json!(391) },
                "{episodes:#?}"
            );
        }
        other => panic!("expected one calculator call, got {other:#?}"),
    }
    let finishes: Vec<FinishReason> = episodes
        .iter()
        .filter_map(|e| match e {
            Episode::LlmCall { finish_reason, .. } => Some(*finish_reason),
            _ => None,
        })
        .collect();
    assert_eq!(finishes, [FinishReason::ToolCalls, FinishReason::Stop]);
    assert!(
        matches!(episodes.last(), Some(Episode::Completed { steps: 2 })),
        "{episodes:#?}"
    );
    episodes
        .iter()
        .filter_map(|e| match e {
            Episode::LlmCall { tokens, .. } => Some(tokens.is_some()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
#[ignore = "needs a model server: `cargo xtask ci` starts one and runs this"]
async fn blocking_run_calls_the_calculator_and_answers() {
    let (ctx, thread) = context().await;
    let answer = run_steps(&ctx, SYSTEM, thread, options()).await.unwrap();
    assert!(!answer.trim().is_empty());
    let reported = check_log(&ctx.episodic().replay(ctx.run_id()).await.unwrap());
    assert_eq!(reported, [true, true], "blocking replies carry usage");
}

#[tokio::test]
#[ignore = "needs a model server: `cargo xtask ci` starts one and runs this"]
async fn streaming_run_calls_the_calculator_and_answers() {
    let (ctx, thread) = context().await;
    let mut stream = run_steps_streaming(&ctx, SYSTEM, thread, options())
        .await
        .unwrap();
    let (mut text, mut calls) = (String::new(), Vec::new());
    while let Some(item) = poll_fn(|cx| stream.as_mut().poll_next(cx)).await {
        let chunk = item.unwrap();
        text.push_str(&chunk.delta);
        calls.extend(chunk.tool_calls);
    }
    let episodes = ctx.episodic().replay(ctx.run_id()).await.unwrap();
    assert_eq!(calls.len(), 1, "text: {text:?}\nepisodes: {episodes:#?}");
    assert_eq!(calls[0].name, "calculator".into());
    assert!(!text.trim().is_empty(), "the answer is streamed as text");
    check_log(&episodes);
}

#[tokio::test]
#[ignore = "needs a model server: `cargo xtask ci` starts one and runs this"]
async fn embeddings_give_one_vector_per_input() {
    let inputs = ["hello world".to_owned(), "17*23".to_owned()];
    let vectors = client().embed(&inputs).await.unwrap();
    assert_eq!(vectors.len(), 2);
    assert!(!vectors[0].is_empty());
    assert_eq!(vectors[0].len(), vectors[1].len());
    assert!(vectors.iter().flatten().all(|x| x.is_finite()));
    assert_ne!(vectors[0], vectors[1]);
}

/// Two numbers to multiply: the quick start's tool.
#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Factors {
    /// The first factor.
    a: f64,
    /// The second factor.
    b: f64,
}

#[tokio::test]
#[ignore = "needs a model server: `cargo xtask ci` starts one and runs this"]
async fn agent_streams_with_default_options_and_calls_a_typed_tool() {
    // The quick start: default options but a deterministic temperature. On
    // llama-cpp-python the cycles whose tools the model chooses cannot
    // stream, so the runtime makes them blocking; the model's repeat of its
    // call ends the tool rounds (AfterToolCalls::AutoUntilRepeat).
    let multiply = TypedTool::new("multiply", "Multiplies a by b.", |f: Factors| async move {
        Ok::<_, ToolError>(f.a * f.b)
    });
    let agent = Agent::builder(client())
        .with_instructions("Use the multiply tool for arithmetic. Then state the result.")
        .add_tool(multiply)
        .with_options(RunOptions::default().with_temperature(Some(0.0)))
        .build()
        .expect("the options are valid");
    let mut events = agent.stream("What is 17 times 23?");
    let mut seen = Vec::new();
    while let Some(event) = events.next().await {
        let event = event.unwrap_or_else(|e| panic!("{e}\nafter {seen:#?}"));
        seen.push(event);
    }
    let calls = seen
        .iter()
        .filter(|e| matches!(e, RunEvent::ToolCall(call) if call.name == "multiply".into()))
        .count();
    assert!(calls >= 1, "{seen:#?}");
    let first_result = seen.iter().find_map(|e| match e {
        RunEvent::ToolResult { outcome, .. } => Some(outcome.clone()),
        _ => None,
    });
    assert_eq!(
        first_result,
        Some(ToolOutcome::Ok {
            output: json!(391.0)
        })
    );
    match seen.last() {
        Some(RunEvent::Finished(answer)) => {
            assert_eq!(answer.summary.tool_calls.len(), calls, "{seen:#?}");
            assert!(
                answer.summary.usage.is_some(),
                "blocking cycles report usage"
            );
        }
        other => panic!("the run did not finish: {other:#?}"),
    }
}

/// What the typed run asks for.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[allow(dead_code)]
struct Product {
    /// The product of the two numbers.
    product: i64,
}

#[tokio::test]
#[ignore = "needs a model server: `cargo xtask ci` starts one and runs this"]
async fn typed_output_falls_back_to_json_mode_on_a_local_server() {
    // llama-cpp-python rejects `json_schema` with a 500 and accepts
    // `json_object`: the client must not declare strict schemas for it.
    let llm = client();
    let caps = llm.capabilities();
    assert!(caps.json_mode() && !caps.json_schema(), "{caps:?}");
    let agent = Agent::builder(llm)
        .with_instructions("You multiply numbers.")
        .with_options(
            RunOptions::default()
                .with_temperature(Some(0.0))
                .with_max_tokens(Some(96)),
        )
        .build()
        .expect("the options are valid");
    // A 135M model may not manage the shape: a typed refusal is a truthful
    // ending; any other error (a rejected request) is not.
    match agent.run_typed::<Product>("What is 17 times 23?").await {
        Ok(typed) => assert!(typed.answer.summary.steps >= 1),
        Err(Error::InvalidOutput {
            attempts, reply, ..
        }) => {
            assert_eq!(attempts, 3, "one answer and two repairs: {reply}")
        }
        Err(other) => panic!("the server rejected the typed run: {other}"),
    }
}

/// server-everything over stdio, offering its `echo` tool only (the whole
/// list would crowd this small model's context).
async fn everything_echo() -> klieo::mcp::McpServer {
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!("{name} is not set: `cargo xtask ci` installs the MCP servers and sets it")
        })
    };
    let settings = klieo::mcp::McpOptions::stdio("everything", var("KLIEO_MCP_NODE"))
        .with_args([var("KLIEO_MCP_EVERYTHING"), "stdio".into()])
        .with_only(["echo"]);
    klieo::mcp::McpServer::connect(settings).await.unwrap()
}

#[tokio::test]
#[ignore = "needs a model server and an MCP server: `cargo xtask ci` starts them and runs this"]
async fn agent_calls_a_tool_of_a_real_mcp_server_and_answers_with_its_result() {
    let options = RunOptions::default()
        .with_max_steps(4)
        .with_temperature(Some(0.0))
        .with_max_tokens(Some(128))
        .with_tool_choice(Some(ToolChoice::Function("echo".into())))
        .with_after_tool_calls(AfterToolCalls::None);
    let agent = Agent::builder(client())
        .with_instructions(
            "Use the echo tool to repeat the user's words, then say what it returned.",
        )
        .add_invoker("everything_", everything_echo().await)
        .with_options(options)
        .build()
        .expect("the options are valid");
    let answer = agent.run("Echo the word pineapple.").await.unwrap();
    assert!(!answer.text.trim().is_empty());

    let context = agent.context();
    let log = context.episodic();
    let episodes = log.replay(answer.summary.run_id).await.unwrap();
    let outputs: Vec<&serde_json::Value> = episodes
        .iter()
        .filter_map(|e| match e {
            Episode::ToolCall {
                name,
                result: ToolOutcome::Ok { output },
                ..
            } if name.as_ref() == "echo" => Some(output),
            _ => None,
        })
        .collect();
    assert_eq!(outputs.len(), 1, "{episodes:#?}");
    let echoed = outputs[0].as_str().unwrap();
    assert!(
        echoed.starts_with("Echo: "),
        "the server's own reply: {echoed}"
    );
}
