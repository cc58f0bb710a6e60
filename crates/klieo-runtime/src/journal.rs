//! A context's memories: where a run's writes go (one [`Journal`] commit
//! when the context's two memories are one journal, else the two memories
//! one after the other) and where its history is read from; and the
//! journal's view of a run's [`Fact`]s, the episodes it records.

use crate::fact::{Fact, ToolCallEnd};
use crate::memory::{InMemoryEpisodic, InMemoryShortTerm};
use klieo_types::{
    Commit, Episode, EpisodicMemory, Error, History, Journal, MemoryError, ShortTermMemory,
    ThreadId,
};
use std::sync::Arc;

/// A context's memories, one choice: one store that is a journal, or
/// two separate memories (the context's own, kept in this process, or
/// those it was given); and where a run's writes go (see the module
/// docs).
#[derive(Clone)]
pub(crate) enum Memories {
    /// Every commit is one transaction of the store.
    Journal(Arc<dyn Journal>),
    /// Memories given to the context: messages are appended, then
    /// episodes recorded; a pending step is not kept (without a journal a
    /// run is not resumed, so none would be read).
    Given {
        short_term: Arc<dyn ShortTermMemory>,
        episodic: Arc<dyn EpisodicMemory>,
    },
    /// A context's own memories, kept in this process: written and read
    /// as separate memories are, but called directly (they never wait),
    /// with no future boxed for each call.
    InProcess {
        short_term: Arc<InMemoryShortTerm>,
        episodic: Arc<InMemoryEpisodic>,
    },
}

impl Memories {
    /// Memories kept in this process, new.
    pub(crate) fn in_process() -> Self {
        Self::InProcess {
            short_term: Arc::new(InMemoryShortTerm::new()),
            episodic: Arc::new(InMemoryEpisodic::new()),
        }
    }

    /// The conversation memory: the journal, or the separate one.
    pub(crate) fn short_term(&self) -> &dyn ShortTermMemory {
        match self {
            Self::Journal(journal) => &**journal,
            Self::Given { short_term, .. } => &**short_term,
            Self::InProcess { short_term, .. } => &**short_term,
        }
    }

    /// The event log: the journal, or the separate one.
    pub(crate) fn episodic(&self) -> &dyn EpisodicMemory {
        match self {
            Self::Journal(journal) => &**journal,
            Self::Given { episodic, .. } => &**episodic,
            Self::InProcess { episodic, .. } => &**episodic,
        }
    }

    /// `thread`'s history as
    /// [`ShortTermMemory::load_history`] reads it.
    pub(crate) async fn load_history(
        &self,
        thread: &ThreadId,
        max_tokens: usize,
        granule: usize,
    ) -> Result<History, MemoryError> {
        if let Some(history) = self.history_now(thread, max_tokens, granule) {
            return Ok(history);
        }
        let memory = self.short_term();
        memory.load_history(thread, max_tokens, granule).await
    }

    /// [`load_history`](Self::load_history) read at once from memories
    /// kept in this process; `None` from any other.
    pub(crate) fn history_now(
        &self,
        thread: &ThreadId,
        max_tokens: usize,
        granule: usize,
    ) -> Option<History> {
        match self {
            Self::InProcess { short_term, .. } => {
                Some(short_term.history_now(thread, max_tokens, granule))
            }
            Self::Journal(_) | Self::Given { .. } => None,
        }
    }

    /// Separate memories: `short_term` replaced, the event log kept (a
    /// journal's own, when the memories were one).
    pub(crate) fn with_short_term(self, short_term: Arc<dyn ShortTermMemory>) -> Self {
        let episodic = match self {
            Self::Journal(journal) => journal as Arc<dyn EpisodicMemory>,
            Self::Given { episodic, .. } => episodic,
            Self::InProcess { episodic, .. } => episodic,
        };
        Self::Given {
            short_term,
            episodic,
        }
    }

    /// Separate memories: `episodic` replaced, the conversation memory
    /// kept (a journal's own, when the memories were one).
    pub(crate) fn with_episodic(self, episodic: Arc<dyn EpisodicMemory>) -> Self {
        let short_term = match self {
            Self::Journal(journal) => journal as Arc<dyn ShortTermMemory>,
            Self::Given { short_term, .. } => short_term,
            Self::InProcess { short_term, .. } => short_term,
        };
        Self::Given {
            short_term,
            episodic,
        }
    }

