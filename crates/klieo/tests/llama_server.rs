//! End-to-end runs against llama.cpp's own server, `llama-server`, a second
//! real model server: agents on klieo-anthropic (its `/v1/messages`) and on
//! klieo-openai (its `/v1/chat/completions`), each a blocking and a
//! streamed text run. `cargo xtask ci` builds and starts the server and
//! runs these with `--ignored` and `KLIEO_LLAMA_SERVER_URL` set (the
//! server's root, `http://127.0.0.1:PORT`). SmolLM2-135M answers in text
//! there but does not call tools, so tool use is tested against recorded
//! fixtures in each provider's own tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use klieo::anthropic::AnthropicClient;
use klieo::openai::OpenAiClient;
use klieo::prelude::*;
use klieo::runtime::RunEvent;
use klieo::types::LlmClient;

#[path = "llama_server/budgets.rs"]
mod budgets;
#[path = "llama_server/failover.rs"]
mod failover;
#[path = "llama_server/team.rs"]
mod team;
#[path = "llama_server/window.rs"]
mod window;

fn server() -> String {
    std::env::var("KLIEO_LLAMA_SERVER_URL")
        .expect("KLIEO_LLAMA_SERVER_URL names llama-server's root: cargo xtask ci sets it")
}

fn options() -> RunOptions {
    RunOptions::default()
        .with_max_steps(2)
        .with_temperature(Some(0.0))
        .with_max_tokens(Some(24))
}

fn agent(llm: impl LlmClient + 'static) -> Agent {
    Agent::builder(llm)
        .with_instructions("You are a friendly assistant. Answer in one short sentence.")
        .with_options(options())
        .build()
        .expect("the options are valid")
}

/// A blocking run answers in text, in one step, with usage.
async fn blocking(agent: &Agent, provider: &str) {
    let answer = agent
        .session("blocking")
        .run("Say hello to Ada.")
        .await
        .unwrap_or_else(|e| panic!("{provider}: the blocking run failed: {e}"));
    assert!(!answer.text.trim().is_empty(), "{provider}: an answer");
    assert_eq!(answer.summary.steps, 1, "{provider}: one model call");
    assert!(answer.summary.usage.is_some(), "{provider}: usage reported");
}

/// A streamed run hands out its text in pieces that make up the answer.
async fn streamed(agent: &Agent, provider: &str) {
    let mut events = agent.session("streamed").stream("Say hello to Grace.");
    let (mut pieces, mut text, mut answer) = (0, String::new(), None);
    while let Some(event) = events.next().await {
        match event.unwrap_or_else(|e| panic!("{provider}: the streamed run failed: {e}")) {
            RunEvent::Text(delta) => {
                pieces += 1;
                text.push_str(&delta);
            }
            RunEvent::Finished(done) => answer = Some(done),
            _ => {}
        }
    }
    let answer = answer.unwrap_or_else(|| panic!("{provider}: the stream finished"));
    assert_eq!(answer.text, text, "{provider}: the pieces are the answer");
    assert!(
        pieces > 1,
        "{provider}: streamed in pieces, not whole ({pieces})"
    );
    assert!(answer.summary.usage.is_some(), "{provider}: usage reported");
}

#[tokio::test]
#[ignore = "needs llama-server: cargo xtask ci builds and starts it"]
async fn anthropic_messages_against_llama_server() {
    let llm = AnthropicClient::builder()
        .with_base_url(server())
        .with_model("smollm2")
        .build()
        .expect("a client");
    let agent = agent(llm);
    blocking(&agent, "anthropic").await;
    streamed(&agent, "anthropic").await;
    // The client marks the prompt's prefix for caching (by default); the
    // server takes the marks.
    reads_its_prefix_from_the_cache(&agent, "anthropic").await;
}

/// A session's next request begins with its last one, byte for byte, so
/// the server reads that prefix from its prompt cache and says so.
async fn reads_its_prefix_from_the_cache(agent: &Agent, provider: &str) {
    let session = agent.session("cached");
    session.run("Say hello to Ada.").await.unwrap();
    let next = session.run("Now say goodbye to her.").await.unwrap();
    let usage = next.summary.usage.expect("usage reported");
    assert!(
        usage.cached_input_tokens > 0,
        "{provider}: the shared prefix is read from the cache: {usage:?}"
    );
}

