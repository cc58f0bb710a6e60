//! A parent's budget covers its children (agents used as tools): a
//! child's calls count against what the parent's budget has left and
//! in the parent's spend, and a parent taken up again counts what its
//! children's logs record.

use super::super::store::{fresh, Store};
use super::super::support::{outcomes, Counted};
use super::{ask, child_of, desk_with, lookup, no_lease, parent_of, stopped_while_hanging};
use klieo_runtime::{Agent, Budget};
use klieo_types::testing::ScriptedLlm;
use klieo_types::{
    BudgetLimit, ChatResponse, EpisodicMemory, Error, FinishReason, Message, ToolCall, Usage,
};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

/// A desk on `store` with `llm`, under a budget of `model_calls`, whose
/// tool `ask_lookup` is `lookup`, with `tools`.
fn budgeted_desk(
    store: &Store,
    llm: &ScriptedLlm,
    model_calls: u64,
    lookup: Agent,
    tools: Vec<Counted>,
) -> Agent {
    let budget = Budget::new().with_model_calls(model_calls);
    desk_with(store, llm, lookup, tools, no_lease().with_budget(budget))
}

/// A desk on `store` under a budget of `model_calls` that asks a lookup
/// agent, which fetches, then answers; the desk answers `answer` after;
/// and the lookup's model.
fn asking_desk(store: &Store, model_calls: u64, answer: &str) -> (Agent, ScriptedLlm) {
    let fetches = Arc::new(AtomicUsize::new(0));
    let child_llm = ScriptedLlm::new()
        .then_tool_calls(vec![ToolCall::new("f1", "fetch", json!({}))])
        .then_text("Fetched 1042.");
    let parent_llm = ScriptedLlm::new()
        .then_tool_calls(vec![ask("c1", "fetch 1042")])
        .then_text(answer);
    let fetch = Counted::new("fetch", true, &fetches);
    let lookup = lookup(store, &child_llm, vec![fetch]);
    let desk = budgeted_desk(store, &parent_llm, model_calls, lookup, vec![]);
    (desk, child_llm)
}

