//! `klieo runs watch RUN`: a run's log as it is written. The episodes so
//! far, then each new one as the run records it, until the run is over
//! or Ctrl-C. The run's entry (one indexed row) is read again when the
//! store tells of a change to it (`crate::follow`), or now and then, and
//! the log only when the run moved.

use crate::error::CliError;
use crate::follow::{Hub, ASK_WAIT};
use crate::runs::{line, plain, run_id, LINE};
use crate::store::Store;
use klieo::types::{Episode, Journal, MemoryError, RunCatalog, RunEntry, RunId};
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How long a watch goes on through a store that fails to answer (a
/// restart, a failover), asking it again as it would for a change,
/// before it gives up with the store's error.
const OUTAGE: Duration = Duration::from_secs(60);

/// Prints `run`'s log with `print` as it grows, until the run is over
/// (or Ctrl-C); what to print last.
pub(crate) async fn watch(
    store: &Store,
    run: &str,
    json: bool,
    print: impl Fn(&str) -> std::io::Result<()>,
) -> Result<String, CliError> {
    let run = run_id(run)?;
    let watching = follow_log(store.catalog(), store.journal(), run, json, print);
    // Ctrl-C is heard wherever the watch is, a store's read included.
    tokio::select! {
        watched = watching => watched,
        _ = tokio::signal::ctrl_c() => Ok(stopped(run, json)),
        // Its reader went away (`| head -1`) while the run waits: nobody
        // watches, as when a write fails.
        () = reader_gone() => Ok(String::new()),
    }
}

/// Ends once standard output's reader has gone (a pipe whose other end
/// closed reports an error to the writer); never for output that cannot
/// be watched so (a file, a terminal that stays).
async fn reader_gone() {
    #[cfg(unix)]
    {
        use tokio::io::unix::AsyncFd;
        use tokio::io::Interest;
        // Its replacement is `unsafe` (forbidden here) for what this use
        // holds anyway: standard output's descriptor stays open and the
        // same for the process's life.
        #[expect(deprecated, reason = "the safe constructor; fd 1 outlives the watch")]
        let watched = AsyncFd::with_interest(std::io::stdout(), Interest::ERROR);
        if let Ok(stdout) = watched {
            if let Ok(mut ready) = stdout.ready(Interest::ERROR).await {
                if ready.ready().is_error() {
                    return;
                }
                ready.clear_ready();
            }
        }
    }
    std::future::pending::<()>().await;
}

/// [`watch`] over `catalog` and `journal`: a read that fails as a store
/// does when it is down is tried again, for [`OUTAGE`] at most.
async fn follow_log(
    catalog: &dyn RunCatalog,
    journal: &dyn Journal,
    run: RunId,
    json: bool,
    print: impl Fn(&str) -> std::io::Result<()>,
) -> Result<String, CliError> {
    let stopping = CancellationToken::new();
    let _stop_listening = stopping.clone().drop_guard();
    let hub = Hub::start(catalog, stopping).await;
    let mut following = hub.follow(catalog, run).await;
    let mut shown = 0;
    let mut seen: Option<RunEntry> = None;
    let mut failing_since: Option<Instant> = None;
    loop {
        let read = async {
            let entry = catalog.entry(run).await?;
            let log = match &entry {
                Some(entry) if seen.as_ref() != Some(entry) => Some(journal.replay(run).await?),
                _ => None,
            };
            Ok::<_, MemoryError>((entry, log))
        };
        let began = Instant::now();
        let (entry, log) = match tokio::time::timeout(ASK_WAIT, read).await {
            Ok(Ok(read)) => {
                failing_since = None;
                read
            }
            Ok(Err(e @ MemoryError::Backend { .. })) => {
                within_outage(&mut failing_since, began, e.into())?;
                following.changed(catalog).await;
                continue;
            }
            Ok(Err(e)) => return Err(e.into()),
            // Asked again at once: the wait was the read's.
            Err(_) => {
                let silent = CliError::StoreSilent { after: OUTAGE };
                within_outage(&mut failing_since, began, silent)?;
                continue;
            }
        };
        let Some(entry) = entry else {
            return Err(CliError::UnknownRun { run });
        };
        if let Some(log) = log {
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
        following.changed(catalog).await;
    }
}

/// Counts a read begun at `began` that failed (`error`) towards
/// [`OUTAGE`], the store failing since `failing_since` (since `began`,
/// for the first): the error once the outage is past it.
fn within_outage(
    failing_since: &mut Option<Instant>,
    began: Instant,
    error: CliError,
) -> Result<(), CliError> {
    let since = *failing_since.get_or_insert(began);
    if since.elapsed() >= OUTAGE {
        return Err(error);
    }
    Ok(())
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
    use klieo::types::{Commit, RunQueue, Submission, ThreadId};

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

    /// A catalog whose reads of a run's entry fail, as a store that is
    /// down does, while `failing` is above zero.
    struct Down {
        store: klieo::store::InMemoryJournal,
        failing: std::sync::atomic::AtomicUsize,
        /// Reads never answer instead of failing.
        silent: bool,
    }

    #[async_trait::async_trait]
    impl RunCatalog for Down {
        async fn runs(
            &self,
            query: &klieo::types::RunQuery,
        ) -> Result<klieo::types::RunPage, MemoryError> {
            self.store.runs(query).await
        }

        async fn entry(&self, run: RunId) -> Result<Option<RunEntry>, MemoryError> {
            use std::sync::atomic::Ordering;
            let failing = self.failing.load(Ordering::Relaxed);
            if failing > 0 {
                self.failing.store(failing - 1, Ordering::Relaxed);
                if self.silent {
                    std::future::pending::<()>().await;
                }
                return Err(MemoryError::backend("connection refused"));
            }
            self.store.entry(run).await
        }
    }

    /// A watch of a completed run over a store that fails `failing` reads
    /// first (each a second apart, or never answering when `silent`): its
    /// lines and what it ended with.
    async fn watched_through(
        failing: usize,
        silent: bool,
    ) -> (Vec<String>, Result<String, CliError>) {
        let store = klieo::store::InMemoryJournal::new();
        let run = store
            .submit(&Submission::new("support", "hi"))
            .await
            .unwrap();
        let episodes = vec![
            Episode::Started {
                agent: "support".into(),
            },
            Episode::Completed { steps: 0 },
        ];
        let commit = Commit::new(run, ThreadId::new("t")).with_episodes(episodes);
        store.commit(commit).await.unwrap();
        let down = Down {
            store: store.clone(),
            failing: failing.into(),
            silent,
        };
        let lines = std::sync::Mutex::new(Vec::new());
        let print = |line: &str| {
            lines.lock().unwrap().push(line.to_owned());
            Ok(())
        };
        let ended = follow_log(&down, &store, run, false, print).await;
        (lines.into_inner().unwrap(), ended)
    }

    #[tokio::test(start_paused = true)]
    async fn a_watch_goes_on_through_a_store_that_is_down_for_a_while() {
        let (lines, ended) = watched_through(5, false).await;
        assert_eq!(lines.len(), 2, "{lines:?}");
        let ended = ended.unwrap();
        assert!(ended.contains("completed"), "{ended}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_watch_gives_up_on_a_store_down_past_the_bound() {
        let (lines, ended) = watched_through(usize::MAX, false).await;
        assert!(lines.is_empty());
        assert!(matches!(ended, Err(CliError::Store(_))), "{ended:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_watch_goes_on_through_a_store_silent_for_a_while() {
        let (lines, ended) = watched_through(2, true).await;
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(ended.unwrap().contains("completed"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_watch_gives_up_on_a_store_silent_past_the_bound() {
        let (lines, ended) = watched_through(usize::MAX, true).await;
        assert!(lines.is_empty());
        assert!(
            matches!(ended, Err(CliError::StoreSilent { after }) if after == OUTAGE),
            "{ended:?}"
        );
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
