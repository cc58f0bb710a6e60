//! Where a run's writes go: one [`Journal`] commit when the context's two
//! memories are one journal, else the two memories one after the other;
//! and the journal's view of a run's [`Fact`]s, the episodes it records.

use crate::context::AgentContext;
use crate::fact::{Fact, ToolCallEnd};
use klieo_types::{Commit, Episode, EpisodicMemory, Error, Journal, MemoryError, ShortTermMemory};
use std::sync::Arc;

/// A run's writer; see the module docs.
pub(crate) enum Writer {
    /// Every commit is one transaction of the store.
    Journal(Arc<dyn Journal>),
    /// Messages are appended, then episodes recorded; a pending step is
    /// not kept (such memories do not outlive the process anyway).
    Memories {
        short_term: Arc<dyn ShortTermMemory>,
        episodic: Arc<dyn EpisodicMemory>,
    },
}

/// Whether two handles point at the same store.
fn same<A: ?Sized, B: ?Sized>(a: &Arc<A>, b: &Arc<B>) -> bool {
    std::ptr::addr_eq(Arc::as_ptr(a), Arc::as_ptr(b))
}

impl Writer {
    /// The writer for `ctx`: its journal, unless either memory was
    /// replaced by another store since the journal was set.
    pub(crate) fn of(ctx: &AgentContext) -> Self {
        match &ctx.journal {
            Some(journal) if same(journal, &ctx.short_term) && same(journal, &ctx.episodic) => {
                Self::Journal(Arc::clone(journal))
            }
            _ => Self::Memories {
                short_term: Arc::clone(&ctx.short_term),
                episodic: Arc::clone(&ctx.episodic),
            },
        }
    }

    /// The journal, when writes go to one.
    pub(crate) fn journal(self) -> Option<Arc<dyn Journal>> {
        match self {
            Self::Journal(journal) => Some(journal),
            Self::Memories { .. } => None,
        }
    }

    /// The journal, when writes go to one.
    pub(crate) fn journal_ref(&self) -> Option<&Arc<dyn Journal>> {
        match self {
            Self::Journal(journal) => Some(journal),
            Self::Memories { .. } => None,
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
            Fact::ModelCallEnded {
                step,
                reply,
                latency,
                ..
            } => Episode::LlmCall {
                step,
                tokens: reply.usage,
                latency_ms: u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
                finish_reason: reply.finish_reason,
                tool_calls: u32::try_from(reply.message.tool_calls.len()).unwrap_or(u32::MAX),
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
            Fact::Suspended { step, call, ticket } => Episode::Suspended {
                step,
                call_id: call.id.clone(),
                tool: call.name.clone(),
                digest: ticket.digest.clone(),
            },
            Fact::Decided {
                call_id,
                denial: None,
            } => Episode::Approved { call_id },
            Fact::Decided {
                call_id,
                denial: Some(reason),
            } => Episode::Denied { call_id, reason },
            Fact::Answered { step, .. } => Episode::Completed { steps: step },
            Fact::Failed { error, terminal } => {
                let stopped = matches!(error, Error::Suspended { .. })
                    || (self.journal_ref().is_some() && matches!(error, Error::Memory(_)));
                if stopped {
                    return None;
                }
                Episode::Failed {
                    error: terminal.episode.clone(),
                }
            }
            Fact::ConsumerDropped => Episode::Failed {
                error: crate::stream::CONSUMER_DROPPED.to_owned(),
            },
            Fact::ModelCallBegan { .. }
            | Fact::AttemptFailed { .. }
            | Fact::ModelCallFailed { .. }
            | Fact::ToolCallBegan { .. }
            | Fact::ToolResultRead { .. } => return None,
        })
    }

    /// Writes `commit`: whole, for a journal.
    pub(crate) async fn commit(&self, commit: Commit) -> Result<(), MemoryError> {
        match self {
            Self::Journal(journal) => journal.commit(commit).await,
            Self::Memories {
                short_term,
                episodic,
            } => {
                if !commit.messages.is_empty() {
                    short_term.append(&commit.thread, commit.messages).await?;
                }
                for episode in commit.episodes {
                    episodic.record(commit.run, episode).await?;
                }
                Ok(())
            }
        }
    }
}
