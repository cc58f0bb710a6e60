//! Decisions made outside a run: a person approves or denies the call a
//! suspended run waits on, or settles a call whose outcome a stop lost
//! (in doubt), from a process that holds no agent (the `klieo` command,
//! a console), and the run goes on where an agent is.

pub use crate::team::tree::handed_to;
pub use tree::{cancel_tree, going_under, TreeCancelled, Under};

mod tree;

use crate::agent::PendingApproval;
use crate::approval::{waiting_for, waiting_on, Waiting};
use klieo_types::{Commit, Episode, Error, Journal, MemoryError, RunId, Ticket};
use serde_json::Value;

/// A person's decision on the call a suspended run waits on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decision {
    /// The call may run.
    Approve {
        /// Who approved it, kept in the run's log.
        by: String,
    },
    /// The call does not run; the model is told `reason` as its result.
    Deny {
        /// Why, which the model is told.
        reason: String,
        /// Who denied it, kept in the run's log.
        by: String,
    },
}

/// The call the run `run` waits on in `journal`, if it waits for a person:
/// as [`Agent::pending_approval`](crate::Agent::pending_approval), for a
/// process that holds no agent. A run that waits with a child run (an
/// agent used as a tool) waits on the child's call: its ticket names the
/// child run, as the [`Error::Suspended`] the run stopped with did.
pub async fn pending_approval(
    journal: &dyn Journal,
    run: RunId,
) -> Result<Option<PendingApproval>, Error> {
    let at = where_it_waits(journal, run).await?;
    let Ok(Waiting { call, pending, .. }) = waiting_on(journal, at).await? else {
        return Ok(None);
    };
    Ok(Some(shown(at, pending.step, call)))
}

/// The run whose call `run` waits on: `run` itself, or, when its log
/// ends waiting with a child run, that child (followed down the tree at
/// most as deep as a tree goes).
async fn where_it_waits(journal: &dyn Journal, run: RunId) -> Result<RunId, Error> {
    let mut at = run;
    for _ in 0..crate::team::tree::MAX_DEPTH {
        match journal.replay(at).await?.last() {
            Some(Episode::WaitingOnChild { child, .. }) if *child != at => at = *child,
            _ => break,
        }
    }
    Ok(at)
}

/// The call `call` of `run`'s step `step`, as a person is shown it: its
/// ticket, tool and arguments.
fn shown(run: RunId, step: u32, call: klieo_types::ToolCall) -> PendingApproval {
    PendingApproval {
        ticket: Ticket::for_call(run, step, &call),
        arguments: call.recorded_arguments().to_value(),
        tool: call.name.to_string(),
    }
}

