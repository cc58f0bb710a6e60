//! Integration tests of klieo-store, one binary: the in-memory journal
//! against the conformance suite, and its leases under paused time.
#![allow(clippy::unwrap_used, clippy::panic)]

mod journal;
mod leases;
