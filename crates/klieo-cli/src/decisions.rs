//! `klieo approve`, `klieo deny`, `klieo settle`, `klieo cancel` and
//! `klieo resume`: what a person decides from the command line, recorded
//! in the store with who decided; the run goes on where its agent is, or
//! with the workers it is given to.

use crate::error::CliError;
use crate::runs::{plain, run_id, NAME};
use crate::store::Store;
use klieo::runtime::decisions::{
    self, handed_to, record_decision, record_settlement, wake_if_decided, Decision, Settled,
    TreeCancelled,
};
use klieo::types::{RunId, RunState, Ticket};
use serde_json::json;
use std::str::FromStr;

/// The most characters of who decides, cancels or settles, as the run's
/// log keeps it (the console's forms take no more).
pub(crate) const WHO: usize = 100;

/// Who decides, as a flag gives it: trimmed, not empty, at most [`WHO`]
/// characters; else what is wrong with it, for clap to say.
pub(crate) fn who(text: &str) -> Result<String, String> {
    bounded("who decides", text, WHO)
}

/// The most characters of a reason for a denial, or of what a call in
/// doubt did, as a person says it (the console takes no more).
pub(crate) const SAID: usize = 2_000;

/// A denial's reason, as `--reason` gives it: trimmed, not empty, at most
/// [`SAID`] characters.
pub(crate) fn reason(text: &str) -> Result<String, String> {
    bounded("--reason", text, SAID)
}

/// What a call in doubt did, as `--happened` gives it: as [`reason`].
pub(crate) fn happened(text: &str) -> Result<String, String> {
    bounded("--happened", text, SAID)
}

/// An agent's name, as `--agent` gives it: trimmed (a worker matches it
/// exactly), not empty, at most [`WHO`] characters.
pub(crate) fn agent(text: &str) -> Result<String, String> {
    bounded("--agent", text, WHO)
}

/// `text` trimmed, when it is not empty and at most `max` characters;
/// else what is wrong with it, naming it `field`.
pub(crate) fn bounded(field: &str, text: &str, max: usize) -> Result<String, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err(format!("`{field}` is empty: fill it in"));
    }
    if text.chars().count() > max {
        return Err(format!(
            "`{field}` is longer than {max} characters: shorten it"
        ));
    }
    Ok(text.to_owned())
}

/// `text` as a ticket, or the error that says what one is.
fn ticket(text: &str) -> Result<Ticket, CliError> {
    Ticket::from_str(text.trim()).map_err(|source| CliError::BadTicket {
        text: plain(text, 60),
        source,
    })
}

/// `text` as a ticket of a run the store has: a ticket for a run it does
/// not know is [`CliError::UnknownRun`], not a run that waits on nothing.
async fn known(store: &Store, text: &str) -> Result<Ticket, CliError> {
    let ticket = self::ticket(text)?;
    match store.queue().state(ticket.run).await? {
        Some(_) => Ok(ticket),
        None => Err(CliError::UnknownRun { run: ticket.run }),
    }
}

/// `run`'s state once a person's word on it is in.
pub(crate) async fn afterwards(store: &Store, run: RunId) -> Result<RunState, CliError> {
    let state = store.queue().state(run).await?;
    state.ok_or(CliError::UnknownRun { run })
}

