//! Integration tests for klieo-retry: one binary, one module per concern.

#![allow(clippy::unwrap_used, clippy::panic, unreachable_pub)]

mod backoff;
mod cancel;
mod notify;
mod outcomes;
mod seed_parity;
mod send;
mod support;
mod timing;
