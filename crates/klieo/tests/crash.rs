//! The crash suite: a child process (this test binary, re-run as
//! `crash_child`) drives an agent on a SQLite store and is killed with
//! SIGKILL at one boundary of the run; this process then resumes the run
//! from the store. The same for a team (`crash/team.rs`): a desk agent
//! whose tool is the suite's agent, killed at each boundary of both runs. For every boundary: the run completes, its log is whole
//! and in order, the non-idempotent tool's side effect happened at most
//! once, the idempotent one's exactly once, and the user's message is in
//! the thread once.
//!
//! The child says where it is on stdout and stops there for ever; nothing
//! waits on a clock but the bound on how long the child may take to get
//! there.
#![allow(
    clippy::print_stdout,
    reason = "the child tells the parent on stdout where it stopped"
)]

use klieo::postgres::testing::fresh_database;
use klieo::postgres::PostgresStore;
use klieo::prelude::*;
use klieo::sqlite::SqliteStore;
use klieo::types::Ticket;

#[path = "crash/harness.rs"]
mod harness;
#[path = "crash/team.rs"]
mod team;
use harness::{agent, boundary, check_effects, effects_pool, Hooked};
use klieo::types::{EpisodicMemory, Journal};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Where the child is killed, in the order a run passes them.
const POINTS: &[&str] = &[
    "model_called",
    "reply_recorded",
    "tool_running",
    "mail_sent",
    "result_recorded",
    "before_completed",
];

const PROMPT: &str = "mail Ada, then look her up";

fn paths(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join("agent.db"), dir.join("effects.db"))
}

#[tokio::test]
#[ignore = "the child process of the crash suite: run only by the every_boundary tests"]
async fn crash_child() {
    let dir = std::env::var("KLIEO_CRASH_DIR")
        .expect("KLIEO_CRASH_DIR is set by the every_boundary tests, which run this");
    let (store, effects) = paths(&PathBuf::from(dir));
    let effects = effects_pool(&effects).await;
    let approval = std::env::var_os("KLIEO_CRASH_APPROVAL").is_some();
    let team = std::env::var_os("KLIEO_CRASH_TEAM").is_some();
    let answer = match std::env::var("KLIEO_CRASH_DB_URL") {
        Ok(url) => {
            let store = PostgresStore::connect(&url).await.expect("the store");
            drive(Hooked(store), &effects, team, approval).await
        }
        Err(_) => {
            let store = SqliteStore::open(&store).await.expect("the store");
            drive(Hooked(store), &effects, team, approval).await
        }
    };
    if matches!(answer, Err(Error::Suspended { .. })) {
        boundary("suspended").await;
    }
    println!("the run ended without reaching its kill point: {answer:?}");
}

/// Runs the suite's agent (or, with `team`, the team) on `store` until it
/// answers (or the child is killed).
async fn drive<S: Journal + Clone + 'static>(
    store: S,
    effects: &sqlx::SqlitePool,
    team: bool,
    approval: bool,
) -> Result<Answer, Error> {
    let agent = match team {
        true => team::desk(store, effects).await,
        false => agent(store, effects, approval).await,
    };
    agent.session("t").run(PROMPT).await
}

