//! Where a run's writes go: one [`Journal`] commit when the context's two
//! memories are one journal, else the two memories one after the other.

use crate::context::AgentContext;
use klieo_types::{Commit, EpisodicMemory, Journal, MemoryError, ShortTermMemory};
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