/// What became of a run after a person's word on it, read from its
/// state then: the word is recorded whichever.
pub(crate) enum After<'a> {
    /// It goes on where its agent is.
    GoesOn,
    /// It has ended, in this state: a child run whose caller ended
    /// meanwhile is ended by the word.
    Ended(&'a RunState),
    /// Its state could not be read, for this reason.
    Unread(&'a CliError),
}

impl<'a> After<'a> {
    /// What became of a run now in `state`.
    pub(crate) fn of(state: &'a Result<RunState, CliError>) -> Self {
        match state {
            Ok(state) if state.is_finished() => Self::Ended(state),
            Ok(_) => Self::GoesOn,
            Err(e) => Self::Unread(e),
        }
    }
}

/// What becomes of run `run` in `state` after a person's word on it, in
/// words.
fn what_next(run: RunId, state: &Result<RunState, CliError>) -> String {
    match After::of(state) {
        After::Ended(state) => format!(
            "the run has ended since ({}): `klieo runs show {run}` tells how (a child \
             run whose caller ended meanwhile is ended by the word)",
            state.name()
        ),
        After::GoesOn => "the run goes on where its agent is".into(),
        After::Unread(e) => format!(
            "its state could not be read afterwards ({e}): `klieo runs show {run}` tells it"
        ),
    }
}

/// Why a decision on a call of `run` failed: refused (nothing was
/// written: the run waits on no such call, another process decided
/// first), or the store failed while it was written, which leaves it
/// unknown.
pub(crate) fn not_recorded(run: RunId, error: klieo::types::Error) -> CliError {
    let klieo::types::Error::Memory(source) = error else {
        return CliError::Decision(error);
    };
    // A refusal (another process decided first, the run was cancelled)
    // wrote nothing; a failure of the store may have.
    match CliError::from(source) {
        CliError::Store(source) => CliError::Deciding { run, source },
        refused => refused,
    }
}

/// Records `decision` on the call `ticket` names.
pub(crate) async fn decide(
    store: &Store,
    ticket: &str,
    decision: Decision,
    json: bool,
) -> Result<String, CliError> {
    let ticket = known(store, ticket).await?;
    let approved = matches!(decision, Decision::Approve { .. });
    record_decision(store.journal(), &ticket, decision)
        .await
        .map_err(|e| not_recorded(ticket.run, e))?;
    let word = if approved { "approved" } else { "denied" };
    let after = afterwards(store, ticket.run).await;
    if json {
        let state = after.as_ref().ok().map(RunState::name);
        let shown =
            json!({"run": ticket.run, "call": ticket.call_id, "decision": word, "state": state});
        return Ok(crate::json::pretty(&shown)?);
    }
    Ok(format!(
        "call {} of run {} {word}; {}",
        plain(&ticket.call_id, NAME),
        ticket.run,
        what_next(ticket.run, &after)
    ))
}

/// Cancels `run` for `by`.
pub(crate) async fn cancel(
    store: &Store,
    run: &str,
    by: &str,
    json: bool,
) -> Result<String, CliError> {
    let run = run_id(run)?;
    // With the runs under it: a tree stops whole.
    let cancelled = decisions::cancel_tree(store.queue(), store.catalog(), run, by).await?;
    let Some(TreeCancelled {
        state,
        cancelled_now,
        under,
        ..
    }) = cancelled
    else {
        return Err(CliError::UnknownRun { run });
    };
    if json {
        let shown = json!({"run": run, "state": state.name(), "outcome": state.outcome(), "already": !cancelled_now, "children_cancelled": under});
        return Ok(crate::json::pretty(&shown)?);
    }
    let mut said = match state {
        RunState::Cancelled { .. } if cancelled_now => format!("run {run} cancelled"),
        RunState::Cancelled { by } => format!(
            "run {run} was already cancelled by {}; left as it is",
            plain(&by, 100)
        ),
        other => format!("run {run} was already {}; left as it is", other.name()),
    };
    if under > 0 {
        said.push_str(&format!("; {under} runs under it cancelled"));
    }
    Ok(said)
}

/// Records what `by` says the call in doubt `ticket` names did.
pub(crate) async fn settle(
    store: &Store,
    ticket: &str,
    settled: Settled,
    by: &str,
    json: bool,
) -> Result<String, CliError> {
    let ticket = known(store, ticket).await?;
    let happened = matches!(settled, Settled::Happened { .. });
    record_settlement(store.journal(), &ticket, settled, by)
        .await
        .map_err(|e| not_recorded(ticket.run, e))?;
    let after = afterwards(store, ticket.run).await;
    if json {
        let state = after.as_ref().ok().map(RunState::name);
        let shown = json!({"run": ticket.run, "call": ticket.call_id, "happened": happened, "state": state});
        return Ok(crate::json::pretty(&shown)?);
    }
    let said = if happened {
        "happened"
    } else {
        "did not happen"
    };
    Ok(format!(
        "call {} of run {} settled: it {said}; {}",
        plain(&ticket.call_id, NAME),
        ticket.run,
        what_next(ticket.run, &after)
    ))
}

/// Gives `run` to the workers of `agent` (by default the agent it was
/// submitted for), so that one of them takes it up.
pub(crate) async fn resume(
    store: &Store,
    run: &str,
    agent: Option<String>,
    json: bool,
) -> Result<String, CliError> {
    let run = run_id(run)?;
    let Some(entry) = store.catalog().entry(run).await? else {
        return Err(CliError::UnknownRun { run });
    };
    if let Some(parent) = entry.parent {
        return Err(CliError::ChildRun { run, parent });
    }
    if entry.state.is_finished() {
        let state = entry.state.name();
        return Err(CliError::Over { run, state });
    }
    let log = store.journal().replay(run).await?;
    if let Some(agent) = handed_to(&log) {
        let agent = agent.to_owned();
        return Err(CliError::TeamRun { run, agent });
    }
    let Some(agent) = agent.or(entry.agent) else {
        return Err(CliError::NoAgent { run });
    };
    let Some(mut state) = store.queue().assign(run, &agent).await? else {
        return Err(CliError::UnknownRun { run });
    };
    // A run that waits with a child whose call was decided since (the
    // wake cut short by a stop) goes on now.
    if state == RunState::Suspended
        && wake_if_decided(store.journal(), run)
            .await
            .map_err(CliError::Reading)?
    {
        state = RunState::Running;
    }
    if state.is_finished() {
        let state = state.name();
        return Err(CliError::Over { run, state });
    }
    if json {
        let shown = json!({"run": run, "agent": agent, "state": state.name()});
        return Ok(crate::json::pretty(&shown)?);
    }
    let workers = format!("the workers of `{}`", plain(&agent, 60));
    Ok(match state {
        RunState::Queued => format!("run {run} is queued for {workers}"),
        RunState::Suspended => format!(
            "run {run} waits for a person (`klieo runs show {run}` prints the ticket); \
             once decided, {workers} take it up"
        ),
        _ => format!(
            "run {run} is given to {workers}: one takes it up at its next claim, \
             once no process holds the run's lease (a stopped process's lease runs out \
             within its time to live)"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_word_recorded_on_a_run_whose_state_cannot_be_read_says_it_is_recorded() {
        let run = RunId::new();
        let unread = Err(CliError::UnknownRun { run });
        let said = what_next(run, &unread);
        assert!(said.contains("could not be read afterwards"), "{said}");
        assert!(said.contains(&format!("klieo runs show {run}")), "{said}");
        let ended = Ok(RunState::Failed {
            error: "caller ended".into(),
        });
        assert!(what_next(run, &ended).contains("has ended"));
        assert!(what_next(run, &Ok(RunState::Running)).contains("goes on"));
    }

    #[test]
    fn a_store_failure_while_deciding_does_not_say_nothing_was_recorded() {
        let run = RunId::new();
        let failed = klieo::types::MemoryError::backend("connection reset");
        let said = not_recorded(run, klieo::types::Error::Memory(failed)).to_string();
        assert!(!said.contains("was not recorded"), "{said}");
        assert!(said.contains("may or may not be recorded"), "{said}");
        assert!(said.contains(&format!("klieo runs show {run}")), "{said}");
        let first = klieo::types::MemoryError::Conflict("another process decided first".into());
        let refused = not_recorded(run, klieo::types::Error::Memory(first)).to_string();
        assert!(!refused.contains("may or may not"), "{refused}");
    }
}
