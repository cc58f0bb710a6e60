//! What a person does from the console: approve or deny the call a run
//! waits on, or cancel a run. Each is a form POSTed from the console's
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
use klieo::runtime::decisions::{record_decision, Decision};
use klieo::types::{Error, RunId, RunState, Ticket};
use std::str::FromStr;
use std::sync::Arc;

/// The most characters of who decided.
const BY: usize = 100;
/// The most characters of a reason for a denial.
const REASON: usize = 2_000;

/// An approval or denial, as the run page's forms send it.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct DecisionForm {
    csrf: String,
    ticket: String,
    by: String,
    #[serde(default)]
    reason: String,
}

/// A cancellation, as the run page's form sends it.
#[derive(Debug, serde::Deserialize)]
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
    if !console.keys.csrf.is(&form.csrf) {
        return failure(
            StatusCode::FORBIDDEN,
            "the form's CSRF value is not this console's: reload the page and try again",
        );
    }
    let run = match crate::runs::run_id(run) {
        Ok(run) => run,
        Err(e) => return failure(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let ticket = match Ticket::from_str(form.ticket.trim()) {
        Ok(ticket) if ticket.run == run => ticket,
        _ => {
            return failure(
                StatusCode::BAD_REQUEST,
                "the form's ticket is not one of this run's: reload the run's page",
            )
        }
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
        Ok(()) => back(run, if deny { "denied" } else { "approved" }),
        Err(Error::TicketRejected { reason, .. }) => failure(
            StatusCode::CONFLICT,
            &format!("the decision was not recorded: {reason}; reload the run's page"),
        ),
        Err(e) => console.store_failed(&CliError::Decision(e)),
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
    match console.store.queue().cancel(run, &by).await {
        Ok(Some(RunState::Cancelled { .. })) => back(run, "cancelled"),
        Ok(Some(_)) => back(run, "finished"),
        Ok(None) => failure(
            StatusCode::NOT_FOUND,
            &CliError::UnknownRun { run }.to_string(),
        ),
        Err(e) => console.store_failed(&e.into()),
    }
}

/// `text` trimmed, when it is not empty and at most `max` characters;
/// else what is wrong with it.
fn bounded(field: &str, text: &str, max: usize) -> Result<String, String> {
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

/// Back to the run's page, which says `said`.
fn back(run: RunId, said: &str) -> Response {
    Redirect::to(&format!("/runs/{run}?said={said}")).into_response()
}
