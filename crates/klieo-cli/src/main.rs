//! `klieo`: look at the runs in a klieo store (SQLite or PostgreSQL),
//! approve or deny the calls they wait on, and cancel them, from the
//! command line.
//!
//! ```text
//! klieo --store sqlite://agent.db runs list --state suspended
//! klieo --store postgres://klieo@db/agents runs show 019a…
//! klieo runs watch 019a…
//! KLIEO_STORE=sqlite://agent.db klieo approve 019a…/c1/9f2c… --by ada
//! klieo deny 019a…/c1/9f2c… --reason "not to Eve" --by ada
//! klieo settle 019a…/c2/51c0… --happened "receipt 42" --by ada
//! klieo cancel 019a… --by ada
//! klieo resume 019a… --agent support
//! ```
//!
//! A decision is recorded in the store; the run goes on where its agent
//! is (a worker claims a submitted run; `Agent::resume` takes up any
//! other, or `klieo resume` hands it to workers).
//!
//! Output is for people; `--json` prints JSON for scripts: one document,
//! or for `runs watch` one line per episode and a last line saying how
//! the run ended (or that the watch stopped).
//! The store is only opened, never created or given a klieo schema: a
//! path or database that is not a klieo store is an error, and nothing is
//! written to it. An error is one line on stderr and exit status 1 (2 for
//! arguments clap refuses).

mod console;
mod decisions;
mod error;
mod follow;
mod json;
mod runs;
mod store;
mod watch;

use clap::{Parser, Subcommand};
use error::CliError;
use klieo::runtime::decisions::{Decision, Settled};
use klieo::types::{RunQuery, RunStatus};
use std::process::ExitCode;
use std::time::Duration;

/// Look at the runs in a klieo store; approve, deny, cancel or resume them.
///
/// No `Debug`: the store's URL may carry a password, and the console's
/// token is a secret.
#[derive(Parser)]
#[command(name = "klieo", version)]
struct Cli {
    /// The store: `sqlite://PATH` or `postgres://USER@HOST/DATABASE`.
    #[arg(long, env = "KLIEO_STORE", hide_env_values = true, global = true)]
    store: Option<String>,
    /// Print JSON instead of text for people: one document, or for `runs
    /// watch` one line per episode (not for `console`, which serves web
    /// pages and prints the URL to open).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs: list them, show one, or watch one.
    #[command(subcommand)]
    Runs(RunsCommand),
    /// Approves the call a suspended run waits on (its ticket, as `runs
    /// show` prints it); the run goes on where its agent is.
    Approve {
        /// The ticket.
        ticket: String,
        /// Who approves, kept in the run's log.
        #[arg(long, default_value = "klieo cli", value_parser = decisions::who, allow_hyphen_values = true)]
        by: String,
    },
    /// Denies the call a suspended run waits on; the model is told why.
    Deny {
        /// The ticket.
        ticket: String,
        /// Why, which the model is told (at most 2,000 characters).
        #[arg(long, value_parser = decisions::reason, allow_hyphen_values = true)]
        reason: String,
        /// Who denies, kept in the run's log.
        #[arg(long, default_value = "klieo cli", value_parser = decisions::who, allow_hyphen_values = true)]
        by: String,
    },
    /// Serves the store's runs in a browser, on 127.0.0.1 unless told:
    /// list and follow runs, approve, deny and cancel them. Prints the URL
    /// to open (with the token it made, or `YOUR_TOKEN` in place of one
    /// given) and serves until Ctrl-C.
    Console {
        /// Where to listen. Another address than 127.0.0.1 lets other
        /// machines ask, over plain HTTP: put TLS in front of it.
        #[arg(long, default_value = "127.0.0.1:7878")]
        bind: std::net::SocketAddr,
        /// The token every request needs (at least 16 letters, digits,
        /// `-`, `_`, `.` or `~`); a random one unless given. Prefer
        /// KLIEO_CONSOLE_TOKEN: a flag shows in `ps`.
        #[arg(long, env = "KLIEO_CONSOLE_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Who a cancellation is recorded as, and the name the approval
        /// forms start with.
        #[arg(long, default_value = "klieo console", value_parser = decisions::who)]
        operator: String,
    },
    /// Settles a call in doubt (one that ran when its run's process
    /// stopped, of a tool a person watches; `runs show` prints its
    /// ticket): say whether it happened. The model is told.
    Settle {
        /// The ticket.
        ticket: String,
        /// It happened, with this result (the model reads it).
        #[arg(
            long,
            value_name = "RESULT",
            value_parser = decisions::happened,
            allow_hyphen_values = true,
            conflicts_with = "did_not_happen",
            required_unless_present = "did_not_happen"
        )]
        happened: Option<String>,
        /// It did not happen; the model may call it again.
        #[arg(long)]
        did_not_happen: bool,
        /// Who settles it, kept in the run's log.
        #[arg(long, default_value = "klieo cli", value_parser = decisions::who, allow_hyphen_values = true)]
        by: String,
    },
    /// Hands a run that is not over to the workers of an agent: a run an
    /// agent drove in its own process that stopped, or a queued run for
    /// another agent. A worker takes it up where its log ends.
    Resume {
        /// The run's id.
        run: String,
        /// The agent's name, as the workers know it (`WorkerBuilder::add_agent`);
        /// by default the one the run was submitted for.
        #[arg(long, value_parser = decisions::agent, allow_hyphen_values = true)]
        agent: Option<String>,
    },
    /// Cancels a run that is not over: it takes no more steps.
    Cancel {
        /// The run's id.
        run: String,
        /// Who cancels it, kept in its state and log.
        #[arg(long, default_value = "klieo cli", value_parser = decisions::who, allow_hyphen_values = true)]
        by: String,
    },
}

