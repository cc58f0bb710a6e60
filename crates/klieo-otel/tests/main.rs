//! klieo's spans as OpenTelemetry sees them: captured by the SDK's
//! in-memory exporter and pinned against golden files (a blocking and a
//! streamed run, each with a retried model call and a tool call), and sent
//! over OTLP/HTTP to a receiver on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod export;
mod golden;
mod shutdown;
mod spans;
mod support;
