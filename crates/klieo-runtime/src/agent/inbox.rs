//! What an agent's store holds for someone to act on: the call a
//! suspended run waits on (for a person), and the runs that stopped
//! without ending (for a process starting up).

use super::Agent;
use crate::resume::journal_of;
use crate::summary::Answer;
use klieo_types::{ConfigError, Error, MemoryError, RunId, Ticket};
use serde_json::Value;

/// The call a suspended run waits on, for a person to decide with
/// [`Agent::approve`] or [`Agent::deny`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PendingApproval {
    /// The ticket that approves or denies it.
    pub ticket: Ticket,
    /// The tool it calls.
    pub tool: String,
    /// Its arguments, as the model gave them (the raw text, as a string,
    /// when they are not JSON).
    pub arguments: Value,
}

impl Agent {
    /// The call the run `run` waits on, if it waits for a person: its
    /// ticket, tool and arguments, read from the store (so a process that
    /// did not start the run, or lost its `Error::Suspended`, can show it
    /// and decide it). `None` when the run waits on no call.
    ///
    /// ```
    /// use klieo_runtime::{Agent, TypedTool};
    /// use klieo_store::InMemoryJournal;
    /// use klieo_types::testing::ScriptedLlm;
    /// use klieo_types::{ToolCall, ToolError};
    /// use serde_json::json;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build()?.block_on(async {
    /// let refund = TypedTool::new("refund", "Refunds.", |_: serde_json::Value| async {
    ///     Ok::<_, ToolError>("refunded")
    /// })
    /// .with_approval(true);
    /// let call = ToolCall::new("c1", "refund", json!({"cents": 1200}));
    /// let llm = ScriptedLlm::new().then_tool_calls(vec![call]).then_text("Refunded.");
    /// let agent = Agent::builder(llm)
    ///     .add_tool(refund)
    ///     .with_memory(InMemoryJournal::new())
    ///     .build()?;
    /// let mut events = agent.stream("Refund me");
    /// let run = events.run_id();
    /// while events.next().await.is_some() {} // ends with Err(Suspended)
    ///
    /// let waiting = agent.pending_approval(run).await?.expect("a call waits");
    /// assert_eq!((waiting.tool.as_str(), &waiting.arguments), ("refund", &json!({"cents": 1200})));
    /// assert_eq!(agent.unfinished_runs().await?, [], "it waits for a person, not a process");
    /// let answer = agent.approve_run(run).await?;
    /// assert_eq!(answer.text, "Refunded.");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn pending_approval(&self, run: RunId) -> Result<Option<PendingApproval>, Error> {
        let journal = journal_of(&self.inner.template.memories, run)?;
        crate::decisions::pending_approval(journal.as_ref(), run).await
    }

    /// Approves the call the run `run` waits on, as
    /// [`approve`](Self::approve) does with its ticket; for a run that
    /// waits on no call, [`Error::NotResumable`] saying so, and nothing
    /// runs.
    pub async fn approve_run(&self, run: RunId) -> Result<Answer, Error> {
        match self.pending_approval(run).await? {
            Some(waiting) => self.approve(&waiting.ticket).await,
            None => Err(Error::NotResumable {
                run,
                reason: "no call of it waits for an approval".into(),
            }),
        }
    }

    /// The runs in the agent's store that stopped without ending and wait
    /// for no person: what a process starting up should
    /// [`resume`](Self::resume). A run another process is driving right
    /// now is among them (its resume then fails with a
    /// `MemoryError::Conflict` at its lease). Oldest first.
    ///
    /// Reads each run's log: its cost grows with the runs the store holds.
    /// A run whose log this version cannot decode (a newer klieo wrote
    /// it) is left out, as the store's listing leaves out ids it cannot
    /// read. `Error::Config` when the agent's memories are not a journal.
    pub async fn unfinished_runs(&self) -> Result<Vec<RunId>, Error> {
        let Some(journal) = self.inner.template.memories.journal_ref() else {
            return Err(Error::Config(ConfigError::invalid(
                "Agent::unfinished_runs",
                "the agent's memories are not a journal, so none of its runs can be \
                 resumed: give it one store that is (with_memory(store), such as \
                 klieo_sqlite::SqliteStore)",
            )));
        };
        let mut unfinished = Vec::new();
        for run in journal.list_runs().await? {
            let log = match journal.replay(run).await {
                Ok(log) => log,
                // A log this version cannot read (written by a newer
                // klieo, or edited) says nothing of the others.
                Err(e @ MemoryError::Serialization { .. }) => {
                    tracing::warn!(run_id = %run, error = %e, "a run's log cannot be read; it is left out of the unfinished runs");
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            if log
                .last()
                .is_some_and(|last| !last.leaves_the_run_stopped())
            {
                unfinished.push(run);
            }
        }
        Ok(unfinished)
    }
}