/// Records `decision` on the call `ticket` names, in `journal`, without
/// driving the run on: the run is then for a process with its agent to
/// carry on, which runs the approved call (or tells the model of the
/// denial) and goes on. A run submitted to a [`Worker`](crate::Worker)'s
/// queue is claimed by one; any other is taken up by
/// [`Agent::resume`](crate::Agent::resume) (and listed by
/// [`Agent::unfinished_runs`](crate::Agent::unfinished_runs)).
///
/// [`Error::TicketRejected`] when the run does not wait on exactly the
/// call the ticket was given for (decided already, taken up since, or a
/// ticket for other arguments); nothing is written then. The run is left
/// `running` with no lease until a worker or an agent takes it up: a
/// store that wakes idle workers (PostgreSQL's) wakes them for it, and on
/// others a worker claims it at its next poll. A child run whose caller has ended meanwhile (it waited
/// in doubt while its caller's step ended for good) ends instead, the
/// person's word kept in its log before its `Failed`.
///
/// ```
/// use klieo_runtime::decisions::{pending_approval, record_decision, Decision};
/// use klieo_runtime::{Agent, TypedTool};
/// use klieo_store::InMemoryJournal;
/// use klieo_types::testing::ScriptedLlm;
/// use klieo_types::{Episode, EpisodicMemory, Error, ToolCall, ToolError};
/// use serde_json::json;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build()?.block_on(async {
/// let store = InMemoryJournal::new();
/// let refund = TypedTool::new("refund", "Refunds.", |_: serde_json::Value| async {
///     Ok::<_, ToolError>("refunded")
/// })
/// .with_approval(true);
/// let call = ToolCall::new("c1", "refund", json!({"cents": 1200}));
/// let llm = ScriptedLlm::new().then_tool_calls(vec![call]).then_text("Refunded.");
/// let agent = Agent::builder(llm).add_tool(refund).with_memory(store.clone()).build()?;
/// let Err(Error::Suspended { ticket, .. }) = agent.run("Refund me").await else { panic!() };
///
/// // Elsewhere, with no agent: the decision, from the store alone.
/// let waiting = pending_approval(&store, ticket.run).await?.expect("a call waits");
/// record_decision(&store, &waiting.ticket, Decision::Approve { by: "ada".into() }).await?;
///
/// // Where the agent is, the run goes on.
/// assert_eq!(agent.resume(ticket.run).await?.text, "Refunded.");
/// let log = store.replay(ticket.run).await?;
/// assert!(log.iter().any(|e| matches!(e, Episode::Approved { by: Some(by), .. } if by == "ada")));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub async fn record_decision(
    journal: &dyn Journal,
    ticket: &Ticket,
    decision: Decision,
) -> Result<(), Error> {
    let waiting = waiting_for(journal, ticket).await?;
    let call_id: std::sync::Arc<str> = ticket.call_id.as_str().into();
    let episode = match decision {
        Decision::Approve { by } => Episode::Approved {
            call_id,
            by: Some(by),
        },
        Decision::Deny { reason, by } => Episode::Denied {
            call_id,
            reason,
            by: Some(by),
        },
    };
    record(journal, ticket, waiting, episode).await
}

/// Writes `episode`, a person's word on the call `ticket` names, to the
/// run that waits on it as `waiting` read; refused
/// ([`Error::TicketRejected`]) if another process decided, settled or
/// took up the run since.
async fn record(
    journal: &dyn Journal,
    ticket: &Ticket,
    waiting: Waiting,
    episode: Episode,
) -> Result<(), Error> {
    // A run that waits on a call has a record: its pending step is in it.
    let thread = journal
        .run(ticket.run)
        .await?
        .map(|record| record.thread)
        .ok_or_else(|| Error::TicketRejected {
            ticket: ticket.clone(),
            reason: "the store has no record of the run".into(),
        })?;
    let commit = Commit::new(ticket.run, thread)
        .with_episodes(vec![episode])
        .with_pending(waiting.pending)
        .with_expected_episodes(waiting.seen);
    journal.commit(commit).await.map_err(|e| match e {
        MemoryError::Conflict(_) => Error::TicketRejected {
            ticket: ticket.clone(),
            reason: "another process decided, settled or took up the run first".into(),
        },
        other => Error::Memory(other),
    })?;
    // A child run's parents wait with it: they go on too. The decision
    // is in; a wake that fails is finished by the next decision or wake
    // of the run, and is not this decision's failure.
    if let Err(e) = crate::team::tree::wake_parents(journal, ticket.run).await {
        tracing::warn!(run_id = %ticket.run, error = %e, "the decision is recorded, but the runs that wait with this one were not woken");
    }
    // A child whose caller ended while it waited (in doubt) is over once
    // its person has said what happened.
    if let Err(e) = crate::team::tree::end_if_orphaned(journal, ticket.run).await {
        tracing::warn!(run_id = %ticket.run, error = %e, "the decision is recorded, but the run, whose caller has ended, was not ended");
    }
    Ok(())
}

