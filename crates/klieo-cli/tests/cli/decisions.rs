//! Deciding from the command line: approve, deny and settle, each
//! carried out where the run's agent is.

use crate::{ended, klieo, ok_json, refused, started, store, Mail};
use klieo::prelude::*;
use klieo::runtime::TypedTool;
use klieo::sqlite::SqliteStore;
use klieo::types::testing::ScriptedLlm;
use klieo::types::ToolError;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;
use tokio::sync::Notify;

/// An agent on the store at `path` that sends mail after approval and
/// then answers `answer`; its model.
async fn mailer(path: &Path, answer: &str) -> (Agent, ScriptedLlm, SqliteStore) {
    let store = SqliteStore::open(path).await.unwrap();
    let llm = ScriptedLlm::new().then_text(answer);
    let send = TypedTool::new("send_mail", "Sends a mail.", |mail: Mail| async move {
        Ok::<_, ToolError>(format!("sent to {}", mail.to))
    })
    .with_approval(true);
    let agent = Agent::builder(llm.clone())
        .add_tool(send)
        .with_memory(store.clone())
        .build()
        .unwrap();
    (agent, llm, store)
}

#[tokio::test]
async fn a_call_approved_from_the_command_line_runs_where_the_agent_is() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _, waiting) = store(dir.path()).await;
    let spec = format!("sqlite://{}", path.display());
    let shown = ok_json(&spec, &["--json", "runs", "show", &waiting.to_string()]);
    assert_eq!(shown["waits_for"]["tool"], "send_mail");
    assert_eq!(shown["waits_for"]["arguments"], json!({"to": "ada"}));
    let ticket = shown["waits_for"]["ticket"].as_str().unwrap().to_owned();

    let decided = ok_json(&spec, &["--json", "approve", &ticket, "--by", "grace"]);
    assert_eq!(decided["decision"], "approved");
    refused(
        &klieo(&spec, &["approve", &ticket]),
        "decision was not recorded",
    );

    let (agent, _, store) = mailer(&path, "Sent.").await;
    assert_eq!(agent.resume(waiting).await.unwrap().text, "Sent.");
    store.close().await;
    let shown = ok_json(&spec, &["--json", "runs", "show", &waiting.to_string()]);
    assert_eq!(shown["state"], "completed");
    let approved: Vec<&Value> = shown["episodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "approved")
        .collect();
    assert_eq!(approved.len(), 1);
    assert_eq!(approved[0]["by"], "grace");
}

#[tokio::test]
async fn a_call_denied_from_the_command_line_tells_the_model_why() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _, waiting) = store(dir.path()).await;
    let spec = format!("sqlite://{}", path.display());
    let shown = ok_json(&spec, &["--json", "runs", "show", &waiting.to_string()]);
    let ticket = shown["waits_for"]["ticket"].as_str().unwrap().to_owned();

    let text = klieo(
        &spec,
        &["deny", &ticket, "--reason", "not to Ada", "--by", "grace"],
    );
    let said = String::from_utf8(text.stdout).unwrap();
    assert!(
        said.contains("denied; the run goes on where its agent is"),
        "{said}"
    );

    let (agent, llm, store) = mailer(&path, "I did not send it.").await;
    agent.resume(waiting).await.unwrap();
    store.close().await;
    let told = llm.requests()[0]
        .messages
        .iter()
        .any(|m| m.role == Role::Tool && m.content.contains("not to Ada"));
    assert!(told, "the model is told the reason");
    refused(
        &klieo(&spec, &["deny", "not-a-ticket", "--reason", "x"]),
        "is not a ticket",
    );
}

/// A ticket copied in upper case is the same ticket, and a reason that
/// begins with a minus is the reason, not a flag.
#[tokio::test]
async fn a_ticket_in_upper_case_and_a_reason_that_begins_with_a_minus_are_taken() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _, waiting) = store(dir.path()).await;
    let spec = format!("sqlite://{}", path.display());
    let shown = ok_json(&spec, &["--json", "runs", "show", &waiting.to_string()]);
    let ticket = shown["waits_for"]["ticket"].as_str().unwrap().to_owned();
    let (run, rest) = ticket.split_once('/').unwrap();
    let (call, digest) = rest.rsplit_once('/').unwrap();
    let upper = format!("{}/{call}/{}", run.to_uppercase(), digest.to_uppercase());
    assert_ne!(upper, ticket);

    let args = ["--json", "deny", &upper, "--reason", "-40 is too much"];
    let decided = ok_json(&spec, &args);
    assert_eq!(decided["decision"], "denied");
    let (agent, llm, store) = mailer(&path, "I did not send it.").await;
    agent.resume(waiting).await.unwrap();
    store.close().await;
    let told = llm.requests()[0]
        .messages
        .iter()
        .any(|m| m.role == Role::Tool && m.content.contains("-40 is too much"));
    assert!(told, "the model is told the reason whole");
}

