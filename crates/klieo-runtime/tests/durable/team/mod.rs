//! Teams on a journal: an agent as another's tool (`agent_tool`), a call
//! that needs a person inside a child run suspending the whole tree
//! (`waiting`), and hand-offs between a team's agents (`handoff`). Generic over the store, as the other durable scenarios.

mod agent_tool;
mod budget;
mod cut_off;
mod decided_early;
mod depth;
mod ending;
pub(crate) mod handoff;
mod typed;
mod waiting;

use super::store::Store;
use super::support::Counted;
use klieo_runtime::{Agent, AgentBuilder, RunOptions};
use klieo_types::testing::ScriptedLlm;
use klieo_types::{EpisodicMemory, Message, RunId, ShortTermMemory, ThreadId, ToolCall};
use serde_json::json;
use tokio::sync::Notify;

/// A killed process's lease would keep others out until it ran out.
pub(crate) fn no_lease() -> RunOptions {
    RunOptions::default().with_lease_ttl(None)
}

/// `builder` with `tools`, on `store`, with `options`, built.
pub(crate) fn built(
    builder: AgentBuilder,
    store: &Store,
    tools: Vec<Counted>,
    options: RunOptions,
) -> Agent {
    let mut builder = builder;
    for tool in tools {
        builder = builder.add_tool(tool);
    }
    builder
        .with_memory(store.clone())
        .with_options(options)
        .build()
        .unwrap()
}

/// A `lookup` agent on `store` with `llm` and `tools`.
pub(crate) fn lookup(store: &Store, llm: &ScriptedLlm, tools: Vec<Counted>) -> Agent {
    let builder = Agent::builder(llm.clone()).with_name("lookup");
    built(builder, store, tools, no_lease())
}

/// A `desk` agent on `store` with `llm`, `lookup` as its tool `ask_lookup`
/// and `tools`.
pub(crate) fn desk(store: &Store, llm: &ScriptedLlm, lookup: Agent, tools: Vec<Counted>) -> Agent {
    desk_with(store, llm, lookup, tools, no_lease())
}

/// [`desk`], with `options` (calls one at a time).
pub(crate) fn desk_with(
    store: &Store,
    llm: &ScriptedLlm,
    lookup: Agent,
    tools: Vec<Counted>,
    options: RunOptions,
) -> Agent {
    let builder = Agent::builder(llm.clone())
        .with_name("desk")
        .add_agent_tool("ask_lookup", "Finds orders.", lookup);
    built(builder, store, tools, options.with_tool_concurrency(1))
}

pub(crate) fn ask(id: &str, input: &str) -> ToolCall {
    ToolCall::new(id, "ask_lookup", json!({ "input": input }))
}

/// The child run a call `call` of step 1 of `parent` starts.
pub(crate) fn child_of(parent: RunId, call: &str) -> RunId {
    parent.child(&format!("{parent}:1:{call}"))
}

/// Runs `desk` on "Where is 1042?" until its hanging tool starts, then
/// drops it there, as a killed process stops; returns its run (the
/// parent of `c1`'s child). A write the dropped run had begun (a result
/// written early while the tool ran) lands first on a store with one
/// writer, as it would have before a killed process died.
pub(crate) async fn stopped_while_hanging(store: &Store, desk: Agent, started: &Notify) -> RunId {
    tokio::select! {
        done = desk.run("Where is 1042?") => panic!("the tool hangs: {done:?}"),
        () = started.notified() => {}
    }
    drop(desk);
    store
        .append(&ThreadId::new("barrier"), vec![Message::user("-")])
        .await
        .unwrap();
    parent_of(store, |run| child_of(run, "c1")).await
}

/// The store's run that is not `child`.
pub(crate) async fn parent_of(store: &Store, child: impl Fn(RunId) -> RunId) -> RunId {
    let runs = store.list_runs().await.unwrap();
    let parent = runs.iter().copied().find(|&run| runs.contains(&child(run)));
    parent.expect("a run whose child is in the store")
}
