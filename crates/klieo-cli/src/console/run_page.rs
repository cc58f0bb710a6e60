//! A run's page (`/runs/{run}`): what the catalog says of it, the call it
//! waits on with the forms to approve or deny it, its timeline, and its
//! log, each tool call with its arguments and result. The live part
//! follows the run while it goes on (see `live`).

use super::layout::{failure, page, respond};
use super::thread::ThreadRead;
use super::{live, timeline, Console};
use crate::runs::{age, dollars, line, plain, visible};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use klieo::runtime::decisions::{going_under, in_doubt, pending_approval, Under};
use klieo::runtime::PendingApproval;
use klieo::types::{Episode, RunEntry, RunId, RunQuery, RunState, ToolOutcome};
use maud::{html, Markup};
use std::sync::Arc;

/// The most characters of one value (arguments, a result) a page shows;
/// `klieo runs show RUN --json` gives it whole.
const VALUE: usize = 4_000;
/// The most episodes a page lists and its timeline draws, the newest.
const EPISODES: usize = 2_000;
/// The most child runs a page lists.
const CHILDREN: usize = 50;
/// The most reads of the catalog a page makes to find whether runs under
/// an ended run still go; a larger tree gets the cancel form unasked.
const TREE_READS: usize = 32;

/// What the page says after an action, by the code the action's redirect
/// gives: only these fixed sentences, never text from the request.
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct Said {
    #[serde(default)]
    said: String,
}

impl Said {
    fn sentence(&self) -> Option<&'static str> {
        Some(match self.said.as_str() {
            "approved" => "Approved. The run goes on where its agent is.",
            "denied" => "Denied. The model is told why when the run goes on.",
            "cancelled" => "Cancelled. The run takes no more steps.",
            "children-cancelled" => "The run had already ended; the runs under it are cancelled.",
            "settled" => "Settled. The model is told what happened when the run goes on.",
            "finished" => "The run had already ended; it was left as it is.",
            "ended" => "Recorded. The run has ended since: its state and log below say how.",
            "recorded" => "Recorded. The run's state is shown below.",
            _ => return None,
        })
    }
}

