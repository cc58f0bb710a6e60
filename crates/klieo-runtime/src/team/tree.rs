//! A run and its child runs, as their logs link them: a child's log
//! starts with `ChildOf` (its parent and the call that started it); a
//! parent that waits with a child for a person ends its log with
//! `WaitingOnChild`, and is woken (`ChildWoken`) once the person decides.

use crate::decisions::decide_in_child;
use crate::journal::Memories;
use crate::options::Budget;
use crate::spend::Spend;
use crate::stream::CANCELLED;
use klieo_types::{
    Commit, Episode, Error, Journal, MemoryError, PendingStep, RunId, Ticket, ToolContext,
};
use std::collections::HashSet;
use std::sync::Arc;

/// The deepest tree followed: a chain of parents longer than this is not
/// one klieo made (each child is started by a call of its parent).
pub(crate) const MAX_DEPTH: usize = 32;

/// Whether the run whose log is `log` has ended (completed, failed or
/// cancelled): its last episode says so. Its pending step, if it had one,
/// stays in the store.
pub(crate) fn has_ended(log: &[Episode]) -> bool {
    matches!(
        log.last(),
        Some(Episode::Failed { .. } | Episode::Completed { .. })
    )
}

/// The run that started `run`, as its log says; `None` for a run that is
/// not a child.
pub(crate) async fn parent_of(journal: &dyn Journal, run: RunId) -> Result<Option<RunId>, Error> {
    Ok(parent_in(&journal.replay(run).await?))
}

/// The run that started the run whose log is `log`, if it is a child.
pub(crate) fn parent_in(log: &[Episode]) -> Option<RunId> {
    // `ChildOf` is written with `Started`, in the run's first commit.
    log.iter().take(3).find_map(|episode| match episode {
        Episode::ChildOf { parent, .. } => Some(*parent),
        _ => None,
    })
}

