//! Durable runs on klieo-store's in-memory journal: each step written
//! through the journal, resume after a crash, approvals, the fence of
//! resumes without leases, and leases (their expiry under paused time).
//! The facade's tests run the same scenario files on SQLite
//! (`crates/klieo/tests/durable_sqlite.rs`, with its own `store`), all but
//! `lease_expiry` and `team_in_memory`.
//!
//! A "crash" is the run's future dropped at a known point (a tool
//! running, a model call waiting), which leaves the store exactly as a
//! killed process would; the resume uses a clone of the store (the same
//! data, as another process would see it) and a fresh agent.

mod approval;
mod decided_claims;
mod fence;
mod in_doubt;
mod inbox;
mod journal;
mod lease_expiry;
mod leases;
mod resume;
mod store;
mod streamed;
pub(crate) mod support;
mod taken_up;
mod team;
mod team_in_memory;
