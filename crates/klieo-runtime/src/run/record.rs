//! Writing a run's journal: each commit fenced by the episode count the
//! run last saw and carrying the settlement of its key's reservation;
//! lone episodes; and how a run that ends without an answer is recorded.

use super::Run;
use crate::fact::Fact;
use crate::stream::terminal_for;
use crate::streaming::Ended;
use klieo_types::{Commit, Episode, Error, ErrorChain, LlmError, MemoryError, PendingStep};
use std::future::Future;
use std::sync::PoisonError;

/// What a run knows of its journal's episode count.
#[derive(Clone, Copy)]
pub(super) enum Fence {
    /// Nothing: writes are not fenced (no journal, or a write's outcome
    /// unknown).
    Unknown,
    /// The journal holds this many of the run's episodes.
    Episodes(u64),
}

impl Fence {
    pub(super) fn expected(self) -> Option<u64> {
        match self {
            Self::Unknown => None,
            Self::Episodes(n) => Some(n),
        }
    }
}

impl Run {
    /// Writes `commit`: in one transaction when the memories are a journal,
    /// refused while another worker holds the run's lease.
    ///
    /// Fenced: once the run knows how many episodes its journal holds (a
    /// new run from its `Started`, a resumed or decided one from the log
    /// it read), every write expects exactly that many and is refused
    /// with `MemoryError::Conflict` otherwise, so a second process that
    /// took the run up meanwhile (a resume racing this one, leases or
    /// not) stops this one at its next write, before any tool of a new
    /// step runs. A commit that states its own expectation is fenced by
    /// it.
    ///
    /// The commit is written from where it lies, and left spent (emptied,
    /// or taken whole by a journal): a commit is 304 bytes, and a write's
    /// future that owned it moved it twice (see docs/PERFORMANCE.md).
    pub(crate) async fn write(&self, commit: &mut Commit) -> Result<(), Error> {
        // A run its lease stopped writes nothing more (not even the
        // cancelled calls of its step): one whose lease could not be
        // renewed is taken up again once the lease has run out, as after a
        // crash; one whose lease was lost is another's, or cancelled.
        if let Some(error) = self.lease_end.error() {
            return Err(error);
        }
        // Only a journal keeps leases and counts episodes.
        if self.journaled() {
            if self.opts.lease_ttl.is_some() {
                commit.holder = Some(self.holder.clone());
            }
            if commit.expected_episodes.is_none() {
                commit.expected_episodes = self.lock_fence().expected();
            }
        }
        let after = commit
            .expected_episodes
            .map(|n| n.saturating_add(commit.episodes.len() as u64));
        // Separate memories keep no pending step: nothing to copy.
        let pending = if self.journaled() {
            commit.pending.clone()
        } else {
            commit.pending.take()
        };
        // A write abandoned mid-way (its future dropped) may or may not
        // be in, so the count is unknown until it returns; one that
        // failed wrote nothing.
        // A reservation on the run's key is settled by the next commit.
        commit.settlement = self.settlement(commit);
        let settles = commit.settlement.as_ref().map(|s| s.spend);
        // Only a journal's writes are fenced (see above).
        let fenced = self.journaled();
        let before = fenced.then(|| std::mem::replace(&mut *self.lock_fence(), Fence::Unknown));
        let written = self.ctx.memories.commit(commit).await;
        if let Err(e) = written {
            if let Some(before) = before {
                *self.lock_fence() = before;
            }
            return Err(e.into());
        }
        if let Some(spend) = settles {
            self.settled(spend);
        }
        if fenced {
            *self.lock_fence() = after.map_or(Fence::Unknown, Fence::Episodes);
        }
        *self.pending.lock().unwrap_or_else(PoisonError::into_inner) = pending;
        Ok(())
    }

    /// Forgets what the run knew of its journal's episodes, so that the
    /// next look at them reads them (a run dropped while it was taken up,
    /// whose log may end with a wait for a person).
    pub(crate) fn forget_fence(&self) {
        *self.lock_fence() = Fence::Unknown;
    }

    /// Starts the fence of a new run, whose journal holds none of its
    /// episodes yet.
    pub(crate) fn fence_new(&self) {
        *self.lock_fence() = Fence::Episodes(0);
    }

    /// Fences the run's writes at the `seen` episodes its journal held
    /// when it was taken up.
    pub(crate) fn fence_at(&self, seen: u64) {
        *self.lock_fence() = Fence::Episodes(seen);
    }

