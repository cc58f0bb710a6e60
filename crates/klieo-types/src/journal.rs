//! [`Journal`]: a store that writes a run's messages, episodes and pending
//! step together, so that a crash at any instant leaves a record from
//! which the truth can be told.

use crate::error::MemoryError;
use crate::memory::{EpisodicMemory, ShortTermMemory};
use crate::{Episode, Message, RunId, Settlement, SpendLedger, ThreadId, ThreadSummary};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A step whose model reply asked for tools that have not all reported
/// back to the thread yet: written before the first tool runs, cleared by
/// the commit that appends the reply and its results to the thread.
///
/// A run found with a pending step was interrupted while its tools ran:
/// each of `reply`'s calls may or may not have had its effect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PendingStep {
    /// The step's number (1 for the run's first model call).
    pub step: u32,
    /// The model's reply, with the tool calls it asked for.
    pub reply: Message,
    /// Whether its tools may have started: `false` while the step waits
    /// for an approval, before any of them ran.
    #[serde(default = "started")]
    pub started: bool,
}

fn started() -> bool {
    true
}

impl PendingStep {
    /// The pending step `step`, for `reply`, whose tools are about to run.
    pub fn new(step: u32, reply: Message) -> Self {
        Self {
            step,
            reply,
            started: true,
        }
    }

    /// The pending step `step`, for `reply`, waiting for an approval before
    /// any tool runs.
    pub fn awaiting_approval(step: u32, reply: Message) -> Self {
        Self {
            step,
            reply,
            started: false,
        }
    }
}

/// What a journal knows of one run beyond its episodes.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RunRecord {
    /// The thread the run talks on.
    pub thread: ThreadId,
    /// The step whose tools had not all reported back at the last commit.
    pub pending: Option<PendingStep>,
}

impl RunRecord {
    /// A run on `thread` with `pending`.
    pub fn new(thread: ThreadId, pending: Option<PendingStep>) -> Self {
        Self { thread, pending }
    }
}

/// One all-or-nothing write of a run's journal.
///
/// ```
/// use klieo_types::{Commit, Episode, Message, RunId, ThreadId};
///
/// let commit = Commit::new(RunId::new(), ThreadId::new("t"))
///     .with_messages(vec![Message::assistant("391")])
///     .with_episodes(vec![Episode::Completed { steps: 1 }]);
/// assert_eq!(commit.messages.len(), 1);
/// assert!(commit.pending.is_none());
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Commit {
    /// The run written for.
    pub run: RunId,
    /// The run's thread.
    pub thread: ThreadId,
    /// Appended to the thread, in order.
    pub messages: Vec<Message>,
    /// Recorded in the run's event log, in order, after its earlier ones.
    pub episodes: Vec<Episode>,
    /// The run's pending step once this commit is in: `None` clears it.
    pub pending: Option<PendingStep>,
    /// When set, the commit goes in only if the run has exactly this many
    /// episodes, and is otherwise refused with [`MemoryError::Conflict`]:
    /// of two processes that read the same state and act on it, one wins.
    pub expected_episodes: Option<u64>,
    /// When set, the commit is refused with [`MemoryError::Conflict`] if
    /// another holder has a live lease on the run ([`Journal::lease`]).
    pub holder: Option<String>,
    /// A key's spend to settle in the same transaction: added to the
    /// key's ledger, and the run's reservation on it dropped (see
    /// [`SpendLedger`](crate::SpendLedger)). A journal that keeps no
    /// ledger ignores it.
    pub settlement: Option<Settlement>,
    /// A summary of the thread to keep in the same transaction (see
    /// [`ShortTermMemory::add_summary`]): the whole commit is refused
    /// with [`MemoryError::SummaryRefused`] when the summary does not follow
    /// the thread's latest.
    pub summary: Option<ThreadSummary>,
}

impl Commit {
    /// The run this commit's run is a child of, when the commit starts a
    /// child run (it records `Episode::ChildOf`). A store refuses it with
    /// [`MemoryError::Cancelled`](crate::MemoryError::Cancelled) when
    /// that parent was cancelled: no child starts under a cancelled run.
    ///
    /// ```
    /// use klieo_types::{Commit, Episode, RunId, ThreadId};
    ///
    /// let parent = RunId::new();
    /// let child = parent.child("k");
    /// let first = Commit::new(child, ThreadId::new("t")).with_episodes(vec![Episode::ChildOf {
    ///     parent,
    ///     step: 1,
    ///     call_id: "c1".into(),
    /// }]);
    /// assert_eq!(first.parent(), Some(parent));
    /// assert_eq!(Commit::new(parent, ThreadId::new("t")).parent(), None);
    /// ```
    pub fn parent(&self) -> Option<RunId> {
        self.episodes.iter().find_map(|episode| match episode {
            Episode::ChildOf { parent, .. } => Some(*parent),
            _ => None,
        })
    }

