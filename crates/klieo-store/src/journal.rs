//! [`InMemoryJournal`]: a [`Journal`] kept in the process's memory, with
//! leases timed by tokio's clock.

use crate::ledger::Ledger;
use crate::queue::Queue;
use async_trait::async_trait;
use klieo_types::{
    Commit, Episode, Journal, MemoryError, MessageLog, RunId, RunRecord, RunState, SpendLedger,
    ThreadId,
};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

/// Conversations, event logs and run journals in the process's memory: a
/// [`ShortTermMemory`](klieo_types::ShortTermMemory), an
/// [`EpisodicMemory`](klieo_types::EpisodicMemory) and a [`Journal`] that
/// behaves like klieo's database stores, with no database.
///
/// It is for tests of durable agents (resume, approvals, leases) and for
/// programs whose runs need not outlive the process. A [`Commit`] goes in
/// whole or not at all: its messages, its episodes and the run's pending
/// step land under one lock, after its checks —
/// [`Commit::expected_episodes`] against the run's count of episodes, and
/// [`Commit::holder`] against the run's lease — refuse it with
/// [`MemoryError::Conflict`] as the database stores do.
///
/// Leases ([`Journal::lease`]) are timed by [`tokio::time::Instant`], so a
/// test on a runtime with paused time (`#[tokio::test(start_paused =
/// true)]`) makes a lease run out with `tokio::time::advance`, without
/// waiting.
///
/// Cloning is cheap and shares the store: clones stand for the processes
/// that share one database (a crashed worker and the one that resumes its
/// run). Every call takes one lock for as long as it copies values in or
/// out, so runs on one store wait for each other briefly; klieo-runtime's
/// sharded `InMemoryShortTerm` and `InMemoryEpisodic` suit many concurrent
/// runs that need no journal.
///
/// ```
/// use klieo_store::InMemoryJournal;
/// use klieo_types::{Commit, Episode, EpisodicMemory, Journal, MemoryError, RunId, ThreadId};
/// use std::time::Duration;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build()?.block_on(async {
/// let store = InMemoryJournal::new();
/// let run = RunId::new();
/// assert!(store.lease(run, "worker-1", Duration::from_secs(30)).await?);
/// assert!(!store.lease(run, "worker-2", Duration::from_secs(30)).await?);
///
/// let started = Commit::new(run, ThreadId::new("t"))
///     .with_episodes(vec![Episode::Started { agent: "calc".into() }]);
/// let refused = store.commit(started.clone().with_holder("worker-2")).await;
/// assert!(matches!(refused, Err(MemoryError::Conflict(_))));
/// store.commit(started.with_holder("worker-1")).await?;
/// assert_eq!(store.replay(run).await?.len(), 1);
/// # Ok::<(), MemoryError>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default)]
pub struct InMemoryJournal {
    state: Arc<Mutex<State>>,
}

/// Everything the store holds, under one lock.
#[derive(Default)]
pub(crate) struct State {
    pub(crate) threads: HashMap<ThreadId, MessageLog>,
    /// Each run's episodes; ordered by id, which is creation order.
    pub(crate) logs: BTreeMap<RunId, Vec<Episode>>,
    runs: HashMap<RunId, RunRecord>,
    leases: HashMap<RunId, Lease>,
    /// Each run's state and, for a submitted run, its submission.
    pub(crate) queue: Queue,
    /// Keys' spend and runs' reservations.
    pub(crate) ledger: Ledger,
}

/// Who holds a run's lease, and until when (`None`: a lease so long that
/// the clock cannot say when it ends).
pub(crate) struct Lease {
    holder: String,
    until: Option<Instant>,
}

impl Lease {
    pub(crate) fn live_at(&self, now: Instant) -> bool {
        self.until.is_none_or(|until| until > now)
    }
}

impl State {
    /// The lease of `run` if a holder other than `holder` has it live.
    pub(crate) fn held_by_other(&self, run: RunId, holder: &str, now: Instant) -> Option<&Lease> {
        self.leases
            .get(&run)
            .filter(|lease| lease.holder != holder && lease.live_at(now))
    }

    /// Gives `holder` the lease of `run` for `ttl` from `now`.
    pub(crate) fn take_lease(&mut self, run: RunId, holder: &str, ttl: Duration, now: Instant) {
        let lease = Lease {
            holder: holder.to_owned(),
            until: now.checked_add(ttl),
        };
        self.leases.insert(run, lease);
    }

    /// Drops whatever lease `run` has.
    pub(crate) fn give_up_lease(&mut self, run: RunId) {
        self.leases.remove(&run);
    }

    /// The journal's record of `run`, when it has one.
    pub(crate) fn record(&self, run: RunId) -> Option<&RunRecord> {
        self.runs.get(&run)
    }

