//! klieo's embedded store: conversations and event logs in one SQLite
//! file, for anyone who wants runs to outlive the process without running
//! a database server.
//!
//! Depends on `klieo-types`, the store kit `klieo-store` (the row layout
//! it shares with klieo-postgres) and its drivers (rusqlite for reads and
//! writes, sqlx for opening and migrating, both on the one SQLite sqlx
//! builds in) only: never on the runtime. [`SqliteStore`] implements
//! [`ShortTermMemory`](klieo_types::ShortTermMemory),
//! [`EpisodicMemory`](klieo_types::EpisodicMemory) and
//! [`Journal`](klieo_types::Journal); hand it to an agent with
//! `AgentBuilder::with_memory`. It runs on tokio, with timers
//! enabled (the driver bounds its waits with them).
//!
//! # Durability
//!
//! The file is in WAL mode. Each journal commit, `append` (all the
//! messages of one call) and `record` is written whole or not at all, and
//! synced to disk before it returns under the default
//! [`Synchronous::Full`]. Writes go through one thread holding the write
//! connection (and a second, unsynced, that never checkpoints, for a rate
//! limit's counts and a budget key's reservations alone: the synced one
//! checkpoints the WAL after every 1,000 unsynced commits in a row); the
//! writes queued while it commits are committed together next, in one
//! transaction and one sync (group commit), each in a savepoint of its
//! own, so one refused (a lease another process holds) leaves the others
//! in. Runs writing at once therefore share the disk's syncs instead of
//! taking one each. An agent writes a step that answers in one commit,
//! and a step that calls tools in two: the model's reply as the run's
//! pending step before the first tool runs, then the reply, the results
//! and their episodes together. The
//! schema is versioned ([`SCHEMA_VERSION`]); opening a file applies the
//! migrations it lacks, together in one transaction, and refuses a file
//! from a newer version or another application's.
//!
//! A run whose process stopped continues with `Agent::resume` (or
//! `klieo_runtime::resume_steps`) from what the store holds, and a run
//! suspended for approval continues with `Agent::approve` or
//! `Agent::deny`.
//!
//! # Leases
//!
//! The store keeps leases ([`Journal::lease`](klieo_types::Journal::lease)),
//! so processes sharing one file do not drive one run twice: a run, a
//! resume and an approval take the run's lease first (30 s by default,
//! renewed while the run goes on), and a killed process's run can be taken
//! over once its lease runs out. For processes on many machines,
//! `klieo-postgres` is the same store in PostgreSQL.
//!
//! # Example
//!
//! ```
//! use klieo_sqlite::SqliteStore;
//! use klieo_types::{Episode, EpisodicMemory, RunId};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let dir = tempfile::tempdir()?;
//! let store = SqliteStore::open(dir.path().join("agent.db")).await?;
//! let run = RunId::new();
//! store.record(run, Episode::Started { agent: "calc".into() }).await?;
//! assert_eq!(store.list_runs().await?, [run]);
//! assert_eq!(store.replay(run).await?.len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod catalog;
mod changes;
mod error;
mod journal;
mod ledger;
mod memory;
mod options;
mod queue;
mod rate;
mod reader;
mod schema;
mod store;
mod writer;

pub use error::OpenError;
pub use options::{SqliteOptions, Synchronous, MAX_BUSY_TIMEOUT};
pub use rate::SqliteRateLimiter;
pub use schema::SCHEMA_VERSION;
pub use store::SqliteStore;
