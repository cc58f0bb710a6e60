//! A streaming agent with two real tools, against any OpenAI-compatible
//! server: prints the model's tokens as they arrive, then a summary of the
//! run from its episode log.
//!
//! ```text
//! cargo xtask demo                      # sets up a local model and runs this
//! cargo run -p klieo --features openai --example agent -- "Compute 17*23."
//! cargo run -p klieo --features openai --example agent -- --tool utc_now "What time is it?"
//! cargo run -p klieo --features openai --example agent -- --auto "What is 2^10?"
//! cargo run -p klieo --features openai,anthropic --example agent -- --provider anthropic "Compute 17*23."
//! cargo run -p klieo --features openai,mcp --example agent -- \
//!     --mcp crates/klieo/examples/agent/mcp.json --tool echo "Say pineapple through the echo tool."
//! ```
//!
//! It reads `OPENAI_BASE_URL`, `OPENAI_API_KEY` and `OPENAI_MODEL` (see
//! `klieo::openai`); with `--provider anthropic` (feature `anthropic`),
//! `ANTHROPIC_BASE_URL`, `ANTHROPIC_API_KEY` and `ANTHROPIC_MODEL` (see
//! `klieo::anthropic`). The first model call is forced to call a tool
//! (`--tool`, `calculator` by default), because llama.cpp-based servers
//! stream tool calls only when one is forced; `--auto` lets the model
//! decide, for servers that support it. After the tools ran, the model is
//! asked to answer in text. `--mcp FILE` (feature `mcp`) adds the tools of
//! the MCP servers an `mcpServers` file names (see `klieo::mcp::config`);
//! `--tool` may then name one of theirs. With feature `otel`, `--otlp` (or
//! `OTEL_EXPORTER_OTLP_ENDPOINT` set) sends the run's trace to an OTLP
//! receiver (see `klieo::otel` for the variables).
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod calculator;
mod clock;

use klieo::openai::OpenAiClient;
use klieo::prelude::*;
use klieo::runtime::AfterToolCalls;
use klieo::types::{Episode, ErrorChain, ToolInvoker, ToolOutcome};
use std::future::poll_fn;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

const SYSTEM: &str = "You are a helpful assistant. Use the calculator tool for arithmetic \
                      and the utc_now tool for the date and time. After a tool result, \
                      answer in one short sentence that states it.";
const DEFAULT_PROMPT: &str = "Compute 17*23.";

struct Args {
    first_choice: ToolChoice,
    provider: String,
    mcp: Option<String>,
    otlp: bool,
    prompt: String,
}

const USAGE: &str = "usage: agent [--provider openai|anthropic] [--mcp mcp.json] [--otlp] \
                     [--tool calculator|utc_now|<an MCP tool> | --auto] [prompt]";

fn parse_args() -> Result<Args, String> {
    let mut first_choice = ToolChoice::Function("calculator".into());
    let mut provider = "openai".to_owned();
    let mut mcp = None;
    let mut otlp = false;
    let mut words = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--auto" => first_choice = ToolChoice::Auto,
            "--tool" => {
                let name = args.next().ok_or("--tool needs a tool name")?;
                first_choice = ToolChoice::Function(name);
            }
            "--mcp" => mcp = Some(args.next().ok_or("--mcp needs an mcpServers file")?),
            "--otlp" => otlp = true,
            "--provider" => {
                provider = args.next().ok_or("--provider needs openai or anthropic")?;
                if provider != "openai" && provider != "anthropic" {
                    return Err(format!(
                        "unknown provider `{provider}`: use openai or anthropic"
                    ));
                }
            }
            "-h" | "--help" => return Err(USAGE.into()),
            _ => words.push(arg),
        }
    }
    let prompt = if words.is_empty() {
        DEFAULT_PROMPT.to_owned()
    } else {
        words.join(" ")
    };
    Ok(Args {
        first_choice,
        provider,
        mcp,
        otlp,
        prompt,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::FAILURE;
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The whole chain: an error's cause (a file's read error, a
            // parser's position) is its source, not in its text.
            eprintln!("\nerror: {}", ErrorChain(&*e));
            ExitCode::FAILURE
        }
    }
}

/// The model client `provider` names, configured from the environment.
fn client(provider: &str) -> Result<Arc<dyn LlmClient>, Box<dyn std::error::Error>> {
    if provider == "anthropic" {
        #[cfg(feature = "anthropic")]
        {
            let llm = klieo::anthropic::AnthropicClient::from_env()?;
            println!(
                "model: {} at {} (Anthropic's Messages API)",
                llm.model(),
                llm.base_url()
            );
            return Ok(Arc::new(llm));
        }
        #[cfg(not(feature = "anthropic"))]
        return Err(
            "--provider anthropic needs the example built with --features anthropic".into(),
        );
    }
    let llm = OpenAiClient::from_env()?;
    println!("model: {} at {}", llm.model(), llm.base_url());
    Ok(Arc::new(llm))
}

/// The local tools, and the tools of the MCP servers in `mcp` (a file).
async fn tools(mcp: Option<&str>) -> Result<Toolbox, Box<dyn std::error::Error>> {
    let local = ToolSet::new()
        .add_tool(calculator::tool())
        .add_tool(clock::tool());
    let toolbox = Toolbox::new().add_source(local);
    let Some(file) = mcp else {
        return Ok(toolbox);
    };
    #[cfg(feature = "mcp")]
    {
        let servers = klieo::mcp::McpServers::connect(klieo::mcp::config::read(file)?).await?;
        for server in servers.servers() {
            let names: Vec<String> = server.catalogue().iter().map(|d| d.name.clone()).collect();
            println!("mcp server `{}`: {}", server.name(), names.join(", "));
        }
        Ok(toolbox.merge(servers.toolbox()))
    }
    #[cfg(not(feature = "mcp"))]
    {
        let _ = (file, toolbox);
        Err("--mcp needs the example built with --features mcp".into())
    }
}