    /// Whether these memories and `other` keep runs in one place: for
    /// separate memories, whether both are the same two; a journal and
    /// separate memories are not; two journals cannot be told (a store's
    /// clones share what they hold, which their handles do not say).
    pub(crate) fn same_store(&self, other: &Memories) -> Option<bool> {
        match (self.addresses(), other.addresses()) {
            (Some(a), Some(b)) => Some(a == b),
            (None, None) => None,
            _ => Some(false),
        }
    }

    /// The addresses of separate memories, the two of them (whichever
    /// variant holds them); `None` for a journal.
    fn addresses(&self) -> Option<(*const (), *const ())> {
        if let Self::Journal(_) = self {
            return None;
        }
        let short_term = std::ptr::from_ref(self.short_term()).cast::<()>();
        Some((short_term, std::ptr::from_ref(self.episodic()).cast::<()>()))
    }

    /// The journal, when writes go to one.
    pub(crate) fn journal_ref(&self) -> Option<&Arc<dyn Journal>> {
        match self {
            Self::Journal(journal) => Some(journal),
            Self::Given { .. } | Self::InProcess { .. } => None,
        }
    }

    /// The journal's view of `fact`: the episode it records, if any, for
    /// the engine to write in the commit the fact belongs to.
    ///
    /// A run that stopped (suspended, or its journal failed) has not
    /// ended: it records no `Failed` and is resumed later. Separate
    /// memories have nothing to resume from, so a failure of theirs is an
    /// ending.
    pub(crate) fn episode(&self, fact: Fact<'_>) -> Option<Episode> {
        Some(match fact {
            Fact::Started { agent } => Episode::Started {
                agent: agent.to_owned(),
            },
            Fact::Resumed { steps } => Episode::Resumed { steps },
            Fact::HandedOff { from, to, reason } => Episode::HandedOff {
                from: from.to_owned(),
                to: to.to_owned(),
                reason: reason.to_owned(),
            },
            Fact::WaitingOnChild { step, call, child } => Episode::WaitingOnChild {
                step,
                call_id: call.id.clone(),
                child,
            },
            Fact::ChildOf {
                parent,
                step,
                call_id,
            } => Episode::ChildOf {
                parent,
                step,
                call_id: call_id.into(),
            },
            // Only a journal is resumed, so only a journal keeps the
            // shape a resume asks for again.
            Fact::Shaped { name, schema } if self.journal_ref().is_some() => Episode::OutputShape {
                name: name.to_owned(),
                schema: schema.clone(),
            },
            Fact::ModelCallEnded {
                step,
                reply,
                latency,
                spend,
                ..
            } => Episode::LlmCall {
                step,
                tokens: reply.usage,
                latency_ms: u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
                finish_reason: reply.finish_reason,
                tool_calls: u32::try_from(reply.message.tool_calls.len()).unwrap_or(u32::MAX),
                spend: spend.map(|counted| Box::new(*counted)),
            },
            Fact::ToolCallEnded(ToolCallEnd {
                step,
                call,
                args,
                outcome,
                latency_ms,
                ..
            }) => Episode::ToolCall {
                step,
                call_id: call.id.clone(),
                name: call.name.clone(),
                args,
                result: outcome,
                latency_ms,
            },
            Fact::RateLimitWaited { step, wait } => Episode::RateLimited {
                step,
                scope: wait.scope.clone(),
                waited_ms: u64::try_from(wait.waited.as_millis()).unwrap_or(u64::MAX),
            },
            Fact::ProviderSwitched { step, switch } => Episode::ProviderSwitched {
                step,
                from: switch.from.clone(),
                to: switch.to.clone(),
                reason: switch.reason.clone(),
            },
            Fact::Suspended { step, call, ticket } => Episode::Suspended {
                step,
                call_id: call.id.clone(),
                tool: call.name.clone(),
                digest: ticket.digest.clone(),
            },
            Fact::InDoubt { step, call, ticket } => Episode::InDoubt {
                step,
                call_id: call.id.clone(),
                tool: call.name.clone(),
                digest: ticket.digest.clone(),
            },
            Fact::Decided {
                call_id,
                denial: None,
            } => Episode::Approved { call_id, by: None },
            Fact::Decided {
                call_id,
                denial: Some(reason),
            } => Episode::Denied {
                call_id,
                reason,
                by: None,
            },
            Fact::Answered { step, .. } => Episode::Completed { steps: step },
            Fact::PromptAt { index } => Episode::PromptAt { index },
            Fact::BudgetRefused {
                limit,
                max,
                spent,
                needed,
                key,
            } => Episode::BudgetRefused {
                limit,
                max,
                spent,
                needed,
                key: key.map(str::to_owned),
            },
            Fact::Failed { error, terminal } => {
                let stopped = error.waits_for_person()
                    || (self.journal_ref().is_some() && matches!(error, Error::Memory(_)));
                if stopped {
                    return None;
                }
                Episode::Failed {
                    error: terminal.episode.clone(),
                }
            }
            Fact::Compacted {
                step,
                summary,
                usage,
                ..
            } => Episode::Compacted {
                step,
                from: summary.from,
                through: summary.through,
                summary: summary.text.clone(),
                tokens: usage,
            },
            Fact::CompactionFailed { step, error, .. } => Episode::CompactionFailed {
                step,
                reason: crate::compaction::reason(error),
            },
            Fact::ConsumerDropped => Episode::Failed {
                error: crate::stream::CONSUMER_DROPPED.to_owned(),
            },
            // Written on the call's `LlmCall` (`ModelCallEnded`'s spend).
            Fact::BudgetSettled { .. }
            | Fact::BudgetReserved { .. }
            | Fact::Shaped { .. }
            | Fact::ModelCallBegan { .. }
            | Fact::AttemptFailed { .. }
            | Fact::ModelCallFailed { .. }
            | Fact::ToolCallBegan { .. }
            | Fact::CompactionBegan { .. }
            | Fact::ToolResultRead { .. }
            | Fact::NotStarted { .. }
            | Fact::Dropped => return None,
        })
    }