    /// The thread `run` talks on: its record's, else its submission's (a
    /// run submitted and not committed yet).
    pub(crate) fn thread_of(&self, run: RunId) -> Option<ThreadId> {
        match self.record(run) {
            Some(record) => Some(record.thread.clone()),
            None => self
                .queue
                .entry(run)
                .and_then(|entry| entry.submission.as_ref())
                .map(|(submission, _)| submission.thread_for(run)),
        }
    }

    /// Whether a live lease of `run` is held by anyone.
    pub(crate) fn leased(&self, run: RunId, now: Instant) -> bool {
        self.leases
            .get(&run)
            .is_some_and(|lease| lease.live_at(now))
    }

    /// Refuses `commit` when its checks fail, having changed nothing.
    fn check(&self, commit: &Commit) -> Result<(), MemoryError> {
        // A run cancelled, or a child run started under a cancelled one.
        for run in std::iter::once(commit.run).chain(commit.parent()) {
            if let Some(by) = self.queue.cancelled_by(run) {
                return Err(MemoryError::Cancelled {
                    run,
                    by: by.to_owned(),
                });
            }
        }
        if let Some(holder) = &commit.holder {
            if let Some(lease) = self.held_by_other(commit.run, holder, Instant::now()) {
                return Err(MemoryError::Conflict(format!(
                    "another worker holds the lease of run {} (`{}`)",
                    commit.run, lease.holder
                )));
            }
        }
        if let Some(settlement) = &commit.settlement {
            self.ledger.check(commit.run, settlement, Instant::now())?;
        }
        if let Some(expected) = commit.expected_episodes {
            let found = self.logs.get(&commit.run).map_or(0, Vec::len);
            if u64::try_from(found).ok() != Some(expected) {
                return Err(MemoryError::Conflict(format!(
                    "run {} has {found} episodes, not the {expected} this commit expected",
                    commit.run
                )));
            }
        }
        Ok(())
    }
}

impl InMemoryJournal {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The store, locked; a panic elsewhere while it was held leaves data
    /// that is still whole (every change under it is a push, an insert or
    /// a removal, after the checks), so the lock is taken anyway.
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for InMemoryJournal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state();
        f.debug_struct("InMemoryJournal")
            .field("threads", &state.threads.len())
            .field("runs", &state.logs.len())
            .field("leases", &state.leases.len())
            .finish()
    }
}

#[async_trait]
impl Journal for InMemoryJournal {
    async fn commit(&self, commit: Commit) -> Result<(), MemoryError> {
        let mut state = self.state();
        state.check(&commit)?;
        let after = RunState::after(&commit);
        let Commit {
            run,
            thread,
            messages,
            episodes,
            pending,
            settlement,
            summary,
            ..
        } = commit;
        if let Some(summary) = summary {
            // Checked before anything is written: a refused summary
            // refuses the whole commit.
            state
                .threads
                .entry(thread.clone())
                .or_default()
                .add_summary(summary)?;
        }
        if let Some(settlement) = settlement {
            state.ledger.settle(run, settlement);
        }
        if !messages.is_empty() {
            let log = state.threads.entry(thread.clone()).or_default();
            for message in messages {
                log.push(message);
            }
        }
        state.queue.committed(run, &after, &episodes);
        if !episodes.is_empty() {
            state.logs.entry(run).or_default().extend(episodes);
        }
        state.runs.insert(run, RunRecord::new(thread, pending));
        Ok(())
    }

    async fn run(&self, run: RunId) -> Result<Option<RunRecord>, MemoryError> {
        let state = self.state();
        Ok(match state.record(run) {
            Some(record) => Some(record.clone()),
            // Submitted and not committed yet: known, with its thread, as a
            // database store's submit row makes it.
            None => state
                .thread_of(run)
                .map(|thread| RunRecord::new(thread, None)),
        })
    }

    async fn lease(&self, run: RunId, holder: &str, ttl: Duration) -> Result<bool, MemoryError> {
        let now = Instant::now();
        let mut state = self.state();
        if state.held_by_other(run, holder, now).is_some()
            || state.queue.cancelled_by(run).is_some()
        {
            return Ok(false);
        }
        state.take_lease(run, holder, ttl, now);
        Ok(true)
    }

    async fn release(&self, run: RunId, holder: &str) -> Result<(), MemoryError> {
        let mut state = self.state();
        if state.leases.get(&run).is_some_and(|l| l.holder == holder) {
            state.leases.remove(&run);
            // A run given up before its end is for another worker now.
            if state.queue.is_running(run) {
                state.queue.wake();
            }
        }
        Ok(())
    }

    fn ledger(&self) -> Option<&dyn SpendLedger> {
        Some(self)
    }
}
