//! Approvals: a run that reaches a call of a tool that needs one waits,
//! durably, until a person approves or denies it with its ticket.

use crate::fact::Fact;
use crate::run::Run;
use crate::team::tree::has_ended;
use klieo_types::{Episode, Error, Journal, PendingStep, RunId, Ticket, ToolCall, ToolOutcome};
use std::sync::Arc;

/// The decisions taken on the calls of a run's last step: approvals and
/// denials, and the settlements of calls in doubt.
#[derive(Default)]
pub(crate) struct Decisions {
    decided: Vec<(Arc<str>, Option<String>)>,
    settled: Vec<(Arc<str>, ToolOutcome)>,
}

impl Decisions {
    /// The `Approved`, `Denied` and `Settled` episodes after the last
    /// `LlmCall`.
    pub(crate) fn of_last_step(episodes: &[Episode]) -> Self {
        let since = episodes
            .iter()
            .rposition(|e| matches!(e, Episode::LlmCall { .. }))
            .map_or(0, |i| i + 1);
        let mut decisions = Self::default();
        for episode in &episodes[since..] {
            match episode {
                Episode::Approved { call_id, .. } => {
                    decisions.decided.push((call_id.clone(), None))
                }
                Episode::Denied {
                    call_id, reason, ..
                } => decisions
                    .decided
                    .push((call_id.clone(), Some(reason.clone()))),
                Episode::Settled {
                    call_id, outcome, ..
                } => decisions.settled.push((call_id.clone(), outcome.clone())),
                _ => {}
            }
        }
        decisions
    }

    fn decided(&self, call_id: &str) -> bool {
        self.decided.iter().any(|(id, _)| **id == *call_id)
    }

    /// Whether a person approved the call `call_id`.
    pub(crate) fn approved(&self, call_id: &str) -> bool {
        self.decided
            .iter()
            .any(|(id, denial)| **id == *call_id && denial.is_none())
    }

    /// What a person said the call `call_id` did, when they settled it.
    pub(crate) fn settlement(&self, call_id: &str) -> Option<&ToolOutcome> {
        self.settled
            .iter()
            .find(|(id, _)| **id == *call_id)
            .map(|(_, outcome)| outcome)
    }

    /// The reason `call_id` was denied, if it was: a denial wins over any
    /// approval of the same call.
    pub(crate) fn denial(&self, call_id: &str) -> Option<&str> {
        self.decided
            .iter()
            .filter(|(id, _)| **id == *call_id)
            .find_map(|(_, reason)| reason.as_deref())
    }
}

/// Fails with [`Error::Suspended`] while a call of `pending` that needs an
/// approval has none, writing its `Suspended` first unless `last` is it.
pub(crate) async fn still_waiting(
    run: &Run,
    pending: &PendingStep,
    decisions: &Decisions,
    episodes: &[Episode],
    seen: u64,
) -> Result<(), Error> {
    let last = episodes.last();
    let tools = &run.ctx.tools;
    let Some(call) = pending
        .reply
        .tool_calls
        .iter()
        .find(|c| tools.policy(&c.name).requires_approval() && !decisions.decided(&c.id))
    else {
        return Ok(());
    };
    let ticket = Ticket::for_call(run.ctx.run_id, pending.step, call);
    let already = matches!(last, Some(Episode::Suspended { call_id, .. }) if **call_id == *call.id);
    if !already {
        let suspended = run.emit(Fact::Suspended {
            step: pending.step,
            call,
            ticket: &ticket,
        });
        let mut waits = run
            .commit()
            .with_episodes(suspended.episode.into_iter().collect())
            .with_pending(pending.clone())
            .with_expected_episodes(seen);
        run.write(&mut waits).await?;
    }
    Err(Error::Suspended {
        ticket,
        tool: call.name.to_string(),
    })
}

/// Records a person's decision on the call `ticket` names, after checking
/// that the run waits on exactly that call. `denial` is the reason of a
/// denial; `None` approves.
pub(crate) async fn decide(
    run: &Run,
    journal: &dyn Journal,
    ticket: &Ticket,
    denial: Option<String>,
) -> Result<(), Error> {
    let waiting = waiting_for(journal, ticket).await?;
    let decided = run.emit(Fact::Decided {
        call_id: ticket.call_id.as_str().into(),
        denial,
    });
    // Refused if another process decided (or resumed) the run meanwhile.
    let mut decided = run
        .commit()
        .with_episodes(decided.episode.into_iter().collect())
        .with_pending(waiting.pending)
        .with_expected_episodes(waiting.seen);
    run.write(&mut decided).await
}

/// What the run `ticket` names waits on, when it waits on exactly the
/// call the ticket was given for; [`Error::TicketRejected`] otherwise.
pub(crate) async fn waiting_for(journal: &dyn Journal, ticket: &Ticket) -> Result<Waiting, Error> {
    let rejected = |reason: &str| Error::TicketRejected {
        ticket: ticket.clone(),
        reason: reason.to_owned(),
    };
    let waiting = waiting_on(journal, ticket.run).await?.map_err(rejected)?;
    if *waiting.call.id != *ticket.call_id {
        return Err(rejected(
            "the run is not waiting on this call: it was decided already, or another call waits",
        ));
    }
    if !ticket.matches(waiting.pending.step, &waiting.call) {
        return Err(rejected(
            "the call pending is not the one the ticket was given for: its step, tool or \
             arguments differ (a ticket of an earlier step approves nothing)",
        ));
    }
    Ok(waiting)
}

/// Why a run that has ended (a cancel keeps its pending step) waits on
/// no call.
pub(crate) const ENDED: &str =
    "the run has ended (cancelled, failed or completed), so no call of it waits for a decision";

/// The call a run waits on for a person, as its journal holds it.
pub(crate) struct Waiting {
    /// The run's pending step: not started for an approval, started for
    /// a call in doubt.
    pub(crate) pending: PendingStep,
    /// The call of that step the log's last `Suspended` (or `InDoubt`)
    /// names.
    pub(crate) call: ToolCall,
    /// How many episodes the log held when read.
    pub(crate) seen: u64,
}

/// The call `run` waits on, or why it waits on none: no pending step
/// that waits for an approval, or a log that does not end waiting on one
/// of its calls (it ended, was decided already, or taken up since).
pub(crate) async fn waiting_on(
    journal: &dyn Journal,
    run: RunId,
) -> Result<Result<Waiting, &'static str>, Error> {
    let Some(pending) = journal.pending(run).await?.filter(|p| !p.started) else {
        return Ok(Err("the run is not waiting for an approval"));
    };
    let episodes = journal.replay(run).await?;
    // The log's last `Suspended` must be of the pending step (read apart
    // from the log: a step decided and suspended again meanwhile may
    // repeat a call's id).
    let call = match episodes.last() {
        Some(Episode::Suspended { step, call_id, .. }) if *step == pending.step => {
            pending.reply.tool_calls.iter().find(|c| *c.id == **call_id)
        }
        _ => None,
    };
    let Some(call) = call.cloned() else {
        // A run cancelled while it waited keeps its pending step: the log
        // says it ended.
        return Ok(Err(match has_ended(&episodes) {
            true => ENDED,
            false => "the run is not waiting on a call: it was decided already, or taken up since",
        }));
    };
    Ok(Ok(Waiting {
        pending,
        call,
        seen: u64::try_from(episodes.len()).unwrap_or(u64::MAX),
    }))
}
