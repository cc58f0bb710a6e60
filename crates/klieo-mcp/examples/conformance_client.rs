//! A tools-only MCP client for the official conformance suite
//! (`@modelcontextprotocol/conformance`). The suite starts it as
//! `conformance_client <server URL>`, with the scenario's name in
//! `MCP_CONFORMANCE_SCENARIO`; `cargo xtask ci` runs the scenarios that
//! apply to a client of tools (docs/MCP.md lists them).
//!
//! It connects over streamable HTTP, lists the tools, and calls each once
//! with arguments made from its input schema, as an agent's model would.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use klieo_mcp::{McpOptions, McpServer};
use klieo_types::{RunId, ToolContext, ToolInvoker};
use serde_json::{json, Map, Value};
use std::process::ExitCode;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let Some(url) = std::env::args().nth(1) else {
        eprintln!("usage: conformance_client <server URL>");
        return ExitCode::from(2);
    };
    let scenario = std::env::var("MCP_CONFORMANCE_SCENARIO").unwrap_or_default();
    println!("scenario `{scenario}` against {url}");
    let server = match McpServer::connect(McpOptions::http("conformance", url)).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let mut failed = false;
    for def in server.catalogue().iter() {
        let args = sample_args(&def.parameters);
        let ctx = ToolContext::new(RunId::new(), "conformance", "conformance");
        match server.invoke(&def.name, args.clone(), ctx).await {
            Ok(output) => println!("{}({args}) = {output}", def.name),
            Err(e) => {
                eprintln!("{}({args}) failed: {e}", def.name);
                failed = true;
            }
        }
    }
    server.close().await;
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Arguments that fit a schema's properties: a number, a string or a
/// boolean for each (what a model would send).
fn sample_args(schema: &Value) -> Value {
    let mut args = Map::new();
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (name, property) in properties {
            let value = match property.get("type").and_then(Value::as_str) {
                Some("number" | "integer") => json!(2),
                Some("boolean") => json!(true),
                Some("array") => json!([]),
                Some("object") => json!({}),
                _ => json!("conformance"),
            };
            args.insert(name.clone(), value);
        }
    }
    Value::Object(args)
}