#[tokio::test]
#[ignore = "needs llama-server: cargo xtask ci builds and starts it"]
async fn openai_chat_completions_against_llama_server() {
    let llm = OpenAiClient::builder()
        .with_base_url(format!("{}/v1", server()))
        .with_model("smollm2")
        .with_capabilities(klieo::types::Capabilities::default().with_usage_in_streams(true))
        .build()
        .expect("a client");
    let agent = agent(llm);
    blocking(&agent, "openai").await;
    streamed(&agent, "openai").await;
    reads_its_prefix_from_the_cache(&agent, "openai").await;
}

/// What the model is asked to fill in.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct Weather {
    /// Whether it rains.
    raining: bool,
}

/// With default settings, the client asks the server what it can do
/// (`/props`): llama-server follows a JSON schema, so a typed answer is
/// asked for by schema, and it fits.
#[tokio::test]
#[ignore = "needs llama-server: cargo xtask ci builds and starts it"]
async fn a_typed_answer_from_llama_server_with_default_settings() {
    let llm = OpenAiClient::builder()
        .with_base_url(format!("{}/v1", server()))
        .with_model("smollm2")
        .build()
        .expect("a client");
    let learned = llm.discover_capabilities().await;
    assert!(learned.json_schema(), "llama-server says it: {learned:?}");
    assert_eq!(
        learned.max_context_tokens(),
        Some(4096),
        "its window, -c 4096"
    );
    let agent = Agent::builder(llm)
        .with_instructions("You report the weather.")
        .with_options(options().with_max_tokens(Some(64)))
        .build()
        .expect("the options are valid");
    let typed = agent
        .run_typed::<Weather>("Is it raining in Glasgow?")
        .await
        .unwrap_or_else(|e| panic!("a typed answer: {e}"));
    assert_eq!(typed.answer.summary.steps, 1, "it fit the first time");
    let _: bool = typed.value.raining;
}

#[path = "../examples/refund_desk/desk.rs"]
#[allow(dead_code, reason = "the desk's test hooks are its own tests'")]
mod desk;

/// The refund desk (`examples/refund_desk`) end to end on llama-server:
/// the refund forced by name (sent as `required` with that tool alone, the
/// server's `/props` says it cannot name one), the run waits for a person,
/// another agent on the same file approves it, the refund pays once, and
/// the rest streams to a typed decision.
#[tokio::test]
#[ignore = "needs llama-server: cargo xtask ci builds and starts it"]
async fn the_refund_desk_against_llama_server() {
    use desk::{agent, open, Decision, Ledger};
    use klieo::runtime::{AfterToolCalls, TypedEvent, TypedEvents};

    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("desk.db");
    let ledger = Ledger::beside(&path);
    let options = RunOptions::default()
        .with_temperature(Some(0.0))
        .with_max_tokens(Some(96))
        .with_tool_choice(Some(ToolChoice::Function("refund".into())))
        .with_after_tool_calls(AfterToolCalls::None);
    let client = || async {
        let llm = OpenAiClient::builder()
            .with_base_url(format!("{}/v1", server()))
            .with_model("smollm2")
            .build()
            .expect("a client");
        let caps = llm.discover_capabilities().await;
        assert!(!caps.named_tool_choice(), "llama-server cannot name a tool");
        llm
    };

    let store = open(&path).await.expect("the store");
    let first = agent(client().await, store, &ledger, options.clone()).expect("an agent");
    let mut events = first
        .session("order-7")
        .stream_typed::<Decision>("Order 7 arrived broken. Refund the 1200 cents I paid.");
    let run = events.run_id();
    let mut last = None;
    while let Some(event) = events.next().await {
        last = Some(event.map(|_| ()));
    }
    assert!(
        matches!(&last, Some(Err(Error::Suspended { tool, .. })) if tool == "refund"),
        "the refund waits for a person: {last:?}"
    );
    assert!(ledger.payments().is_empty(), "nothing paid before approval");

    let store = open(&path).await.expect("the store, again");
    let later = agent(client().await, store, &ledger, options).expect("another agent");
    let waiting = later
        .pending_approval(run)
        .await
        .expect("the store answers")
        .expect("the refund waits");
    assert_eq!(waiting.tool, "refund");
    let mut events: TypedEvents<Decision> = later.approve_stream(&waiting.ticket).into();
    let mut decision = None;
    while let Some(event) = events.next().await {
        match event.unwrap_or_else(|e| panic!("the approved run failed: {e}")) {
            TypedEvent::Finished(typed) => decision = Some(typed.value),
            TypedEvent::Event(_) => {}
            _ => {}
        }
    }
    let decision = decision.expect("a typed decision");
    assert_eq!(ledger.payments().len(), 1, "paid once: {decision:?}");
}
