//! The [`InMemoryJournal`] as a [`RunQueue`]: submissions, claims and
//! states under the store's one lock, leases on tokio's clock as the
//! journal's are, `not_before` on the system clock.

use crate::InMemoryJournal;
use async_trait::async_trait;
use futures_util::stream;
use klieo_types::{
    Claimed, Episode, MemoryError, RunId, RunQueue, RunState, RunTally, Submission, ThreadId,
    Wakeups,
};
use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// Every run's state, and the submissions of those that were queued.
#[derive(Default)]
pub(crate) struct Queue {
    runs: HashMap<RunId, Entry>,
    keys: HashMap<String, RunId>,
    /// Submissions so far, numbering them in order.
    submitted: u64,
    /// Counts the times a run may have become claimable; each worker's
    /// wake-ups watch it.
    woken: tokio::sync::watch::Sender<u64>,
    /// Counts the changes of runs; each [`RunCatalog::changes`] stream
    /// watches it.
    ///
    /// [`RunCatalog::changes`]: klieo_types::RunCatalog::changes
    pub(crate) changed: tokio::sync::watch::Sender<u64>,
}

/// One run as the queue knows it.
pub(crate) struct Entry {
    pub(crate) state: RunState,
    /// How it was submitted, and its place in line; `None` for a run
    /// written without being submitted.
    pub(crate) submission: Option<(Submission, u64)>,
    /// What its commits recorded.
    pub(crate) tally: RunTally,
    /// When it last changed, in milliseconds since the Unix epoch.
    pub(crate) updated_ms: u64,
    /// The run whose call started it, for a child run.
    pub(crate) parent: Option<RunId>,
    /// Whether its submission holds a prompt: not one [`assign`]ed after
    /// it was written without being submitted, which is always taken up
    /// from its log.
    ///
    /// [`assign`]: RunQueue::assign
    pub(crate) prompted: bool,
}

impl Entry {
    fn new(state: RunState, submission: Option<(Submission, u64)>) -> Self {
        Self {
            state,
            submission,
            tally: RunTally::default(),
            updated_ms: now_ms(),
            parent: None,
            prompted: true,
        }
    }

    /// Moves the run to `state`, now.
    fn set(&mut self, state: RunState) {
        self.state = state;
        self.updated_ms = now_ms();
    }
}

/// The system clock, in milliseconds since the Unix epoch.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Queue {
    /// Tells idle workers a run may be claimable.
    pub(crate) fn wake(&self) {
        self.woken.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Tells followers a run changed.
    fn touch(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Whether `run` is running, as the queue knows it.
    pub(crate) fn is_running(&self, run: RunId) -> bool {
        self.runs
            .get(&run)
            .is_some_and(|e| e.state == RunState::Running)
    }

    /// Who cancelled `run`, when it was cancelled.
    pub(crate) fn cancelled_by(&self, run: RunId) -> Option<&str> {
        match &self.runs.get(&run)?.state {
            RunState::Cancelled { by } => Some(by),
            _ => None,
        }
    }

    /// A commit to `run` left it in `after`, having recorded `episodes`.
    pub(crate) fn committed(&mut self, run: RunId, after: &RunState, episodes: &[Episode]) {
        let entry = self
            .runs
            .entry(run)
            .or_insert_with(|| Entry::new(after.clone(), None));
        // A person's decision let a suspended run go on: a worker may
        // claim it now.
        let decided = entry.state == RunState::Suspended && *after == RunState::Running;
        entry.set(after.clone());
        for episode in episodes {
            entry.tally.add(episode);
            if let Episode::ChildOf { parent, .. } = episode {
                entry.parent = Some(*parent);
            }
        }
        if decided {
            self.wake();
        }
        self.touch();
    }

    /// What the queue knows of `run`.
    pub(crate) fn entry(&self, run: RunId) -> Option<&Entry> {
        self.runs.get(&run)
    }

    /// Every run the queue knows, in no order.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (RunId, &Entry)> {
        self.runs.iter().map(|(&run, entry)| (run, entry))
    }
}

#[async_trait]
impl RunQueue for InMemoryJournal {
    async fn submit(&self, submission: &Submission) -> Result<RunId, MemoryError> {
        let mut state = self.state();
        let queue = &mut state.queue;
        if let Some(&run) = submission.key().and_then(|key| queue.keys.get(key)) {
            // Only a submitted run has a key.
            if let Some((first, _)) = queue.runs.get(&run).and_then(|e| e.submission.as_ref()) {
                return submission.resubmitted(run, first);
            }
        }
        let run = RunId::new();
        queue.submitted += 1;
        let entry = Entry::new(
            RunState::Queued,
            Some((submission.clone(), queue.submitted)),
        );
        queue.runs.insert(run, entry);
        if let Some(key) = submission.key() {
            queue.keys.insert(key.to_owned(), run);
        }
        queue.wake();
        queue.touch();
        Ok(run)
    }

