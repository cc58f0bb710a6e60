//! [`RunState`]: where a run is, as its store knows it, and the state a
//! commit leaves it in.

use crate::journal::Commit;
use crate::{Episode, Role, RunStatus};

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
    /// It was cancelled ([`RunQueue::cancel`](crate::RunQueue::cancel)): queued, waiting for a
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

    /// Whether [`RunQueue::cancel`](crate::RunQueue::cancel) stops a run in this state: any run
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
                Episode::Suspended { .. }
                | Episode::InDoubt { .. }
                | Episode::WaitingOnChild { .. } => state = RunState::Suspended,
                _ => {}
            }
        }
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Message, RunId, ThreadId};

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
}
