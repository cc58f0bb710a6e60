//! Compaction: a thread past its trigger is summarised by the strategy,
//! the summary kept in the journal with the range it replaces and read by
//! every later request; a strategy that fails or returns nothing leaves
//! the history as it was, and the run goes on.

use klieo_runtime::compaction::{Compaction, Summarize};
use klieo_runtime::{Agent, RunEvent, RunOptions};
use klieo_store::InMemoryJournal;
use klieo_types::testing::ScriptedLlm;
use klieo_types::{
    ChatRequest, Episode, EpisodicMemory, LlmError, Message, ShortTermMemory, ThreadId,
    SUMMARY_PREFIX,
};

/// The history budget of these runs, in estimated tokens.
const BUDGET: usize = 400;

/// Runs that compact at 75% of a 400-token history, keeping 25%.
fn options() -> RunOptions {
    RunOptions::default()
        .with_max_history_tokens(BUDGET)
        .with_compaction(Compaction::new(Summarize::new()))
}

fn agent(llm: &ScriptedLlm, store: &InMemoryJournal) -> Agent {
    Agent::builder(llm.clone())
        .with_instructions("Answer briefly.")
        .with_options(options())
        .with_memory(store.clone())
        .build()
        .unwrap()
}

/// An agent on `store` that compacts, with an `echo` tool.
fn echoing(llm: &ScriptedLlm, store: &InMemoryJournal) -> Agent {
    let echo = klieo_types::FnTool::new(
        klieo_types::ToolDef::new("echo", "echoes", serde_json::json!({"type": "object"})),
        Ok,
    );
    Agent::builder(llm.clone())
        .with_options(options())
        .add_tools(klieo_types::ToolSet::new().add_tool(echo))
        .with_memory(store.clone())
        .build()
        .unwrap()
}

/// A thread of `turns` question-and-answer turns, about 40 tokens each.
async fn filled(store: &InMemoryJournal, turns: usize) -> ThreadId {
    let thread = ThreadId::new("long");
    let mut messages = Vec::new();
    for turn in 0..turns {
        messages.push(Message::user(format!(
            "question {turn} {}",
            "word ".repeat(30)
        )));
        messages.push(Message::assistant(format!("answer {turn}")));
    }
    store.append(&thread, messages).await.unwrap();
    thread
}

/// The one run's log in `store`, and its kinds.
async fn log(store: &InMemoryJournal, index: usize) -> Vec<Episode> {
    let runs = store.list_runs().await.unwrap();
    store.replay(runs[index]).await.unwrap()
}

fn reads_summary(req: &ChatRequest, text: &str) -> bool {
    req.messages
        .iter()
        .any(|m| m.content == format!("{SUMMARY_PREFIX}{text}"))
}

#[tokio::test]
async fn a_thread_past_its_trigger_is_summarised_and_the_summary_journaled() {
    let store = InMemoryJournal::new();
    // Seven turns (about 370 tokens with the prompt) load whole and pass
    // the trigger of 300.
    filled(&store, 7).await;
    let llm = ScriptedLlm::new()
        .then_text("The user asked seven questions.")
        .then_text("done");
    let answer = agent(&llm, &store).session("long").run("one more").await;
    assert_eq!(answer.unwrap().text, "done");

    let requests = llm.requests();
    assert_eq!(requests.len(), 2, "the summary call, then the run's");
    assert!(requests[0]
        .messages
        .iter()
        .any(|m| m.content.contains("question 0")));
    let sent = &requests[1];
    assert!(reads_summary(sent, "The user asked seven questions."));
    assert!(
        !sent
            .messages
            .iter()
            .any(|m| m.content.contains("question 0")),
        "the replaced messages are not sent"
    );
    assert_eq!(sent.messages.last().unwrap().content, "one more");

    let log = log(&store, 0).await;
    let (from, through) = log
        .iter()
        .find_map(|e| match e {
            Episode::Compacted {
                step: 1,
                from,
                through,
                summary,
                ..
            } => {
                assert_eq!(summary, "The user asked seven questions.");
                Some((*from, *through))
            }
            _ => None,
        })
        .expect("a Compacted episode");
    assert_eq!(from, 0);
    // Kept: the newest quarter of the budget (100 tokens) moved back to
    // a message that is not a tool result: answer 5, question 6,
    // answer 6 and the prompt (about 65 tokens; question 5 would pass
    // 100).
    assert_eq!(through, 11);
    assert!(requests[0]
        .messages
        .iter()
        .any(|m| m.content.contains("answer 4")));
    assert!(!requests[0]
        .messages
        .iter()
        .any(|m| m.content.contains("answer 5")));
    // Nothing was deleted.
    let all = store
        .load(&ThreadId::new("long"), usize::MAX)
        .await
        .unwrap();
    assert_eq!(all.len(), 16, "seven turns, the prompt and the answer");
    assert_eq!(
        all.get(0).unwrap().content,
        format!("question 0 {}", "word ".repeat(30))
    );
}

