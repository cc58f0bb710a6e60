//! klieo-mcp against real MCP servers: the reference server
//! (`@modelcontextprotocol/server-everything`) over stdio and streamable
//! HTTP, and `servers/faults.py` (the official Python SDK) for the faults
//! the reference server cannot show. `cargo xtask ci` installs both under
//! `target/klieo-mcp` and runs these tests in its `mcp` step.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod agent;
mod everything;
mod faults;
mod http;
mod listing;
mod rate_limit;
mod replies;
mod secrets;
mod spans;
mod support;