    fn lock_fence(&self) -> std::sync::MutexGuard<'_, Fence> {
        self.fence.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether a run stopped by its consumer has nothing to record: its
    /// journal holds nothing of it (it had not started), or a log that
    /// leaves it stopped ([`Episode::leaves_the_run_stopped`]: ended, or
    /// waiting for a person), written by a commit abandoned mid-way (its
    /// consumer went away while the answer was being written: in or not,
    /// unknown) or before it was taken up. The
    /// journal is read only when the run's last write was so abandoned
    /// (or it was never written to); then the fence is set from what was
    /// read, so an ending written next is refused if that commit lands
    /// after all, and the run never ends twice. A log that cannot be read
    /// is not taken as ended.
    pub(crate) async fn nothing_to_record(&self) -> bool {
        // Separate memories are not fenced: their writes are not counted.
        let Some(journal) = self.journal() else {
            return false;
        };
        match *self.lock_fence() {
            Fence::Episodes(0) => return true,
            Fence::Episodes(_) => return false,
            Fence::Unknown => {}
        }
        let Ok(log) = journal.replay(self.ctx.run_id).await else {
            return false;
        };
        if log.last().is_none_or(Episode::leaves_the_run_stopped) {
            return true;
        }
        self.fence_at(u64::try_from(log.len()).unwrap_or(u64::MAX));
        false
    }

    /// Records how a run whose consumer dropped its stream ends:
    /// `consumer-dropped` (after `before`: the call it cut off), or
    /// `cancelled` when the run's token had fired, as the run would have
    /// ended had it been read on (see [`ended_after`]; the error it ended
    /// with is returned then). Nothing is recorded when its journal holds
    /// nothing of it (it had not started) or it stopped already (see
    /// [`nothing_to_record`]).
    ///
    /// A write the consumer abandoned may land after the journal was read
    /// for it (a store whose writer goes on alone): the ending, fenced by
    /// what was read, is then refused, and the journal read again, a few
    /// times at most (see [`write_ending`]). A refusal of a fence the run
    /// knew (another process took the run up) is final: the run is that
    /// process's now.
    ///
    /// [`ended_after`]: Self::ended_after
    /// [`nothing_to_record`]: Self::nothing_to_record
    /// [`write_ending`]: Self::write_ending
    pub(crate) async fn record_dropped(&self, before: Vec<Episode>) -> Option<Error> {
        let read = matches!(*self.lock_fence(), Fence::Unknown);
        if self.nothing_to_record().await {
            return None;
        }
        if self.ctx.cancel.is_cancelled() {
            return Some(self.ended_with(before, Error::Cancelled, read).await.error);
        }
        let mut episodes = before;
        episodes.extend(self.emit(Fact::ConsumerDropped).episode);
        self.write_ending(episodes, read).await;
        None
    }

