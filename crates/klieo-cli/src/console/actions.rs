//! What a person does from the console: approve or deny the call a run
//! waits on, settle a call in doubt, or cancel a run. Each is a form POSTed from the console's
//! own page, carrying its CSRF value; the decision is bound to the
//! ticket's digest (a ticket for other arguments, or for a call decided
//! meanwhile, is refused and nothing is written) and recorded with who
//! decided. Then the browser is sent back to the run's page.

use super::layout::failure;
use super::Console;
use crate::error::CliError;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use klieo::runtime::decisions::{
    cancel_tree, record_decision, record_settlement, Decision, Settled,
};
use klieo::types::{Error, RunId, RunState, Ticket};
use std::str::FromStr;
use std::sync::Arc;

use crate::decisions::{afterwards, bounded, After, SAID as REASON, WHO as BY};

/// An approval or denial, as the run page's forms send it (no `Debug`,
/// as no form has: its CSRF value is a secret).
#[derive(serde::Deserialize)]
pub(crate) struct DecisionForm {
    csrf: String,
    ticket: String,
    by: String,
    #[serde(default)]
    reason: String,
}

/// A settlement, as the run page's forms send it: `happened` is `yes`
/// (with the `result` found) or `no`.
#[derive(serde::Deserialize)]
pub(crate) struct SettleForm {
    csrf: String,
    ticket: String,
    by: String,
    happened: String,
    #[serde(default)]
    result: String,
}

/// A cancellation, as the run page's form sends it.
#[derive(serde::Deserialize)]
pub(crate) struct CancelForm {
    csrf: String,
    by: String,
}

/// `POST /runs/{run}/approve`.
pub(crate) async fn approve(
    State(console): State<Arc<Console>>,
    Path(run): Path<String>,
    Form(form): Form<DecisionForm>,
) -> Response {
    decide(&console, &run, form, false).await
}

/// `POST /runs/{run}/deny`.
pub(crate) async fn deny(
    State(console): State<Arc<Console>>,
    Path(run): Path<String>,
    Form(form): Form<DecisionForm>,
) -> Response {
    decide(&console, &run, form, true).await
}

async fn decide(console: &Console, run: &str, form: DecisionForm, deny: bool) -> Response {
    let (run, ticket) = match checked(console, run, &form.csrf, &form.ticket) {
        Ok(checked) => checked,
        Err(response) => return *response,
    };
    let by = match bounded("who decides", &form.by, BY) {
        Ok(by) => by,
        Err(wrong) => return failure(StatusCode::BAD_REQUEST, &wrong),
    };
    let decision = if deny {
        match bounded("why", &form.reason, REASON) {
            Ok(reason) => Decision::Deny { reason, by },
            Err(wrong) => return failure(StatusCode::BAD_REQUEST, &wrong),
        }
    } else {
        Decision::Approve { by }
    };
    match record_decision(console.store.journal(), &ticket, decision).await {
        Ok(()) => {
            let word = if deny { "denied" } else { "approved" };
            back(
                run,
                said_after(word, &afterwards(&console.store, run).await),
            )
        }
        Err(Error::TicketRejected { reason, .. }) => failure(
            StatusCode::CONFLICT,
            &format!("the decision was not recorded: {reason}; reload the run's page"),
        ),
        Err(e) => console.store_failed(&crate::decisions::not_recorded(run, e)),
    }
}

/// `POST /runs/{run}/settle`.
pub(crate) async fn settle(
    State(console): State<Arc<Console>>,
    Path(run): Path<String>,
    Form(form): Form<SettleForm>,
) -> Response {
    let (run, ticket) = match checked(&console, &run, &form.csrf, &form.ticket) {
        Ok(checked) => checked,
        Err(response) => return *response,
    };
    let by = match bounded("who settles", &form.by, BY) {
        Ok(by) => by,
        Err(wrong) => return failure(StatusCode::BAD_REQUEST, &wrong),
    };
    let settled = match form.happened.as_str() {
        "yes" => match bounded("its result", &form.result, REASON) {
            Ok(result) => Settled::Happened {
                output: serde_json::Value::String(result),
            },
            Err(wrong) => return failure(StatusCode::BAD_REQUEST, &wrong),
        },
        "no" => Settled::DidNotHappen,
        _ => {
            return failure(
                StatusCode::BAD_REQUEST,
                "say whether the call happened: yes or no",
            )
        }
    };
    match record_settlement(console.store.journal(), &ticket, settled, by).await {
        Ok(()) => back(
            run,
            said_after("settled", &afterwards(&console.store, run).await),
        ),
        Err(Error::TicketRejected { reason, .. }) => failure(
            StatusCode::CONFLICT,
            &format!("the settlement was not recorded: {reason}; reload the run's page"),
        ),
        Err(e) => console.store_failed(&crate::decisions::not_recorded(run, e)),
    }
}

