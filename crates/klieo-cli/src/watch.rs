//! `klieo runs watch RUN`: a run's log as it is written. The episodes so
//! far, then each new one as the run records it, until the run is over
//! or Ctrl-C. The run's entry (one indexed row) is read again when the
//! store tells of a change to it (`crate::follow`), or now and then, and
//! the log only when the run moved.

use crate::error::CliError;
use crate::follow::Hub;
use crate::runs::{line, plain, run_id, LINE};
use crate::store::Store;
use klieo::types::{Episode, RunEntry, RunId};
use tokio_util::sync::CancellationToken;

/// Prints `run`'s log with `print` as it grows, until the run is over
/// (or Ctrl-C); what to print last.
pub(crate) async fn watch(
    store: &Store,
    run: &str,
    json: bool,
    print: impl Fn(&str) -> std::io::Result<()>,
) -> Result<String, CliError> {
    let run = run_id(run)?;
    let stopping = CancellationToken::new();
    let _stop_listening = stopping.clone().drop_guard();
    let hub = Hub::start(store.catalog(), stopping).await;
    let mut following = hub.follow(store.catalog(), run).await;
    let watching = async {
        let mut shown = 0;
        let mut seen: Option<RunEntry> = None;
        loop {
            let Some(entry) = store.catalog().entry(run).await? else {
                return Err(CliError::UnknownRun { run });
            };
            if seen.as_ref() != Some(&entry) {
                let log = store.journal().replay(run).await?;
                for (i, episode) in log.iter().enumerate().skip(shown) {
                    let written = print(&episode_line(i, episode, json)?);
                    if written.is_err() {
                        // Its reader went away (`| head`): nobody watches;
                        // any other failure is the command's.
                        return crate::printed(written).map(|()| String::new());
                    }
                }
                shown = log.len();
                if entry.state.is_finished() {
                    return ended(&entry, json);
                }
                seen = Some(entry);
            }
            following.changed(store.catalog()).await;
        }
    };
    // Ctrl-C is heard wherever the watch is, a store's read included.
    tokio::select! {
        watched = watching => watched,
        _ = tokio::signal::ctrl_c() => Ok(stopped(run, json)),
    }
}

/// What is said when a person stops watching: a line of JSON for scripts.
fn stopped(run: RunId, json: bool) -> String {
    if json {
        return serde_json::json!({"run": run, "stopped": true}).to_string();
    }
    "(stopped watching; the run goes on)".into()
}

/// One episode: numbered, for people; its JSON, for scripts.
fn episode_line(i: usize, episode: &Episode, json: bool) -> Result<String, CliError> {
    if json {
        return Ok(crate::json::line(episode)?);
    }
    Ok(format!("{i:>4}  {:<18} {}", episode.kind(), line(episode)))
}

/// What is said once the run is over.
fn ended(entry: &RunEntry, json: bool) -> Result<String, CliError> {
    let state = &entry.state;
    if json {
        let shown = serde_json::json!({"run": entry.run, "state": state.name(), "outcome": state.outcome()});
        return Ok(crate::json::line(&shown)?);
    }
    let said = state.outcome().map(|o| plain(o, LINE)).unwrap_or_default();
    Ok(format!("run {} {}: {said}", entry.run, state.name()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use klieo::sqlite::SqliteStore;
    use klieo::types::{Commit, Journal, RunQueue, Submission, ThreadId};
    use std::time::Duration;

    /// A watch of a run that goes on, printing with `print`; what it
    /// ended with (a bound, not a timing: a watch that goes on fails).
    async fn watched_by(
        print: impl Fn(&str) -> std::io::Result<()>,
    ) -> Result<Result<String, CliError>, tokio::time::error::Elapsed> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agents.db");
        let sqlite = SqliteStore::open(&path).await.unwrap();
        let run = sqlite
            .submit(&Submission::new("support", "hi"))
            .await
            .unwrap();
        let started = Episode::Started {
            agent: "support".into(),
        };
        let commit = Commit::new(run, ThreadId::new("t")).with_episodes(vec![started]);
        sqlite.commit(commit).await.unwrap();
        sqlite.close().await;
        let store = Store::open(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        let run = run.to_string();
        tokio::time::timeout(Duration::from_secs(60), watch(&store, &run, false, print)).await
    }

    #[tokio::test]
    async fn a_watch_whose_reader_went_away_stops_though_the_run_goes_on() {
        // `klieo runs watch R | head -1`, once `head` has its line.
        let gone = |_: &str| Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        let watched = watched_by(gone).await;
        assert_eq!(watched.map(Result::ok), Ok(Some(String::new())));
    }

    #[tokio::test]
    async fn a_watch_that_cannot_write_fails() {
        let full = |_: &str| Err(std::io::Error::other("no space left on device"));
        let watched = watched_by(full).await.unwrap();
        assert!(matches!(watched, Err(CliError::Output(_))), "{watched:?}");
    }
}
