//! `klieo`: look at the runs in a klieo store (SQLite or PostgreSQL), and
//! cancel them, from the command line.
//!
//! ```text
//! klieo --store sqlite://agent.db runs list --state suspended
//! klieo --store postgres://klieo@db/agents runs show 019a…
//! KLIEO_STORE=sqlite://agent.db klieo cancel 019a… --by ada
//! ```
//!
//! Output is for people; `--json` prints one JSON document for scripts.
//! The store is only opened, never created or given a klieo schema: a
//! path or database that is not a klieo store is an error, and nothing is
//! written to it. An error is one line on stderr and exit status 1 (2 for
//! arguments clap refuses).

mod error;
mod runs;
mod store;

use clap::{Parser, Subcommand};
use error::CliError;
use std::process::ExitCode;

/// Look at the runs in a klieo store, and cancel them.
#[derive(Debug, Parser)]
#[command(name = "klieo", version)]
struct Cli {
    /// The store: `sqlite://PATH` or `postgres://USER@HOST/DATABASE`.
    #[arg(long, env = "KLIEO_STORE", hide_env_values = true)]
    store: String,
    /// Print one JSON document instead of text for people.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs: list them, or show one.
    #[command(subcommand)]
    Runs(RunsCommand),
    /// Cancels a run that is not over: it takes no more steps.
    Cancel {
        /// The run's id.
        run: String,
        /// Who cancels it, kept in its state and log.
        #[arg(long, default_value = "klieo cli")]
        by: String,
    },
}

#[derive(Debug, Subcommand)]
enum RunsCommand {
    /// The newest runs first, with their state.
    List {
        /// Only runs in this state: queued, running, suspended, completed,
        /// failed or cancelled.
        #[arg(long)]
        state: Option<runs::StateName>,
        /// At most this many runs.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// One run: its state and its log.
    Show {
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
    match runtime.block_on(run(cli)) {
        Ok(text) => {
            print(&text);
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

/// Runs the command; what it prints.
async fn run(cli: Cli) -> Result<String, CliError> {
    let store = store::Store::open(&cli.store).await?;
    match cli.command {
        Command::Runs(RunsCommand::List { state, limit }) => {
            runs::list(&store, state, limit, cli.json).await
        }
        Command::Runs(RunsCommand::Show { run }) => runs::show(&store, &run, cli.json).await,
        Command::Cancel { run, by } => runs::cancel(&store, &run, &by, cli.json).await,
    }
}

#[allow(clippy::print_stdout, reason = "the command's output")]
fn print(text: &str) {
    println!("{text}");
}

#[allow(clippy::print_stderr, reason = "the command's error")]
fn fail(error: &CliError) -> ExitCode {
    eprintln!("klieo: {}", error.with_causes());
    ExitCode::FAILURE
}
