//! klieo's project tasks, run as `cargo xtask <command>` (see `cargo xtask help`).
//!
//! In the style of rust-analyzer's xtask: one module per command, no
//! dependencies beyond `serde_json`, and tidy checks as ordinary `#[test]`s.
//! To add a command, write its module and add a row to [`COMMANDS`].

// A command-line tool: printing is its job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod bench;
mod browser;
mod ci;
mod cmd;
mod demo;
mod disk;
mod layering;
mod llama_server;
mod mcp;
mod metadata;
mod model_server;
mod postgres;
mod step_cost;
mod test_certs;
#[cfg(test)]
mod tidy;

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// A command: its name, a one-line description for `help`, and its entry point,
/// which gets the workspace root and the arguments after the command name.
struct Command {
    name: &'static str,
    about: &'static str,
    run: fn(&Path, &[String]) -> Result<(), Error>,
}

const COMMANDS: &[Command] = &[
    Command {
        name: "bench",
        about: "run the benchmark programs (release mode) and print their figures; `bench instructions`: only a step's instruction count",
        run: bench::run,
    },
    Command {
        name: "ci",
        about: "run every check CI runs, in order, stopping at the first failure",
        run: ci::run,
    },
    Command {
        name: "demo",
        about: "run the streaming agent example against a real model (a local one if none is set)",
        run: demo::run,
    },
    Command {
        name: "help",
        about: "print this text",
        run: help,
    },
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(name) = args.first() else {
        eprintln!("{}", usage());
        return ExitCode::FAILURE;
    };
    let name = match name.as_str() {
        "-h" | "--help" => "help",
        name => name,
    };
    let Some(command) = COMMANDS.iter().find(|c| c.name == name) else {
        eprintln!("error: unknown command `{name}`\n\n{}", usage());
        return ExitCode::FAILURE;
    };
    match (command.run)(&project_root(), &args[1..]) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

fn usage() -> String {
    let mut text = String::from("usage: cargo xtask <command>\n\ncommands:\n");
    for c in COMMANDS {
        text.push_str(&format!("    {:<8}{}\n", c.name, c.about));
    }
    text
}

fn help(_root: &Path, _args: &[String]) -> Result<(), Error> {
    print!("{}", usage());
    Ok(())
}

/// The workspace root: the directory above this crate's manifest.
pub(crate) fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits one directory below the workspace root")
        .to_path_buf()
}

/// What went wrong in a task, and, where we know it, what to do about it.
#[derive(Debug)]
pub(crate) struct Error {
    message: String,
    fix: Option<String>,
}

impl Error {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            fix: None,
        }
    }

    /// Puts `prefix` before the message, to say where the error happened.
    pub(crate) fn context(mut self, prefix: &str) -> Self {
        self.message = format!("{prefix}: {}", self.message);
        self
    }

    /// Adds what a person should do to fix it, unless a more specific fix is already set.
    pub(crate) fn or_fix(mut self, fix: impl Into<String>) -> Self {
        self.fix.get_or_insert_with(|| fix.into());
        self
    }

    /// Puts `fix` before any fix already set: the first thing to try.
    pub(crate) fn first_fix(mut self, fix: impl Into<String>) -> Self {
        let fix = fix.into();
        self.fix = Some(match self.fix.take() {
            Some(then) => format!("{fix}\n    then: {then}"),
            None => fix,
        });
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(fix) = &self.fix {
            write!(f, "\n    to fix: {fix}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::Error;

    #[test]
    fn a_first_fix_comes_before_the_fix_already_set() {
        let err = Error::new("step failed")
            .or_fix("read the test")
            .first_fix("free room");
        assert_eq!(
            err.to_string(),
            "step failed\n    to fix: free room\n    then: read the test"
        );
        let alone = Error::new("step failed").first_fix("free room");
        assert_eq!(alone.to_string(), "step failed\n    to fix: free room");
    }
}
