//! `klieo runs show RUN`: one run, its state, its thread, its parent
//! and children, the call it waits on, and its log.

use super::{line, plain, run_id, LINE, NAME};
use crate::error::CliError;
use crate::store::Store;
use klieo::runtime::decisions::{in_doubt, pending_approval};
use klieo::runtime::PendingApproval;
use klieo::types::{RunQuery, Ticket};
use serde_json::json;
use std::fmt::Write;

/// `ticket` as a person pastes it into `klieo approve`: as it is; in
/// single quotes, as a shell takes it whole and runs nothing of it, when
/// its call id (the model's or its server's) holds characters a shell
/// reads (`$(…)`, `;`, a space); or, when it holds characters shown
/// escaped (a zero-width space a model put in it), escaped and said to
/// be so, with where a script reads it whole.
fn ticket_shown(ticket: &Ticket) -> String {
    let text = ticket.to_string();
    let shown = plain(&text, usize::MAX);
    if shown != text {
        return format!(
            "{shown} (its call id holds characters shown escaped, so this cannot be pasted: \
             a script reads the ticket whole as `.waits_for.ticket` of \
             `klieo --json runs show {}`)",
            ticket.run
        );
    }
    let plain_word = |b: u8| b.is_ascii_alphanumeric() || b"-_./~:+=,@%".contains(&b);
    if text.bytes().all(plain_word) {
        return text;
    }
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The most child runs `runs show` lists (`runs list --parent` pages
/// through all).
const CHILDREN: usize = 50;

/// One run: its state, its thread, its parent and children, and its log.
pub(crate) async fn show(store: &Store, run: &str, json: bool) -> Result<String, CliError> {
    let run = run_id(run)?;
    let Some(state) = store.queue().state(run).await? else {
        return Err(CliError::UnknownRun { run });
    };
    let record = store.journal().run(run).await?;
    let log = store.journal().replay(run).await?;
    let thread = record.as_ref().map(|r| r.thread.as_str().to_owned());
    let waiting = pending_approval(store.journal(), run)
        .await
        .map_err(CliError::Reading)?;
    let doubted = in_doubt(store.journal(), run)
        .await
        .map_err(CliError::Reading)?;
    let parent = store.catalog().entry(run).await?.and_then(|e| e.parent);
    let children = store
        .catalog()
        .runs(&RunQuery::new().with_parent(run).with_limit(CHILDREN))
        .await?;
    if json {
        let call = |w: &PendingApproval| json!({"ticket": w.ticket.to_string(), "tool": w.tool, "arguments": w.arguments});
        let waits = waiting.as_ref().map(call);
        let doubt = doubted.as_ref().map(call);
        let shown = json!({
            "run": run,
            "state": state.name(),
            "outcome": state.outcome(),
            "thread": thread,
            "waits_for": waits,
            "in_doubt": doubt,
            "parent": parent,
            "children": children.runs.iter().map(|c| json!({"run": c.run, "state": c.state.name()})).collect::<Vec<_>>(),
            // The first CHILDREN: `runs list --parent RUN` pages through all.
            "more_children": children.next.is_some(),
            "episodes": log,
        });
        return Ok(crate::json::pretty(&shown)?);
    }
    let mut text = format!("run     {run}\nstate   {}", state.name());
    if let Some(said) = state.outcome() {
        let _ = write!(text, " ({})", plain(said, LINE));
    }
    if let Some(waiting) = &waiting {
        // The arguments whole: a person decides on what they see.
        let arguments = waiting.arguments.to_string();
        let _ = write!(
            text,
            "\nwaits   {} with {}\nticket  {}",
            plain(&waiting.tool, NAME),
            plain(&arguments, usize::MAX),
            ticket_shown(&waiting.ticket)
        );
    }
    if let Some(doubted) = &doubted {
        let arguments = doubted.arguments.to_string();
        let _ = write!(
            text,
            "\ndoubt   {} with {} ran when the run stopped: did it happen? (klieo settle)\nticket  {}",
            plain(&doubted.tool, NAME),
            plain(&arguments, usize::MAX),
            ticket_shown(&doubted.ticket)
        );
    }
    if let Some(parent) = parent {
        let _ = write!(text, "\nparent  {parent} (this run is its call's agent)");
    }
    for child in &children.runs {
        let _ = write!(text, "\nchild   {} {}", child.run, child.state.name());
    }
    if children.next.is_some() {
        let _ = write!(text, "\nchild   … more: klieo runs list --parent {run}");
    }
    if let Some(thread) = &thread {
        let _ = write!(text, "\nthread  {}", plain(thread, LINE));
    }
    let _ = write!(text, "\nlog     {} episodes", log.len());
    for (i, episode) in log.iter().enumerate() {
        let _ = write!(text, "\n{i:>4}  {:<18} {}", episode.kind(), line(episode));
    }
    Ok(text)
}
