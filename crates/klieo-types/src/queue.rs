//! [`RunQueue`]: a journal that also queues runs, so any process that
//! opens the store can submit one and any worker can drive it.
//!
//! A run goes `Queued` (submitted) → `Running` (a worker claimed it, or a
//! process wrote to it) → `Completed`, `Failed` or `Suspended` (waiting on
//! a person; a decision makes it run again), or `Cancelled` from the
//! queue. The store keeps the state beside the run's journal and moves it
//! in the same transaction as the commit that ends or suspends the run
//! ([`RunState::after`]), so the state and the log never disagree.

use crate::error::MemoryError;
use crate::journal::Journal;
use crate::{RunId, RunState, ThreadId};
use async_trait::async_trait;
use futures_core::Stream;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

/// What [`RunQueue::wakeups`] gives a worker: an item each time a run
/// may have become claimable.
pub type Wakeups = Pin<Box<dyn Stream<Item = ()> + Send>>;

/// A run to queue: the agent that drives it (by the name workers know it
/// by) and the user's message; optionally the thread it talks on, a key
/// that makes a retried submit find the run the first one made, and a time
/// before which no worker starts it.
///
/// Defaults: a thread of its own (`run-<run id>`), no key, start at once.
///
/// ```
/// use klieo_types::{Submission, ThreadId};
/// use std::time::{Duration, SystemTime};
///
/// let later = SystemTime::now() + Duration::from_secs(60);
/// let submission = Submission::new("support", "Where is order 1042?")
///     .with_thread(ThreadId::new("customer-7"))
///     .with_key("ticket-991")
///     .with_not_before(later);
/// assert_eq!(submission.agent(), "support");
/// assert_eq!(submission.key(), Some("ticket-991"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    agent: String,
    prompt: String,
    thread: Option<ThreadId>,
    key: Option<String>,
    not_before: Option<SystemTime>,
}

impl Submission {
    /// A run of the agent named `agent`, asked `prompt`.
    pub fn new(agent: impl Into<String>, prompt: impl Into<String>) -> Self {
        Self {
            agent: agent.into(),
            prompt: prompt.into(),
            thread: None,
            key: None,
            not_before: None,
        }
    }

    /// Talks on `thread` (its history is the run's context).
    pub fn with_thread(mut self, thread: ThreadId) -> Self {
        self.thread = Some(thread);
        self
    }

    /// A submit with a key already used for the same agent, prompt and
    /// thread returns the run that key made instead of making another;
    /// for a different submission it fails with
    /// [`MemoryError::KeyReused`].
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// No worker starts the run before `time`.
    pub fn with_not_before(mut self, time: SystemTime) -> Self {
        self.not_before = Some(time);
        self
    }

    /// The agent's name.
    pub fn agent(&self) -> &str {
        &self.agent
    }

    /// The user's message.
    pub fn prompt(&self) -> &str {
        &self.prompt
    }

    /// The thread, when one was given.
    pub fn thread(&self) -> Option<&ThreadId> {
        self.thread.as_ref()
    }

    /// The idempotency key, when one was given.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// The earliest start, when one was given.
    pub fn not_before(&self) -> Option<SystemTime> {
        self.not_before
    }

    /// The thread the run of id `run` talks on: the one given, or its
    /// own.
    pub fn thread_for(&self, run: RunId) -> ThreadId {
        self.thread
            .clone()
            .unwrap_or_else(|| ThreadId::new(format!("run-{run}")))
    }

    /// What a submit of this submission does when its key already made
    /// `run` from `first`: `Ok(run)` when both ask for the same run (the
    /// same agent, prompt and thread, a thread of its own counting as
    /// `run`'s), else [`MemoryError::KeyReused`]. Every store answers a
    /// reused key with this.
    ///
    /// ```
    /// use klieo_types::{MemoryError, RunId, Submission, ThreadId};
    ///
    /// let run = RunId::new();
    /// let first = Submission::new("support", "hi").with_key("k");
    /// assert_eq!(first.resubmitted(run, &first), Ok(run));
    /// // A store that keeps the thread it gave the run answers the same.
    /// let stored = Submission::new("support", "hi").with_thread(ThreadId::new(format!("run-{run}")));
    /// assert_eq!(first.resubmitted(run, &stored), Ok(run));
    /// let other = Submission::new("support", "hello").with_key("k");
    /// assert_eq!(
    ///     other.resubmitted(run, &first),
    ///     Err(MemoryError::KeyReused { key: "k".into(), run })
    /// );
    /// ```
    pub fn resubmitted(&self, run: RunId, first: &Submission) -> Result<RunId, MemoryError> {
        let same = self.agent == first.agent
            && self.prompt == first.prompt
            && self.thread_for(run) == first.thread_for(run);
        if same {
            return Ok(run);
        }
        Err(MemoryError::KeyReused {
            key: self.key.clone().unwrap_or_default(),
            run,
        })
    }
}