/// Records an agent's decision (approved, or denied for `denial`) on the
/// call `ticket` names in a child run, whose agent is not the one
/// deciding: the tree's root, taken up next, finds the child going on.
pub(crate) async fn decide_in_child(
    journal: &dyn Journal,
    ticket: &Ticket,
    denial: Option<String>,
) -> Result<(), Error> {
    let call_id: std::sync::Arc<str> = ticket.call_id.as_str().into();
    let episode = match denial {
        None => Episode::Approved { call_id, by: None },
        Some(reason) => Episode::Denied {
            call_id,
            reason,
            by: None,
        },
    };
    let waiting = waiting_for(journal, ticket).await?;
    record(journal, ticket, waiting, episode).await
}

/// What a person says a call in doubt did.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Settled {
    /// It had its effect, and returned `output` (what the person found:
    /// a payment's receipt, the mail's id), which the model is told as
    /// the call's result.
    Happened {
        /// The call's result.
        output: Value,
    },
    /// It did not have its effect; the model is told so, and may call it
    /// again.
    DidNotHappen,
}

/// What the model is told of a call a person settled as not having
/// happened.
const DID_NOT_HAPPEN: &str = "the call did not happen: the run stopped before it had its \
     effect, as a person checked; call it again if it is still needed";

impl Settled {
    /// The outcome the log records and the model reads.
    fn outcome(self) -> klieo_types::ToolOutcome {
        match self {
            Self::Happened { output } => klieo_types::ToolOutcome::Ok { output },
            Self::DidNotHappen => klieo_types::ToolOutcome::Error {
                message: DID_NOT_HAPPEN.to_owned(),
            },
        }
    }
}

/// The call in doubt the run `run` waits on in `journal`, if any: a call
/// of a tool a person watches that was running when the run's process
/// stopped ([`Error::InDoubt`]). Its ticket settles it with
/// [`record_settlement`]. A run that waits with a child run is in doubt
/// about the child's call, its ticket naming the child run, as with
/// [`pending_approval`].
pub async fn in_doubt(journal: &dyn Journal, run: RunId) -> Result<Option<PendingApproval>, Error> {
    let at = where_it_waits(journal, run).await?;
    let Ok(Waiting { call, pending, .. }) = crate::in_doubt::doubted_on(journal, at).await? else {
        return Ok(None);
    };
    Ok(Some(shown(at, pending.step, call)))
}

/// Records what a person says the call in doubt `ticket` names did, with
/// who said it, in `journal`; the run then goes on where its agent is (a
/// worker claims a submitted run; `Agent::resume` takes up any other),
/// and the model reads the settled outcome as the call's result. The call
/// is not run again. A child run whose caller has ended meanwhile ends
/// instead, the settlement kept in its log (see [`record_decision`]).
///
/// [`Error::TicketRejected`] when the run is not in doubt about exactly
/// that call (settled already, taken up since, or a ticket for other
/// arguments); nothing is written then.
pub async fn record_settlement(
    journal: &dyn Journal,
    ticket: &Ticket,
    settled: Settled,
    by: impl Into<String>,
) -> Result<(), Error> {
    let waiting = crate::in_doubt::doubted_for(journal, ticket).await?;
    let episode = Episode::Settled {
        call_id: ticket.call_id.as_str().into(),
        outcome: settled.outcome(),
        by: Some(by.into()),
    };
    record(journal, ticket, waiting, episode).await
}

/// Wakes `run` when it waits with a child run (an agent used as a tool)
/// whose call a person has decided since: the decision woke its parents
/// as it was recorded, unless that was cut short (its process stopped in
/// between). Returns whether it woke `run`, which then runs again (a
/// worker claims a submitted run; `Agent::resume` takes up any other).
/// `klieo resume` calls this for a suspended run.
///
/// ```
/// use klieo_runtime::decisions::wake_if_decided;
/// use klieo_store::InMemoryJournal;
/// use klieo_types::RunId;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build()?.block_on(async {
/// let store = InMemoryJournal::new();
/// // A run that waits on no child is left as it is.
/// assert!(!wake_if_decided(&store, RunId::new()).await?);
/// # Ok::<(), klieo_types::Error>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub async fn wake_if_decided(journal: &dyn Journal, run: RunId) -> Result<bool, Error> {
    crate::team::tree::wake_if_decided(journal, run).await
}