/// Sends the run's trace over OTLP when asked; [`end`] sends what is left.
#[cfg(feature = "otel")]
fn telemetry(on: bool) -> Result<Option<klieo::otel::Telemetry>, Box<dyn std::error::Error>> {
    let endpoint_set =
        std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").is_ok_and(|v| !v.trim().is_empty());
    if !on && !endpoint_set {
        return Ok(None);
    }
    let telemetry = klieo::otel::init()?;
    println!("tracing: spans go over OTLP/HTTP (OTEL_EXPORTER_OTLP_* say where)");
    Ok(Some(telemetry))
}

/// Sends the spans still batched and stops the exporter.
#[cfg(feature = "otel")]
async fn end(telemetry: Option<klieo::otel::Telemetry>) -> Result<(), klieo::otel::OtelError> {
    match telemetry {
        Some(telemetry) => telemetry.shutdown().await,
        None => Ok(()),
    }
}

#[cfg(not(feature = "otel"))]
fn telemetry(on: bool) -> Result<Option<()>, Box<dyn std::error::Error>> {
    if on {
        return Err("--otlp needs the example built with --features otel".into());
    }
    Ok(None)
}

#[cfg(not(feature = "otel"))]
async fn end(_telemetry: Option<()>) -> Result<(), std::convert::Infallible> {
    Ok(())
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let telemetry = telemetry(args.otlp)?;
    let outcome = converse(args).await;
    end(telemetry).await?;
    outcome
}

/// Runs the prompt, printing the answer as it streams and a summary.
async fn converse(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let llm = client(&args.provider)?;
    let tools = tools(args.mcp.as_deref()).await?;
    if let ToolChoice::Function(name) = &args.first_choice {
        let catalogue = tools.catalogue();
        if !catalogue.iter().any(|d| &d.name == name) {
            let names: Vec<&str> = catalogue.iter().map(|d| d.name.as_str()).collect();
            return Err(format!("unknown tool `{name}`: use one of {}", names.join(", ")).into());
        }
    }
    let ctx = AgentContext::from_shared(llm)
        .with_tools(tools)
        .with_agent_name("demo");
    let thread = ThreadId::new("demo");
    ctx.short_term()
        .append(&thread, vec![Message::user(args.prompt.clone())])
        .await?;
    let opts = RunOptions::default()
        .with_max_steps(4)
        .with_temperature(Some(0.0))
        .with_max_tokens(Some(256))
        .with_tool_choice(Some(args.first_choice))
        .with_after_tool_calls(AfterToolCalls::None);

    print!("user: {}\nassistant: ", args.prompt);
    std::io::stdout().flush()?;
    let started = Instant::now();
    let mut stream = run_steps_streaming(&ctx, SYSTEM, thread, opts).await?;
    let mut failure = None;
    while let Some(item) = poll_fn(|cx| stream.as_mut().poll_next(cx)).await {
        match item {
            Ok(chunk) => {
                print!("{}", chunk.delta);
                for call in &chunk.tool_calls {
                    print!("[calls {}({})] ", call.name, call.arguments());
                }
                std::io::stdout().flush()?;
            }
            Err(e) => failure = Some(e),
        }
    }
    println!();
    summarize(
        &ctx.episodic().replay(ctx.run_id()).await?,
        started.elapsed(),
    );
    match failure {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

/// Prints cycles, tool calls, tokens and time from the run's episodes.
fn summarize(episodes: &[Episode], wall: std::time::Duration) {
    let mut cycles = 0;
    let mut model_ms = 0;
    let (mut input, mut output, mut unknown) = (0u64, 0u64, 0);
    let mut calls = Vec::new();
    let mut ending = "unfinished".to_owned();
    for episode in episodes {
        match episode {
            Episode::LlmCall {
                tokens, latency_ms, ..
            } => {
                cycles += 1;
                model_ms += latency_ms;
                match tokens {
                    Some(u) => {
                        input += u64::from(u.input_tokens);
                        output += u64::from(u.output_tokens);
                    }
                    None => unknown += 1,
                }
            }
            Episode::ToolCall {
                name, args, result, ..
            } => {
                let outcome = match result {
                    ToolOutcome::Ok { output } => format!("= {output}"),
                    ToolOutcome::Error { message } => format!("failed: {message}"),
                    _ => "?".to_owned(),
                };
                calls.push(format!("{name}({args}) {outcome}"));
            }
            Episode::Completed { steps } => ending = format!("completed in {steps} cycle(s)"),
            Episode::Failed { error } => ending = format!("failed: {error}"),
            _ => {}
        }
    }
    let tokens = match (unknown, cycles) {
        (0, _) => format!("{input} in, {output} out"),
        (u, c) if u == c => "unknown (the server reported no usage)".to_owned(),
        (u, _) => format!("{input} in, {output} out, plus {u} cycle(s) unreported"),
    };
    println!("--- run summary ---");
    println!("outcome:    {ending}");
    println!("cycles:     {cycles}");
    println!("tool calls: {}", calls.len());
    for call in &calls {
        println!("            {call}");
    }
    println!("tokens:     {tokens}");
    println!(
        "time:       {:.2} s in all, {:.2} s waiting for the model",
        wall.as_secs_f64(),
        model_ms as f64 / 1000.0
    );
}
