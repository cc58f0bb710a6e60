//! `klieo resume`: a run an agent drove in its own process, which
//! stopped, handed to workers that finish it; a suspended one handed on
//! before a person decides; runs that cannot go on refused.

use crate::{klieo, ok_json, refused, store, Mail};
use klieo::prelude::*;
use klieo::runtime::{wait, AgentBuilder, Journaled, TypedTool};
use klieo::sqlite::SqliteStore;
use klieo::types::testing::ScriptedLlm;
use klieo::types::{RunCatalog, RunQuery, ToolError};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Longer than any of these runs takes; a bound, not a timing.
const WITHIN: Duration = Duration::from_secs(60);

/// An agent on `store` with `llm` and a `send_mail` tool that needs a
/// person's approval.
fn mailer(llm: ScriptedLlm, store: &SqliteStore) -> AgentBuilder<Journaled> {
    let send = TypedTool::new("send_mail", "Sends a mail.", |mail: Mail| async move {
        Ok::<_, ToolError>(format!("sent to {}", mail.to))
    })
    .with_approval(true);
    Agent::builder(llm)
        .add_tool(send)
        .with_memory(store.clone())
}

/// A model that mails Ada.
fn mailing_ada() -> ScriptedLlm {
    let mail = ToolCall::new("m1", "send_mail", json!({"to": "ada"}));
    ScriptedLlm::new().then_tool_calls(vec![mail])
}

/// An agent on `store` whose idempotent `fetch` tool, with `started`,
/// says so when it starts and never ends; leases off, as after a killed
/// process whose lease ran out.
fn fetcher(llm: ScriptedLlm, store: &SqliteStore, started: Option<Arc<Notify>>) -> Agent {
    let fetch = TypedTool::new("fetch", "Fetches a page.", move |_: Mail| {
        let started = started.clone();
        async move {
            if let Some(started) = started {
                started.notify_one();
                std::future::pending::<()>().await;
            }
            Ok::<_, ToolError>("the page")
        }
    })
    .with_idempotent(true);
    Agent::builder(llm)
        .add_tool(fetch)
        .with_memory(store.clone())
        .with_options(RunOptions::default().with_lease_ttl(None))
        .build()
        .unwrap()
}

