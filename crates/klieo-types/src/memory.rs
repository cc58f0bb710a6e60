//! Memory traits: [`ShortTermMemory`] keeps conversations, [`EpisodicMemory`]
//! keeps the event log of runs.

use crate::episode::Episode;
use crate::error::MemoryError;
use crate::ids::{RunId, ThreadId};
use crate::message::Message;
use crate::summary::{History, ThreadSummary};
use crate::transcript::Transcript;
use async_trait::async_trait;

/// The messages of each conversation thread.
///
/// Implementations must be safe to share between runs that work on the
/// same thread at once: appends are atomic (all messages of one call land
/// together, in order) and loads see a consistent prefix.
/// [`MessageLog`](crate::MessageLog) does the token accounting for a
/// backend that keeps threads in memory.
#[async_trait]
pub trait ShortTermMemory: Send + Sync {
    /// Appends messages to the thread, in order.
    async fn append(&self, thread: &ThreadId, messages: Vec<Message>) -> Result<(), MemoryError>;

    /// The newest messages whose estimated tokens fit `max_tokens`, oldest
    /// first, never starting with a tool result whose assistant tool-call
    /// message was cut.
    async fn load(&self, thread: &ThreadId, max_tokens: usize) -> Result<Transcript, MemoryError>;

    /// [`load`](Self::load), with the cut moved forward to a multiple of
    /// `granule` of the thread's estimated tokens: the oldest message
    /// loaded then changes only each `granule` tokens the thread grows
    /// by, so consecutive requests start alike, which servers that cache
    /// prompts (llama.cpp's, OpenAI's) reuse. What is loaded fits
    /// `max_tokens`; it holds at least `max_tokens - granule` but for the
    /// message the cut falls in and the tool results whose call it
    /// dropped, and may be empty where `load` would not be (a newest turn
    /// the cut falls in). A granule over `max_tokens` counts as
    /// `max_tokens`. The default cuts as `load` does (a store that keeps
    /// no running sums); klieo's stores override it.
    async fn load_stable(
        &self,
        thread: &ThreadId,
        max_tokens: usize,
        granule: usize,
    ) -> Result<Transcript, MemoryError> {
        let _ = granule;
        self.load(thread, max_tokens).await
    }

    /// The thread's history as a model reads it: its latest summary (see
    /// [`add_summary`](Self::add_summary)), then the newest messages after
    /// it that fit `max_tokens` with the summary's message, cut as
    /// [`load_stable`](Self::load_stable) cuts (`granule` of 1 cuts as
    /// [`load`](Self::load)), with the thread's index of the first. The
    /// default, for a store that keeps no summaries, is `load_stable`'s
    /// messages, unnumbered ([`History::first`] is `None`). klieo's stores
    /// override it.
    async fn load_history(
        &self,
        thread: &ThreadId,
        max_tokens: usize,
        granule: usize,
    ) -> Result<History, MemoryError> {
        let messages = self.load_stable(thread, max_tokens, granule).await?;
        Ok(History::unnumbered(messages))
    }

    /// Keeps `summary` beside the thread's messages, which stay as they
    /// are: from now on [`load_history`](Self::load_history) reads its
    /// text in place of the messages before its `through`. Refused with
    /// [`MemoryError::SummaryRefused`] unless it takes up where the thread's
    /// latest summary stopped and ends within the thread
    /// ([`ThreadSummary::follows`]): another run summarised the thread
    /// first. The default refuses with [`MemoryError::Unsupported`].
    async fn add_summary(
        &self,
        thread: &ThreadId,
        summary: ThreadSummary,
    ) -> Result<(), MemoryError> {
        let _ = (thread, summary);
        Err(MemoryError::Unsupported(
            "this memory keeps no thread summaries".into(),
        ))
    }

    /// Forgets the thread (its summaries too).
    async fn clear(&self, thread: &ThreadId) -> Result<(), MemoryError>;
}

/// The event log of runs.
#[async_trait]
pub trait EpisodicMemory: Send + Sync {
    /// Appends one event to a run's log.
    async fn record(&self, run: RunId, episode: Episode) -> Result<(), MemoryError>;

    /// Appends events to a run's log, in order. The default records them
    /// one by one; a store that can take them at once should (the
    /// runtime hands a step's events over together).
    async fn record_all(&self, run: RunId, episodes: Vec<Episode>) -> Result<(), MemoryError> {
        for episode in episodes {
            self.record(run, episode).await?;
        }
        Ok(())
    }

    /// A run's events, in the order they were recorded; empty for an
    /// unknown run.
    async fn replay(&self, run: RunId) -> Result<Vec<Episode>, MemoryError>;

    /// Every run with at least one event, oldest first.
    async fn list_runs(&self) -> Result<Vec<RunId>, MemoryError>;
}
