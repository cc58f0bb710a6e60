//! `klieo runs list` and `klieo runs show`: what they read from the
//! store, and how they print it (the escaping every command's output
//! shares).
//!
//! Text from models and tools is untrusted: printed for people, its
//! control characters are escaped (a terminal escape sequence shows as
//! text) and it is cut to a line; `--json` gives it whole, as JSON.

mod show;

use crate::error::CliError;
use crate::store::Store;
use klieo::types::{Episode, RunEntry, RunId, RunQuery, ToolOutcome};
use serde_json::{json, Value};
use std::fmt::Write;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

pub(crate) use show::show;

/// The most characters of untrusted text a line shows.
pub(crate) const LINE: usize = 100;

/// The most characters of a name (a tool's, an agent's, a person's, a
/// call id) a line shows.
pub(crate) const NAME: usize = 40;

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
        push_shown(&mut shown, c, c.is_control());
    }
    shown
}

/// `text` for a page's preformatted block, as [`plain`] but whole and
/// keeping its line breaks and tabs: what a person reads there is what
/// the text holds, in its order.
pub(crate) fn visible(text: &str) -> String {
    let mut shown = String::with_capacity(text.len());
    for c in text.chars() {
        push_shown(&mut shown, c, c.is_control() && c != '\n' && c != '\t');
    }
    shown
}

/// Pushes `c` onto `shown`, escaped (`\u{202e}`) when `control` or when
/// it reorders or hides text.
fn push_shown(shown: &mut String, c: char, control: bool) {
    if control || hides(c) {
        shown.extend(c.escape_unicode());
    } else {
        shown.push(c);
    }
}

/// Whether `c` reorders or hides text: Unicode's default-ignorable code
/// points (bidirectional controls, zero-width and invisible marks,
/// variation selectors, blank fillers, the tag characters that carry
/// hidden text), and the line and paragraph separators.
pub(crate) fn hides(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFF8}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

pub(crate) fn run_id(text: &str) -> Result<RunId, CliError> {
    RunId::from_str(text.trim()).map_err(|_| CliError::BadRunId {
        text: plain(text, NAME),
    })
}

/// A page of the store's catalog of runs, newest first, as `query` asks.
pub(crate) async fn list(store: &Store, query: &RunQuery, json: bool) -> Result<String, CliError> {
    let page = store.catalog().runs(query).await?;
    if json {
        let runs: Vec<Value> = page.runs.iter().map(entry_json).collect();
        let listed = json!({ "runs": runs, "next": page.next });
        return Ok(crate::json::pretty(&listed)?);
    }
    if page.runs.is_empty() {
        return Ok("no runs".into());
    }
    let now_ms = now_ms();
    let mut text = format!(
        "{:<36}  {:<9}  {:<16}  {:>5}  {:>5}  {:>13}  {:>9}  outcome",
        "run", "state", "agent", "age", "steps", "tokens in/out", "cost $"
    );
    for entry in &page.runs {
        let tally = &entry.tally;
        let said = entry
            .state
            .outcome()
            .map(|o| plain(o, NAME))
            .unwrap_or_default();
        let tokens = format!("{}/{}", tally.input_tokens, tally.output_tokens);
        let cost = tally.cost_micros.map(dollars).unwrap_or_default();
        let _ = write!(
            text,
            "\n{:<36}  {:<9}  {:<16}  {:>5}  {:>5}  {tokens:>13}  {cost:>9}  {said}",
            entry.run,
            entry.state.name(),
            plain(entry.agent.as_deref().unwrap_or("-"), 16),
            age(now_ms.saturating_sub(entry.run.timestamp_ms())),
            tally.model_calls,
        );
    }
    if let Some(next) = page.next {
        let _ = write!(text, "\nmore: --before {next}");
    }
    Ok(text)
}

/// One run of the catalog, as `--json` prints it.
fn entry_json(entry: &RunEntry) -> Value {
    let tally = &entry.tally;
    json!({
        "run": entry.run,
        "state": entry.state.name(),
        "outcome": entry.state.outcome(),
        "thread": entry.thread.as_str(),
        "agent": entry.agent,
        "parent": entry.parent,
        "created_ms": entry.run.timestamp_ms(),
        "updated_ms": entry.updated_ms,
        "model_calls": tally.model_calls,
        "tool_calls": tally.tool_calls,
        "input_tokens": tally.input_tokens,
        "output_tokens": tally.output_tokens,
        "cost_micros": tally.cost_micros,
    })
}

