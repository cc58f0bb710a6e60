//! Looks at the runs in a store, a SQLite file or a PostgreSQL database:
//!
//! ```text
//! cargo run -p klieo --features sqlite,postgres --example runs -- agent.db list
//! cargo run -p klieo --features sqlite,postgres --example runs -- agent.db show <run-id> [--json]
//! cargo run -p klieo --features sqlite,postgres --example runs -- postgres://host/db list
//! ```
//!
//! A store that starts with `postgres://` or `postgresql://` is a
//! PostgreSQL URL (it is never printed: errors name the database only as
//! "the PostgreSQL database"); anything else is a SQLite file.
//!
//! `list` prints each run with its status (the last thing its log says)
//! and age; `show` prints a run's episodes as a timeline, or as JSON lines
//! with `--json`.
#![allow(clippy::print_stderr)]

use klieo::postgres::{PostgresOptions, PostgresStore};
use klieo::sqlite::{SqliteOptions, SqliteStore};
use klieo::types::{Episode, EpisodicMemory, RunId, ToolOutcome};
use std::io::Write;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

const USAGE: &str = "usage: runs <store> list | runs <store> show <run-id> [--json]\n\
    (<store> is a SQLite file or a postgres:// URL)";

/// The store the runs are read from.
enum Store {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

impl Store {
    /// Opens a PostgreSQL database for a `postgres://` or `postgresql://`
    /// URL, a SQLite file for anything else: one that is a klieo store
    /// already (a mistyped name is an error, not an empty store made, and
    /// a database is never given klieo's tables or migrated by a look).
    async fn open(location: &str) -> Result<Self, String> {
        if is_postgres_url(location) {
            let options = PostgresOptions::new(location).with_create(false);
            let store = PostgresStore::connect_with(options).await;
            store.map(Self::Postgres).map_err(|e| e.to_string())
        } else {
            let options = SqliteOptions::new(location).with_create(false);
            let store = SqliteStore::open_with(options).await;
            store.map(Self::Sqlite).map_err(|e| e.to_string())
        }
    }

    fn log(&self) -> &dyn EpisodicMemory {
        match self {
            Self::Sqlite(store) => store,
            Self::Postgres(store) => store,
        }
    }

    /// What errors call the store: a SQLite file by its path, a database
    /// never by its URL, which can carry a password.
    fn name<'a>(&self, location: &'a str) -> &'a str {
        match self {
            Self::Sqlite(_) => location,
            Self::Postgres(_) => "the PostgreSQL database",
        }
    }

    async fn close(&self) {
        match self {
            Self::Sqlite(store) => store.close().await,
            Self::Postgres(store) => store.close().await,
        }
    }
}

fn is_postgres_url(location: &str) -> bool {
    location.starts_with("postgres://") || location.starts_with("postgresql://")
}

/// What a run's log says of where it is.
fn status(log: &[Episode]) -> &'static str {
    match log.last() {
        Some(Episode::Completed { .. }) => "completed",
        Some(Episode::Failed { .. }) => "failed",
        Some(Episode::Suspended { .. }) => "waiting for approval",
        Some(Episode::InDoubt { .. }) => "in doubt (a call's effect is unknown: settle it)",
        Some(Episode::WaitingOnChild { .. }) => "waiting on a child run",
        Some(_) => "unfinished (running, or stopped: resume it)",
        None => "empty",
    }
}

/// "3 s", "12 min", "5 h", "2 d".
fn age(run: RunId, now_ms: u64) -> String {
    let secs = now_ms.saturating_sub(run.timestamp_ms()) / 1000;
    match secs {
        0..=119 => format!("{secs} s"),
        120..=7_199 => format!("{} min", secs / 60),
        7_200..=172_799 => format!("{} h", secs / 3600),
        _ => format!("{} d", secs / 86_400),
    }
}

