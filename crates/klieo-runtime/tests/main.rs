//! Integration tests of the step loops, their contracts, memories and traces.
#![allow(clippy::unwrap_used, clippy::panic)]

mod agent;
mod backpressure;
mod budget;
mod capabilities;
mod compaction;
mod decisions;
mod durable;
mod edge_cases;
mod episodes;
mod guardrails;
mod history_bounds;
mod key_budget;
mod memory;
mod reply_info;
mod retries;
mod support;
mod teams;
mod terminal_contract;
mod tool_bounds;
mod tools;
mod tracing_spans;
mod typed_output;
mod typed_tools;
mod window;
mod worker;