/// The child run that call `call_id` of step `step` of `parent` starts
/// (an agent used as a tool): derived from the call's idempotency key,
/// so the call finds it again.
pub(crate) fn child_of_call(parent: RunId, step: u32, call_id: &str) -> RunId {
    let key = ToolContext::new(parent, call_id, "")
        .with_step(step)
        .idempotency_key();
    parent.child(&key)
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

/// The root of a run's tree, found to take the tree up from any of its
/// runs: the root, its log, and the journal that holds them.
pub(crate) struct TreeRoot {
    /// The journal that holds the tree.
    pub(crate) journal: Arc<dyn Journal>,
    /// The run at the top of the tree.
    pub(crate) root: RunId,
    /// The root's log, as read.
    pub(crate) log: Vec<Episode>,
}

impl TreeRoot {
    /// The root of `run`'s tree in `journal`, and its log.
    pub(crate) async fn of(journal: Arc<dyn Journal>, run: RunId) -> Result<Self, Error> {
        let root = root_of(journal.as_ref(), run).await?;
        let log = journal.replay(root).await?;
        Ok(Self { journal, root, log })
    }

    /// The agent that drives the root (see [`driver_in`]), or `started`
    /// when its log names none.
    pub(crate) fn driver<'a>(&'a self, started: &'a str) -> &'a str {
        driver_in(&self.log).unwrap_or(started)
    }

    /// The decision the root is taken up with, given `decision` on a call
    /// of `run`: in a child run, the decision is recorded in the child
    /// first (the root's calls then find the child going on) and the root
    /// has none; the root's own as it is.
    pub(crate) async fn decision_for_root(
        &self,
        run: RunId,
        decision: Option<(Ticket, Option<String>)>,
    ) -> Result<Option<(Ticket, Option<String>)>, Error> {
        if run == self.root {
            return Ok(decision);
        }
        if let Some((ticket, denial)) = decision {
            decide_in_child(self.journal.as_ref(), &ticket, denial).await?;
        }
        Ok(None)
    }
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

/// The agent the latest hand-off in `log` gave its run to; `None` when
/// the run was never handed on (it goes on only through its team when
/// it was).
///
/// ```
/// use klieo_runtime::decisions::handed_to;
/// use klieo_types::Episode;
///
/// let started = Episode::Started { agent: "triage".into() };
/// assert_eq!(handed_to(&[started.clone()]), None);
/// let handed = Episode::HandedOff {
///     from: "triage".into(),
///     to: "refund".into(),
///     reason: "wants a refund".into(),
/// };
/// assert_eq!(handed_to(&[started, handed]), Some("refund"));
/// ```
pub fn handed_to(log: &[Episode]) -> Option<&str> {
    log.iter().rev().find_map(|episode| match episode {
        Episode::HandedOff { to, .. } => Some(to.as_str()),
        _ => None,
    })
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
    let woken = Episode::ChildWoken { child };
    append_fenced(journal, run, seen, woken, Pending::Keep, None).await
}

/// Ends the runs that wait for a person under `caller`, whose step ended
/// for good (a call of it failed for good, or the run was cancelled)
/// while one of its calls waited with `waiting`, the run the person is
/// asked about: `waiting` and each run between it and `caller` record
/// `Failed` (`cancelled`, as a child its caller cut off does), their
/// steps closed, so no person is asked to approve a call whose result
/// nobody will read. A run that no longer waits, or that another process
/// moved first, is left as it is, and so is a run whose call is in doubt:
/// its person is asked what happened, which matters whoever reads the
/// answer (the runs between it and `caller` end; it ends once settled, see
/// [`end_if_orphaned`]).
pub(crate) async fn end_waiting(
    journal: &dyn Journal,
    caller: RunId,
    waiting: RunId,
) -> Result<(), Error> {
    // Only runs of `caller`'s tree: the chain of parents from `waiting`
    // must reach it.
    let mut chain = Vec::new();
    let mut run = waiting;
    while run != caller {
        if chain.len() == MAX_DEPTH {
            return Ok(());
        }
        let log = journal.replay(run).await?;
        let Some(parent) = parent_in(&log) else {
            return Ok(());
        };
        chain.push((run, log));
        run = parent;
    }
    // A call in doubt asks its person what happened, whoever reads the
    // answer: its run is left for the person to settle.
    for (run, log) in chain {
        if matches!(
            log.last(),
            Some(Episode::Suspended { .. } | Episode::WaitingOnChild { .. })
        ) {
            let ended = Episode::Failed {
                error: CANCELLED.to_owned(),
            };
            append_fenced(journal, run, log.len(), ended, Pending::Clear, None).await?;
        }
    }
    Ok(())
}

/// Ends `run`, a child run whose call a person just decided or settled,
/// when the run it was started for has ended meanwhile (its step ended
/// for good while this one waited in doubt): nobody reads its answer, so
/// it records `Failed` (`cancelled`), the person's word kept before it.
/// `false` when it goes on (its parent waits, or it has none), or another
/// process moved it first.
pub(crate) async fn end_if_orphaned(journal: &dyn Journal, run: RunId) -> Result<bool, Error> {
    let log = journal.replay(run).await?;
    let Some(parent) = parent_in(&log) else {
        return Ok(false);
    };
    if !has_ended(&journal.replay(parent).await?) {
        return Ok(false);
    }
    let ended = Episode::Failed {
        error: CANCELLED.to_owned(),
    };
    append_fenced(journal, run, log.len(), ended, Pending::Clear, None).await
}

/// What a fenced append does with the run's open step.
pub(crate) enum Pending {
    /// Left open: the run goes on with it.
    Keep,
    /// Closed: the run is over.
    Clear,
}

/// Appends `episode` to `run`, whose log holds `seen` episodes, as the
/// holder of its lease when `holder` names one; `false` when the store
/// has no record of it or another process wrote to it first.
pub(crate) async fn append_fenced(
    journal: &dyn Journal,
    run: RunId,
    seen: usize,
    episode: Episode,
    pending: Pending,
    holder: Option<&str>,
) -> Result<bool, Error> {
    let Some(record) = journal.run(run).await? else {
        return Ok(false);
    };
    let mut commit = Commit::new(run, record.thread)
        .with_episodes(vec![episode])
        .with_expected_episodes(u64::try_from(seen).unwrap_or(u64::MAX));
    commit.holder = holder.map(str::to_owned);
    if let Pending::Keep = pending {
        commit.pending = record.pending;
    }
    match journal.commit(commit).await {
        Ok(()) => Ok(true),
        Err(MemoryError::Conflict(_)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The calls of `run`'s log (`log`, and its pending step `pending`) that
/// may have started a child run (an agent used as a tool), as `(step,
/// call id)`: those with a result, those of its open step, and those
/// waiting with a child.
fn calls_of<'a>(log: &'a [Episode], pending: Option<&'a PendingStep>) -> Vec<(u32, &'a str)> {
    let mut calls: Vec<(u32, &str)> = log
        .iter()
        .filter_map(|e| match e {
            Episode::ToolCall { step, call_id, .. }
            | Episode::WaitingOnChild { step, call_id, .. } => Some((*step, &**call_id)),
            _ => None,
        })
        .collect();
    if let Some(pending) = pending {
        let open = pending.reply.tool_calls.iter();
        calls.extend(open.map(|call| (pending.step, &*call.id)));
    }
    let mut seen = HashSet::new();
    calls.retain(|call| seen.insert(*call));
    calls
}

/// What the child runs of `run` (whose log is `log`) spent, as their
/// logs in `memories` record it, their own children's included: each
/// call of the log (ended, open or waiting) may have started one, whose
/// id it derives. A child kept in other memories is not found; separate
/// memories keep no open step.
pub(crate) async fn children_spent(
    memories: &Memories,
    budget: &Budget,
    run: RunId,
    log: &[Episode],
) -> Result<Spend, Error> {
    let pending_of = |run: RunId| async move {
        match memories.journal_ref() {
            Some(journal) => journal.pending(run).await,
            None => Ok(None),
        }
    };
    let mut spent = Spend::new(budget, &[]);
    let mut level = vec![(run, log.to_vec(), pending_of(run).await?)];
    for _ in 0..MAX_DEPTH {
        let mut next = Vec::new();
        for (parent, episodes, pending) in &level {
            for (step, call_id) in calls_of(episodes, pending.as_ref()) {
                let child = child_of_call(*parent, step, call_id);
                let child_log = memories.episodic().replay(child).await?;
                if parent_in(&child_log) == Some(*parent) {
                    // Its open step's calls too, counted when its model
                    // asked for them (a call a person approved, say).
                    let open = pending_of(child).await?;
                    let mut child_spent = Spend::from_log(budget, &[], &child_log);
                    if let Some(open) = &open {
                        child_spent.count_open_calls(open, &child_log);
                    }
                    spent.add_counts(&child_spent);
                    next.push((child, child_log, open));
                }
            }
        }
        if next.is_empty() {
            break;
        }
        level = next;
    }
    Ok(spent)
}

#[cfg(test)]
#[path = "tree_tests.rs"]
mod tests;
