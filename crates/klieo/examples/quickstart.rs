//! The README's quick start: an agent with one typed tool, streamed,
//! against any OpenAI-compatible server (`OPENAI_BASE_URL`, `OPENAI_API_KEY`,
//! `OPENAI_MODEL`). `cargo xtask demo` runs it against a local model.
#![allow(clippy::print_stdout)]

use klieo::openai::OpenAiClient;
use klieo::prelude::*;
use schemars::JsonSchema;
use serde::Deserialize;

/// Two numbers to multiply.
#[derive(Deserialize, JsonSchema)]
struct Factors {
    /// The first factor.
    a: f64,
    /// The second factor.
    b: f64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let multiply = TypedTool::new("multiply", "Multiplies a by b.", |f: Factors| async move {
        Ok::<_, ToolError>(f.a * f.b)
    });
    let agent = Agent::builder(OpenAiClient::from_env()?)
        .with_instructions("Use the multiply tool for arithmetic. Then state the result.")
        .add_tool(multiply)
        // Deterministic, for a small local model.
        .with_options(RunOptions::default().with_temperature(Some(0.0)))
        .build()?;

    // Prints text as it comes, each tool call and result in brackets.
    let events = agent.stream("What is 17 times 23?");
    let answer = events.print(std::io::stdout()).await?;
    println!("\n[{} steps]", answer.summary.steps);
    Ok(())
}