/// The system clock, in milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A span of `ms` milliseconds, briefly: `42s`, `5m`, `3h`, `12d`.
pub(crate) fn age(ms: u64) -> String {
    let seconds = ms / 1_000;
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3_600 => format!("{}m", seconds / 60),
        3_600..86_400 => format!("{}h", seconds / 3_600),
        _ => format!("{}d", seconds / 86_400),
    }
}

/// Millionths of a US dollar, in dollars to the cent's hundredth.
pub(crate) fn dollars(micros: u64) -> String {
    format!("{}.{:04}", micros / 1_000_000, (micros % 1_000_000) / 100)
}

/// One episode's line: what it says, briefly.
pub(crate) fn line(episode: &Episode) -> String {
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
                plain(name, NAME)
            )
        }
        Episode::Completed { steps } => format!("after {steps} steps"),
        Episode::Failed { error } => plain(error, LINE),
        Episode::Suspended { step, tool, .. } => {
            format!("step {step}: {} waits for a person", plain(tool, NAME))
        }
        Episode::Approved { by, .. } => by
            .as_deref()
            .map(|by| format!("by {}", plain(by, NAME)))
            .unwrap_or_default(),
        Episode::Denied { reason, by, .. } => match by {
            Some(by) => format!("by {}: {}", plain(by, NAME), plain(reason, LINE)),
            None => plain(reason, LINE),
        },
        Episode::Compacted { from, through, .. } => {
            format!("messages {from}..{through} summarised")
        }
        Episode::CompactionFailed { reason, .. } => plain(reason, LINE),
        Episode::InDoubt { step, tool, .. } => {
            format!(
                "step {step}: {} ran when the run stopped; it waits to be settled",
                plain(tool, NAME)
            )
        }
        Episode::Settled { outcome, by, .. } => {
            let said = match outcome {
                ToolOutcome::Ok { output } => {
                    format!("it happened: {}", plain(&output.to_string(), 60))
                }
                _ => "it did not happen".to_owned(),
            };
            match by {
                Some(by) => format!("by {}: {said}", plain(by, NAME)),
                None => said,
            }
        }
        Episode::ChildOf {
            parent,
            step,
            call_id,
        } => format!(
            "a child run: started by call {} of step {step} of run {parent}",
            plain(call_id, NAME)
        ),
        Episode::WaitingOnChild { step, child, .. } => {
            format!("step {step}: waits with run {child}, which waits for a person")
        }
        Episode::ChildWoken { child } => format!("a person decided in run {child}; it goes on"),
        Episode::HandedOff { from, to, reason } => {
            let said = format!(
                "{} handed the run to {}",
                plain(from, NAME),
                plain(to, NAME)
            );
            match reason.is_empty() {
                true => said,
                false => format!("{said}: {}", plain(reason, 60)),
            }
        }
        Episode::PromptAt { index } => {
            format!("the run's own messages begin at message {index} of its thread")
        }
        // Every other kind says enough by its name and its JSON
        // (`--json`).
        _ => String::new(),
    }
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

    #[test]
    fn text_for_a_page_keeps_its_lines_and_shows_what_would_reorder_it() {
        assert_eq!(
            visible("{\n\t\"account\": \"\u{202E}4321\"\n}"),
            "{\n\t\"account\": \"\\u{202e}4321\"\n}"
        );
        assert_eq!(
            visible("a\u{200B}b\u{1b}[0m\r"),
            "a\\u{200b}b\\u{1b}[0m\\u{d}"
        );
    }

    #[test]
    fn ages_and_costs_read_briefly() {
        assert_eq!(age(59_999), "59s");
        assert_eq!(age(60_000), "1m");
        assert_eq!(age(7_200_000), "2h");
        assert_eq!(age(3 * 86_400_000), "3d");
        assert_eq!(dollars(1_250), "0.0012");
        assert_eq!(dollars(12_345_678), "12.3456");
    }
}
