//! Integration tests of klieo-anthropic, one binary, against loopback servers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod conformance;
mod recorded;
mod wire;
