//! A child run cut off by its caller: the calling run cancelled, the
//! child is cancelled with it and records its end before the calling run
//! ends, rather than being left `running` without a lease.

use super::super::store::fresh;
use super::super::support::{outcomes, Counted};
use super::{ask, child_of, lookup, no_lease, parent_of};
use klieo_runtime::Agent;
use klieo_types::testing::ScriptedLlm;
use klieo_types::{Episode, EpisodicMemory, Error, ToolCall};
use serde_json::json;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn a_cancelled_run_cancels_its_child_which_records_its_end() {
    let (_dir, store) = fresh().await;
    let (fetches, started) = (Arc::new(AtomicUsize::new(0)), Arc::new(Notify::new()));
    let child_llm =
        ScriptedLlm::new().then_tool_calls(vec![ToolCall::new("f1", "fetch", json!({}))]);
    let fetch = Counted::new("fetch", true, &fetches).hanging(&started);
    let cancel = CancellationToken::new();
    let desk = Agent::builder(ScriptedLlm::new().then_tool_calls(vec![ask("c1", "fetch 1042")]))
        .with_name("desk")
        .add_agent_tool(
            "ask_lookup",
            "Finds orders.",
            lookup(&store, &child_llm, vec![fetch]),
        )
        .with_memory(store.clone())
        .with_options(no_lease())
        .with_cancel(cancel.clone())
        .build()
        .unwrap();

    let running = desk.run("Where is 1042?");
    tokio::pin!(running);
    tokio::select! {
        done = &mut running => panic!("the child's fetch hangs: {done:?}"),
        () = started.notified() => {}
    }
    cancel.cancel();
    let err = running.await.unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err:?}");

    let parent = parent_of(&store, |run| child_of(run, "c1")).await;
    let child = child_of(parent, "c1");
    // The cancelled run waited for its child to record its end.
    let log = store.replay(child).await.unwrap();
    assert_eq!(
        outcomes(&log),
        [
            "started",
            "child_of",
            "llm_call",
            "tool_call:cancelled",
            "failed"
        ],
        "the child ended with its parent"
    );
    assert!(
        matches!(log.last(), Some(Episode::Failed { error }) if error == "cancelled"),
        "{log:?}"
    );
}
