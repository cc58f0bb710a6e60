//! A run's tree (its child runs, theirs, and so on, as a catalog lists
//! them by parent) cancelled whole, and asked whether any of it still
//! goes.

use crate::team::tree::MAX_DEPTH;
use klieo_types::{MemoryError, RunCatalog, RunEntry, RunId, RunQuery, RunQueue, RunState};

/// What [`cancel_tree`] did.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TreeCancelled {
    /// The state the run is in now: [`RunState::Cancelled`], or how it had
    /// ended already (left as it is).
    pub state: RunState,
    /// Whether this call cancelled the run: `false` when it had ended
    /// already, a cancel of someone else's included (then `state` says
    /// who).
    pub cancelled_now: bool,
    /// How many runs under it (its child runs, theirs, and so on) this
    /// cancel ended.
    pub under: usize,
}

/// Cancels `run` for `by`, then its child runs (agents its calls ran as
/// tools), theirs, and so on, as `catalog` lists them by parent, at most
/// 32 deep: a tree stops whole, and no child starts under a cancelled run
/// (the store refuses it). [`RunQueue::cancel`] alone stops only the run
/// it is given. `None` for a run the store does not know. `klieo cancel`
/// and the console's cancel call this.
///
/// ```
/// use klieo_runtime::decisions::cancel_tree;
/// use klieo_store::InMemoryJournal;
/// use klieo_types::{RunQueue, RunState, Submission};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build()?.block_on(async {
/// let store = InMemoryJournal::new();
/// let run = store.submit(&Submission::new("greeter", "Hello!")).await?;
///
/// let cancelled = cancel_tree(&store, &store, run, "ada").await?.expect("a known run");
/// assert_eq!(cancelled.state, RunState::Cancelled { by: "ada".into() });
/// assert_eq!(cancelled.under, 0, "it started no child");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub async fn cancel_tree(
    queue: &dyn RunQueue,
    catalog: &dyn RunCatalog,
    run: RunId,
    by: &str,
) -> Result<Option<TreeCancelled>, MemoryError> {
    let Some(before) = queue.state(run).await? else {
        return Ok(None);
    };
    let Some(state) = queue.cancel(run, by).await? else {
        return Ok(None);
    };
    // Cancellable before, and cancelled by `by` now (another's cancel
    // between the two reads is theirs).
    let cancelled_now = before.is_cancellable()
        && matches!(&state, RunState::Cancelled { by: whose } if whose == by);
    let mut under = 0;
    // Each run is cancelled before its own children are listed, so none
    // starts one after the listing.
    let mut tree = Descendants::of(catalog, run);
    while let Some(page) = tree.next_page().await? {
        for child in &page {
            let now = queue.cancel(child.run, by).await?;
            if child.state.is_cancellable() && matches!(now, Some(RunState::Cancelled { .. })) {
                under += 1;
            }
        }
    }
    Ok(Some(TreeCancelled {
        state,
        cancelled_now,
        under,
    }))
}

/// What [`going_under`] found under a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Under {
    /// A run under it has not ended (queued, running, suspended or
    /// waiting): [`cancel_tree`] would stop it.
    Going,
    /// Every run under it has ended, or it has none.
    Ended,
    /// The runs it read had all ended, and more are under it than it was
    /// allowed to read.
    Unknown,
}

/// Whether a run under `run` (a child run, a child's, and so on) has not
/// ended: its tree read as [`cancel_tree`] walks it, level by level, to
/// the first such run, in at most `max_reads` reads of `catalog` (each a
/// page of at most [`RunQuery::MAX_LIMIT`] runs, or one run's children).
/// A run that has ended while runs under it go on is one whose cancel
/// was cut short (its store failed midway): the console offers to cancel
/// what it left going.
///
/// ```
/// use klieo_runtime::decisions::{going_under, Under};
/// use klieo_store::InMemoryJournal;
/// use klieo_types::{RunQueue, Submission};
///
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let store = InMemoryJournal::new();
/// let run = store.submit(&Submission::new("greeter", "Hello!")).await?;
/// assert_eq!(going_under(&store, run, 16).await?, Under::Ended, "no child");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub async fn going_under(
    catalog: &dyn RunCatalog,
    run: RunId,
    max_reads: usize,
) -> Result<Under, MemoryError> {
    let mut tree = Descendants::of(catalog, run);
    loop {
        if tree.reads >= max_reads {
            return Ok(match tree.is_done() {
                true => Under::Ended,
                false => Under::Unknown,
            });
        }
        match tree.next_page().await? {
            Some(page) if page.iter().any(|c| c.state.is_cancellable()) => return Ok(Under::Going),
            Some(_) => {}
            None => return Ok(Under::Ended),
        }
    }
}

/// The runs under a run, a page at a time: the children of each run of
/// a level, paged as the catalog gives them, then the next level's, at
/// most [`MAX_DEPTH`] levels deep.
struct Descendants<'a> {
    catalog: &'a dyn RunCatalog,
    /// The runs of this level whose children are still to list, the next
    /// last.
    parents: Vec<RunId>,
    /// The query for the rest of a parent's children, when a page of
    /// them said more follow.
    rest: Option<RunQuery>,
    /// The runs listed of the next level.
    children: Vec<RunId>,
    /// The level being listed: 1 for the run's children.
    depth: usize,
    /// How many times the catalog was read.
    reads: usize,
}

impl<'a> Descendants<'a> {
    fn of(catalog: &'a dyn RunCatalog, run: RunId) -> Self {
        Self {
            catalog,
            parents: vec![run],
            rest: None,
            children: Vec::new(),
            depth: 1,
            reads: 0,
        }
    }

    /// Whether every run under the run has been listed.
    fn is_done(&self) -> bool {
        self.rest.is_none()
            && self.parents.is_empty()
            && (self.children.is_empty() || self.depth >= MAX_DEPTH)
    }

    /// The next page of runs under the run, one read of the catalog (a
    /// run with no children gives an empty page); `None` once all are
    /// listed.
    async fn next_page(&mut self) -> Result<Option<Vec<RunEntry>>, MemoryError> {
        let query = loop {
            if let Some(rest) = self.rest.take() {
                break rest;
            }
            match self.parents.pop() {
                Some(parent) => {
                    break RunQuery::new()
                        .with_parent(parent)
                        .with_limit(RunQuery::MAX_LIMIT)
                }
                None if self.is_done() => return Ok(None),
                None => {
                    self.depth += 1;
                    self.parents = std::mem::take(&mut self.children);
                    self.parents.reverse();
                }
            }
        };
        let page = self.catalog.runs(&query).await?;
        self.reads += 1;
        self.rest = page.next.map(|before| query.with_before(before));
        self.children
            .extend(page.runs.iter().map(|child| child.run));
        Ok(Some(page.runs))
    }
}