/// The run of the path and the form's ticket for it, when the form
/// carries the console's CSRF value; else the page that says what is
/// wrong.
fn checked(
    console: &Console,
    run: &str,
    csrf: &str,
    ticket: &str,
) -> Result<(RunId, Ticket), Box<Response>> {
    if !console.keys.csrf.is(csrf) {
        return Err(Box::new(failure(
            StatusCode::FORBIDDEN,
            "the form's CSRF value is not this console's: reload the page and try again",
        )));
    }
    let run = crate::runs::run_id(run)
        .map_err(|e| Box::new(failure(StatusCode::BAD_REQUEST, &e.to_string())))?;
    match Ticket::from_str(ticket.trim()) {
        Ok(ticket) if ticket.run == run => Ok((run, ticket)),
        _ => Err(Box::new(failure(
            StatusCode::BAD_REQUEST,
            "the form's ticket is not one of this run's: reload the run's page",
        ))),
    }
}

/// `POST /runs/{run}/cancel`.
pub(crate) async fn cancel(
    State(console): State<Arc<Console>>,
    Path(run): Path<String>,
    Form(form): Form<CancelForm>,
) -> Response {
    if !console.keys.csrf.is(&form.csrf) {
        return failure(
            StatusCode::FORBIDDEN,
            "the form's CSRF value is not this console's: reload the page and try again",
        );
    }
    let run = match crate::runs::run_id(&run) {
        Ok(run) => run,
        Err(e) => return failure(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let by = match bounded("who cancels", &form.by, BY) {
        Ok(by) => by,
        Err(wrong) => return failure(StatusCode::BAD_REQUEST, &wrong),
    };
    // With the runs under it: a tree stops whole.
    let store = &console.store;
    match cancel_tree(store.queue(), store.catalog(), run, &by).await {
        Ok(Some(cancelled)) if cancelled.cancelled_now => back(run, "cancelled"),
        Ok(Some(cancelled)) if cancelled.under > 0 => back(run, "children-cancelled"),
        Ok(Some(_)) => back(run, "finished"),
        Ok(None) => failure(
            StatusCode::NOT_FOUND,
            &CliError::UnknownRun { run }.to_string(),
        ),
        Err(e) => console.store_failed(&e.into()),
    }
}

/// What the run's page says after a person's `word` (`approved`,
/// `denied`, `settled`) on a run now in `state`: that word, unless the
/// run ended with it (a child run whose caller ended meanwhile is ended
/// by the word), or its state could not be read (the page shows it).
fn said_after(word: &'static str, state: &Result<RunState, CliError>) -> &'static str {
    match After::of(state) {
        After::Ended(_) => "ended",
        After::GoesOn => word,
        After::Unread(_) => "recorded",
    }
}

/// Back to the run's page, which says `said`.
fn back(run: RunId, said: &str) -> Response {
    Redirect::to(&format!("/runs/{run}?said={said}")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_word_that_ended_the_run_is_not_said_to_let_it_go_on() {
        let cancelled = RunState::Failed {
            error: "cancelled".into(),
        };
        assert_eq!(said_after("settled", &Ok(cancelled)), "ended");
    }

    #[test]
    fn a_word_on_a_run_that_goes_on_is_said_as_it_is() {
        assert_eq!(said_after("approved", &Ok(RunState::Running)), "approved");
    }

    #[test]
    fn a_word_on_a_run_whose_state_cannot_be_read_is_said_to_be_recorded() {
        let unread = Err(CliError::UnknownRun { run: RunId::new() });
        assert_eq!(said_after("denied", &unread), "recorded");
    }
}
