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
use crate::journal::{Commit, Journal};
use crate::{Episode, Role, RunId, RunStatus, ThreadId};
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

/// Where a run is, as its store knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RunState {
    /// Submitted; no worker has claimed it yet (or it waits for its
    /// `not_before`, or for a worker that knows its agent).
    Queued,
    /// A worker drives it, or a process wrote to it last.
    Running,
    /// It waits for a person: to approve or deny a tool call, or to
    /// settle one whose outcome a stop lost.
    Suspended,
    /// It ended with this answer.
    Completed {
        /// The model's last answer.
        answer: String,
    },
    /// It ended without an answer.
    Failed {
        /// Why, as the run's log says.
        error: String,
    },
    /// It was cancelled ([`RunQueue::cancel`]): queued, waiting for a
    /// person, or while a worker drove it.
    Cancelled {
        /// Who cancelled it, as they said.
        by: String,
    },
}

impl RunState {
    /// The state's name: `queued`, `running`, `suspended`, `completed`,
    /// `failed` or `cancelled`.
    ///
    /// ```
    /// use klieo_types::RunState;
    ///
    /// assert_eq!(RunState::Failed { error: "boom".into() }.name(), "failed");
    /// ```
    pub fn name(&self) -> &'static str {
        self.status().name()
    }

    /// The state's status: its name, without what it carries.
    pub fn status(&self) -> RunStatus {
        match self {
            Self::Queued => RunStatus::Queued,
            Self::Running => RunStatus::Running,
            Self::Suspended => RunStatus::Suspended,
            Self::Completed { .. } => RunStatus::Completed,
            Self::Failed { .. } => RunStatus::Failed,
            Self::Cancelled { .. } => RunStatus::Cancelled,
        }
    }

    /// What the state says besides its name: the answer, the error, or
    /// who cancelled the run.
    pub fn outcome(&self) -> Option<&str> {
        match self {
            Self::Completed { answer } => Some(answer),
            Self::Failed { error } => Some(error),
            Self::Cancelled { by } => Some(by),
            Self::Queued | Self::Running | Self::Suspended => None,
        }
    }

    /// Whether the run is over: completed, failed or cancelled.
    pub fn is_finished(&self) -> bool {
        matches!(
            self,
            Self::Completed { .. } | Self::Failed { .. } | Self::Cancelled { .. }
        )
    }

    /// Whether [`RunQueue::cancel`] stops a run in this state: any run
    /// not over yet (queued, running, or suspended for a person); a
    /// finished run is left as it is.
    pub fn is_cancellable(&self) -> bool {
        !self.is_finished()
    }

    /// What a store records when it cancels a run for `by`: the run's
    /// state, and the episode that ends its log.
    ///
    /// ```
    /// use klieo_types::{Episode, RunState};
    ///
    /// let (state, episode) = RunState::cancellation("ops");
    /// assert_eq!(state, RunState::Cancelled { by: "ops".into() });
    /// assert_eq!(episode, Episode::Failed { error: "cancelled by ops".into() });
    /// ```
    pub fn cancellation(by: &str) -> (RunState, Episode) {
        let state = RunState::Cancelled { by: by.to_owned() };
        let error = format!("cancelled by {by}");
        (state, Episode::Failed { error })
    }

    /// The state `commit` leaves its run in: ended or suspended when it
    /// records that, else running. A store keeps this beside the run, in
    /// the commit's own transaction.
    ///
    /// ```
    /// use klieo_types::{Commit, Episode, Message, RunId, RunState, ThreadId};
    ///
    /// let done = Commit::new(RunId::new(), ThreadId::new("t"))
    ///     .with_messages(vec![Message::assistant("391")])
    ///     .with_episodes(vec![Episode::Completed { steps: 2 }]);
    /// assert_eq!(RunState::after(&done), RunState::Completed { answer: "391".into() });
    /// ```
    pub fn after(commit: &Commit) -> RunState {
        let mut state = RunState::Running;
        for episode in &commit.episodes {
            match episode {
                Episode::Completed { .. } => {
                    let answer = commit
                        .messages
                        .iter()
                        .rev()
                        .find(|m| m.role == Role::Assistant)
                        .map(|m| m.content.clone())
                        .unwrap_or_default();
                    state = RunState::Completed { answer };
                }
                Episode::Failed { error } => {
                    state = RunState::Failed {
                        error: error.clone(),
                    }
                }
                Episode::Suspended { .. } | Episode::InDoubt { .. } => state = RunState::Suspended,
                _ => {}
            }
        }
        state
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
    /// `holder`, leased for `ttl`: queued runs whose `not_before` has
    /// passed, oldest first, then running runs whose lease ran out (their
    /// worker stopped). Suspended and finished runs are never claimed.
    async fn claim(
        &self,
        holder: &str,
        agents: &[String],
        limit: usize,
        ttl: Duration,
    ) -> Result<Vec<Claimed>, MemoryError>;

    /// Wake-ups for an idle worker: an item each time a run may have
    /// become claimable (submitted, or given up by a draining worker), so
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
    async fn cancel(&self, run: RunId, by: &str) -> Result<Option<RunState>, MemoryError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Message;

    fn commit(messages: Vec<Message>, episodes: Vec<Episode>) -> Commit {
        Commit::new(RunId::new(), ThreadId::new("t"))
            .with_messages(messages)
            .with_episodes(episodes)
    }

    #[test]
    fn a_commit_moves_its_run_by_the_episodes_it_records() {
        let started = commit(
            vec![Message::user("hi")],
            vec![Episode::Started { agent: "a".into() }],
        );
        assert_eq!(RunState::after(&started), RunState::Running);
        let failed = commit(vec![], vec![Episode::Failed { error: "x".into() }]);
        assert_eq!(
            RunState::after(&failed),
            RunState::Failed { error: "x".into() }
        );
        let suspended = commit(
            vec![],
            vec![Episode::Suspended {
                step: 1,
                call_id: "c".into(),
                tool: "t".into(),
                digest: "d".into(),
            }],
        );
        assert_eq!(RunState::after(&suspended), RunState::Suspended);
        let answered = commit(
            vec![Message::assistant("first"), Message::assistant("last")],
            vec![Episode::Completed { steps: 1 }],
        );
        assert_eq!(
            RunState::after(&answered),
            RunState::Completed {
                answer: "last".into()
            }
        );
        assert!(RunState::after(&answered).is_finished());
        assert!(!RunState::Suspended.is_finished());
    }

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