#[tokio::test]
async fn a_later_run_reads_the_summary_without_compacting_again() {
    let store = InMemoryJournal::new();
    filled(&store, 7).await;
    let llm = ScriptedLlm::new()
        .then_text("Ten questions so far.")
        .then_text("first")
        .then_text("second");
    let agent = agent(&llm, &store);
    agent.session("long").run("one more").await.unwrap();
    agent.session("long").run("and another").await.unwrap();

    let requests = llm.requests();
    assert_eq!(requests.len(), 3, "one summary call for both runs");
    assert!(reads_summary(&requests[2], "Ten questions so far."));
    assert!(!log(&store, 1)
        .await
        .iter()
        .any(|e| matches!(e, Episode::Compacted { .. })));
}

#[tokio::test]
async fn a_second_compaction_takes_up_where_the_first_stopped() {
    let store = InMemoryJournal::new();
    filled(&store, 7).await;
    let llm = ScriptedLlm::new()
        .then_text("Ten questions.")
        .then_text("first")
        .then_text("Twenty questions.")
        .then_text("second");
    let agent = agent(&llm, &store);
    agent.session("long").run("one more").await.unwrap();
    let thread = ThreadId::new("long");
    let more: Vec<Message> = (7..12)
        .flat_map(|turn| {
            [
                Message::user(format!("question {turn} {}", "word ".repeat(30))),
                Message::assistant(format!("answer {turn}")),
            ]
        })
        .collect();
    store.append(&thread, more).await.unwrap();
    agent.session("long").run("again").await.unwrap();

    let requests = llm.requests();
    assert!(
        requests[2]
            .messages
            .get(1)
            .unwrap()
            .content
            .contains("Summary so far:\nTen questions."),
        "the strategy is given the summary it replaces"
    );
    assert!(reads_summary(&requests[3], "Twenty questions."));
    let first = log(&store, 0).await;
    let second = log(&store, 1).await;
    let through = |log: &[Episode]| {
        log.iter().find_map(|e| match e {
            Episode::Compacted { from, through, .. } => Some((*from, *through)),
            _ => None,
        })
    };
    let (_, first_through) = through(&first).unwrap();
    let (from, second_through) = through(&second).unwrap();
    assert_eq!(from, first_through);
    assert!(second_through > first_through);
}

#[tokio::test]
async fn a_streamed_run_hands_out_the_compaction_as_an_event() {
    let store = InMemoryJournal::new();
    filled(&store, 7).await;
    let llm = ScriptedLlm::new()
        .then_text("Ten questions.")
        .then_text("done");
    let agent = agent(&llm, &store);
    let mut events = agent.session("long").stream("one more");
    let mut compacted = None;
    while let Some(event) = events.next().await {
        if let RunEvent::Compacted {
            step,
            from,
            summary,
            ..
        } = event.unwrap()
        {
            compacted = Some((step, from, summary));
        }
    }
    assert_eq!(compacted, Some((1, 0, "Ten questions.".to_owned())));
}

/// Two long messages (about 254 tokens each) and a short prompt: the
/// window holds the second and the prompt, under the trigger, and leaves
/// the first out. They are summarised, not left to reach the model
/// neither whole nor summed up.
#[tokio::test]
async fn a_large_message_does_not_push_older_ones_out_unsummarised() {
    let store = InMemoryJournal::new();
    let thread = ThreadId::new("long");
    let long = "word ".repeat(200);
    let messages = vec![Message::user(long.clone()), Message::assistant(long)];
    store.append(&thread, messages).await.unwrap();
    let llm = ScriptedLlm::new()
        .then_text("Part one.")
        .then_text("Two long messages.")
        .then_text("done");
    let answer = agent(&llm, &store).session("long").run("one more").await;
    assert_eq!(answer.unwrap().text, "done");
    let requests = llm.requests();
    let sent = requests.last().unwrap();
    assert!(reads_summary(sent, "Two long messages."), "{sent:?}");
    let compacted = log(&store, 0).await.iter().find_map(|e| match e {
        Episode::Compacted { from, through, .. } => Some((*from, *through)),
        _ => None,
    });
    assert_eq!(compacted, Some((0, 2)));
}

#[tokio::test]
async fn a_short_thread_is_not_compacted() {
    let store = InMemoryJournal::new();
    filled(&store, 2).await;
    let llm = ScriptedLlm::new().then_text("done");
    agent(&llm, &store).session("long").run("hi").await.unwrap();
    assert_eq!(llm.requests().len(), 1);
}

#[test]
fn a_compaction_has_a_span_with_the_range_it_replaced() {
    let ((), captured) = crate::tracing_spans::capture::captured(|| async {
        let store = InMemoryJournal::new();
        filled(&store, 7).await;
        let llm = ScriptedLlm::new()
            .then_text("Seven questions.")
            .then_text("done");
        agent(&llm, &store).session("long").run("hi").await.unwrap();
    });
    let spans = captured.named("compaction");
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].get("klieo.compaction.from"), Some("0"));
    let through: u64 = spans[0]
        .get("klieo.compaction.through")
        .unwrap()
        .parse()
        .unwrap();
    assert!(through > 0);
    for field in ["klieo.compaction.from", "klieo.compaction.through"] {
        let signed = spans[0].signed.iter().any(|f| f == field);
        assert!(
            signed,
            "{field} is a signed integer, as OpenTelemetry's are"
        );
    }
    assert_eq!(spans[0].get("klieo.step"), Some("1"));
    assert_eq!(spans[0].get("otel.status_code"), None, "no error");
}

mod failures;
mod memories;
mod resume;
mod strategies;
mod team;
