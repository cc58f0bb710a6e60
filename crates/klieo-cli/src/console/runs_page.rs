//! The runs page (`/`): the store's catalog, newest first, filtered by
//! status and agent, a page at a time; and the approvals page
//! (`/approvals`): every run that waits for a person, with its call: to
//! approve or deny it, or, in doubt, to settle it.

use super::layout::{failure, page, respond};
use super::run_page::{agent_name, decision_forms, pretty, settle_forms, status};
use super::Console;
use crate::error::CliError;
use crate::runs::{age, dollars, plain, visible, NAME};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use klieo::runtime::decisions::{in_doubt, pending_approval};
use klieo::runtime::PendingApproval;
use klieo::types::{RunEntry, RunQuery, RunStatus};
use maud::{html, Markup};
use std::str::FromStr;
use std::sync::Arc;

/// The runs page's filters, as its form sends them.
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct Filters {
    #[serde(default)]
    status: String,
    #[serde(default)]
    agent: String,
    #[serde(default)]
    before: String,
}

/// The most runs the approvals page lists.
const WAITING: usize = 100;

/// `GET /`.
pub(crate) async fn runs(
    State(console): State<Arc<Console>>,
    Query(filters): Query<Filters>,
) -> Response {
    let mut query = RunQuery::new();
    let status = filters.status.trim();
    if !status.is_empty() {
        match RunStatus::from_str(status) {
            Ok(status) => query = query.with_status(status),
            Err(e) => return failure(StatusCode::BAD_REQUEST, &e.to_string()),
        }
    }
    let agent = filters.agent.trim();
    if !agent.is_empty() {
        query = query.with_agent(agent);
    }
    if !filters.before.is_empty() {
        match crate::runs::run_id(&filters.before) {
            Ok(before) => query = query.with_before(before),
            Err(e) => return failure(StatusCode::BAD_REQUEST, &e.to_string()),
        }
    }
    let listed = match console.store.catalog().runs(&query).await {
        Ok(page) => page,
        Err(e) => return console.store_failed(&e.into()),
    };
    let next = listed.next.map(|next| {
        let mut link = format!("/?before={next}");
        if let Some(status) = query.status() {
            link.push_str(&format!("&status={status}"));
        }
        if let Some(agent) = query.agent() {
            link.push_str("&agent=");
            link.push_str(&encode(agent));
        }
        link
    });
    let body = html! {
        h1 { "Runs" }
        form.filters method="get" action="/" {
            label { "Status"
                select name="status" {
                    option value="" { "any" }
                    @for each in RunStatus::ALL {
                        option value=(each.name()) selected[query.status() == Some(each)] { (each.name()) }
                    }
                }
            }
            label { "Agent" input name="agent" value=(agent) placeholder="any"; }
            button type="submit" { "Filter" }
        }
        (table(&listed.runs))
        @if let Some(next) = next {
            p.pager { a href=(next) rel="next" { "Older runs →" } }
        }
    };
    respond(StatusCode::OK, page("Runs", body))
}

/// The runs as a table, or a line that says there are none.
fn table(entries: &[RunEntry]) -> Markup {
    if entries.is_empty() {
        return html! { p.muted { "No runs." } };
    }
    let now_ms = crate::runs::now_ms();
    html! {
        table.runs {
            thead { tr {
                th { "Run" } th { "Status" } th { "Agent" } th.number { "Age" }
                th.number { "Steps" } th.number { "Tool calls" } th.number { "Tokens in / out" }
                th.number { "Cost $" }
            } }
            tbody {
                @for entry in entries {
                    @let tally = &entry.tally;
                    tr {
                        td.mono { a href={ "/runs/" (entry.run) } { (entry.run) } }
                        td { (status(&entry.state)) }
                        td { (agent_name(entry)) }
                        td.number { (age(now_ms.saturating_sub(entry.run.timestamp_ms()))) }
                        td.number { (tally.model_calls) }
                        td.number { (tally.tool_calls) }
                        td.number { (tally.input_tokens) " / " (tally.output_tokens) }
                        td.number { (tally.cost_micros.map(dollars).unwrap_or_default()) }
                    }
                }
            }
        }
    }
}