/// An agent on `store` whose `pay` needs approval and, with `started`,
/// says so when it starts and never ends; leases off, as after a killed
/// process whose lease ran out.
fn payer(llm: ScriptedLlm, store: &SqliteStore, started: Option<Arc<Notify>>) -> Agent {
    let pay = TypedTool::new("pay", "Pays.", move |_: Mail| {
        let started = started.clone();
        async move {
            if let Some(started) = started {
                started.notify_one();
                std::future::pending::<()>().await;
            }
            Ok::<_, ToolError>("paid")
        }
    })
    .with_approval(true);
    Agent::builder(llm)
        .add_tool(pay)
        .with_memory(store.clone())
        .with_options(RunOptions::default().with_lease_ttl(None))
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_call_in_doubt_is_settled_from_the_command_line_and_the_model_told() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pay.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let started = Arc::new(Notify::new());
    let call = ToolCall::new("c1", "pay", json!({"to": "ada"}));
    let first = payer(
        ScriptedLlm::new().then_tool_calls(vec![call]),
        &store,
        Some(Arc::clone(&started)),
    );
    let Err(Error::Suspended { ticket, .. }) = first.session("t").run("pay Ada").await else {
        panic!("the payment waits for approval");
    };
    tokio::select! {
        done = first.approve(&ticket) => panic!("pay hangs: {done:?}"),
        () = started.notified() => {}
    }
    drop(first);
    let found = payer(ScriptedLlm::new(), &store, None)
        .resume(ticket.run)
        .await;
    assert!(matches!(found, Err(Error::InDoubt { .. })), "{found:?}");
    let spec = format!("sqlite://{}", path.display());
    let run = ticket.run.to_string();

    let shown = ok_json(&spec, &["--json", "runs", "show", &run]);
    assert_eq!(shown["in_doubt"]["tool"], "pay");
    assert_eq!(shown["waits_for"], Value::Null);
    let doubted = shown["in_doubt"]["ticket"].as_str().unwrap().to_owned();
    let text = String::from_utf8(klieo(&spec, &["runs", "show", &run]).stdout).unwrap();
    assert!(
        text.contains("ran when the run stopped: did it happen?"),
        "{text}"
    );

    let neither = klieo(&spec, &["settle", &doubted]);
    assert_eq!(
        neither.status.code(),
        Some(2),
        "happened or not: one must be said"
    );
    let settled = ok_json(
        &spec,
        &[
            "--json",
            "settle",
            &doubted,
            "--happened",
            "receipt 42",
            "--by",
            "ada",
        ],
    );
    assert_eq!(settled["happened"], true);
    refused(
        &klieo(&spec, &["settle", &doubted, "--did-not-happen"]),
        "decision was not recorded",
    );

    let llm = ScriptedLlm::new().then_text("Paid.");
    payer(llm.clone(), &store, None)
        .resume(ticket.run)
        .await
        .unwrap();
    let told = llm.requests()[0]
        .messages
        .iter()
        .any(|m| m.role == Role::Tool && m.content == "receipt 42");
    assert!(told, "the model reads what the person found");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watched_run_shows_its_episodes_as_they_are_written_until_it_ends() {
    let dir = tempfile::tempdir().unwrap();
    let (path, done, waiting) = store(dir.path()).await;
    let spec = format!("sqlite://{}", path.display());

    let finished = klieo(&spec, &["runs", "watch", &done.to_string()]);
    assert!(finished.status.success());
    let said = String::from_utf8(finished.stdout).unwrap();
    assert!(
        said.contains("llm_call") && said.contains(&format!("run {done} completed")),
        "{said}"
    );

    let watcher = started(&spec, &["--json", "runs", "watch", &waiting.to_string()]);
    let (agent, _, store) = mailer(&path, "Sent.").await;
    let Some(call) = agent.pending_approval(waiting).await.unwrap() else {
        panic!("the mail waits");
    };
    agent.approve(&call.ticket).await.unwrap();
    store.close().await;
    let watched = ended(watcher).await;
    assert!(watched.status.success());
    let lines: Vec<Value> = String::from_utf8(watched.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = lines.iter().filter_map(|l| l["type"].as_str()).collect();
    assert_eq!(
        kinds,
        [
            "started",
            "llm_call",
            "suspended",
            "approved",
            "tool_call",
            "llm_call",
            "completed"
        ],
        "every episode once, in order, those written while it watched too"
    );
    assert_eq!(lines.last().unwrap()["state"], "completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_whose_reader_went_away_ends_while_the_run_waits() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _, waiting) = store(dir.path()).await;
    let spec = format!("sqlite://{}", path.display());
    let mut watcher = started(&spec, &["runs", "watch", &waiting.to_string()]);
    let mut stdout = std::io::BufReader::new(watcher.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut first).unwrap();
    assert!(first.contains("started"), "{first}");
    drop(stdout); // `| head -1`: the reader goes away, the run still waits
    let watched = ended(watcher).await;
    assert!(watched.status.success(), "{watched:?}");
}

/// A store in `dir` whose one run, a mail, waits for a person on the
/// call `id`: the store's spec and the call's ticket.
async fn mail_waiting_on_call(dir: &std::path::Path, id: &str) -> (String, klieo::types::Ticket) {
    let path = dir.join("agents.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let call = ToolCall::new(id, "send_mail", json!({"to": "ada"}));
    let send = TypedTool::new("send_mail", "Sends a mail.", |mail: Mail| async move {
        Ok::<_, ToolError>(format!("sent to {}", mail.to))
    })
    .with_approval(true);
    let agent = Agent::builder(ScriptedLlm::new().then_tool_calls(vec![call]))
        .add_tool(send)
        .with_memory(store.clone())
        .build()
        .unwrap();
    let Err(Error::Suspended { ticket, .. }) = agent.session("mail").run("mail Ada").await else {
        panic!("the mail run waits for a person");
    };
    store.close().await;
    (format!("sqlite://{}", path.display()), ticket)
}

#[tokio::test]
async fn a_ticket_whose_call_id_holds_a_hidden_character_says_where_to_copy_it() {
    let dir = tempfile::tempdir().unwrap();
    let (spec, ticket) = mail_waiting_on_call(dir.path(), "c\u{200b}1").await;
    let shown = klieo(&spec, &["runs", "show", &ticket.run.to_string()]);
    let shown = String::from_utf8(shown.stdout).unwrap();
    let line = shown.lines().find(|l| l.starts_with("ticket")).unwrap();
    assert!(line.contains("cannot be pasted"), "{line}");
    assert!(line.contains("--json runs show"), "{line}");
    assert!(line.contains(".waits_for.ticket"), "{line}");
    let whole = ok_json(&spec, &["--json", "runs", "show", &ticket.run.to_string()]);
    let copied = whole["waits_for"]["ticket"].as_str().unwrap();
    let decided = klieo(&spec, &["approve", copied, "--by", "grace"]);
    assert!(decided.status.success(), "{decided:?}");
}

#[tokio::test]
async fn a_ticket_whose_call_id_holds_shell_syntax_is_shown_quoted_for_a_shell() {
    let dir = tempfile::tempdir().unwrap();
    let (spec, ticket) = mail_waiting_on_call(dir.path(), "c1$(touch pwned);'x' y").await;
    let shown = klieo(&spec, &["runs", "show", &ticket.run.to_string()]);
    let shown = String::from_utf8(shown.stdout).unwrap();
    let line = shown.lines().find(|l| l.starts_with("ticket")).unwrap();
    let quoted = line.trim_start_matches("ticket").trim();
    let whole = ticket.to_string().replace('\'', r"'\''");
    assert_eq!(quoted, format!("'{whole}'"), "{line}");
    // What a shell makes of it is the ticket, and it runs nothing.
    let said = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("printf %s {quoted}"))
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(said.stdout).unwrap(), ticket.to_string());
    assert!(!dir.path().join("pwned").exists());
}
