//! Requests fitted to the model's context window: what a request holds
//! besides its history is counted first, the history gets what is left,
//! the estimate follows the server's counts, and a request that cannot
//! fit even with no history is a typed error before any call.

use klieo_runtime::{Agent, InMemoryEpisodic, InMemoryShortTerm, RunOptions};
use klieo_types::testing::ScriptedLlm;
use klieo_types::{
    Capabilities, ChatRequest, ChatResponse, Error, FinishReason, Message, Role, ToolDef, Usage,
};
use serde_json::json;
use std::sync::Arc;

/// A model of `window` tokens answering `replies` times, each reply
/// reporting `input` tokens of input when it is given.
fn model(window: u32, replies: usize, input: Option<u32>) -> ScriptedLlm {
    let mut llm = ScriptedLlm::new()
        .with_capabilities(Capabilities::default().with_max_context_tokens(window));
    for i in 0..replies {
        let mut reply = ChatResponse::new(
            Message::assistant(format!("answer {i} {}", "words ".repeat(20))),
            FinishReason::Stop,
        );
        reply.usage = input.map(|input| Usage::new(input, 30));
        llm = llm.then_reply(reply);
    }
    llm
}

/// The estimated tokens of `req`'s messages.
fn estimated(req: &ChatRequest) -> usize {
    req.messages.iter().map(Message::estimated_tokens).sum()
}

/// Runs `turns` turns of one session, each prompt about 100 tokens.
async fn session(agent: &Agent, turns: usize) {
    let session = agent.session("long");
    for turn in 0..turns {
        let prompt = format!("turn {turn}: {}", "tell me more ".repeat(30));
        session.run(prompt).await.unwrap();
    }
}

#[tokio::test]
async fn a_session_window_never_opens_with_the_assistants_turn() {
    let llm = ScriptedLlm::new().then_text("fine").then_text("fine");
    let memory = Arc::new(InMemoryShortTerm::new());
    let opts = RunOptions::default().with_max_history_tokens(100);
    let agent = Agent::builder(llm.clone())
        .with_short_term(memory.clone())
        .with_options(opts)
        .build()
        .unwrap();
    let thread = klieo_types::ThreadId::new("long");
    let question = Message::user(format!("q {}", "word ".repeat(70)));
    let answer = Message::assistant(format!("answer {}", "word ".repeat(10)));
    klieo_types::ShortTermMemory::append(memory.as_ref(), &thread, vec![question, answer])
        .await
        .unwrap();
    agent.session("long").run("next").await.unwrap();
    let requests = llm.requests();
    let first = requests[0].messages.iter().find(|m| m.role != Role::System);
    assert_eq!(first.map(|m| m.role), Some(Role::User));
    assert_eq!(first.map(|m| m.content.as_str()), Some("next"));
}

#[tokio::test]
async fn a_long_session_is_fitted_to_a_small_window() {
    let llm = model(1_024, 40, None);
    let agent = Agent::builder(llm.clone())
        .with_instructions("Answer briefly.")
        .with_options(RunOptions::default().with_max_tokens(Some(64)))
        .build()
        .unwrap();
    session(&agent, 40).await;
    let requests = llm.requests();
    for req in &requests {
        // At the first scale (1.25 server tokens an estimated one), what
        // is sent and the reply's room stay under the window less a tenth.
        assert!(
            estimated(req) * 5 / 4 + 64 <= 1_024 - 102,
            "{} estimated tokens sent",
            estimated(req)
        );
        let first = req.messages.iter().find(|m| m.role != Role::System);
        assert_ne!(first.map(|m| m.role), Some(Role::Tool));
        assert!(req.messages.iter().any(|m| m.role == Role::System));
    }
    let last = requests.last().unwrap();
    assert!(
        last.messages.len() < 2 * 40,
        "the oldest turns were left out: {} messages",
        last.messages.len()
    );
    assert!(
        last.messages
            .iter()
            .any(|m| m.content.starts_with("turn 39")),
        "the newest turn is in"
    );
}

#[tokio::test]
async fn memories_given_to_an_agent_fit_its_requests_as_its_own_do() {
    // Its own are read at once; given ones through their trait: the
    // requests of a long fitted session are the same.
    let mut sent = Vec::new();
    for given in [false, true] {
        let llm = model(1_024, 40, None);
        let mut builder = Agent::builder(llm.clone())
            .with_instructions("Answer briefly.")
            .with_options(RunOptions::default().with_max_tokens(Some(64)));
        if given {
            builder = builder
                .with_short_term(Arc::new(InMemoryShortTerm::new()))
                .with_episodic(Arc::new(InMemoryEpisodic::new()));
        }
        session(&builder.build().unwrap(), 40).await;
        sent.push(llm.requests());
    }
    assert_eq!(sent[0].len(), 40);
    assert!(sent[0] == sent[1], "the given memories' requests differ");
}

#[tokio::test]
async fn a_server_that_counts_more_than_the_estimate_gets_less_history() {
    // A server that counts twice what the first scale assumes: the next
    // requests hold less history, so they still fit; one that counts
    // less gets no more than the first scale allows.
    let strict = model(2_048, 30, Some(3_000));
    let generous = model(2_048, 30, Some(10));
    let unknown = model(2_048, 30, None);
    for llm in [&strict, &generous, &unknown] {
        let agent = Agent::builder(llm.clone()).build().unwrap();
        session(&agent, 30).await;
    }
    let held = |llm: &ScriptedLlm| estimated(llm.requests().last().unwrap());
    assert!(
        held(&strict) < held(&unknown),
        "{} estimated tokens with the strict server's counts, {} without",
        held(&strict),
        held(&unknown)
    );
    assert_eq!(held(&generous), held(&unknown));
}

#[tokio::test]
async fn a_request_that_cannot_fit_with_no_history_is_refused_before_any_call() {
    let llm = model(512, 1, None);
    let agent = Agent::builder(llm.clone())
        .with_instructions("x".repeat(1_200))
        .add_tool(klieo_types::FnTool::new(
            ToolDef::new("echo", "Echoes.", json!({"type": "object"})),
            Ok,
        ))
        .build()
        .unwrap();
    let error = agent.run("hi").await.expect_err("too big");
    match error {
        Error::ContextWindowExceeded {
            window,
            system,
            tools,
            reply,
            ..
        } => {
            assert_eq!(window, 512);
            assert!(system > 300, "the system prompt is the largest: {system}");
            assert!(tools > 0);
            assert_eq!(reply, 128, "a quarter of the window");
        }
        other => panic!("expected the window to refuse the request, got {other:?}"),
    }
    assert!(llm.requests().is_empty(), "no call was made");
}

#[tokio::test]
async fn a_model_with_no_known_window_gets_the_history_budget_alone() {
    let llm = ScriptedLlm::new().then_text("a").then_text("b");
    let agent = Agent::builder(llm.clone())
        .with_options(RunOptions::default().with_max_history_tokens(10_000))
        .build()
        .unwrap();
    let session = agent.session("s");
    session.run("x".repeat(20_000)).await.unwrap();
    session.run("again").await.unwrap();
    let sent = estimated(&llm.requests()[1]);
    assert!(sent > 4_000, "no window cut it: {sent}");
}