/// `GET /approvals`.
pub(crate) async fn approvals(State(console): State<Arc<Console>>) -> Response {
    let query = RunQuery::new()
        .with_status(RunStatus::Suspended)
        .with_limit(WAITING);
    let listed = match console.store.catalog().runs(&query).await {
        Ok(page) => page,
        Err(e) => return console.store_failed(&e.into()),
    };
    let (mut waiting, mut doubted, mut unread) = (Vec::new(), Vec::new(), Vec::new());
    for entry in &listed.runs {
        let journal = console.store.journal();
        // A run whose log cannot be read (a row another program wrote) is
        // said so, and every other run can still be decided.
        // A run that waits with a child run shows the child's call,
        // which the child's own entry lists.
        let failed = match pending_approval(journal, entry.run).await {
            Ok(Some(call)) if call.ticket.run != entry.run => continue,
            Ok(Some(call)) => {
                waiting.push((entry, call));
                continue;
            }
            Ok(None) => match in_doubt(journal, entry.run).await {
                Ok(Some(call)) if call.ticket.run != entry.run => continue,
                Ok(Some(call)) => {
                    doubted.push((entry, call));
                    continue;
                }
                Ok(None) => continue,
                Err(e) => e,
            },
            Err(e) => e,
        };
        unread.push((entry, CliError::Reading(failed).with_causes(UNREAD_SHOWN)));
    }
    let body = html! {
        h1 { "Waiting for approval" }
        @if waiting.is_empty() && doubted.is_empty() && unread.is_empty() {
            p.muted { "No run waits for a person." }
        }
        @for (entry, said) in &unread {
            section.waiting.unread {
                p {
                    a.mono href={ "/runs/" (entry.run) } { (entry.run) }
                    " · " (agent_name(entry)) " · its log could not be read"
                }
                p.muted { (said) }
            }
        }
        @for (entry, call) in &doubted {
            section.waiting.in-doubt {
                p {
                    a.mono href={ "/runs/" (entry.run) } { (entry.run) }
                    " · " (agent_name(entry)) " · in doubt"
                }
                @match too_long(call) {
                    Some(shown) => (shown),
                    None => (settle_forms(&console, entry.run, call)),
                }
            }
        }
        @for (entry, call) in &waiting {
            section.waiting {
                p {
                    a.mono href={ "/runs/" (entry.run) } { (entry.run) }
                    " · " (agent_name(entry))
                }
                @match too_long(call) {
                    Some(shown) => (shown),
                    None => (decision_forms(&console, entry.run, call)),
                }
            }
        }
        @if listed.next.is_some() {
            p.muted { "More runs wait than this page lists; decide these first." }
        }
    };
    respond(StatusCode::OK, page("Waiting for approval", body))
}

/// The longest arguments the approvals page shows with a call's forms: it
/// lists up to 100 calls, so at most 1.6 M characters of them. A call is
/// decided on what a person sees whole; one whose arguments are longer is
/// decided on its run's page (a log's values are cut there at 4,000, but
/// never the call that waits).
const ARGUMENTS_SHOWN: usize = 16_000;

/// A call whose arguments are longer than [`ARGUMENTS_SHOWN`], which is
/// not decided on the approvals page: their start, and a link to the
/// run's page, which shows them whole with the call's forms.
fn too_long(call: &PendingApproval) -> Option<Markup> {
    let text = pretty(&call.arguments);
    if text.chars().count() <= ARGUMENTS_SHOWN {
        return None;
    }
    let run = call.ticket.run;
    let start = klieo::types::text::prefix_chars(&text, ARGUMENTS_SHOWN);
    Some(html! {
        p { "Tool " strong.mono { (plain(&call.tool, NAME)) } ", with:" }
        pre.arguments { (visible(start)) "\n…" }
        p {
            "Its arguments are longer than this page shows: "
            a href={ "/runs/" (run) } { "decide on the run's page" }
            ", which shows them whole."
        }
    })
}

/// The most characters shown of why a run's log could not be read.
const UNREAD_SHOWN: usize = 500;

/// `text` for a query string: every byte but unreserved ones escaped.
fn encode(text: &str) -> String {
    let mut encoded = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::encode;

    #[test]
    fn an_agent_name_is_escaped_for_the_next_pages_link() {
        assert_eq!(encode("a b&c=d"), "a%20b%26c%3Dd");
        assert_eq!(encode("billing-2"), "billing-2");
    }
}
