//! [`MemoryError`]: why a memory backend failed.

use crate::ids::RunId;
use std::error::Error as StdError;
use std::sync::Arc;
use thiserror::Error;

/// The driver's or parser's error behind a [`MemoryError`], shared so that
/// the error stays `Clone`.
type Cause = Arc<dyn StdError + Send + Sync>;

/// Why a memory backend failed.
///
/// A backend's own failure keeps the driver's error as its `source()`
/// (never pasted into its text); equality ignores that cause.
///
/// ```
/// use klieo_types::MemoryError;
/// use std::error::Error as _;
///
/// let io = std::io::Error::other("disk on fire");
/// let e = MemoryError::backend_from("sqlite store: appending to a thread", io);
/// assert_eq!(e.to_string(), "memory backend failed: sqlite store: appending to a thread");
/// assert_eq!(e.source().map(|c| c.to_string()).as_deref(), Some("disk on fire"));
/// assert_eq!(e, MemoryError::backend("sqlite store: appending to a thread"));
/// ```
#[derive(Debug, Clone, Error)]
#[non_exhaustive]
pub enum MemoryError {
    /// The backend itself failed (connection, storage, lock).
    #[error("memory backend failed: {reason}")]
    Backend {
        /// What was being done, in which store.
        reason: String,
        /// The driver's error, when there is one.
        #[source]
        cause: Option<Cause>,
    },
    /// Stored data could not be encoded or decoded.
    #[error("memory data could not be (de)serialized: {reason}")]
    Serialization {
        /// What was being encoded or read, in which store.
        reason: String,
        /// The parser's error, when there is one.
        #[source]
        cause: Option<Cause>,
    },
    /// The thing asked for does not exist.
    #[error("not found in memory: {0}")]
    NotFound(String),
    /// A conditional write was refused: another process changed the run
    /// first (it resumed or decided it). Nothing was written.
    #[error("another process changed this run first, so nothing was written: {0}")]
    Conflict(String),
    /// A submit's idempotency key was used before for a different
    /// submission (another agent, prompt or thread). Nothing was queued.
    #[error("the idempotency key `{key}` already made run {run} for a different submission; use a new key for a new run")]
    KeyReused {
        /// The key.
        key: String,
        /// The run it made.
        run: RunId,
    },
    /// A thread summary was not kept: it does not take up where the
    /// thread's latest summary stopped, or ends past the thread's last
    /// message (another run summarised the thread first, or it was
    /// cleared). Nothing was written; the history is as it was.
    #[error("the summary of messages {from}..{through} was not kept: {reason}")]
    SummaryRefused {
        /// Where the refused summary took up.
        from: u64,
        /// Where it ended.
        through: u64,
        /// What the store holds instead.
        reason: String,
    },
    /// The store cannot do what was asked (it keeps no thread summaries,
    /// for one); use a store that does, or leave the feature off.
    #[error("this memory cannot do it: {0}")]
    Unsupported(String),
    /// The run was cancelled ([`RunQueue::cancel`](crate::RunQueue::cancel)),
    /// so the store takes no more of its steps and grants no lease on it.
    /// Nothing was written; the run's log already ends with who
    /// cancelled it.
    #[error("run {run} was cancelled by {by}, so nothing more is written to it; submit a new run to start again")]
    Cancelled {
        /// The run.
        run: RunId,
        /// Who cancelled it, as they said.
        by: String,
    },
}

impl MemoryError {
    /// A [`MemoryError::Backend`] saying `reason`, with no cause.
    pub fn backend(reason: impl Into<String>) -> Self {
        Self::Backend {
            reason: reason.into(),
            cause: None,
        }
    }

    /// A [`MemoryError::Serialization`] saying `reason`, caused by the
    /// parser's `cause`.
    pub fn serialization_from(
        reason: impl Into<String>,
        cause: impl StdError + Send + Sync + 'static,
    ) -> Self {
        Self::Serialization {
            reason: reason.into(),
            cause: Some(Arc::new(cause)),
        }
    }

    /// A [`MemoryError::Backend`] saying `reason`, caused by `cause`.
    pub fn backend_from(
        reason: impl Into<String>,
        cause: impl StdError + Send + Sync + 'static,
    ) -> Self {
        Self::Backend {
            reason: reason.into(),
            cause: Some(Arc::new(cause)),
        }
    }
}

impl PartialEq for MemoryError {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Backend { reason: a, .. }, Self::Backend { reason: b, .. })
            | (Self::Serialization { reason: a, .. }, Self::Serialization { reason: b, .. }) => {
                a == b
            }
            (Self::NotFound(a), Self::NotFound(b)) | (Self::Conflict(a), Self::Conflict(b)) => {
                a == b
            }
            (Self::KeyReused { key: a, run: r }, Self::KeyReused { key: b, run: s }) => {
                a == b && r == s
            }
            (Self::Cancelled { run: r, by: a }, Self::Cancelled { run: s, by: b }) => {
                r == s && a == b
            }
            _ => false,
        }
    }
}

impl Eq for MemoryError {}
