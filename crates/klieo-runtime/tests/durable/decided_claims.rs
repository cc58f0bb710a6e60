//! A decision made with the agent where the run's fleet may claim it: the
//! agent takes the run's lease before it records the decision, so no
//! worker claims the run in between and the agent goes on with it.

use super::store::fresh;
use super::support::{count, Counted, Hooked, OnCommit};
use klieo_runtime::Agent;
use klieo_types::testing::ScriptedLlm;
use klieo_types::{Episode, Error, Journal, RunQueue, ToolCall};
use serde_json::json;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[tokio::test]
async fn an_approval_with_the_agent_is_not_lost_to_a_workers_claim() {
    let (_dir, store) = fresh().await;
    // A worker claims the agent's runs right after each commit that
    // records a decision, as a poll that lands just then does.
    let claimed = Arc::new(Mutex::new(Vec::new()));
    let claims = Arc::clone(&claimed);
    let on_commit: OnCommit = Arc::new(move |store, commit| {
        let claims = Arc::clone(&claims);
        Box::pin(async move {
            let decided = commit
                .episodes
                .iter()
                .any(|e| matches!(e, Episode::Approved { .. }));
            store.commit(commit).await?;
            if decided {
                let agents = ["support".to_owned()];
                let ttl = Duration::from_secs(30);
                let mut got = store.claim("racer", &agents, 1, ttl).await?;
                claims
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .append(&mut got);
            }
            Ok(())
        })
    });
    let racing = Hooked::new(store.clone(), on_commit);
    let works = Arc::new(AtomicUsize::new(0));
    let call = ToolCall::new("c1", "work", json!({}));
    let llm = ScriptedLlm::new()
        .then_tool_calls(vec![call])
        .then_text("Done.");
    let agent = Agent::builder(llm)
        .add_tool(Counted::new("work", false, &works).watched())
        .with_memory(racing)
        .build()
        .expect("the options are valid");
    let Err(Error::Suspended { ticket, .. }) = agent.session("t").run("work").await else {
        panic!("the run waits for a person");
    };
    // The run is the fleet's too: a worker may claim it once decided.
    store.assign(ticket.run, "support").await.unwrap();

    let answer = agent.approve(&ticket).await;
    assert_eq!(answer.map(|a| a.text).ok().as_deref(), Some("Done."));
    let claimed = claimed.lock().unwrap_or_else(|e| e.into_inner());
    assert!(claimed.is_empty(), "a worker claimed it: {claimed:?}");
    assert_eq!(count(&works), 1);
}

#[tokio::test]
async fn the_second_of_two_approvals_in_one_step_is_not_kept_out_by_the_first() {
    let (_dir, store) = fresh().await;
    let works = Arc::new(AtomicUsize::new(0));
    let calls = vec![
        ToolCall::new("c1", "work", json!({"n": 1})),
        ToolCall::new("c2", "work", json!({"n": 2})),
    ];
    let llm = ScriptedLlm::new().then_tool_calls(calls).then_text("Done.");
    let agent = Agent::builder(llm)
        .add_tool(Counted::new("work", false, &works).watched())
        .with_memory(store.clone())
        .build()
        .expect("the options are valid");
    let Err(Error::Suspended { ticket, .. }) = agent.session("t").run("work twice").await else {
        panic!("the run waits for a person");
    };
    // The first approval leaves the run waiting on the second call, its
    // lease let go: the next decision is not refused as another's run.
    let Err(Error::Suspended { ticket: second, .. }) = agent.approve(&ticket).await else {
        panic!("the second call waits");
    };
    assert_ne!(second, ticket);
    let answer = agent.approve(&second).await;
    assert_eq!(answer.map(|a| a.text).ok().as_deref(), Some("Done."));
    assert_eq!(count(&works), 2);
}

#[tokio::test]
async fn an_approval_of_a_cancelled_run_is_a_rejected_ticket() {
    let (_dir, store) = fresh().await;
    let works = Arc::new(AtomicUsize::new(0));
    let call = ToolCall::new("c1", "work", json!({}));
    let llm = ScriptedLlm::new().then_tool_calls(vec![call]);
    let agent = Agent::builder(llm)
        .add_tool(Counted::new("work", false, &works).watched())
        .with_memory(store.clone())
        .build()
        .expect("the options are valid");
    let Err(Error::Suspended { ticket, .. }) = agent.session("t").run("work").await else {
        panic!("the run waits for a person");
    };
    store.cancel(ticket.run, "ops").await.unwrap();
    let refused = agent.approve(&ticket).await;
    assert!(
        matches!(refused, Err(Error::TicketRejected { .. })),
        "{refused:?}"
    );
    assert_eq!(count(&works), 0);
}
