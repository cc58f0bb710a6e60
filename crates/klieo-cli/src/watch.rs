//! `klieo runs watch RUN`: a run's log as it is written. The episodes so
//! far, then each new one as the run records it, until the run is over
//! or Ctrl-C. The run's entry (one indexed row) is read again when the
//! store tells of a change to it (`crate::follow`), or now and then, and
//! the log only when the run moved.

use crate::error::CliError;
use crate::follow::Hub;
use crate::runs::{line, plain, run_id, LINE};
use crate::store::Store;
use klieo::types::{Episode, RunEntry};
use tokio_util::sync::CancellationToken;

/// Prints `run`'s log with `print` as it grows, until the run is over
/// (or Ctrl-C); what to print last.
pub(crate) async fn watch(
    store: &Store,
    run: &str,
    json: bool,
    print: impl Fn(&str),
) -> Result<String, CliError> {
    let run = run_id(run)?;
    let stopping = CancellationToken::new();
    let _stop_listening = stopping.clone().drop_guard();
    let hub = Hub::start(store.catalog(), stopping).await;
    let mut following = hub.follow(store.catalog(), run).await;
    let mut shown = 0;
    let mut seen: Option<RunEntry> = None;
    loop {
        let Some(entry) = store.catalog().entry(run).await? else {
            return Err(CliError::UnknownRun { run });
        };
        if seen.as_ref() != Some(&entry) {
            let log = store.journal().replay(run).await?;
            for (i, episode) in log.iter().enumerate().skip(shown) {
                print(&episode_line(i, episode, json)?);
            }
            shown = log.len();
            if entry.state.is_finished() {
                return ended(&entry, json);
            }
            seen = Some(entry);
        }
        tokio::select! {
            () = following.changed(store.catalog()) => {}
            _ = tokio::signal::ctrl_c() => return Ok("(stopped watching; the run goes on)".into()),
        }
    }
}

/// One episode: numbered, for people; its JSON, for scripts.
fn episode_line(i: usize, episode: &Episode, json: bool) -> Result<String, CliError> {
    if json {
        return Ok(serde_json::to_string(episode)?);
    }
    Ok(format!("{i:>4}  {:<18} {}", episode.kind(), line(episode)))
}

/// What is said once the run is over.
fn ended(entry: &RunEntry, json: bool) -> Result<String, CliError> {
    let state = &entry.state;
    if json {
        let shown = serde_json::json!({"run": entry.run, "state": state.name(), "outcome": state.outcome()});
        return Ok(serde_json::to_string(&shown)?);
    }
    let said = state.outcome().map(|o| plain(o, LINE)).unwrap_or_default();
    Ok(format!("run {} {}: {said}", entry.run, state.name()))
}
