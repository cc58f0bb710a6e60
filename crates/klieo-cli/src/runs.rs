//! `klieo runs list`, `klieo runs show`, `klieo approve`, `klieo deny`
//! and `klieo cancel`: what they read from the store, what they write,
//! and how they print it.
//!
//! Text from models and tools is untrusted: printed for people, its
//! control characters are escaped (a terminal escape sequence shows as
//! text) and it is cut to a line; `--json` gives it whole, as JSON.

use crate::error::CliError;
use crate::store::Store;
use klieo::runtime::decisions::{pending_approval, record_decision, Decision};
use klieo::types::{Episode, RunId, RunState, Ticket, ToolOutcome};
use serde_json::{json, Value};
use std::fmt::Write;
use std::str::FromStr;

/// A state's name, as `--state` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum StateName {
    Queued,
    Running,
    Suspended,
    Completed,
    Failed,
    Cancelled,
}

impl StateName {
    fn matches(self, state: &RunState) -> bool {
        use clap::ValueEnum;
        self.to_possible_value()
            .is_some_and(|value| value.get_name() == state.name())
    }
}

/// The most characters of untrusted text a line shows.
const LINE: usize = 100;

/// `text` for a terminal: control characters and the characters that
/// reorder or hide text (bidirectional controls, zero-width marks)
/// escaped, cut to `max` characters.
pub(crate) fn plain(text: &str, max: usize) -> String {
    let mut shown = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == max {
            shown.push('…');
            break;
        }
        let hidden = matches!(
            c,
            '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}'
        );
        if c.is_control() || hidden {
            shown.extend(c.escape_unicode());
        } else {
            shown.push(c);
        }
    }
    shown
}

fn run_id(text: &str) -> Result<RunId, CliError> {
    RunId::from_str(text.trim()).map_err(|_| CliError::BadRunId {
        text: plain(text, 40),
    })
}

/// The newest runs first, at most `limit`, those in `state` only when
/// given.
///
/// Every run's id is read, then each listed run's state: a store of many
/// runs answers in time proportional to them all (an indexed catalog of
/// runs is not built yet).
pub(crate) async fn list(
    store: &Store,
    state: Option<StateName>,
    limit: usize,
    json: bool,
) -> Result<String, CliError> {
    let mut rows = Vec::new();
    for run in store.journal().list_runs().await?.into_iter().rev() {
        if rows.len() == limit {
            break;
        }
        let Some(found) = store.queue().state(run).await? else {
            continue;
        };
        if state.is_some_and(|wanted| !wanted.matches(&found)) {
            continue;
        }
        let thread = store.journal().run(run).await?.map(|r| r.thread);
        rows.push((run, found, thread));
    }
    if json {
        let runs: Vec<Value> = rows
            .iter()
            .map(|(run, state, thread)| {
                json!({
                    "run": run,
                    "state": state.name(),
                    "outcome": state.outcome(),
                    "thread": thread.as_ref().map(|t| t.as_str()),
                })
            })
            .collect();
        return Ok(serde_json::to_string_pretty(&json!({ "runs": runs }))?);
    }
    if rows.is_empty() {
        return Ok("no runs".into());
    }
    let mut text = format!("{:<36}  {:<9}  {:<20}  outcome", "run", "state", "thread");
    for (run, state, thread) in &rows {
        let thread = thread.as_ref().map_or("", |t| t.as_str());
        let said = state.outcome().map(|o| plain(o, 60)).unwrap_or_default();
        let _ = write!(
            text,
            "\n{run:<36}  {:<9}  {:<20}  {said}",
            state.name(),
            plain(thread, 20)
        );
    }
    Ok(text)
}

/// One run: its state, its thread and its log.
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
    if json {
        let waits = waiting.as_ref().map(
            |w| json!({"ticket": w.ticket.to_string(), "tool": w.tool, "arguments": w.arguments}),
        );
        let shown = json!({
            "run": run,
            "state": state.name(),
            "outcome": state.outcome(),
            "thread": thread,
            "waits_for": waits,
            "episodes": log,
        });
        return Ok(serde_json::to_string_pretty(&shown)?);
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
            plain(&waiting.tool, 40),
            plain(&arguments, usize::MAX),
            plain(&waiting.ticket.to_string(), usize::MAX)
        );
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