/// A run a worker claimed: it holds the run's lease (as `holder`) and
/// drives it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Claimed {
    /// The run.
    pub run: RunId,
    /// The agent that drives it.
    pub agent: String,
    /// The thread it talks on.
    pub thread: ThreadId,
    /// The user's message, when the run has not started (its log is
    /// empty); `None` for a run to resume, whose worker stopped.
    pub prompt: Option<String>,
}

impl Claimed {
    /// A claimed run; see the fields.
    pub fn new(run: RunId, agent: String, thread: ThreadId, prompt: Option<String>) -> Self {
        Self {
            run,
            agent,
            thread,
            prompt,
        }
    }
}

/// A [`Journal`] that queues runs: submitted from any process, claimed by
/// workers, their [`RunState`] kept beside their log.
///
/// The claim is atomic: of two workers claiming at once, each run goes to
/// one. A store moves a run's state in [`Journal::commit`] as
/// [`RunState::after`] says; a run written without being submitted (an
/// agent run in its own process) is known as `Running` until it ends.
#[async_trait]
pub trait RunQueue: Journal {
    /// Queues `submission` and returns its run's id; with a key already
    /// used, the run that key made, or [`MemoryError::KeyReused`] when it
    /// was made for another submission.
    async fn submit(&self, submission: &Submission) -> Result<RunId, MemoryError>;

    /// Claims at most `limit` runs of the agents named in `agents`, for
    /// `holder`, leased for `ttl`: running runs whose lease ran out or was
    /// given up (their worker stopped or drained), so a run under way is
    /// taken over at once whatever waits in the queue, then queued runs
    /// whose `not_before` has passed; each kind oldest first. Suspended
    /// and finished runs are never claimed.
    async fn claim(
        &self,
        holder: &str,
        agents: &[String],
        limit: usize,
        ttl: Duration,
    ) -> Result<Vec<Claimed>, MemoryError>;

    /// Wake-ups for an idle worker: an item each time a run may have
    /// become claimable (submitted, given up by a draining worker, or let
    /// go on by a person's decision written by no worker), so
    /// the worker claims at once instead of at its next poll. Each call
    /// gives a stream of its own. An item may come with nothing to claim
    /// (another worker was quicker), and a run coming due by time (its
    /// `not_before`, an expired lease) sends none: workers still poll, less
    /// often.
    ///
    /// The default, for a store that cannot tell other processes, is
    /// `None`: its workers only poll. The stream may end (its connection
    /// lost for good); the worker then only polls.
    async fn wakeups(&self) -> Result<Option<Wakeups>, MemoryError> {
        Ok(None)
    }

    /// The run's state; `None` for a run the store does not know.
    async fn state(&self, run: RunId) -> Result<Option<RunState>, MemoryError>;

    /// Cancels a run that is not over (`by` says who, in its state and
    /// log) and returns the state it is in after: `Cancelled`, or the
    /// state of a run that is over, left as it is; `None` for a run the
    /// store does not know.
    ///
    /// A running run is cancelled in the store at once: its lease is
    /// given up and no more of its commits or leases are taken
    /// ([`MemoryError::Cancelled`]). The worker driving it learns this at
    /// its next lease renewal (a third of the lease's TTL at most) or
    /// write, whichever comes first, and stops it there; a tool call in
    /// flight is dropped, and its outcome is unknown.
    ///
    /// Only `run` is cancelled, not the child runs its calls started (an
    /// agent used as a tool): `klieo_runtime::decisions::cancel_tree`
    /// cancels a run with every run under it.
    async fn cancel(&self, run: RunId, by: &str) -> Result<Option<RunState>, MemoryError>;

    /// Gives `run` to the workers of the agent named `agent` and returns
    /// the state it is in; `None` for a run the store does not know.
    ///
    /// This is how a run no queue knows (an agent ran it in its own
    /// process, which stopped) is handed to workers, or a queued run to
    /// another agent's. A run that is not over takes `agent` as the one
    /// that drives it, and idle workers are woken: a running run is
    /// claimed once no lease is held on it (at once when its process is
    /// gone and its lease ran out; never while a live process renews it),
    /// a queued one when it is due, and a suspended one once a person
    /// decides. A run driven without a lease (`lease_ttl: None`) holds
    /// none, so assign only a run whose process is known to have stopped.
    /// A finished run is left as it is. A submission's key keeps
    /// naming the run, now for `agent`: a submit of the old agent's under
    /// that key is refused as [`MemoryError::KeyReused`].
    async fn assign(&self, run: RunId, agent: &str) -> Result<Option<RunState>, MemoryError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reused_key_is_checked_against_the_agent_prompt_and_thread() {
        let a = Submission::new("support", "hi").with_key("k");
        let run = RunId::new();
        let same = |other: Submission| a.resubmitted(run, &other).is_ok();
        assert!(same(Submission::new("support", "hi").with_key("other")));
        assert!(!same(Submission::new("support", "hello")));
        assert!(!same(Submission::new("billing", "hi")));
        assert!(!same(
            Submission::new("support", "hi").with_thread(ThreadId::new("t"))
        ));
        assert_eq!(a.thread_for(run), ThreadId::new(format!("run-{run}")));
    }
}