/// `GET /runs/{run}`.
pub(crate) async fn run(
    State(console): State<Arc<Console>>,
    Path(run): Path<String>,
    Query(said): Query<Said>,
) -> Response {
    let run = match crate::runs::run_id(&run) {
        Ok(run) => run,
        Err(e) => return failure(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let entry = match console.store.catalog().entry(run).await {
        Ok(Some(entry)) => entry,
        Ok(None) => {
            let e = crate::error::CliError::UnknownRun { run };
            return failure(StatusCode::NOT_FOUND, &e.to_string());
        }
        Err(e) => return console.store_failed(&e.into()),
    };
    let log = match console.store.journal().replay(run).await {
        Ok(log) => log,
        Err(e) => return console.store_failed(&e.into()),
    };
    let waiting = match pending_approval(console.store.journal(), run).await {
        Ok(waiting) => waiting,
        Err(e) => return console.store_failed(&crate::error::CliError::Reading(e)),
    };
    let doubted = match in_doubt(console.store.journal(), run).await {
        Ok(doubted) => doubted,
        Err(e) => return console.store_failed(&crate::error::CliError::Reading(e)),
    };
    // The thread's newest messages: what the model was told and said.
    let thread = match ThreadRead::newest(&console, &entry.thread).await {
        Ok(thread) => thread,
        Err(e) => return console.store_failed(&e.into()),
    };
    let children = match console
        .store
        .catalog()
        .runs(&RunQuery::new().with_parent(run).with_limit(CHILDREN))
        .await
    {
        Ok(children) => children,
        Err(e) => return console.store_failed(&e.into()),
    };
    // An ended run with runs under it still going (a cancel cut short
    // left them): anywhere in its tree, not only among the children
    // listed.
    let under = match entry.state.is_cancellable() || children.runs.is_empty() {
        true => Under::Ended,
        false => match going_under(console.store.catalog(), run, TREE_READS).await {
            Ok(under) => under,
            Err(e) => return console.store_failed(&e.into()),
        },
    };
    let person = Person {
        approval: waiting.as_ref(),
        doubt: doubted.as_ref(),
    };
    let body = html! {
        h1 { "Run " span.mono { (run) } }
        @if let Some(sentence) = said.sentence() {
            p.said { (sentence) }
        }
        div data-live=(live_url(&entry)) {
            (live_part(&console, &entry, &person, &log))
        }
        @if !children.runs.is_empty() {
            h2 { "Child runs" }
            p.muted { "Agents this run's calls ran as tools, each a run of its own." }
            ul.children {
                @for child in &children.runs {
                    li {
                        a.mono href={ "/runs/" (child.run) } { (child.run) }
                        " " (status(&child.state))
                    }
                }
            }
            @if children.next.is_some() {
                p.muted { "The newest " (CHILDREN) " are listed; `klieo runs list --parent " (run) "` pages through all." }
            }
            @if under != Under::Ended {
                @if under == Under::Unknown {
                    p.muted { "More runs are under it than this page looks at; some may still go." }
                }
                // A cancel cut short (the store failed midway) left these.
                form.cancel method="post" action={ "/runs/" (run) "/cancel" } {
                    input type="hidden" name="csrf" value=(console.keys.csrf.expose());
                    input type="hidden" name="by" value=(console.operator);
                    button.cancel type="submit" {
                        @if under == Under::Unknown { "Cancel any run under it still going" }
                        @else { "Cancel the runs under it still going" }
                    }
                }
            }
        }
        h2 { "Thread" }
        (thread.shown(&entry.thread))
    };
    respond(StatusCode::OK, page("Run", body))
}

/// Where the page's script listens for the run's changes since the page
/// was made; nothing for a run that is over.
fn live_url(entry: &RunEntry) -> String {
    if entry.state.is_finished() {
        String::new()
    } else {
        format!("/runs/{}/live?seen={}", entry.run, live::mark(entry))
    }
}

/// The part of the page that follows the run: the call it waits on and
/// its forms, its facts, timeline and log. Swapped whole when the run
/// moves, which is also when a form in it would be stale.
fn live_part(console: &Console, entry: &RunEntry, person: &Person<'_>, log: &[Episode]) -> Markup {
    let run = entry.run;
    let tally = &entry.tally;
    let now_ms = crate::runs::now_ms();
    html! {
        @if let Some(call) = person.approval {
            section.waiting {
                h2 { "Waits for a person" }
                @if call.ticket.run == run {
                    (decision_forms(console, run, call))
                } @else {
                    (below(call))
                }
            }
        }
        @if let Some(call) = person.doubt {
            section.waiting.in-doubt {
                h2 { "In doubt: did this call happen?" }
                @if call.ticket.run == run {
                    (settle_forms(console, run, call))
                } @else {
                    (below(call))
                }
            }
        }
        @if entry.state.is_cancellable() {
            form.cancel method="post" action={ "/runs/" (run) "/cancel" } {
                input type="hidden" name="csrf" value=(console.keys.csrf.expose());
                input type="hidden" name="by" value=(console.operator);
                button.cancel type="submit" { "Cancel the run" }
            }
        }
        dl.facts {
            dt { "Status" } dd { (status(&entry.state)) }
            @if let Some(outcome) = entry.state.outcome() {
                dt { (outcome_label(&entry.state)) } dd { pre { (cut(outcome)) } }
            }
            dt { "Agent" } dd { (agent_name(entry)) }
            @if let Some(parent) = entry.parent {
                dt { "Parent" } dd { a.mono href={ "/runs/" (parent) } { (parent) } " (a call of it runs this one)" }
            }
            dt { "Thread" } dd.mono { (plain(entry.thread.as_str(), NAME)) }
            dt { "Made" } dd { (age(now_ms.saturating_sub(entry.run.timestamp_ms()))) " ago" }
            dt { "Model calls" } dd { (tally.model_calls) }
            dt { "Tool calls" } dd { (tally.tool_calls) }
            dt { "Tokens" } dd { (tally.input_tokens) " in, " (tally.output_tokens) " out" }
            @if let Some(cost) = tally.cost_micros {
                dt { "Cost" } dd { "$" (dollars(cost)) }
            }
        }
        h2 { "Timeline" }
        (timeline::draw(&log[log.len().saturating_sub(EPISODES)..]))
        h2 { "Log (" (log.len()) " episodes)" }
        @if log.len() > EPISODES {
            p.muted {
                "The newest " (EPISODES) " are listed; `klieo runs show " (run) " --json` gives them all."
            }
        }
        table.log {
            thead { tr { th.number { "#" } th { "Kind" } th { "What happened" } } }
            tbody {
                @for (i, episode) in log.iter().enumerate().skip(log.len().saturating_sub(EPISODES)) {
                    tr class={ "episode-" (episode.kind()) } {
                        td.number { (i) }
                        td { (episode.kind()) }
                        td { (details(episode)) }
                    }
                }
            }
        }
    }
}

/// An episode's line, and for a tool call its arguments and result.
fn details(episode: &Episode) -> Markup {
    let Episode::ToolCall { args, result, .. } = episode else {
        return html! { (line(episode)) };
    };
    let (label, value) = match result {
        ToolOutcome::Ok { output } => ("Result", pretty(output)),
        ToolOutcome::Error { message } => ("Error", message.clone()),
        ToolOutcome::Denied { reason } => ("Denied", reason.clone()),
        other => ("Outcome", format!("{other:?}")),
    };
    html! {
        (line(episode))
        details {
            summary { "Arguments and " (label.to_lowercase()) }
            p.muted { "Arguments" }
            pre.arguments { (cut(&pretty(&args.to_value()))) }
            p.muted { (label) }
            pre.result { (cut(&value)) }
        }
    }
}

/// The forms that approve or deny `call` of `run`.
pub(crate) fn decision_forms(console: &Console, run: RunId, call: &PendingApproval) -> Markup {
    let ticket = call.ticket.to_string();
    let csrf = &console.keys.csrf;
    let operator = &console.operator;
    html! {
        p { "Tool " strong.mono { (plain(&call.tool, NAME)) } ", with:" }
        // Whole: a person decides on what they see.
        pre.arguments { (visible(&pretty(&call.arguments))) }
        form method="post" action={ "/runs/" (run) "/approve" } {
            input type="hidden" name="csrf" value=(csrf.expose());
            input type="hidden" name="ticket" value=(ticket);
            label { "Who decides " input name="by" value=(operator) required maxlength="100"; }
            button.approve type="submit" { "Approve" }
        }
        form method="post" action={ "/runs/" (run) "/deny" } {
            input type="hidden" name="csrf" value=(csrf.expose());
            input type="hidden" name="ticket" value=(ticket);
            label { "Who decides " input name="by" value=(operator) required maxlength="100"; }
            label { "Why " input name="reason" required maxlength="2000"; }
            button.deny type="submit" { "Deny" }
        }
    }
}

/// A call a run below this one (its child, or one of the child's) waits
/// on: decided on that run's page.
fn below(call: &PendingApproval) -> Markup {
    let child = call.ticket.run;
    html! {
        p {
            "It waits with run " a.mono href={ "/runs/" (child) } { (child) }
            ", whose call of " strong.mono { (plain(&call.tool, NAME)) }
            " waits: decide it there."
        }
    }
}

/// What a run waits on a person for, if anything.
pub(crate) struct Person<'a> {
    approval: Option<&'a PendingApproval>,
    doubt: Option<&'a PendingApproval>,
}

/// The forms that settle `call` of `run`, which ran when the run's
/// process stopped: it happened (with the result the person found), or
/// it did not.
pub(crate) fn settle_forms(console: &Console, run: RunId, call: &PendingApproval) -> Markup {
    let ticket = call.ticket.to_string();
    let csrf = &console.keys.csrf;
    let operator = &console.operator;
    html! {
        p {
            "Tool " strong.mono { (plain(&call.tool, NAME)) }
            " was running when the run's process stopped; whether it had its effect is unknown. With:"
        }
        pre.arguments { (visible(&pretty(&call.arguments))) }
        form method="post" action={ "/runs/" (run) "/settle" } {
            input type="hidden" name="csrf" value=(csrf.expose());
            input type="hidden" name="ticket" value=(ticket);
            input type="hidden" name="happened" value="yes";
            label { "Who settles " input name="by" value=(operator) required maxlength="100"; }
            label { "Its result " input name="result" required maxlength="2000"; }
            button.approve.happened type="submit" { "It happened" }
        }
        form method="post" action={ "/runs/" (run) "/settle" } {
            input type="hidden" name="csrf" value=(csrf.expose());
            input type="hidden" name="ticket" value=(ticket);
            input type="hidden" name="happened" value="no";
            label { "Who settles " input name="by" value=(operator) required maxlength="100"; }
            button.deny.not-happened type="submit" { "It did not happen" }
        }
    }
}

/// The most characters of a name (an agent's, a thread's, a tool's) a
/// page shows.
pub(super) const NAME: usize = 80;

/// The most characters of a model's call id, or of a name in a
/// timeline's label, a page shows.
pub(super) const SHORT: usize = 40;

/// The run's agent, as a page shows a name.
pub(crate) fn agent_name(entry: &RunEntry) -> String {
    entry
        .agent
        .as_deref()
        .map_or_else(|| "—".to_owned(), |agent| plain(agent, NAME))
}

/// A state as a badge.
pub(crate) fn status(state: &RunState) -> Markup {
    let name = state.name();
    html! { span class={ "status status-" (name) } { (name) } }
}

/// What a finished state's text is.
fn outcome_label(state: &RunState) -> &'static str {
    match state {
        RunState::Completed { .. } => "Answer",
        RunState::Failed { .. } => "Error",
        RunState::Cancelled { .. } => "Cancelled by",
        _ => "Outcome",
    }
}

/// `value` as indented JSON; a string as its text.
pub(super) fn pretty(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        other => serde_json::to_string_pretty(other).unwrap_or_else(|_| other.to_string()),
    }
}

/// `text` cut to [`VALUE`] characters, saying so, as [`visible`] shows
/// it.
pub(super) fn cut(text: &str) -> String {
    let kept = klieo::types::text::prefix_chars(text, VALUE);
    match kept.len() < text.len() {
        false => visible(text),
        true => format!(
            "{}\n… cut at {VALUE} characters; `klieo runs show RUN --json` gives it whole",
            visible(kept)
        ),
    }
}
