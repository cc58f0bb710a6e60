//! Runs written straight to a journal, as an agent's first commit writes
//! them, for tests of what reads runs (trees, the catalog, a console).

use klieo_types::{Commit, Episode, Journal, MemoryError, RunId, ThreadId};

/// A new run's first commit on `journal`: `Started` by `agent` and, for
/// a child run (an agent used as a tool), `ChildOf` its `parent`, on a
/// thread of its own. The run, running.
///
/// ```
/// use klieo_store::testing::runs::started;
/// use klieo_store::InMemoryJournal;
/// use klieo_types::{RunQueue, RunState};
///
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let store = InMemoryJournal::new();
/// let parent = started(&store, "desk", None).await?;
/// let child = started(&store, "lookup", Some(parent)).await?;
/// assert_eq!(store.state(child).await?, Some(RunState::Running));
/// # Ok::<(), klieo_types::MemoryError>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// What the journal's commit fails with (a child under a cancelled
/// parent is refused).
pub async fn started(
    journal: &dyn Journal,
    agent: &str,
    parent: Option<RunId>,
) -> Result<RunId, MemoryError> {
    let run = RunId::new();
    let mut episodes = vec![Episode::Started {
        agent: agent.into(),
    }];
    if let Some(parent) = parent {
        episodes.push(Episode::ChildOf {
            parent,
            step: 1,
            call_id: "c1".into(),
        });
    }
    let thread = ThreadId::new(format!("run-{run}"));
    journal
        .commit(Commit::new(run, thread).with_episodes(episodes))
        .await?;
    Ok(run)
}