/// One episode's line: what it says, briefly.
fn line(episode: &Episode) -> String {
    match episode {
        Episode::Started { agent } => format!("agent {}", plain(agent, LINE)),
        Episode::LlmCall {
            step,
            tokens,
            latency_ms,
            finish_reason,
            tool_calls,
            ..
        } => {
            let tokens = tokens.map_or("tokens unknown".into(), |u| {
                format!("{} in, {} out", u.input_tokens, u.output_tokens)
            });
            format!(
                "step {step}: {}, {tool_calls} tool calls, {tokens}, {latency_ms} ms",
                finish_reason.as_str()
            )
        }
        Episode::ToolCall {
            step,
            name,
            result,
            latency_ms,
            ..
        } => {
            let outcome = match result {
                ToolOutcome::Ok { output } => format!("ok: {}", plain(&output.to_string(), 60)),
                ToolOutcome::Error { message } => format!("error: {}", plain(message, 60)),
                ToolOutcome::Denied { reason } => format!("denied: {}", plain(reason, 60)),
                other => plain(&format!("{other:?}"), 60),
            };
            format!(
                "step {step}: {} -> {outcome}, {latency_ms} ms",
                plain(name, 40)
            )
        }
        Episode::Completed { steps } => format!("after {steps} steps"),
        Episode::Failed { error } => plain(error, LINE),
        Episode::Suspended { step, tool, .. } => {
            format!("step {step}: {} waits for a person", plain(tool, 40))
        }
        Episode::Approved { by, .. } => by
            .as_deref()
            .map(|by| format!("by {}", plain(by, 40)))
            .unwrap_or_default(),
        Episode::Denied { reason, by, .. } => match by {
            Some(by) => format!("by {}: {}", plain(by, 40), plain(reason, LINE)),
            None => plain(reason, LINE),
        },
        Episode::Compacted { from, through, .. } => {
            format!("messages {from}..{through} summarised")
        }
        Episode::CompactionFailed { reason, .. } => plain(reason, LINE),
        // Every other kind says enough by its name and its JSON
        // (`--json`).
        _ => String::new(),
    }
}

/// Records `decision` on the call `ticket` names.
pub(crate) async fn decide(
    store: &Store,
    ticket: &str,
    decision: Decision,
    json: bool,
) -> Result<String, CliError> {
    let ticket = Ticket::from_str(ticket.trim()).map_err(|source| CliError::BadTicket {
        text: plain(ticket, 60),
        source,
    })?;
    let approved = matches!(decision, Decision::Approve { .. });
    record_decision(store.journal(), &ticket, decision)
        .await
        .map_err(CliError::Decision)?;
    let word = if approved { "approved" } else { "denied" };
    if json {
        let shown = json!({"run": ticket.run, "call": ticket.call_id, "decision": word});
        return Ok(serde_json::to_string_pretty(&shown)?);
    }
    Ok(format!(
        "call {} of run {} {word}; the run goes on where its agent is",
        plain(&ticket.call_id, 40),
        ticket.run
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
    let Some(state) = store.queue().cancel(run, by).await? else {
        return Err(CliError::UnknownRun { run });
    };
    if json {
        let shown = json!({"run": run, "state": state.name(), "outcome": state.outcome()});
        return Ok(serde_json::to_string_pretty(&shown)?);
    }
    Ok(match state {
        RunState::Cancelled { .. } => format!("run {run} cancelled"),
        other => format!("run {run} was already {}; left as it is", other.name()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untrusted_text_shows_its_control_characters_escaped_and_is_cut() {
        assert_eq!(plain("a\u{1b}[31mred\nb", 100), "a\\u{1b}[31mred\\u{a}b");
        assert_eq!(
            plain("pay \u{202E}evE", 100),
            "pay \\u{202e}evE",
            "no reordering"
        );
        assert_eq!(plain("abcdef", 3), "abc…");
    }
}