    /// A commit for `run` on `thread` that writes nothing yet and leaves
    /// the run with no pending step.
    #[inline]
    pub fn new(run: RunId, thread: ThreadId) -> Self {
        Self {
            run,
            thread,
            messages: Vec::new(),
            episodes: Vec::new(),
            pending: None,
            expected_episodes: None,
            holder: None,
            settlement: None,
            summary: None,
        }
    }

    /// Appends these messages to the thread.
    #[inline]
    pub fn with_messages(mut self, messages: Vec<Message>) -> Self {
        self.messages = messages;
        self
    }

    /// Records these episodes.
    #[inline]
    pub fn with_episodes(mut self, episodes: Vec<Episode>) -> Self {
        self.episodes = episodes;
        self
    }

    /// Leaves the run with this pending step.
    #[inline]
    pub fn with_pending(mut self, pending: PendingStep) -> Self {
        self.pending = Some(pending);
        self
    }

    /// Goes in only if the run has exactly `count` episodes.
    pub fn with_expected_episodes(mut self, count: u64) -> Self {
        self.expected_episodes = Some(count);
        self
    }

    /// Goes in only if no other holder has a live lease on the run.
    pub fn with_holder(mut self, holder: impl Into<String>) -> Self {
        self.holder = Some(holder.into());
        self
    }

    /// Keeps `summary` of the thread in the same transaction.
    pub fn with_summary(mut self, summary: ThreadSummary) -> Self {
        self.summary = Some(summary);
        self
    }

    /// Settles `settlement` in the same transaction.
    pub fn with_settlement(mut self, settlement: Settlement) -> Self {
        self.settlement = Some(settlement);
        self
    }
}

/// A memory that is both a [`ShortTermMemory`] and an [`EpisodicMemory`]
/// and writes a [`Commit`] whole: its messages, its episodes and the run's
/// pending step land together or not at all, and are durable when
/// `commit` returns.
///
/// The runtime writes through it when a context's two memories are one
/// store that is a journal (`AgentContext::with_memory`): once per step
/// that ends with an answer, and twice per step that calls tools (the
/// reply as a [`PendingStep`] before the first tool runs, then the reply,
/// the results and their episodes). Memories that are not journals get
/// the same writes one after another.
#[async_trait]
pub trait Journal: ShortTermMemory + EpisodicMemory {
    /// Writes `commit` whole, or returns an error having written nothing.
    async fn commit(&self, commit: Commit) -> Result<(), MemoryError>;

    /// What the journal holds of `run`: its thread, and its pending step
    /// as its last commit left it. A run submitted to the journal's
    /// [`RunQueue`](crate::RunQueue) and not committed yet is known, with
    /// its submission's thread and no pending step. `None` for a run
    /// neither committed through the journal nor submitted to it.
    async fn run(&self, run: RunId) -> Result<Option<RunRecord>, MemoryError>;

    /// The pending step of `run`, if its last commit left one.
    async fn pending(&self, run: RunId) -> Result<Option<PendingStep>, MemoryError> {
        Ok(self.run(run).await?.and_then(|record| record.pending))
    }

    /// Takes or renews the lease of `run` for `holder` until `ttl` from
    /// now by the store's clock, unless another holder's lease is still
    /// live; returns whether `holder` holds it now. A worker drives a run
    /// only while it holds its lease, renewing it as it goes; a crashed
    /// worker's lease runs out, and another may take the run over. A
    /// store that queues runs ([`RunQueue`](crate::RunQueue)) grants no
    /// lease on a cancelled run, and refuses its commits with
    /// [`MemoryError::Cancelled`].
    ///
    /// The default, for a store only one process uses, grants every lease.
    async fn lease(&self, run: RunId, holder: &str, ttl: Duration) -> Result<bool, MemoryError> {
        let _ = (run, holder, ttl);
        Ok(true)
    }

    /// Gives up `holder`'s lease of `run`, if it has it.
    async fn release(&self, run: RunId, holder: &str) -> Result<(), MemoryError> {
        let _ = (run, holder);
        Ok(())
    }

    /// The ledger of keys' spend this journal keeps, if it keeps one; it
    /// then settles each commit's [`Commit::settlement`] with the commit.
    /// `None` by default: runs whose budgets name a key are refused on a
    /// journal without one.
    fn ledger(&self) -> Option<&dyn SpendLedger> {
        None
    }
}
