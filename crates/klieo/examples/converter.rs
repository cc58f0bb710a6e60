//! A unit converter: a typed tool, a streamed answer, then the same
//! question answered as a typed value (`run_typed`). Against any
//! OpenAI-compatible server (`OPENAI_BASE_URL`, `OPENAI_API_KEY`,
//! `OPENAI_MODEL`); with a small local model the typed answer may not fit,
//! which ends in a typed error holding its reply.
#![allow(clippy::print_stdout)]

use klieo::openai::OpenAiClient;
use klieo::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A unit of length.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Unit {
    Km,
    Mi,
}

/// A length to convert.
#[derive(Deserialize, JsonSchema)]
struct Length {
    /// How long.
    value: f64,
    /// Its unit.
    from: Unit,
}

/// The answer, as a value.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
struct Converted {
    /// The converted length.
    value: f64,
    /// Its unit.
    unit: Unit,
}

/// The tool body: km to mi and back.
async fn convert(length: Length) -> Result<Converted, ToolError> {
    let (value, unit) = match length.from {
        Unit::Km => (length.value / 1.609_344, Unit::Mi),
        Unit::Mi => (length.value * 1.609_344, Unit::Km),
    };
    Ok(Converted { value, unit })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let agent = Agent::builder(OpenAiClient::from_env()?)
        .with_instructions("Convert lengths with the convert tool, then state the result.")
        .add_tool(TypedTool::new(
            "convert",
            "Converts km to mi or mi to km.",
            convert,
        ))
        .with_options(RunOptions::default().with_temperature(Some(0.0)))
        .build()?;

    let mut events = agent.stream("How many miles is 42 km?");
    while let Some(event) = events.next().await {
        if let RunEvent::Text(delta) = event? {
            print!("{delta}");
        }
    }
    let typed = agent
        .run_typed::<Converted>("Convert 42 km to miles.")
        .await?;
    println!(
        "\n{:?} in {} steps",
        typed.value, typed.answer.summary.steps
    );
    Ok(())
}
