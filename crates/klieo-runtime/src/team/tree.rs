//! A run and its child runs, as their logs link them: a child's log
//! starts with `ChildOf` (its parent and the call that started it); a
//! parent that waits with a child for a person ends its log with
//! `WaitingOnChild`, and is woken (`ChildWoken`) once the person decides.

use klieo_types::{Commit, Episode, Error, Journal, MemoryError, RunId};

/// The deepest tree followed: a chain of parents longer than this is not
/// one klieo made (each child is started by a call of its parent).
pub(crate) const MAX_DEPTH: usize = 32;

/// The run that started `run`, as its log says; `None` for a run that is
/// not a child.
pub(crate) async fn parent_of(journal: &dyn Journal, run: RunId) -> Result<Option<RunId>, Error> {
    let log = journal.replay(run).await?;
    // `ChildOf` is written with `Started`, in the run's first commit.
    Ok(log.iter().take(3).find_map(|episode| match episode {
        Episode::ChildOf { parent, .. } => Some(*parent),
        _ => None,
    }))
}

/// The run at the top of `run`'s tree: `run` itself when it is not a
/// child.
pub(crate) async fn root_of(journal: &dyn Journal, run: RunId) -> Result<RunId, Error> {
    let mut root = run;
    for _ in 0..MAX_DEPTH {
        match parent_of(journal, root).await? {
            Some(parent) => root = parent,
            None => return Ok(root),
        }
    }
    Err(Error::NotResumable {
        run,
        reason: format!("its runs' chain of parents is longer than {MAX_DEPTH}; its store's logs are not ones klieo wrote"),
    })
}

/// Wakes the runs that wait with `run` for a person, once the person
/// decided: its parent when its log ends waiting on `run`, then that
/// one's parent, and so on up the tree, each recording `ChildWoken`
/// (which makes it run again: a worker claims a submitted one;
/// `Agent::resume` takes up any other). A parent already woken for `run`
/// is passed (a wake cut short is finished by the next); a parent that
/// waits on another run, or that another process moved first, stops it.
pub(crate) async fn wake_parents(journal: &dyn Journal, run: RunId) -> Result<(), Error> {
    let mut child = run;
    for _ in 0..MAX_DEPTH {
        let Some(parent) = parent_of(journal, child).await? else {
            return Ok(());
        };
        let log = journal.replay(parent).await?;
        match log.last() {
            Some(Episode::WaitingOnChild { child: waits, .. }) if *waits == run => {}
            Some(Episode::ChildWoken { child: woken }) if *woken == run => {
                child = parent;
                continue;
            }
            _ => return Ok(()),
        }
        if !wake(journal, parent, log.len(), run).await? {
            return Ok(());
        }
        child = parent;
    }
    Ok(())
}

/// The agent that drives the run whose log is `log`: the last a hand-off
/// gave it to, else the one that started it.
pub(crate) fn driver_in(log: &[Episode]) -> Option<&str> {
    log.iter().rev().find_map(|episode| match episode {
        Episode::HandedOff { to, .. } => Some(to.as_str()),
        Episode::Started { agent } => Some(agent.as_str()),
        _ => None,
    })
}

/// Wakes `run` when it waits with a child run whose call a person has
/// decided since (a wake cut short by a stop, say): records `ChildWoken`
/// and returns `true`. `false` when it does not wait on a child, the
/// child still waits, or another process moved it first.
pub(crate) async fn wake_if_decided(journal: &dyn Journal, run: RunId) -> Result<bool, Error> {
    let log = journal.replay(run).await?;
    let Some(Episode::WaitingOnChild { child, .. }) = log.last() else {
        return Ok(false);
    };
    let child = *child;
    let still = matches!(
        journal.replay(child).await?.last(),
        Some(Episode::Suspended { .. } | Episode::InDoubt { .. } | Episode::WaitingOnChild { .. })
    );
    if still {
        return Ok(false);
    }
    wake(journal, run, log.len(), child).await
}

/// Records `ChildWoken { child }` in `run`, whose log holds `seen`
/// episodes, its step left open (the call that waited runs again);
/// `false` when the store has no record of it or another process wrote
/// to it first.
async fn wake(journal: &dyn Journal, run: RunId, seen: usize, child: RunId) -> Result<bool, Error> {
    let Some(record) = journal.run(run).await? else {
        return Ok(false);
    };
    let mut woken = Commit::new(run, record.thread)
        .with_episodes(vec![Episode::ChildWoken { child }])
        .with_expected_episodes(u64::try_from(seen).unwrap_or(u64::MAX));
    woken.pending = record.pending;
    match journal.commit(woken).await {
        Ok(()) => Ok(true),
        Err(MemoryError::Conflict(_)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}
