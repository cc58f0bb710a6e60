//! `cargo xtask demo ["prompt"]`: runs the streaming agent example against
//! a real model: the endpoint in `OPENAI_BASE_URL` / `OPENAI_API_KEY` when
//! one is set, else a local model this command sets up and stops again.

use std::path::Path;

use crate::model_server::{ModelServer, Needs};
use crate::{cmd, Error};

/// The cargo arguments that name the agent example.
const AGENT: &[&str] = &["-p", "klieo", "--features", "openai", "--example", "agent"];

pub(crate) fn run(root: &Path, args: &[String]) -> Result<(), Error> {
    let configured = ["OPENAI_BASE_URL", "OPENAI_API_KEY"]
        .iter()
        .any(|v| std::env::var(v).is_ok_and(|s| !s.trim().is_empty()));
    let mut example = cmd::cargo(root, &["run", "--quiet"]);
    example.args(AGENT).arg("--").args(args);
    if configured {
        println!("==> running the agent against the configured endpoint");
        return cmd::run(&mut example);
    }
    // Built before the server starts, so the server does not wait on rustc.
    println!("==> building the agent");
    cmd::run(cmd::cargo(root, &["build", "--quiet"]).args(AGENT))?;
    println!("==> no OPENAI_BASE_URL or OPENAI_API_KEY: using a local model");
    let mut server = ModelServer::start(root, Needs::Chat)?;
    example
        .env("OPENAI_BASE_URL", &server.base_url)
        .env("OPENAI_MODEL", "SmolLM2-135M-Instruct")
        .env_remove("OPENAI_API_KEY");
    println!("==> running the agent");
    server.run_client(&mut example)
}
