//! A refund desk, durable: an agent with a typed order lookup and a refund
//! that a person approves and that pays at most once; its runs live in a
//! SQLite file, survive `kill -9`, and are approved from another process.
//! The answer streams, and ends as a typed `Decision`.
//!
//! ```text
//! refund_desk ask STORE ORDER MESSAGE   # runs until it answers or waits for a person
//! refund_desk pending STORE RUN         # what RUN waits on
//! refund_desk approve STORE RUN         # approves it; the rest of the run streams
//! refund_desk deny STORE RUN REASON
//! refund_desk resume STORE              # every run that stopped without ending
//! ```
//!
//! Against any OpenAI-compatible server (`OPENAI_BASE_URL`, `OPENAI_MODEL`,
//! `OPENAI_API_KEY`; see docs/LOCAL_MODELS.md). The refund call's
//! idempotency key is the payment's (`TypedTool::with_context`,
//! `OwnedToolContext::idempotency_key`); payments go to
//! `STORE.ledger`. Its tests run the whole flow on the scripted model;
//! `cargo xtask ci` runs it against llama-server
//! (`tests/llama_server.rs::the_refund_desk_against_llama_server`, the
//! refund forced by name). A model that chooses its tools well needs no
//! forcing.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod desk;
#[cfg(test)]
mod tests;

use desk::{agent, open, Decision, Ledger};
use klieo::openai::OpenAiClient;
use klieo::prelude::*;
use klieo::runtime::{TypedEvent, TypedEvents};
use std::path::Path;
use std::process::ExitCode;

const USAGE: &str = "usage: refund_desk ask STORE ORDER MESSAGE | pending STORE RUN | \
                     approve STORE RUN | deny STORE RUN REASON | resume STORE";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("refund_desk: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let (command, store) = match args {
        [command, store, ..] => (command.as_str(), Path::new(store)),
        _ => return Err(USAGE.into()),
    };
    let ledger = Ledger::beside(store);
    let llm = OpenAiClient::from_env()?;
    let options = RunOptions::default().with_temperature(Some(0.0));
    let desk = agent(llm, open(store).await?, &ledger, options)?;
    let run_of = |text: &str| {
        text.parse::<RunId>()
            .map_err(|e| format!("RUN `{text}`: {e}"))
    };
    match (command, &args[2..]) {
        ("ask", [order, message]) => {
            let prompt = format!("Order {order}: {message}");
            let events = desk
                .session(format!("order-{order}"))
                .stream_typed::<Decision>(prompt);
            println!("run {}", events.run_id());
            show(events).await
        }
        ("pending", [run]) => {
            match desk.pending_approval(run_of(run)?).await? {
                Some(waiting) => println!("{}({})", waiting.tool, waiting.arguments),
                None => println!("nothing waits"),
            }
            Ok(())
        }
        ("approve", [run]) => {
            let run = run_of(run)?;
            let Some(waiting) = desk.pending_approval(run).await? else {
                return Err(format!("run {run} waits on no call").into());
            };
            show(desk.approve_stream_typed::<Decision>(&waiting.ticket)).await
        }
        ("deny", [run, reason]) => {
            let run = run_of(run)?;
            let Some(waiting) = desk.pending_approval(run).await? else {
                return Err(format!("run {run} waits on no call").into());
            };
            show(desk.deny_stream_typed::<Decision>(&waiting.ticket, reason)).await
        }
        ("resume", []) => {
            for run in desk.unfinished_runs().await? {
                println!("run {run}");
                show(desk.resume_stream_typed::<Decision>(run)).await?;
            }
            Ok(())
        }
        _ => Err(USAGE.into()),
    }
}

/// Prints a run's events as they come, then its decision, or says what it
/// waits on.
async fn show(mut events: TypedEvents<Decision>) -> Result<(), Box<dyn std::error::Error>> {
    while let Some(event) = events.next().await {
        match event {
            Ok(TypedEvent::Event(RunEvent::ToolCall(call))) => {
                println!("[{}({})]", call.name, call.arguments());
            }
            Ok(TypedEvent::Finished(decision)) => {
                println!("decision: {:?}", decision.value);
            }
            Err(Error::Suspended { ticket, tool }) => {
                println!(
                    "waiting for a person to approve {tool}: refund_desk approve STORE {}",
                    ticket.run
                );
            }
            Err(e) => return Err(e.into()),
            Ok(_) => {}
        }
    }
    Ok(())
}
