//! A compacted thread read by a run that goes on after approval, and a
//! newest turn that does not fit beside the summary.

use super::*;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Mail {
    /// Who to.
    to: String,
}

/// An agent on `store` that compacts and whose `send_mail` waits for a
/// person.
fn approving(llm: &ScriptedLlm, store: &InMemoryJournal) -> Agent {
    let send =
        klieo_runtime::TypedTool::new("send_mail", "Sends a mail.", |mail: Mail| async move {
            Ok::<_, klieo_types::ToolError>(format!("sent to {}", mail.to))
        })
        .with_approval(true);
    Agent::builder(llm.clone())
        .with_options(options())
        .add_tool(send)
        .with_memory(store.clone())
        .build()
        .unwrap()
}

/// A run on a thread of seven turns in `store` that compacts (its
/// summary `summary`), then waits for approval to send a mail: its ticket.
async fn waiting_to_mail(store: &InMemoryJournal, summary: &str) -> klieo_types::Ticket {
    filled(store, 7).await;
    let call = klieo_types::ToolCall::new("c1", "send_mail", serde_json::json!({"to": "ada"}));
    let first = ScriptedLlm::new()
        .then_text(summary)
        .then_tool_calls(vec![call]);
    mail_ada(&first, store).await
}

/// A run told "mail Ada" on the thread `long` of `store`, by a model that
/// says `llm`'s replies, waiting for approval of the mail: its ticket.
async fn mail_ada(llm: &ScriptedLlm, store: &InMemoryJournal) -> klieo_types::Ticket {
    let error = approving(llm, store)
        .session("long")
        .run("mail Ada")
        .await
        .expect_err("waits for approval");
    let klieo_types::Error::Suspended { ticket, .. } = error else {
        panic!("not suspended: {error}");
    };
    ticket
}

#[tokio::test]
async fn a_compacted_run_goes_on_after_approval_reading_its_summary() {
    let store = InMemoryJournal::new();
    let ticket = waiting_to_mail(&store, "Seven questions; now a mail.").await;
    let kinds: Vec<&str> = store
        .replay(ticket.run)
        .await
        .unwrap()
        .iter()
        .map(Episode::kind)
        .collect();
    assert_eq!(
        kinds,
        ["started", "compacted", "prompt_at", "llm_call", "suspended"]
    );

    // Another process approves: its request reads the journaled summary,
    // and it does not summarise again.
    let later = ScriptedLlm::new().then_text("Sent.");
    let answer = approving(&later, &store).approve(&ticket).await.unwrap();
    assert_eq!(answer.text, "Sent.");
    let requests = later.requests();
    assert_eq!(requests.len(), 1);
    assert!(reads_summary(&requests[0], "Seven questions; now a mail."));
    assert!(!requests[0]
        .messages
        .iter()
        .any(|m| m.content.contains("question 0")));
}

#[tokio::test]
async fn a_run_taken_up_after_approval_never_summarises_its_own_prompt() {
    let store = InMemoryJournal::new();
    filled(&store, 5).await;
    // Its call and result are each past what a compaction keeps: a
    // compaction after the approval has to cut before them.
    let to = "ada ".repeat(120);
    let call = klieo_types::ToolCall::new("c1", "send_mail", serde_json::json!({ "to": to }));
    let first = ScriptedLlm::new().then_tool_calls(vec![call]);
    let ticket = mail_ada(&first, &store).await;
    assert_eq!(first.requests().len(), 1, "the thread was short enough");

    // Another process approves; the mail makes the thread long, and the
    // run compacts it, summarising the turns before its prompt only.
    let later = ScriptedLlm::new()
        .then_text("Five questions.")
        .then_text("Sent.");
    let answer = approving(&later, &store).approve(&ticket).await.unwrap();
    assert_eq!(answer.text, "Sent.");
    let requests = later.requests();
    assert_eq!(requests.len(), 2, "a summary, then the answer");
    assert!(
        !requests[0]
            .messages
            .iter()
            .any(|m| m.content.contains("mail Ada")),
        "the prompt was summarised"
    );
    assert!(reads_summary(&requests[1], "Five questions."));
    assert!(
        requests[1]
            .messages
            .iter()
            .any(|m| m.role == klieo_types::Role::User && m.content == "mail Ada"),
        "the prompt is read as it was said"
    );
}