    /// Writes `episodes`, how the run ended, in one commit. When the
    /// journal was `read` for it (the run's last write abandoned, see
    /// [`nothing_to_record`]), a refusal because that write landed after
    /// the read is met by reading again, a few times at most, and by
    /// writing nothing once the log leaves the run stopped. A failure is
    /// logged, not raised: the run's own end matters more.
    ///
    /// [`nothing_to_record`]: Self::nothing_to_record
    async fn write_ending(&self, episodes: Vec<Episode>, read: bool) {
        if episodes.is_empty() {
            return;
        }
        for _ in 0..3 {
            match self.record_all(episodes.clone()).await {
                Err(Error::Memory(MemoryError::Conflict(_))) if read => {
                    self.forget_fence();
                    if self.nothing_to_record().await {
                        return;
                    }
                    // Read again or not at all: a journal that could not
                    // be read leaves the fence unknown, and an unfenced
                    // ending could land after the one that refused it.
                    if matches!(*self.lock_fence(), Fence::Unknown) {
                        tracing::warn!(
                            run_id = %self.ctx.run_id,
                            "the run's ending was not recorded: its journal could not be read again"
                        );
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!(
                        run_id = %self.ctx.run_id,
                        error = %ErrorChain(&e),
                        "the run's ending was not recorded"
                    );
                    return;
                }
                Ok(()) => return,
            }
        }
    }

    /// Runs `work`, what records the end of a stream its consumer
    /// dropped, on the current tokio runtime; outside one, says that the
    /// end is not recorded.
    pub(crate) fn spawn_dropped(&self, work: impl Future<Output = ()> + Send + 'static) {
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(work);
            }
            Err(_) => tracing::warn!(
                run_id = self.run_id(),
                "streamed run dropped outside a tokio runtime; its end is not recorded"
            ),
        }
    }

    /// Records episodes in one commit, leaving the run's pending step as
    /// it is.
    pub(crate) async fn record_all(&self, episodes: Vec<Episode>) -> Result<(), Error> {
        self.write(&mut self.side_commit().with_episodes(episodes))
            .await
    }

    /// An empty commit that leaves the run's pending step as it is: for
    /// what is written beside the steps.
    pub(crate) fn side_commit(&self) -> Commit {
        let mut commit = self.commit();
        commit.pending = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        commit
    }

    /// The run's pending step as its journal now holds it (for a resumed
    /// run, as found there).
    pub(crate) fn set_pending(&self, pending: Option<PendingStep>) {
        *self.pending.lock().unwrap_or_else(PoisonError::into_inner) = pending;
    }

    /// How the run's part ends with `error`: the children its
    /// cancellation cut off ended, a hand-off to another agent of its team
    /// settled (see `settle_handoff`), then the ending
    /// recorded (see `record_failure`), with the terminal item a
    /// streaming consumer sees.
    pub(crate) async fn ended_by(&self, error: Error) -> Ended {
        self.ended_after(Vec::new(), error).await
    }

    /// [`ended_by`](Self::ended_by), its ending written in one commit
    /// after `before` (a call its consumer cut off), so that no log holds
    /// the one without the other.
    pub(crate) async fn ended_after(&self, before: Vec<Episode>, error: Error) -> Ended {
        self.ended_with(before, error, false).await
    }

    /// [`ended_after`](Self::ended_after), the ending written as
    /// [`write_ending`](Self::write_ending) writes it, `read` saying
    /// whether the journal was read for it.
    async fn ended_with(&self, before: Vec<Episode>, error: Error, read: bool) -> Ended {
        // Stopped by its lease: one not renewed in time ends as the
        // store's failure, to be taken up again once it has run out; one
        // lost (cancelled elsewhere, or taken over) as a cancel. Nothing
        // is recorded either way (the store may take the write and end
        // the run for good).
        let error = match error {
            Error::Cancelled => self.lease_end.error().unwrap_or(Error::Cancelled),
            other => other,
        };
        // Children its cancellation cut off record their ends first.
        self.caller.children_ended().await;
        let error = self.settle_handoff(error).await;
        if self.handed_on(&error) {
            // Not an ending: its team goes on with the agent handed to,
            // and the `HandedOff` is written already.
            let item = terminal_for(&error, self.ctx.cancel.is_cancelled()).item;
            return Ended { error, item };
        }
        let item = self.record_failure(before, &error, read).await;
        Ended { error, item }
    }

    /// Records how the run ended without an answer (`Episode::Failed`, with
    /// the texts of [`terminal_for`], unless the run is left to be
    /// resumed) and returns the terminal item a streaming consumer sees;
    /// written by [`write_ending`](Self::write_ending), `read` saying
    /// whether the journal was read for it.
    async fn record_failure(&self, before: Vec<Episode>, error: &Error, read: bool) -> LlmError {
        let terminal = terminal_for(error, self.ctx.cancel.is_cancelled());
        let refused = match error {
            Error::BudgetExceeded {
                limit,
                max,
                spent,
                needed,
            } => Some((*limit, *max, *spent, *needed, None)),
            Error::KeyBudgetExceeded {
                key,
                limit,
                max,
                spent,
                needed,
            } => Some((*limit, *max, *spent, *needed, Some(key.as_str()))),
            _ => None,
        };
        let refused = refused.and_then(|(limit, max, spent, needed, key)| {
            self.emit(Fact::BudgetRefused {
                limit,
                max,
                spent,
                needed,
                key,
            })
            .episode
        });
        let failed = self.emit(Fact::Failed {
            error,
            terminal: &terminal,
        });
        if let Some(failed) = failed.episode {
            let episodes = before.into_iter().chain(refused).chain([failed]).collect();
            self.write_ending(episodes, read).await;
        }
        terminal.item
    }
}
