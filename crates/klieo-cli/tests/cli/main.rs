//! The `klieo` command against a SQLite store that agents wrote (and, in
//! `cargo xtask ci`'s postgres step, a PostgreSQL one): listing and
//! showing runs, approving, denying and cancelling, `--json` parsed as a
//! script would, and bad input answered with a message and a non-zero
//! exit.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod decisions;
mod resume;
mod runs;

use klieo::prelude::*;
use klieo::runtime::TypedTool;
use klieo::sqlite::SqliteStore;
use klieo::types::testing::ScriptedLlm;
use klieo::types::ToolError;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

#[derive(serde::Deserialize, schemars::JsonSchema)]
pub(crate) struct Mail {
    /// Who to.
    pub(crate) to: String,
}

/// A store with a completed run (whose answer holds a terminal escape
/// sequence) and a run suspended for approval; their ids.
pub(crate) async fn store(dir: &Path) -> (PathBuf, RunId, RunId) {
    let path = dir.join("agents.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let llm = ScriptedLlm::new()
        .then_text("done \u{1b}[31mred\u{1b}[0m")
        .then_tool_calls(vec![ToolCall::new("c1", "send_mail", json!({"to": "ada"}))]);
    let send = TypedTool::new("send_mail", "Sends a mail.", |mail: Mail| async move {
        Ok::<_, ToolError>(format!("sent to {}", mail.to))
    })
    .with_approval(true);
    let agent = Agent::builder(llm)
        .add_tool(send)
        .with_memory(store.clone())
        .build()
        .unwrap();
    let done = agent.session("greeting").run("hi").await.unwrap();
    let Err(Error::Suspended { ticket, .. }) = agent.session("mail").run("mail Ada").await else {
        panic!("the mail run waits for a person");
    };
    store.close().await;
    (path, done.summary.run_id, ticket.run)
}

pub(crate) fn klieo(store: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_klieo"))
        .arg("--store")
        .arg(store)
        .args(args)
        .env_remove("KLIEO_STORE")
        .output()
        .unwrap()
}

/// `klieo` on `store` with `args`, started and left running (a `runs
/// watch`); its output is read by [`ended`].
pub(crate) fn started(store: &str, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_klieo"))
        .arg("--store")
        .arg(store)
        .args(args)
        .env_remove("KLIEO_STORE")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

/// What `child` printed once it ended; a bound, not a timing: one that
/// never ends fails the test.
pub(crate) async fn ended(child: Child) -> Output {
    tokio::time::timeout(
        std::time::Duration::from_secs(60),
        tokio::task::spawn_blocking(move || child.wait_with_output()),
    )
    .await
    .expect("the command ends with the run")
    .unwrap()
    .unwrap()
}

pub(crate) fn ok_json(store: &str, args: &[&str]) -> Value {
    let out = klieo(store, args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

pub(crate) fn refused(out: &Output, says: &str) {
    assert_eq!(out.status.code(), Some(1), "exit status");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(says), "{stderr}");
    assert!(out.stdout.is_empty());
}