#[derive(Debug, Subcommand)]
enum RunsCommand {
    /// The newest runs first: state, agent, age, steps, tokens, cost.
    List {
        /// Only runs in this state: queued, running, suspended, completed,
        /// failed or cancelled.
        #[arg(long)]
        state: Option<RunStatus>,
        /// Only runs submitted for this agent.
        #[arg(long)]
        agent: Option<String>,
        /// Only the child runs of this one (agents its calls ran as
        /// tools).
        #[arg(long, value_name = "RUN")]
        parent: Option<String>,
        /// Only runs made before this one (the `more: --before` of the
        /// page before).
        #[arg(long, value_name = "RUN")]
        before: Option<String>,
        /// At most this many runs (1 to 500).
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u16).range(1..=500))]
        limit: u16,
    },
    /// One run: its state and its log.
    Show {
        /// The run's id.
        run: String,
    },
    /// A run's log as it is written, until the run is over (or Ctrl-C);
    /// `--json` prints one episode a line.
    Watch {
        /// The run's id.
        run: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(&CliError::Runtime(e)),
    };
    match runtime
        .block_on(run(cli))
        .and_then(|text| printed(print(&text)))
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// The longest opening the store may take (connecting to a server that
/// does not answer, most of all).
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs the command; what it prints.
async fn run(cli: Cli) -> Result<String, CliError> {
    let spec = cli.store.ok_or(CliError::NoStore)?;
    let opening = tokio::time::timeout(OPEN_TIMEOUT, store::Store::open(&spec));
    let store = opening.await.map_err(|_| CliError::OpenTimedOut {
        after: OPEN_TIMEOUT,
    })??;
    if let Command::Console {
        bind,
        token,
        operator,
    } = cli.command
    {
        let options = console::ConsoleOptions {
            bind,
            token,
            operator,
        };
        console::serve(store, options, |url| {
            let _ = print(&format!("klieo console: open {url}\n(Ctrl-C stops it)"));
        })
        .await?;
        return Ok("klieo console stopped".into());
    }
    // A watch bounds each read itself, and lasts as long as its run.
    let watches = matches!(cli.command, Command::Runs(RunsCommand::Watch { .. }));
    let working = command(&store, cli.command, cli.json);
    let done = match watches {
        true => working.await,
        false => tokio::time::timeout(COMMAND_TIMEOUT, working)
            .await
            .unwrap_or(Err(CliError::CommandTimedOut {
                after: COMMAND_TIMEOUT,
            })),
    };
    store.close().await;
    done
}

/// The longest a command but `runs watch` and `console` waits on the
/// store once it is open: longer than the store's own waits (10 s for a
/// connection, 30 s for a lock), whose errors say more.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `command` on `store`.
async fn command(store: &store::Store, command: Command, json: bool) -> Result<String, CliError> {
    match command {
        Command::Runs(RunsCommand::List {
            state,
            agent,
            parent,
            before,
            limit,
        }) => {
            let mut query = RunQuery::new().with_limit(usize::from(limit));
            if let Some(status) = state {
                query = query.with_status(status);
            }
            if let Some(agent) = agent {
                query = query.with_agent(agent);
            }
            if let Some(parent) = parent {
                query = query.with_parent(runs::run_id(&parent)?);
            }
            if let Some(before) = before {
                query = query.with_before(runs::run_id(&before)?);
            }
            runs::list(store, &query, json).await
        }
        Command::Runs(RunsCommand::Show { run }) => runs::show(store, &run, json).await,
        Command::Runs(RunsCommand::Watch { run }) => watch::watch(store, &run, json, print).await,
        Command::Cancel { run, by } => decisions::cancel(store, &run, &by, json).await,
        Command::Resume { run, agent } => decisions::resume(store, &run, agent, json).await,
        Command::Approve { ticket, by } => {
            let decision = Decision::Approve { by };
            decisions::decide(store, &ticket, decision, json).await
        }
        Command::Deny { ticket, reason, by } => {
            let decision = Decision::Deny { reason, by };
            decisions::decide(store, &ticket, decision, json).await
        }
        Command::Settle {
            ticket,
            happened,
            did_not_happen: _,
            by,
        } => {
            let settled = match happened {
                Some(result) => Settled::Happened {
                    output: serde_json::Value::String(result),
                },
                None => Settled::DidNotHappen,
            };
            decisions::settle(store, &ticket, settled, &by, json).await
        }
        // Served by `run`, which owns the store for as long as it serves.
        Command::Console { .. } => Ok(String::new()),
    }
}

/// Writes the output; see [`printed`].
fn print(text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}").and_then(|()| out.flush())
}

/// Whether output was written, as the command's outcome: a reader that
/// went away (`klieo … | head`) is not the command's error; any other
/// failure (a full disk) is.
pub(crate) fn printed(written: std::io::Result<()>) -> Result<(), CliError> {
    match written {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(CliError::Output(e)),
        _ => Ok(()),
    }
}

fn fail(error: &CliError) -> ExitCode {
    use std::io::Write;
    // Bounded: a cause may hold what a server or a person sent, whole. An
    // error output that cannot be written (closed) leaves the status to
    // say it.
    let told = error.with_causes(ERROR_SHOWN);
    let _ = writeln!(std::io::stderr().lock(), "klieo: {told}");
    ExitCode::FAILURE
}

/// The most characters of an error printed.
const ERROR_SHOWN: usize = 2_000;