    async fn claim(
        &self,
        holder: &str,
        agents: &[String],
        limit: usize,
        ttl: Duration,
    ) -> Result<Vec<Claimed>, MemoryError> {
        let (now, wall) = (Instant::now(), SystemTime::now());
        let mut state = self.state();
        let mut due: Vec<(bool, u64, RunId)> = state
            .queue
            .runs
            .iter()
            .filter_map(|(&run, entry)| {
                let (submission, seq) = entry.submission.as_ref()?;
                if !agents.iter().any(|a| a == submission.agent()) {
                    return None;
                }
                let ready = match entry.state {
                    // A queued run another process leased (to take it up
                    // itself) is left to it.
                    RunState::Queued => {
                        submission.not_before().is_none_or(|t| t <= wall)
                            && state.held_by_other(run, holder, now).is_none()
                    }
                    RunState::Running => !state.leased(run, now),
                    _ => false,
                };
                // Runs under way first (taken over at once), then queued
                // ones; each kind oldest first.
                ready.then_some((entry.state == RunState::Queued, *seq, run))
            })
            .collect();
        due.sort_unstable();
        let mut claimed = Vec::new();
        for (_, _, run) in due.into_iter().take(limit) {
            state.take_lease(run, holder, ttl, now);
            let fresh = state.logs.get(&run).is_none_or(Vec::is_empty);
            let Some(entry) = state.queue.runs.get_mut(&run) else {
                continue;
            };
            let fresh = fresh && entry.prompted;
            entry.set(RunState::Running);
            if let Some((submission, _)) = &entry.submission {
                claimed.push(Claimed::new(
                    run,
                    submission.agent().to_owned(),
                    submission.thread_for(run),
                    fresh.then(|| submission.prompt().to_owned()),
                ));
            }
        }
        if !claimed.is_empty() {
            state.queue.touch();
        }
        Ok(claimed)
    }

    async fn wakeups(&self) -> Result<Option<Wakeups>, MemoryError> {
        let woken = self.state().queue.woken.subscribe();
        let each = stream::unfold(woken, |mut woken| async move {
            woken.changed().await.ok()?;
            Some(((), woken))
        });
        Ok(Some(Box::pin(each)))
    }

    async fn state(&self, run: RunId) -> Result<Option<RunState>, MemoryError> {
        Ok(self.state().queue.runs.get(&run).map(|e| e.state.clone()))
    }

    async fn cancel(&self, run: RunId, by: &str) -> Result<Option<RunState>, MemoryError> {
        let mut state = self.state();
        let Some(entry) = state.queue.runs.get_mut(&run) else {
            return Ok(None);
        };
        if !entry.state.is_cancellable() {
            return Ok(Some(entry.state.clone()));
        }
        let (after, episode) = RunState::cancellation(by);
        entry.set(after.clone());
        state.logs.entry(run).or_default().push(episode);
        state.give_up_lease(run);
        state.queue.touch();
        Ok(Some(after))
    }

    async fn assign(&self, run: RunId, agent: &str) -> Result<Option<RunState>, MemoryError> {
        let mut state = self.state();
        let thread = state.record(run).map(|r| r.thread.clone());
        let queue = &mut state.queue;
        let Some(entry) = queue.runs.get_mut(&run) else {
            return Ok(None);
        };
        if entry.state.is_finished() {
            return Ok(Some(entry.state.clone()));
        }
        let assigned = match entry.submission.take() {
            Some((first, seq)) => (for_agent(&first, agent), seq),
            None => {
                // A run written without being submitted: it has no
                // prompt, and is taken up from its log.
                entry.prompted = false;
                queue.submitted += 1;
                let thread = thread.unwrap_or_else(|| ThreadId::new(format!("run-{run}")));
                (
                    Submission::new(agent, "").with_thread(thread),
                    queue.submitted,
                )
            }
        };
        entry.submission = Some(assigned);
        let now = entry.state.clone();
        entry.set(now.clone());
        queue.wake();
        queue.touch();
        Ok(Some(now))
    }
}

/// `first`, as submitted for the agent named `agent`.
fn for_agent(first: &Submission, agent: &str) -> Submission {
    let mut submission = Submission::new(agent, first.prompt());
    if let Some(thread) = first.thread() {
        submission = submission.with_thread(thread.clone());
    }
    if let Some(key) = first.key() {
        submission = submission.with_key(key);
    }
    if let Some(time) = first.not_before() {
        submission = submission.with_not_before(time);
    }
    submission
}
