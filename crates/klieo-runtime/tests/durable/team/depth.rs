//! A tree of agents calling agents holds at most 32 runs, however its
//! runs were taken up on the way.

use super::super::store::{fresh, Store};
use super::super::support::{count, Counted};
use klieo_runtime::Agent;
use klieo_types::testing::ScriptedLlm;
use klieo_types::{EpisodicMemory, Error, Role, ToolCall};
use serde_json::json;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

/// Runs `tree` on a thread with room for it: each agent's call polls the
/// next's run within its own, and 32 of them take more stack than a test
/// thread has in a debug build.
fn deep(
    tree: impl FnOnce() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>> + Send + 'static,
) {
    let thread = std::thread::Builder::new().stack_size(256 * 1024 * 1024);
    let tree = thread.spawn(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(tree());
    });
    tree.unwrap().join().unwrap();
}

/// 33 agents on `store`, each calling the next (`a0` the root); the one
/// at `watched`, if any, first calls `send_mail`, which needs a person's
/// approval. The root, and each agent's model.
fn chain(
    store: &Store,
    watched: Option<usize>,
    mails: &Arc<AtomicUsize>,
) -> (Agent, Vec<ScriptedLlm>) {
    let ask = || vec![ToolCall::new("c1", "ask", json!({"input": "go on"}))];
    let models: Vec<ScriptedLlm> = (0..33)
        .map(|i| {
            let mut llm = ScriptedLlm::new();
            if watched == Some(i) {
                llm = llm.then_tool_calls(vec![ToolCall::new("m1", "send_mail", json!({}))]);
            }
            llm.then_tool_calls(ask()).then_text(format!("done {i}"))
        })
        .collect();
    let agent = |i: usize| {
        let mut builder = Agent::builder(models[i].clone()).with_name(format!("a{i}"));
        if watched == Some(i) {
            builder = builder.add_tool(Counted::new("send_mail", false, mails).watched());
        }
        builder
    };
    let deepest = super::built(agent(32), store, vec![], super::no_lease());
    let root = (0..32).rev().fold(deepest, |next, i| {
        let builder = agent(i).add_agent_tool("ask", "Asks the next agent.", next);
        super::built(builder, store, vec![], super::no_lease())
    });
    (root, models)
}

/// The tree's end: the 33rd agent never started, the 32nd told why.
async fn stopped_at_32(store: &Store, models: &[ScriptedLlm]) {
    assert!(models[32].requests().is_empty(), "the 33rd is not started");
    let told = models[31].requests().last().cloned().unwrap();
    let result = told.messages.iter().last().unwrap();
    assert_eq!(result.role, Role::Tool);
    assert!(result.content.contains("at most 32"), "{}", result.content);
    assert_eq!(store.list_runs().await.unwrap().len(), 32);
}

#[test]
fn agents_calling_agents_stop_at_the_trees_depth() {
    deep(|| {
        Box::pin(async {
            let (_dir, store) = fresh().await;
            let mails = Arc::new(AtomicUsize::new(0));
            let (root, models) = chain(&store, None, &mails);
            let answer = root.run("go").await.unwrap();
            assert_eq!(answer.text, "done 0");
            stopped_at_32(&store, &models).await;
        })
    });
}

/// An approval takes up every run on the path down to the call it
/// decides: each keeps its place in the tree.
#[test]
fn a_tree_taken_up_by_an_approval_still_stops_at_its_depth() {
    deep(|| {
        Box::pin(async {
            let (_dir, store) = fresh().await;
            let mails = Arc::new(AtomicUsize::new(0));
            let (root, models) = chain(&store, Some(5), &mails);
            let Err(Error::Suspended { ticket, .. }) = root.run("go").await else {
                panic!("a5's mail waits for a person");
            };
            let answer = root.approve(&ticket).await.unwrap();
            assert_eq!(answer.text, "done 0");
            assert_eq!(count(&mails), 1);
            stopped_at_32(&store, &models).await;
        })
    });
}
