//! Calls in doubt: a run whose process stopped while a call ran, of a
//! tool a person watches (one that needs approval and is not idempotent),
//! cannot know whether the call had its effect (a call whose approval the
//! log holds counts as watched, whatever its tool says now). It does not run it again
//! and does not guess: it waits, durably, for a person to settle the call
//! with its ticket ("it happened, with this result", or "it did not
//! happen"), and the model is told what they said when the run goes on.
//! A call of any other tool that is not idempotent is reported to the
//! model as interrupted, its outcome unknown.

use crate::approval::{Decisions, Waiting};
use crate::fact::Fact;
use crate::run::Run;
use crate::team::tree::has_ended;
use klieo_types::{Episode, Error, Journal, PendingStep, RunId, Ticket, ToolOutcome};

/// Fails with [`Error::InDoubt`] while a call of the started step
/// `pending` is in doubt and not settled, writing its `InDoubt` first
/// unless the log's last episode is it.
pub(crate) async fn still_in_doubt(
    run: &Run,
    pending: &PendingStep,
    decisions: &Decisions,
    recorded: &[(&str, &ToolOutcome)],
    episodes: &[Episode],
    seen: u64,
) -> Result<(), Error> {
    let tools = &run.ctx.tools;
    let Some(call) = pending.reply.tool_calls.iter().find(|call| {
        let policy = tools.policy(&call.name);
        // Watched: its tool needs approval, or its approval is in the log
        // (a tool this process cannot route yet, such as an MCP server's
        // not listed, has the default policy).
        let watched = policy.requires_approval() || decisions.approved(&call.id);
        watched
            && !policy.idempotent()
            && !recorded.iter().any(|(id, _)| **id == *call.id)
            && decisions.denial(&call.id).is_none()
            && decisions.settlement(&call.id).is_none()
    }) else {
        return Ok(());
    };
    let ticket = Ticket::for_call(run.ctx.run_id, pending.step, call);
    let already = matches!(
        episodes.last(),
        Some(Episode::InDoubt { call_id, .. }) if **call_id == *call.id
    );
    if !already {
        let doubted = run.emit(Fact::InDoubt {
            step: pending.step,
            call,
            ticket: &ticket,
        });
        let mut waits = run
            .commit()
            .with_episodes(doubted.episode.into_iter().collect())
            .with_pending(pending.clone())
            .with_expected_episodes(seen);
        run.write(&mut waits).await?;
    }
    Err(Error::InDoubt {
        ticket,
        tool: call.name.to_string(),
    })
}

/// The call in doubt `run` waits on, or why it waits on none: its log
/// must end with the `InDoubt` of a call of its started pending step.
pub(crate) async fn doubted_on(
    journal: &dyn Journal,
    run: RunId,
) -> Result<Result<Waiting, &'static str>, Error> {
    let Some(pending) = journal.pending(run).await?.filter(|p| p.started) else {
        return Ok(Err("the run has no call in doubt"));
    };
    let episodes = journal.replay(run).await?;
    let call = match episodes.last() {
        Some(Episode::InDoubt { step, call_id, .. }) if *step == pending.step => {
            pending.reply.tool_calls.iter().find(|c| *c.id == **call_id)
        }
        _ => None,
    };
    let Some(call) = call.cloned() else {
        return Ok(Err(match has_ended(&episodes) {
            true => crate::approval::ENDED,
            false => "the run waits on no call in doubt: it was settled already, or taken up since",
        }));
    };
    Ok(Ok(Waiting {
        pending,
        call,
        seen: u64::try_from(episodes.len()).unwrap_or(u64::MAX),
    }))
}

/// What the run `ticket` names is in doubt about, when it is exactly the
/// call the ticket was given for; [`Error::TicketRejected`] otherwise.
pub(crate) async fn doubted_for(journal: &dyn Journal, ticket: &Ticket) -> Result<Waiting, Error> {
    let rejected = |reason: &str| Error::TicketRejected {
        ticket: ticket.clone(),
        reason: reason.to_owned(),
    };
    let waiting = doubted_on(journal, ticket.run).await?.map_err(rejected)?;
    if *waiting.call.id != *ticket.call_id {
        return Err(rejected(
            "the run is not in doubt about this call: it was settled already, or another call is",
        ));
    }
    if !ticket.matches(waiting.pending.step, &waiting.call) {
        return Err(rejected(
            "the call in doubt is not the one the ticket was given for: its step, tool or \
             arguments differ",
        ));
    }
    Ok(waiting)
}
