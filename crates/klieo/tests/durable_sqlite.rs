//! The runtime's durable scenarios (`crates/klieo-runtime/tests/durable`,
//! written once, generic over the store) on SQLite: each step written
//! through the journal, resume after a stop, approvals (blocking and
//! streamed), a decision no worker's claim takes from its agent, the
//! fence of resumes without leases, leases, and teams (an agent as a tool, a
//! person's decision inside a child run, a child cut off by its caller,
//! hand-offs). The in-memory journal runs them in
//! the runtime's own tests; real processes killed at each boundary are
//! `crash.rs`'s.
#![allow(clippy::unwrap_used, clippy::panic)]

#[path = "../../klieo-runtime/tests/durable/approval.rs"]
mod approval;
#[path = "../../klieo-runtime/tests/durable/decided_claims.rs"]
mod decided_claims;
#[path = "../../klieo-runtime/tests/durable/fence.rs"]
mod fence;
#[path = "../../klieo-runtime/tests/durable/in_doubt.rs"]
mod in_doubt;
#[path = "../../klieo-runtime/tests/durable/inbox.rs"]
mod inbox;
#[path = "../../klieo-runtime/tests/durable/journal.rs"]
mod journal;
#[path = "../../klieo-runtime/tests/durable/leases.rs"]
mod leases;
#[path = "../../klieo-runtime/tests/durable/resume.rs"]
mod resume;
#[path = "../../klieo-runtime/tests/durable/streamed.rs"]
mod streamed;
#[path = "../../klieo-runtime/tests/durable/support.rs"]
mod support;
#[path = "../../klieo-runtime/tests/durable/team/mod.rs"]
mod team;

mod store {
    //! The store the scenarios run on here: SQLite, one fresh file each.

    /// The store under test.
    pub(crate) type Store = klieo::sqlite::SqliteStore;

    /// A fresh, empty store in a temporary directory, and the directory,
    /// which must outlive it.
    pub(crate) async fn fresh() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = Store::open(dir.path().join("runs.db"))
            .await
            .expect("the store opens");
        (dir, store)
    }
}
