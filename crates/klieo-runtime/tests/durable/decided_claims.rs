//! A decision made with the agent where the run's fleet may claim it: the
//! agent takes the run's lease before it records the decision, so no
//! worker claims the run in between and the agent goes on with it.

use super::store::fresh;
use super::support::{count, AfterCommit, Counted, Hooked};
use klieo_runtime::Agent;
use klieo_types::testing::ScriptedLlm;
use klieo_types::{Episode, Error, RunQueue, ToolCall};
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
    let after: AfterCommit = Arc::new(move |store, episodes| {
        let claims = Arc::clone(&claims);
        Box::pin(async move {
            if episodes
                .iter()
                .any(|e| matches!(e, Episode::Approved { .. }))
            {
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
    let racing = Hooked {
        inner: store.clone(),
        after,
    };
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