    /// Writes `commit`, left spent: taken whole by a journal, its parts
    /// taken by separate memories (the summary, the messages, then the
    /// episodes), and by memories kept in this process at once.
    pub(crate) async fn commit(&self, commit: &mut Commit) -> Result<(), MemoryError> {
        match self {
            Self::Journal(journal) => journal.commit(spent(commit)).await,
            Self::Given {
                short_term,
                episodic,
            } => {
                if let Some(summary) = commit.summary.take() {
                    short_term.add_summary(&commit.thread, summary).await?;
                }
                if !commit.messages.is_empty() {
                    let messages = std::mem::take(&mut commit.messages);
                    short_term.append(&commit.thread, messages).await?;
                }
                if !commit.episodes.is_empty() {
                    let episodes = std::mem::take(&mut commit.episodes);
                    episodic.record_all(commit.run, episodes).await?;
                }
                Ok(())
            }
            Self::InProcess {
                short_term,
                episodic,
            } => write_in_process(short_term, episodic, commit),
        }
    }
}

/// `commit`, taken whole for a journal's write (which owns what it
/// writes), leaving an empty commit of the same run and thread.
fn spent(commit: &mut Commit) -> Commit {
    let empty = Commit::new(commit.run, commit.thread.clone());
    std::mem::replace(commit, empty)
}

/// Writes `commit` to memories kept in this process, as separate
/// memories are written: the summary, the messages, then the episodes
/// (taken from it, where it lies: a commit is 304 bytes).
fn write_in_process(
    short_term: &InMemoryShortTerm,
    episodic: &InMemoryEpisodic,
    commit: &mut Commit,
) -> Result<(), MemoryError> {
    if let Some(summary) = commit.summary.take() {
        short_term.add_summary_now(&commit.thread, summary)?;
    }
    if !commit.messages.is_empty() {
        // Taken out of the list, which stays with the commit, emptied,
        // for the next step's (see `finish_step`).
        short_term.append_now(&commit.thread, commit.messages.drain(..));
    }
    if !commit.episodes.is_empty() {
        episodic.record_now(commit.run, std::mem::take(&mut commit.episodes));
    }
    Ok(())
}