/// One line of a timeline.
fn line(episode: &Episode) -> String {
    match episode {
        Episode::Started { agent } => format!("started      agent {agent}"),
        Episode::LlmCall {
            step,
            tokens,
            latency_ms,
            finish_reason,
            tool_calls,
            ..
        } => {
            let tokens = tokens.map_or("tokens unknown".to_owned(), |u| {
                format!("{} in, {} out", u.input_tokens, u.output_tokens)
            });
            format!(
                "model call   step {step}: {} ({tool_calls} tool calls), {tokens}, {latency_ms} ms",
                finish_reason.as_str()
            )
        }
        Episode::ToolCall {
            step,
            call_id,
            name,
            result,
            latency_ms,
            ..
        } => {
            let outcome = match result {
                ToolOutcome::Ok { .. } => "ok".to_owned(),
                ToolOutcome::Error { message } => format!("error: {message}"),
                ToolOutcome::Cancelled => "cancelled".to_owned(),
                ToolOutcome::Interrupted => "interrupted, outcome unknown".to_owned(),
                ToolOutcome::Denied { reason } => format!("denied: {reason}"),
                _ => "other".to_owned(),
            };
            format!("tool call    step {step}: {name} ({call_id}) {outcome}, {latency_ms} ms")
        }
        Episode::Suspended { tool, call_id, .. } => {
            format!("suspended    waiting for approval of {tool} ({call_id})")
        }
        Episode::Approved { call_id, .. } => format!("approved     {call_id}"),
        Episode::Denied {
            call_id, reason, ..
        } => format!("denied       {call_id}: {reason}"),
        Episode::Resumed { steps } => format!("resumed      after {steps} model calls"),
        Episode::OutputShape { name, .. } => format!("typed        answers a {name}"),
        Episode::Completed { steps } => format!("completed    in {steps} steps"),
        Episode::Failed { error } => format!("failed       {error}"),
        _ => "(an episode this program does not know)".to_owned(),
    }
}

/// Writes one line to stdout; a closed stdout (`runs … | head`) ends the
/// program instead of panicking.
fn emit(text: &str) -> Result<(), String> {
    writeln!(std::io::stdout().lock(), "{text}").map_err(|e| format!("writing to stdout: {e}"))
}

async fn run(args: &[String]) -> Result<(), String> {
    let (location, command) = match args {
        [location, command, ..] => (location, command.as_str()),
        _ => return Err(USAGE.to_owned()),
    };
    let store = Store::open(location).await?;
    let result = report(store.log(), store.name(location), command, &args[2..]).await;
    store.close().await;
    result
}

/// Runs `command` against a store's log.
async fn report(
    store: &dyn EpisodicMemory,
    name: &str,
    command: &str,
    rest: &[String],
) -> Result<(), String> {
    match (command, rest) {
        ("list", []) => {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
            for id in store.list_runs().await.map_err(|e| e.to_string())? {
                let log = store.replay(id).await.map_err(|e| e.to_string())?;
                emit(&format!("{id}  {:>7} ago  {}", age(id, now), status(&log)))?;
            }
        }
        ("show", [id, rest @ ..]) => {
            let id: RunId = id.parse().map_err(|e| format!("{e}"))?;
            let log = store.replay(id).await.map_err(|e| e.to_string())?;
            if log.is_empty() {
                return Err(format!("run {id} has no episodes in {name}"));
            }
            let json = matches!(rest, [flag] if flag == "--json");
            for episode in &log {
                let text = if json {
                    serde_json::to_string(episode).map_err(|e| e.to_string())?
                } else {
                    line(episode)
                };
                emit(&text)?;
            }
        }
        _ => return Err(USAGE.to_owned()),
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("runs: {message}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_is_what_the_log_ends_with() {
        assert_eq!(status(&[Episode::Completed { steps: 1 }]), "completed");
        let suspended = Episode::Suspended {
            step: 1,
            call_id: "c1".into(),
            tool: "send_mail".into(),
            digest: "00".into(),
        };
        assert_eq!(status(&[suspended]), "waiting for approval");
        assert!(status(&[Episode::Started { agent: "a".into() }]).starts_with("unfinished"));
    }

    #[test]
    fn only_a_postgres_url_is_taken_for_postgres() {
        assert!(is_postgres_url("postgres://klieo@localhost/runs"));
        assert!(is_postgres_url("postgresql://localhost:5433/runs"));
        assert!(!is_postgres_url("agent.db"));
        assert!(!is_postgres_url("./postgres/agent.db"));
    }

    #[test]
    fn ages_read_in_the_largest_unit_that_fits() {
        let run = RunId::new();
        let made = run.timestamp_ms();
        assert_eq!(age(run, made + 5_000), "5 s");
        assert_eq!(age(run, made + 600_000), "10 min");
        assert_eq!(age(run, made + 3 * 86_400_000), "3 d");
    }

    #[test]
    fn a_timeline_line_names_the_tool_and_its_outcome() {
        let call = Episode::ToolCall {
            step: 2,
            call_id: "c7".into(),
            name: "send_mail".into(),
            args: serde_json::json!({}).into(),
            result: ToolOutcome::Interrupted,
            latency_ms: 0,
        };
        assert_eq!(
            line(&call),
            "tool call    step 2: send_mail (c7) interrupted, outcome unknown, 0 ms"
        );
    }
}
