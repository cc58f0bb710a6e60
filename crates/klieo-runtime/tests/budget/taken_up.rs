//! Budgets of runs taken up again (approved, resumed, or read by another
//! process): what their logs say they spent, and how their next call is
//! sized.

use super::*;

/// A run of an agent with `budget` and `llm` whose `work` needs approval,
/// on `store`, waiting for it: its ticket.
async fn waiting(
    llm: &ScriptedLlm,
    budget: &Budget,
    store: &InMemoryJournal,
    runs: &Arc<AtomicUsize>,
) -> klieo_types::Ticket {
    suspended(&agent(llm, budget.clone(), store, runs, true)).await
}

/// A run of `agent` told "go", waiting for a person: its ticket.
async fn suspended(agent: &Agent) -> klieo_types::Ticket {
    let error = agent
        .session("t")
        .run("go")
        .await
        .expect_err("waits for approval");
    match error {
        Error::Suspended { ticket, .. } => ticket,
        other => panic!("not suspended: {other:?}"),
    }
}

#[tokio::test]
async fn a_run_taken_up_again_counts_what_its_log_says_it_spent() {
    let store = InMemoryJournal::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let budget = Budget::new().with_total_tokens(100);
    let first = ScriptedLlm::new().then_reply(reported(calls(1), 70, 25));
    let ticket = waiting(&first, &budget, &store, &runs).await;

    // Another process approves: the call runs, and the next model call
    // would pass the 95 tokens the log records.
    let later_llm = ScriptedLlm::new().then_reply(reported(text("done"), 1, 1));
    let later = agent(&later_llm, budget, &store, &runs, true);
    let error = later.approve(&ticket).await.expect_err("over budget");
    assert!(
        matches!(
            error,
            Error::BudgetExceeded {
                limit: BudgetLimit::TotalTokens,
                spent: 95,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the approved call ran");
    assert!(later_llm.requests().is_empty(), "no call over budget");
}

/// A run taken up again sizes its next call by what its last call
/// reported, as it would have gone on: 4,000 bytes of instructions are
/// bounded at about 4,000 tokens, and the first call reported 1,100; the
/// call after the approval fits 4,400 tokens only when sized by that
/// report (before, a run taken up again forgot it and was refused).
#[tokio::test]
async fn a_run_taken_up_again_sizes_its_next_call_by_what_its_last_reported() {
    let store = InMemoryJournal::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let with_instructions = |llm: &ScriptedLlm| {
        let budget = Budget::new().with_total_tokens(4_400);
        builder(llm, budget, &store, &runs, true)
            .with_instructions("x".repeat(4_000))
            .build()
            .expect("the options are valid")
    };
    let first = ScriptedLlm::new().then_reply(reported(calls(1), 1_100, 25));
    let ticket = suspended(&with_instructions(&first)).await;

    let later_llm = ScriptedLlm::new().then_reply(reported(text("done"), 1_150, 5));
    let answer = with_instructions(&later_llm).approve(&ticket).await;
    assert_eq!(answer.map(|a| a.text).ok().as_deref(), Some("done"));
    let sent = later_llm.requests();
    assert_eq!(sent.len(), 1, "the call after the approval was made");
    assert!(
        sent[0].max_tokens.is_some_and(|max| max > 2_000),
        "its reply may take what the report leaves: {:?}",
        sent[0].max_tokens
    );
}

#[tokio::test]
async fn an_approved_call_counts_against_the_tool_call_budget_of_the_run_taken_up() {
    let store = InMemoryJournal::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let budget = Budget::new().with_tool_calls(1);
    let first = ScriptedLlm::new().then_reply(calls(1));
    let ticket = waiting(&first, &budget, &store, &runs).await;

    // Another process approves: the call it waited on was counted when
    // the model asked for it, so the next reply's call passes the limit.
    let later_llm = ScriptedLlm::new().then_reply(calls(1));
    let later = agent(&later_llm, budget, &store, &runs, true);
    let error = later.approve(&ticket).await.expect_err("over budget");
    assert!(
        matches!(
            error,
            Error::BudgetExceeded {
                limit: BudgetLimit::ToolCalls,
                max: 1,
                spent: 1,
                needed: 1
            }
        ),
        "{error:?}"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the approved call ran");
}

/// What each `LlmCall` of the one run in `store` was counted as, as
/// (step, input, output, estimated).
async fn settled(store: &InMemoryJournal) -> Vec<(u32, u64, u64, bool)> {
    let run = store.list_runs().await.unwrap()[0];
    let log = store.replay(run).await.unwrap();
    log.iter()
        .filter_map(|e| match e {
            Episode::LlmCall {
                step,
                spend: Some(spend),
                ..
            } => Some((
                *step,
                spend.input_tokens,
                spend.output_tokens,
                spend.estimated,
            )),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn an_estimated_spend_is_logged_and_counted_again_by_another_process() {
    let store = InMemoryJournal::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let budget = Budget::new().with_total_tokens(1_000_000);
    // The server reports no usage: the call is counted as estimated.
    let first = ScriptedLlm::new().then_reply(calls(1));
    let ticket = waiting(&first, &budget, &store, &runs).await;
    let logged = settled(&store).await;
    let [(1, input, output, true)] = logged[..] else {
        panic!("one estimated call: {logged:?}");
    };
    assert!(input > 0 && output > 0, "{logged:?}");

    // Another process approves; its next call reports usage, and the
    // run's spend starts from the estimate, not from nothing.
    let later_llm = ScriptedLlm::new().then_reply(reported(text("done"), 7, 3));
    let later = agent(&later_llm, budget, &store, &runs, true);
    let mut events = later.approve_stream(&ticket);
    let mut spent = Vec::new();
    while let Some(event) = events.next().await {
        if let RunEvent::BudgetSpent { step, spent: s } = event.unwrap() {
            spent.push((step, s.input_tokens, s.output_tokens, s.model_calls));
        }
    }
    assert_eq!(spent, [(2, input + 7, output + 3, 2)]);
    assert_eq!(
        settled(&store).await,
        [(1, input, output, true), (2, 7, 3, false)]
    );
}
