//! `cargo xtask demo ["prompt"]`: runs the README's quick start
//! (`examples/quickstart.rs`), then the streaming agent example with two
//! tools (`examples/agent`, given the prompt), against a real model: the
//! endpoint in `OPENAI_BASE_URL` / `OPENAI_API_KEY` when one is set, else a
//! local model this command sets up and stops again.

use std::path::Path;
use std::process::Command;

use crate::model_server::{ModelServer, Needs};
use crate::{cmd, Error};

/// The cargo arguments shared by both examples.
const FACADE: &[&str] = &["-p", "klieo", "--features", "openai,mcp,otel"];
/// The examples, in the order they run.
const EXAMPLES: &[&str] = &["quickstart", "agent"];

pub(crate) fn run(root: &Path, args: &[String]) -> Result<(), Error> {
    let configured = ["OPENAI_BASE_URL", "OPENAI_API_KEY"]
        .iter()
        .any(|v| std::env::var(v).is_ok_and(|s| !s.trim().is_empty()));
    let example = |name: &str| {
        let mut command = cmd::cargo(root, &["run", "--quiet"]);
        command.args(FACADE).args(["--example", name]);
        if name == "agent" {
            command.arg("--").args(args);
        }
        command
    };
    if configured {
        for name in EXAMPLES {
            println!("==> running examples/{name} against the configured endpoint");
            cmd::run(&mut example(name))?;
        }
        return Ok(());
    }
    // Built before the server starts, so the server does not wait on rustc.
    println!("==> building the examples");
    let mut build = cmd::cargo(root, &["build", "--quiet"]);
    build.args(FACADE);
    for name in EXAMPLES {
        build.args(["--example", name]);
    }
    cmd::run(&mut build)?;
    println!("==> no OPENAI_BASE_URL or OPENAI_API_KEY: using a local model");
    let mut server = ModelServer::start(root, Needs::Chat)?;
    for name in EXAMPLES {
        let mut command: Command = example(name);
        command
            .env("OPENAI_BASE_URL", &server.base_url)
            .env("OPENAI_MODEL", "SmolLM2-135M-Instruct")
            .env_remove("OPENAI_API_KEY");
        println!("==> running examples/{name}");
        server.run_client(&mut command)?;
    }
    Ok(())
}