#[tokio::test]
async fn a_parents_budget_counts_its_childs_model_calls() {
    let (_dir, store) = fresh().await;
    let (desk, child_llm) = asking_desk(&store, 3, "1042 is on its way.");

    // The desk's first call and the child's two spend the budget of 3.
    let err = desk.run("Where is 1042?").await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::BudgetExceeded {
                limit: BudgetLimit::ModelCalls,
                max: 3,
                spent: 3,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(child_llm.requests().len(), 2, "the child answered");
}

#[tokio::test]
async fn a_child_past_what_its_parents_budget_left_is_refused() {
    let (_dir, store) = fresh().await;
    let (desk, child_llm) = asking_desk(&store, 2, "The lookup ran out of budget.");

    let err = desk.run("Where is 1042?").await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::BudgetExceeded {
                limit: BudgetLimit::ModelCalls,
                max: 2,
                spent: 2,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        child_llm.requests().len(),
        1,
        "the child's second call is not made"
    );
    let parent = parent_of(&store, |run| child_of(run, "c1")).await;
    let child_log = outcomes(&store.replay(child_of(parent, "c1")).await.unwrap());
    assert_eq!(
        child_log[child_log.len() - 2..],
        ["budget_refused", "failed"],
        "{child_log:?}"
    );
}

#[tokio::test]
async fn a_parent_taken_up_again_counts_what_its_children_spent() {
    let (_dir, store) = fresh().await;
    let (marks, started) = (Arc::new(AtomicUsize::new(0)), Arc::new(Notify::new()));
    let parent = {
        let child_llm = ScriptedLlm::new().then_text("Order 1042 shipped.");
        let mark = Counted::new("mark", true, &marks).hanging(&started);
        let parent_llm = ScriptedLlm::new().then_tool_calls(vec![
            ask("c1", "When did 1042 ship?"),
            ToolCall::new("c2", "mark", json!({})),
        ]);
        let lookup = lookup(&store, &child_llm, vec![]);
        let desk = budgeted_desk(&store, &parent_llm, 2, lookup, vec![mark]);
        stopped_while_hanging(&store, desk, &started).await
    };

    // The desk made one call and its child one: the budget of 2 is spent.
    let parent_llm = ScriptedLlm::new().then_text("It shipped.");
    let lookup = lookup(&store, &ScriptedLlm::new(), vec![]);
    let mark = Counted::new("mark", true, &marks);
    let desk = budgeted_desk(&store, &parent_llm, 2, lookup, vec![mark]);
    let err = desk.resume(parent).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::BudgetExceeded {
                limit: BudgetLimit::ModelCalls,
                spent: 2,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(parent_llm.requests().is_empty());
}

#[tokio::test]
async fn a_child_taken_up_after_a_decision_keeps_what_it_spent_before() {
    let (_dir, store) = fresh().await;
    let sends = Arc::new(AtomicUsize::new(0));
    let make = |child_llm: &ScriptedLlm, parent_llm: &ScriptedLlm| {
        let send = Counted::new("send", false, &sends).watched();
        let lookup = lookup(&store, child_llm, vec![send]);
        budgeted_desk(&store, parent_llm, 3, lookup, vec![])
    };
    let child_llm = ScriptedLlm::new()
        .then_tool_calls(vec![ToolCall::new("s1", "send", json!({}))])
        .then_text("Sent.");
    let parent_llm = ScriptedLlm::new()
        .then_tool_calls(vec![ask("c1", "send it")])
        .then_text("Done.");
    let Err(Error::Suspended { ticket, .. }) = make(&child_llm, &parent_llm).run("Send it.").await
    else {
        panic!("the child's send waits for a person");
    };

    // The desk's call and the child's two spend the budget of 3: the
    // desk's answer is one call too many.
    let err = make(&child_llm, &parent_llm)
        .approve(&ticket)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::BudgetExceeded {
                limit: BudgetLimit::ModelCalls,
                spent: 3,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(child_llm.requests().len(), 2, "the child answered");
}

#[tokio::test]
async fn a_grandchilds_calls_count_against_the_roots_budget() {
    let (_dir, store) = fresh().await;
    let grand_llm = ScriptedLlm::new().then_text("Found it.");
    let grand = lookup(&store, &grand_llm, vec![]);
    let middle_llm = ScriptedLlm::new()
        .then_tool_calls(vec![ask("m1", "find it")])
        .then_text("It is found.");
    let middle = Agent::builder(middle_llm.clone())
        .with_name("middle")
        .add_agent_tool("ask_lookup", "Finds orders.", grand)
        .with_memory(store.clone())
        .with_options(no_lease())
        .build()
        .unwrap();
    let root_llm = ScriptedLlm::new()
        .then_tool_calls(vec![ask("c1", "find it")])
        .then_text("Done.");
    let root = desk_with(
        &store,
        &root_llm,
        middle,
        vec![],
        no_lease().with_budget(Budget::new().with_model_calls(4)),
    );

    // The root's call, the middle agent's two and its child's one.
    let err = root.run("Find it.").await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::BudgetExceeded {
                limit: BudgetLimit::ModelCalls,
                spent: 4,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(grand_llm.requests().len(), 1);
}

fn reported(mut reply: ChatResponse, input: u32, output: u32) -> ChatResponse {
    reply.usage = Some(Usage::new(input, output));
    reply
}

/// A desk under a budget of 4,400 tokens whose child, `lookup`, has 4,000
/// bytes of instructions (bounded at about 4,000 tokens until a call
/// reports) and fetches once: its first call reports 300 input tokens, so
/// its second fits the desk's budget only when sized by that report.
struct SizedChild {
    child_llm: ScriptedLlm,
    parent_llm: ScriptedLlm,
    fetches: Arc<AtomicUsize>,
}

impl SizedChild {
    fn new() -> Self {
        let fetch = ChatResponse::new(
            Message::assistant_tool_calls("", vec![ToolCall::new("f1", "fetch", json!({}))]),
            FinishReason::ToolCalls,
        );
        let done = |text: &str| ChatResponse::new(Message::assistant(text), FinishReason::Stop);
        let asking = ChatResponse::new(
            Message::assistant_tool_calls("", vec![ask("c1", "fetch 1042")]),
            FinishReason::ToolCalls,
        );
        Self {
            child_llm: ScriptedLlm::new()
                .then_reply(reported(fetch, 300, 10))
                .then_reply(reported(done("Fetched."), 310, 5)),
            parent_llm: ScriptedLlm::new()
                .then_reply(reported(asking, 50, 10))
                .then_reply(reported(done("Done."), 60, 5)),
            fetches: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The desk on `store`; the child's fetch waits for a person when
    /// `watched`.
    fn desk(&self, store: &Store, watched: bool) -> Agent {
        let mut fetch = Counted::new("fetch", true, &self.fetches);
        if watched {
            fetch = fetch.watched();
        }
        let lookup = Agent::builder(self.child_llm.clone())
            .with_name("lookup")
            .with_instructions("x".repeat(4_000))
            .add_tool(fetch)
            .with_memory(store.clone())
            .with_options(no_lease())
            .build()
            .unwrap();
        let budget = Budget::new().with_total_tokens(4_400);
        let options = no_lease().with_budget(budget);
        desk_with(store, &self.parent_llm, lookup, vec![], options)
    }
}

#[tokio::test]
async fn a_childs_later_calls_are_sized_by_what_its_first_reported() {
    let (_dir, store) = fresh().await;
    let sized = SizedChild::new();
    let answer = sized.desk(&store, false).run("Fetch it.").await.unwrap();
    assert_eq!(answer.text, "Done.");
    assert_eq!(
        sized.child_llm.requests().len(),
        2,
        "the child's second call was made"
    );
}

/// A child taken up after a person's decision sizes its next call by what
/// its last one reported, as under its parent's budget it would have gone
/// on: the call after the approval fits the parent's 4,400 tokens only
/// when sized by the child's first report (before, a child taken up again
/// forgot it and was refused).
#[tokio::test]
async fn a_child_taken_up_sizes_its_next_call_by_what_its_last_reported() {
    let (_dir, store) = fresh().await;
    let sized = SizedChild::new();
    let desk = || sized.desk(&store, true);
    let Err(Error::Suspended { ticket, .. }) = desk().run("Fetch it.").await else {
        panic!("the child's fetch waits for a person");
    };
    let answer = desk().approve(&ticket).await.unwrap();
    assert_eq!(answer.text, "Done.");
    let fetched = sized.fetches.load(Ordering::SeqCst);
    assert_eq!(fetched, 1, "the approved fetch ran");
    assert_eq!(
        sized.child_llm.requests().len(),
        2,
        "the child's call after the approval was made"
    );
}
