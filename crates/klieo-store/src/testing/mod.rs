//! What every store must show, for the tests of a store (enabled by the
//! `testing` feature): [`memory`], the checks every
//! [`ShortTermMemory`](klieo_types::ShortTermMemory),
//! [`EpisodicMemory`](klieo_types::EpisodicMemory) and
//! [`Journal`](klieo_types::Journal) passes on a fresh, empty store; and
//! [`golden`], what every store's golden fixture holds, written once per
//! schema version and read by every later one; [`ledger`], what every
//! journal's ledger of keys' spend does; [`queue`] and [`rate`], the run
//! queue's and the shared rate limiter's behaviour; [`catalog`], the
//! catalog of runs'; and [`runs`], runs written as an agent's first
//! commit writes them, for tests of what reads them.
//!
//! ```
//! use klieo_store::testing::{golden, memory};
//! use klieo_store::InMemoryJournal;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build()?.block_on(async {
//! // In a test crate, `memory::journal_suite!(Box::new(InMemoryJournal::new()));`
//! // makes one test per scenario; each scenario is a function too.
//! memory::a_commit_writes_messages_episodes_and_pending(&InMemoryJournal::new()).await;
//! memory::leases_exclude_other_holders(&InMemoryJournal::new()).await;
//!
//! let store = InMemoryJournal::new();
//! golden::write(&store).await?;
//! golden::check(&store).await;
//! # Ok::<(), klieo_types::MemoryError>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod catalog;
pub mod golden;
pub mod ledger;
pub mod memory;
pub mod queue;
pub mod rate;
pub mod runs;