/// A worker on `store` driving `agent` as `support`, until cancelled.
fn start_worker(store: &SqliteStore, agent: Agent) -> CancellationToken {
    let worker = Worker::builder(store.clone())
        .add_agent("support", agent)
        .with_options(WorkerOptions::new().with_poll_interval(Duration::from_millis(20)))
        .build()
        .unwrap();
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    tokio::spawn(async move { worker.run(token).await });
    shutdown
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_process_stopped_is_finished_by_the_workers_it_is_handed_to() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fetch.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let started = Arc::new(Notify::new());
    let call = ToolCall::new("c1", "fetch", json!({"to": "ada"}));
    let first = fetcher(
        ScriptedLlm::new().then_tool_calls(vec![call]),
        &store,
        Some(Arc::clone(&started)),
    );
    let session = first.session("fetching");
    let running = session.run("fetch Ada's page");
    tokio::select! {
        done = running => panic!("fetch hangs: {done:?}"),
        () = started.notified() => {}
    }
    drop(first);
    let listed = store.runs(&RunQuery::new()).await.unwrap();
    let [entry] = listed.runs.as_slice() else {
        panic!("one run: {listed:?}");
    };
    let run = entry.run;
    let spec = format!("sqlite://{}", path.display());
    let id = run.to_string();
    refused(&klieo(&spec, &["resume", &id]), "was never submitted");

    let handed = ok_json(&spec, &["--json", "resume", &id, "--agent", "support"]);
    assert_eq!(handed["state"], "running");
    assert_eq!(handed["agent"], "support");
    let llm = ScriptedLlm::new().then_text("Fetched.");
    let shutdown = start_worker(&store, fetcher(llm.clone(), &store, None));
    let state = wait(&store, run, WITHIN).await.unwrap();
    shutdown.cancel();
    assert_eq!(
        state,
        RunState::Completed {
            answer: "Fetched.".into()
        },
        "a worker of the agent it was handed to finishes it"
    );
    let read = llm.requests()[0]
        .messages
        .iter()
        .any(|m| m.role == Role::Tool && m.content.contains("the page"));
    assert!(
        read,
        "the worker ran the stopped call again and the model read it"
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspended_run_handed_to_workers_is_taken_up_once_decided() {
    let dir = tempfile::tempdir().unwrap();
    let (path, done, waiting) = store(dir.path()).await;
    let spec = format!("sqlite://{}", path.display());
    let id = waiting.to_string();
    let text = klieo(&spec, &["resume", &id, "--agent", "support"]);
    let said = String::from_utf8(text.stdout).unwrap();
    assert!(said.contains("waits for a person"), "{said}");
    let shown = ok_json(&spec, &["--json", "runs", "show", &id]);
    let ticket = shown["waits_for"]["ticket"].as_str().unwrap().to_owned();
    ok_json(&spec, &["--json", "approve", &ticket, "--by", "grace"]);

    let store = SqliteStore::open(&path).await.unwrap();
    let llm = ScriptedLlm::new().then_text("Sent.");
    let mailer = mailer(llm, &store).build().unwrap();
    let shutdown = start_worker(&store, mailer);
    let state = wait(&store, waiting, WITHIN).await.unwrap();
    shutdown.cancel();
    assert_eq!(
        state,
        RunState::Completed {
            answer: "Sent.".into()
        }
    );
    store.close().await;

    refused(
        &klieo(&spec, &["resume", &done.to_string(), "--agent", "support"]),
        "is already completed",
    );
    refused(
        &klieo(
            &spec,
            &["resume", &RunId::new().to_string(), "--agent", "x"],
        ),
        "has no run",
    );
    refused(&klieo(&spec, &["resume", "nope"]), "is not a run id");
}

#[tokio::test]
async fn a_child_run_is_resumed_through_its_parent_and_shown_waiting_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("team.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let mailer = mailer(mailing_ada(), &store)
        .with_name("mailer")
        .build()
        .unwrap();
    let desk = Agent::builder(ScriptedLlm::new().then_tool_calls(vec![ToolCall::new(
        "c1",
        "mail",
        json!({"input": "mail Ada"}),
    )]))
    .with_name("desk")
    .add_agent_tool("mail", "Sends mail.", mailer)
    .with_memory(store.clone())
    .build()
    .unwrap();
    let ended = desk.run("mail Ada").await;
    let Err(Error::Suspended { ticket, .. }) = ended else {
        panic!("the tree waits for a person: {ended:?}");
    };
    let runs = store.runs(&RunQuery::new()).await.unwrap();
    let parent = runs
        .runs
        .iter()
        .map(|entry| entry.run)
        .find(|&run| run != ticket.run)
        .unwrap();
    store.close().await;
    let spec = format!("sqlite://{}", path.display());
    let child = ticket.run.to_string();
    refused(
        &klieo(&spec, &["resume", &child, "--agent", "mailer"]),
        &format!("is a child run of run {parent}"),
    );
    let shown =
        String::from_utf8(klieo(&spec, &["runs", "show", &parent.to_string()]).stdout).unwrap();
    assert!(
        shown.contains(&format!("waits with run {child}, which waits for a person")),
        "{shown}"
    );
    let listed = ok_json(&spec, &["--json", "runs", "list", "--state", "suspended"]);
    assert_eq!(
        listed["runs"].as_array().unwrap().len(),
        2,
        "the tree waits: {listed}"
    );

    // The tree, both ways, and cancelled whole.
    let shown = ok_json(&spec, &["--json", "runs", "show", &parent.to_string()]);
    assert_eq!(shown["children"][0]["run"], child);
    assert_eq!(shown["parent"], Value::Null);
    let shown = ok_json(&spec, &["--json", "runs", "show", &child]);
    assert_eq!(shown["parent"], parent.to_string());
    let children = ok_json(
        &spec,
        &["--json", "runs", "list", "--parent", &parent.to_string()],
    );
    assert_eq!(children["runs"].as_array().unwrap().len(), 1);
    assert_eq!(children["runs"][0]["parent"], parent.to_string());
    ok_json(
        &spec,
        &["--json", "cancel", &parent.to_string(), "--by", "ops"],
    );
    let shown = ok_json(&spec, &["--json", "runs", "show", &child]);
    assert_eq!(
        shown["state"], "cancelled",
        "cancelling the parent stops its child"
    );
}

#[tokio::test]
async fn a_team_run_handed_on_is_refused_to_workers_and_shown_handed_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("handoff.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let hand_off = ToolCall::new("h1", "transfer_to_mailer", json!({"reason": "a mail"}));
    let triage = Agent::builder(ScriptedLlm::new().then_tool_calls(vec![hand_off]))
        .with_name("triage")
        .with_memory(store.clone())
        .build()
        .unwrap();
    let mailer = mailer(mailing_ada(), &store)
        .with_name("mailer")
        .build()
        .unwrap();
    let team = Team::builder(triage)
        .add_agent(mailer)
        .add_handoff("triage", "mailer", "Sends mail.")
        .build()
        .unwrap();
    let ended = team.run("mail Ada").await;
    let Err(Error::Suspended { ticket, .. }) = ended else {
        panic!("the mailer's call waits for a person: {ended:?}");
    };
    store.close().await;
    let spec = format!("sqlite://{}", path.display());
    let run = ticket.run.to_string();
    refused(
        &klieo(&spec, &["resume", &run, "--agent", "triage"]),
        "a hand-off gave to agent `mailer`",
    );
    let shown = String::from_utf8(klieo(&spec, &["runs", "show", &run]).stdout).unwrap();
    assert!(
        shown.contains("triage handed the run to mailer: a mail"),
        "{shown}"
    );
}

#[tokio::test]
async fn a_run_with_more_children_than_shown_says_so_in_json() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agents.db");
    let store = klieo::sqlite::SqliteStore::open(&path).await.unwrap();
    let parent = klieo::store::testing::runs::started(&store, "desk", None)
        .await
        .unwrap();
    for _ in 0..51 {
        klieo::store::testing::runs::started(&store, "lookup", Some(parent))
            .await
            .unwrap();
    }
    store.close().await;
    let spec = format!("sqlite://{}", path.display());
    let shown = ok_json(&spec, &["--json", "runs", "show", &parent.to_string()]);
    assert_eq!(shown["children"].as_array().unwrap().len(), 50);
    assert_eq!(shown["more_children"], true);
    let one = ok_json(
        &spec,
        &[
            "--json",
            "runs",
            "show",
            shown["children"][0]["run"].as_str().unwrap(),
        ],
    );
    assert_eq!(one["more_children"], false);
}