/// A thread compacted by a first run, then a newest turn that fits the
/// budget of 400 alone, not beside the summary and the rest: the turn,
/// and the request that sent it.
async fn a_turn_too_large_beside_the_summary() -> (String, ChatRequest) {
    let store = InMemoryJournal::new();
    filled(&store, 7).await;
    let llm = ScriptedLlm::new()
        .then_text("Seven questions.")
        .then_text("first")
        .then_text("second");
    let agent = agent(&llm, &store);
    agent.session("long").run("one more").await.unwrap();
    let large = format!("tell me {}", "more ".repeat(300));
    agent.session("long").run(large.clone()).await.unwrap();
    let sent = llm.requests().last().unwrap().clone();
    (large, sent)
}

#[tokio::test]
async fn a_newest_turn_too_large_beside_the_summary_is_sent_without_it() {
    let (large, sent) = a_turn_too_large_beside_the_summary().await;
    assert_eq!(sent.messages.last().unwrap().content, large);
    assert!(!sent
        .messages
        .iter()
        .any(|m| m.content.starts_with(SUMMARY_PREFIX)));
}

/// The newest turn sent without its summary goes in the thread's plain
/// window, cut inside the thread: it opens on the user's words, not on an
/// answer (which Anthropic and alternating chat templates refuse).
#[tokio::test]
async fn a_newest_turn_sent_without_its_summary_opens_on_the_users_words() {
    let (_, sent) = a_turn_too_large_beside_the_summary().await;
    let opens = sent
        .messages
        .iter()
        .find(|m| m.role != klieo_types::Role::System)
        .map(|m| m.role);
    assert_eq!(opens, Some(klieo_types::Role::User), "{sent:?}");
}

#[tokio::test]
async fn a_newest_turn_over_the_budget_is_refused_with_or_without_a_summary() {
    let store = InMemoryJournal::new();
    filled(&store, 7).await;
    let llm = ScriptedLlm::new()
        .then_text("Seven questions.")
        .then_text("first");
    let agent = agent(&llm, &store);
    agent.session("long").run("one more").await.unwrap();
    let huge = "word ".repeat(1_000);
    let error = agent.session("long").run(huge).await.unwrap_err();
    assert!(
        matches!(error, klieo_types::Error::NewestTurnTooLarge { .. }),
        "{error:?}"
    );
    assert_eq!(llm.requests().len(), 2, "no call with the summary alone");
}

#[tokio::test]
async fn a_run_never_summarises_its_own_prompt_and_what_followed() {
    let store = InMemoryJournal::new();
    // A thread of one prompt; the run's tool results then fill the budget.
    let call = |i: usize| {
        klieo_types::ToolCall::new(
            format!("c{i}"),
            "echo",
            serde_json::json!({"text": "word ".repeat(40)}),
        )
    };
    let llm = ScriptedLlm::new()
        .then_tool_calls(vec![call(1)])
        .then_tool_calls(vec![call(2)])
        .then_tool_calls(vec![call(3)])
        .then_text("done");
    let agent = echoing(&llm, &store);
    let answer = agent.session("own").run("echo thrice").await.unwrap();
    assert_eq!(answer.text, "done");
    assert_eq!(llm.requests().len(), 4, "no summary call");
    let log = log(&store, 0).await;
    assert!(!log.iter().any(|e| matches!(
        e,
        Episode::Compacted { .. } | Episode::CompactionFailed { .. }
    )));
}

#[tokio::test]
async fn a_run_whose_compaction_failed_does_not_try_again_after_approval() {
    let store = InMemoryJournal::new();
    // The summary comes back empty: refused, and given up for the run.
    let ticket = waiting_to_mail(&store, "   ").await;

    // Taken up by another process: it asks for no summary.
    let later = ScriptedLlm::new().then_text("Sent.");
    let answer = approving(&later, &store).approve(&ticket).await.unwrap();
    assert_eq!(answer.text, "Sent.");
    assert_eq!(later.requests().len(), 1, "no summary asked for again");
}
