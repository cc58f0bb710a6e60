//! Long conversations against llama-server: a session far longer than
//! the model's window never gets a context-length error (the run fits
//! each request to the window the server reports), on the 4,096-token
//! server and on one of 1,024; and the run's token estimate against the
//! server's own counts, for kinds of text the estimate handles worst.

use super::failover::client;
use super::server;
use klieo::openai::OpenAiClient;
use klieo::prelude::*;
use klieo::runtime::compaction::{Compaction, Summarize};
use klieo::store::InMemoryJournal;
use klieo::types::{Episode, EpisodicMemory, LlmClient, ShortTermMemory, ThreadId, ToolDef};
use serde_json::json;

fn small_server() -> String {
    std::env::var("KLIEO_LLAMA_SERVER_SMALL_URL").expect(
        "KLIEO_LLAMA_SERVER_SMALL_URL names a llama-server with a 1,024-token window: \
         cargo xtask ci sets it",
    )
}

/// A tool the agent is offered (its schema counts against the window).
fn note() -> impl Tool {
    FnTool::new(
        ToolDef::new(
            "note",
            "Writes a note down for later.",
            json!({"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}),
        ),
        |_| Ok(json!("noted")),
    )
}

/// A session of `turns` turns on `llm`, each prompt about `words` words;
/// every turn must answer.
async fn long_session(llm: OpenAiClient, turns: usize, words: usize) {
    let window = llm.discover_capabilities().await.max_context_tokens();
    assert!(window.is_some(), "llama-server reports its window");
    let agent = Agent::builder(llm)
        .with_instructions("You are a friendly assistant. Answer in one short sentence.")
        .add_tool(note())
        .with_options(
            RunOptions::default()
                .with_max_steps(2)
                .with_temperature(Some(0.0))
                .with_max_tokens(Some(16))
                .with_tool_choice(Some(ToolChoice::None)),
        )
        .build()
        .unwrap();
    let session = agent.session("long");
    let filler = ["river", "lantern", "harbour", "violet", "engine", "meadow"];
    for turn in 0..turns {
        let story: Vec<&str> = (0..words)
            .map(|i| filler[(i + turn) % filler.len()])
            .collect();
        let prompt = format!("Turn {turn}. Remember these words: {}.", story.join(" "));
        if let Err(e) = session.run(prompt).await {
            panic!("turn {turn} of a {window:?}-token window failed: {e}");
        }
    }
}

/// 24 turns of about 250 words each, twice the 4,096 window.
#[tokio::test]
#[ignore = "needs llama-server: cargo xtask ci builds and starts it"]
async fn a_long_session_never_overflows_a_4096_token_window() {
    long_session(client("llama", format!("{}/v1", server())), 24, 250).await;
}

/// 200 turns of about 60 words each on a 1,024-token window.
#[tokio::test]
#[ignore = "needs llama-server: cargo xtask ci builds and starts it"]
async fn a_200_turn_session_never_overflows_a_1024_token_window() {
    long_session(client("small", format!("{}/v1", small_server())), 200, 60).await;
}

/// 40 turns of about 60 words each on the 1,024-token window, compacting
/// with the built-in summariser: the thread is summarised (the summary
/// journaled with the range it replaces, and kept beside the messages),
/// and every later turn still answers.
#[tokio::test]
#[ignore = "needs llama-server: cargo xtask ci builds and starts it"]
#[allow(clippy::print_stdout, reason = "the figures are printed for the docs")]
async fn a_compacted_session_on_a_1024_token_window_keeps_answering() {
    let store = InMemoryJournal::new();
    let llm = client("small", format!("{}/v1", small_server()));
    let compaction = Compaction::new(Summarize::new().with_max_tokens(96));
    let agent = Agent::builder(llm)
        .with_instructions("You are a friendly assistant. Answer in one short sentence.")
        .with_options(
            RunOptions::default()
                .with_max_steps(2)
                .with_temperature(Some(0.0))
                .with_max_tokens(Some(16))
                .with_compaction(compaction),
        )
        .with_memory(store.clone())
        .build()
        .unwrap();
    let session = agent.session("compacted");
    let filler = ["river", "lantern", "harbour", "violet", "engine", "meadow"];
    for turn in 0..40 {
        let story: Vec<&str> = (0..60).map(|i| filler[(i + turn) % filler.len()]).collect();
        let prompt = format!("Turn {turn}. Remember these words: {}.", story.join(" "));
        if let Err(e) = session.run(prompt).await {
            panic!("turn {turn} of a compacted session failed: {e}");
        }
    }
    let mut summaries = Vec::new();
    let mut failures = Vec::new();
    for run in store.list_runs().await.unwrap() {
        for episode in store.replay(run).await.unwrap() {
            match episode {
                Episode::Compacted {
                    from,
                    through,
                    summary,
                    ..
                } => summaries.push((from, through, summary)),
                Episode::CompactionFailed { reason, .. } => failures.push(reason),
                _ => {}
            }
        }
    }
    println!(
        "{} compactions in 40 turns; summaries of {:?} bytes",
        summaries.len(),
        summaries.iter().map(|s| s.2.len()).collect::<Vec<_>>()
    );
    assert!(failures.is_empty(), "compactions failed: {failures:?}");
    assert!(summaries.len() >= 2, "{} compactions", summaries.len());
    assert!(
        summaries.iter().all(|(_, _, text)| !text.trim().is_empty()),
        "every summary says something"
    );
    let thread = ThreadId::new("compacted");
    let history = store.load_history(&thread, 100_000, 1).await.unwrap();
    let latest = summaries.last().unwrap();
    assert_eq!(history.summary.map(|s| s.through), Some(latest.1));
    assert_eq!(history.first, Some(latest.1), "read from the summary on");
    let all = store.load(&thread, usize::MAX).await.unwrap();
    assert_eq!(all.len(), 80, "every prompt and answer is kept");
}

/// The server's count of a request's input, over the run's estimate
/// (`Message::estimated_tokens`), for text the estimate handles worst:
/// printed for docs/AGENTS.md, and checked under the scale a run starts
/// with (1.25) so a first request cannot overflow.
#[tokio::test]
#[ignore = "needs llama-server: cargo xtask ci builds and starts it"]
#[allow(
    clippy::print_stdout,
    reason = "the measurement is printed for the docs"
)]
async fn the_estimate_against_llama_servers_counts() {
    let llm = client("llama", format!("{}/v1", server()));
    let prose = "The keeper climbed the stairs at dusk and lit the lamp again. ".repeat(30);
    let json = serde_json::to_string(&json!({"orders": (0..60).map(|i| json!({"id": i, "sku": format!("A-{i:04}"), "qty": i % 7})).collect::<Vec<_>>()})).unwrap();
    let digits: String = (0..400)
        .map(|i| format!("{} ", i * 7919 % 100_003))
        .collect();
    let code =
        "fn main() { let x: Vec<u32> = (0..10).map(|i| i * i).collect(); println!(\"{x:?}\"); }\n"
            .repeat(12);
    for (kind, text) in [
        ("prose", prose),
        ("json", json),
        ("digits", digits),
        ("code", code),
    ] {
        let message = Message::user(text);
        let estimated = message.estimated_tokens();
        let req = ChatRequest::new(vec![message]).with_max_tokens(1);
        let reply = llm.complete(req).await.unwrap();
        let counted = reply
            .usage
            .expect("llama-server reports usage")
            .input_tokens as usize;
        let ratio = counted as f64 / estimated as f64;
        println!("{kind}: {counted} tokens counted, {estimated} estimated, ratio {ratio:.2}");
        assert!(
            ratio < 1.25,
            "{kind}: the server counts {ratio:.2} tokens an estimated one"
        );
    }
}
