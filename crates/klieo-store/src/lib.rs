//! klieo's store kit: what every store of conversations, event logs and
//! run journals shares, and a journal that needs no database.
//!
//! Store authors depend on this crate and `klieo-types` alone (the traits
//! a store implements, [`Journal`](klieo_types::Journal) and the memory
//! traits, are `klieo-types`' vocabulary); klieo-sqlite and
//! klieo-postgres are built on it. Tests of durable agents dev-depend on
//! it for [`InMemoryJournal`], so resume, approvals and leases run with
//! no database; applications get it from the `klieo` facade as
//! `klieo::store` (feature `store`).
//!
//! # Brief overview
//!
//! - [`StoreRows`] and [`MessageRow`]: the row layout klieo's database
//!   stores share (JSON text per message, episode and pending step; a
//!   thread's messages numbered with the running sum of their tokens, so a
//!   token window is one range query), with errors that name the store.
//! - [`InMemoryJournal`]: a [`ShortTermMemory`](klieo_types::ShortTermMemory),
//!   [`EpisodicMemory`](klieo_types::EpisodicMemory) and
//!   [`Journal`](klieo_types::Journal) in the process's memory, with the
//!   database stores' commits, fences and leases; leases are timed by
//!   tokio's clock, so paused time drives them.
//! - With the `testing` feature, `testing::memory` holds the checks every
//!   memory and journal passes (the in-memory journal and both database
//!   stores run them), and `testing::golden` what every store's golden
//!   fixture holds, so a schema version's file is read by every later one.
//!
//! # Example
//!
//! A crashed worker's lease runs out, and another takes the run over:
//!
//! ```
//! use klieo_store::InMemoryJournal;
//! use klieo_types::{Commit, Journal, Message, PendingStep, RunId, ShortTermMemory, ThreadId, ToolCall};
//! use serde_json::json;
//! use std::time::Duration;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build()?.block_on(async {
//! let store = InMemoryJournal::new();
//! let (run, thread) = (RunId::new(), ThreadId::new("t"));
//! let ttl = Duration::from_secs(30);
//! assert!(store.lease(run, "worker-1", ttl).await?);
//! let reply = Message::assistant_tool_calls("", vec![ToolCall::new("c1", "send_mail", json!({}))]);
//! let commit = Commit::new(run, thread.clone())
//!     .with_messages(vec![Message::user("mail Ada")])
//!     .with_pending(PendingStep::new(1, reply))
//!     .with_holder("worker-1");
//! store.commit(commit).await?;
//!
//! // worker-1 stops renewing; another process shares the store.
//! let other = store.clone();
//! assert!(!other.lease(run, "worker-2", ttl).await?);
//! tokio::time::advance(ttl).await;
//! assert!(other.lease(run, "worker-2", ttl).await?);
//! assert_eq!(other.pending(run).await?.map(|p| p.step), Some(1));
//! assert_eq!(other.load(&thread, 1_000).await?.len(), 1);
//! # Ok::<(), klieo_types::MemoryError>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod catalog;
mod journal;
mod ledger;
mod memory;
mod queue;
mod rate;
mod rows;

#[cfg(feature = "testing")]
pub mod testing;

pub use catalog::CatalogRow;
pub use journal::InMemoryJournal;
pub use ledger::key_shortfall;
pub use rate::{InMemoryRateLimiter, RateBucket, RateLimit, RateLimits};
pub use rows::{MessageRow, StoreRows};
