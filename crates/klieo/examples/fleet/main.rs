//! A fleet on one store: submit runs from one process, drive them with as
//! many worker processes as you start, wait for an answer from anywhere.
//!
//! ```text
//! fleet submit STORE PROMPT [KEY]   queue a run; prints its id
//! fleet worker STORE                drive runs until Ctrl-C or SIGTERM
//! fleet wait STORE RUN              wait (up to 10 minutes) for its end
//! ```
//!
//! STORE is a SQLite file or a `postgres://` URL (never printed). The
//! model is any OpenAI-compatible server (`OPENAI_BASE_URL`,
//! `OPENAI_MODEL`, `OPENAI_API_KEY`; see docs/LOCAL_MODELS.md). Kill a
//! worker with `kill -9` while it drives runs: another worker takes them
//! over once their leases (10 s here) run out. Stop one with Ctrl-C or
//! SIGTERM: it finishes what it can within 10 s and gives the rest up at
//! once. docs/FLEET.md explains the settings.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod fleet;
#[cfg(test)]
mod tests;

use fleet::{Fleet, AGENT};
use klieo::openai::OpenAiClient;
use klieo::prelude::*;
use std::process::ExitCode;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const USAGE: &str =
    "usage: fleet submit STORE PROMPT [KEY] | fleet worker STORE | fleet wait STORE RUN";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fleet: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let (command, store, rest) = match args {
        [command, store, rest @ ..] => (command.as_str(), store.as_str(), rest),
        _ => return Err(USAGE.into()),
    };
    let fleet = Fleet::open(store).await?;
    match (command, rest) {
        ("submit", [prompt]) => println!("{}", fleet.submit(prompt, None).await?),
        ("submit", [prompt, key]) => println!("{}", fleet.submit(prompt, Some(key)).await?),
        ("worker", []) => {
            let llm = OpenAiClient::from_env()?;
            let shutdown = CancellationToken::new();
            tokio::spawn(stop_on_signal(shutdown.clone()));
            eprintln!("fleet: worker driving `{AGENT}` runs; Ctrl-C to stop");
            let report = fleet.work(llm, shutdown).await?;
            eprintln!(
                "fleet: stopped; {} runs finished, {} given up for another worker",
                report.finished,
                report.released.len()
            );
        }
        ("wait", [run]) => {
            let run: RunId = run.parse()?;
            match fleet.wait(run, Duration::from_secs(600)).await? {
                RunState::Completed { answer } => println!("{}", printable(&answer)),
                other => return Err(format!("run {run}: {other:?}").into()),
            }
        }
        _ => return Err(USAGE.into()),
    }
    Ok(())
}

/// A model's `text` as a terminal may show it: control characters other
/// than line breaks and tabs (an escape sequence that would retitle the
/// window or write the clipboard) and the marks that reorder text
/// escaped, as `\u{1b}`.
fn printable(text: &str) -> String {
    // Marks that reorder text or hide in it (bidirectional controls,
    // zero-width characters, line and paragraph separators).
    let reorders = |c: char| matches!(c, '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}');
    text.chars()
        .map(|c| match c {
            '\n' | '\t' => c.to_string(),
            c if c.is_control() || reorders(c) => c.escape_unicode().to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// Cancels `shutdown` on Ctrl-C or SIGTERM.
async fn stop_on_signal(shutdown: CancellationToken) {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    shutdown.cancel();
}