/// Runs the child (on the PostgreSQL database `db_url`, else on SQLite;
/// the team with `team`) until it reports `point`, then kills it.
fn kill_child_at(point: &str, dir: &Path, db_url: Option<&str>, team: bool) {
    let approval = point == "suspended";
    let mut child = Command::new(std::env::current_exe().expect("this test binary"))
        .args([
            "--ignored",
            "--exact",
            "crash_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("KLIEO_CRASH_DIR", dir)
        .env("KLIEO_CRASH_POINT", point)
        .envs(db_url.map(|url| ("KLIEO_CRASH_DB_URL", url)))
        .envs(approval.then_some(("KLIEO_CRASH_APPROVAL", "1")))
        .envs(team.then_some(("KLIEO_CRASH_TEAM", "1")))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the child starts");
    let stdout = child.stdout.take().expect("the child's stdout");
    let (lines, seen) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let wanted = format!("reached {point}");
    let mut output = Vec::new();
    let reached = loop {
        // A bound, not a timing: a child that never gets there fails the test.
        match seen.recv_timeout(Duration::from_secs(60)) {
            Ok(line) if line.ends_with(&wanted) => break true,
            Ok(line) => output.push(line),
            Err(_) => break false,
        }
    };
    child.kill().expect("SIGKILL");
    child.wait().expect("the child is reaped");
    assert!(reached, "the child never reached {point}: {output:?}");
}

/// Resumes the run the killed child left in `store` and checks the truth.
async fn check<S: Journal + Clone + 'static>(point: &str, store: S, effects: &sqlx::SqlitePool) {
    let runs = store.list_runs().await.expect("list");
    assert_eq!(runs.len(), 1, "{point}: one run was started");
    let run = runs[0];

    let answer = agent(store.clone(), effects, false)
        .await
        .resume(run)
        .await
        .map_err(|e| format!("{point}: {e}"))
        .expect("the run resumes");
    assert_eq!(answer.text, "done", "{point}");

    let log: Vec<&str> = store
        .replay(run)
        .await
        .expect("replay")
        .iter()
        .map(Episode::kind)
        .collect();
    assert_eq!(log.first().copied(), Some("started"), "{point}: {log:?}");
    assert_eq!(log.last().copied(), Some("completed"), "{point}: {log:?}");
    let count = |k: &str| log.iter().filter(|e| **e == k).count();
    assert_eq!(count("resumed"), 1, "{point}: {log:?}");
    assert_eq!(
        count("tool_call"),
        2,
        "{point}: one episode per call: {log:?}"
    );
    assert_eq!(
        count("llm_call"),
        2,
        "{point}: each step asked once: {log:?}"
    );
    assert_eq!(count("completed"), 1, "{point}: {log:?}");

    check_effects(point, effects).await;

    let thread = store
        .load(&ThreadId::new("t"), usize::MAX)
        .await
        .expect("load");
    let prompts = thread.iter().filter(|m| m.content == PROMPT).count();
    assert_eq!(prompts, 1, "{point}: the user's message, once");
}

/// Kills the child at `point` on a fresh store and checks the resumed run
/// (the team's tree with `team`).
async fn survive(point: &str, postgres_server: Option<&str>, team: bool) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let dir_path = dir.path().to_owned();
    let db_url = match postgres_server {
        Some(server) => Some(fresh_database(server).await.expect("a database of its own")),
        None => None,
    };
    let (child_dir, child_point, child_url) = (dir_path.clone(), point.to_owned(), db_url.clone());
    tokio::task::spawn_blocking(move || {
        kill_child_at(&child_point, &child_dir, child_url.as_deref(), team)
    })
    .await
    .expect("the child was run");
    let (store_path, effects_path) = paths(&dir_path);
    let effects = effects_pool(&effects_path).await;
    match db_url {
        Some(url) => {
            let store = PostgresStore::connect(&url).await.expect("the store");
            match team {
                true => team::check_team(point, store.clone(), &effects).await,
                false => check(point, store.clone(), &effects).await,
            }
            store.close().await;
        }
        None => {
            let store = SqliteStore::open(&store_path).await.expect("the store");
            match team {
                true => team::check_team(point, store.clone(), &effects).await,
                false => check(point, store.clone(), &effects).await,
            }
            store.close().await;
        }
    }
    effects.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_boundary_survives_a_kill() {
    for point in POINTS {
        survive(point, None, false).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_team_boundary_survives_a_kill() {
    for point in team::TEAM_POINTS {
        survive(point, None, true).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a PostgreSQL server: cargo xtask ci starts one (KLIEO_POSTGRES_URL)"]
async fn every_team_boundary_survives_a_kill_on_postgres() {
    let server = std::env::var("KLIEO_POSTGRES_URL")
        .expect("KLIEO_POSTGRES_URL names a PostgreSQL server: cargo xtask ci sets it");
    for point in team::TEAM_POINTS {
        survive(point, Some(&server), true).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a PostgreSQL server: cargo xtask ci starts one (KLIEO_POSTGRES_URL)"]
async fn every_boundary_survives_a_kill_on_postgres() {
    let server = std::env::var("KLIEO_POSTGRES_URL")
        .expect("KLIEO_POSTGRES_URL names a PostgreSQL server: cargo xtask ci sets it");
    for point in POINTS {
        survive(point, Some(&server), false).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_while_suspended_for_approval_loses_nothing() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let dir_path = dir.path().to_owned();
    let child_dir = dir_path.clone();
    tokio::task::spawn_blocking(move || kill_child_at("suspended", &child_dir, None, false))
        .await
        .expect("the child was run");
    let (store_path, effects_path) = paths(&dir_path);
    let store = SqliteStore::open(&store_path).await.expect("the store");
    let effects = effects_pool(&effects_path).await;
    let run = store.list_runs().await.expect("list")[0];
    let log = store.replay(run).await.expect("replay");
    let Some(Episode::Suspended {
        call_id, digest, ..
    }) = log.last().cloned()
    else {
        unreachable!("the child stops only once suspended: {log:?}")
    };
    // Another process approves; the mail needs approval there too.
    let ticket = Ticket {
        run,
        call_id: call_id.to_string(),
        digest,
    };
    let approver = agent(store.clone(), &effects, true).await;
    let answer = approver.approve(&ticket).await.expect("approved");
    assert_eq!(answer.text, "done");
    let kinds: Vec<&str> = store
        .replay(run)
        .await
        .expect("replay")
        .iter()
        .map(Episode::kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "started",
            "llm_call",
            "suspended",
            "approved",
            "tool_call",
            "tool_call",
            "llm_call",
            "completed"
        ]
    );
    let sent: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM effects WHERE tool = 'send_mail'")
        .fetch_one(&effects)
        .await
        .expect("the effects");
    assert_eq!(sent, 1, "the approved mail went once");
}
