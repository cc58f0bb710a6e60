//! The catalog of a store's runs: every run it holds, queued ones
//! included, newest first, filtered by status and agent, a page at a time,
//! each with what it has done so far ([`RunTally`]). What an operator's
//! list of runs reads ([`RunCatalog`]).

use crate::{Episode, MemoryError, RunId, RunState, ThreadId};
use async_trait::async_trait;
use futures_core::Stream;
use std::fmt;
use std::pin::Pin;
use std::str::FromStr;
use std::time::Duration;

/// A run's status: the name of its [`RunState`], without what the state
/// carries.
///
/// ```
/// use klieo_types::{RunState, RunStatus};
///
/// let failed = RunState::Failed { error: "boom".into() };
/// assert_eq!(failed.status(), RunStatus::Failed);
/// assert_eq!("suspended".parse::<RunStatus>()?, RunStatus::Suspended);
/// assert_eq!(RunStatus::Queued.to_string(), "queued");
/// # Ok::<(), klieo_types::ParseStatusError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunStatus {
    /// Submitted, not claimed yet.
    Queued,
    /// A worker drives it.
    Running,
    /// It waits for a person.
    Suspended,
    /// It ended with an answer.
    Completed,
    /// It ended without one.
    Failed,
    /// It was cancelled.
    Cancelled,
}

impl RunStatus {
    /// Every status, in the order a run may pass through them.
    pub const ALL: [RunStatus; 6] = [
        Self::Queued,
        Self::Running,
        Self::Suspended,
        Self::Completed,
        Self::Failed,
        Self::Cancelled,
    ];

    /// The status's name: `queued`, `running`, `suspended`, `completed`,
    /// `failed` or `cancelled`, as stores keep it.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Suspended => "suspended",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A status's name that is not one of [`RunStatus::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a run status; use one of queued, running, suspended, completed, failed or cancelled")]
pub struct ParseStatusError {
    text: String,
}

impl FromStr for RunStatus {
    type Err = ParseStatusError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.name() == text)
            .ok_or_else(|| ParseStatusError {
                text: crate::text::prefix_chars(text, 40).to_owned(),
            })
    }
}

/// Which runs to list, and how many: every run unless a status or an
/// agent is given, newest first, from the start or from before a run
/// (the `next` of the page before).
///
/// Defaults: any status, any agent, any parent (or none), from the newest, [`DEFAULT_LIMIT`](Self::DEFAULT_LIMIT)
/// runs.
///
/// ```
/// use klieo_types::{RunQuery, RunStatus};
///
/// let query = RunQuery::new()
///     .with_status(RunStatus::Suspended)
///     .with_agent("billing")
///     .with_limit(20);
/// assert_eq!(query.status(), Some(RunStatus::Suspended));
/// assert_eq!(query.agent(), Some("billing"));
/// assert_eq!(query.limit(), 20);
/// assert_eq!(RunQuery::new().with_limit(0).limit(), 1);
/// assert_eq!(RunQuery::new().with_limit(10_000).limit(), RunQuery::MAX_LIMIT);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunQuery {
    status: Option<RunStatus>,
    agent: Option<String>,
    before: Option<RunId>,
    parent: Option<RunId>,
    limit: usize,
}

impl RunQuery {
    /// The runs a page holds unless told.
    pub const DEFAULT_LIMIT: usize = 50;
    /// The most runs a page holds: a store reads no more at once.
    pub const MAX_LIMIT: usize = 500;

    /// Every run, newest first, [`DEFAULT_LIMIT`](Self::DEFAULT_LIMIT) at a time.
    pub fn new() -> Self {
        Self {
            status: None,
            agent: None,
            before: None,
            parent: None,
            limit: Self::DEFAULT_LIMIT,
        }
    }

    /// Only runs in `status`.
    pub fn with_status(mut self, status: RunStatus) -> Self {
        self.status = Some(status);
        self
    }

    /// Only runs submitted for `agent` (a run an agent drove without
    /// being submitted to a queue has no agent on record).
    pub fn with_agent(mut self, agent: impl Into<String>) -> Self {
        self.agent = Some(agent.into());
        self
    }

    /// Only runs made before `run`: the page after the one whose
    /// [`RunPage::next`] it is.
    pub fn with_before(mut self, run: RunId) -> Self {
        self.before = Some(run);
        self
    }

    /// At most `limit` runs, taken as 1 to [`MAX_LIMIT`](Self::MAX_LIMIT).
    pub fn with_limit(mut self, limit: usize) -> Self {
        self.limit = limit.clamp(1, Self::MAX_LIMIT);
        self
    }

    /// The status asked for, if any.
    pub fn status(&self) -> Option<RunStatus> {
        self.status
    }

    /// The agent asked for, if any.
    pub fn agent(&self) -> Option<&str> {
        self.agent.as_deref()
    }

    /// Only the child runs `run`'s calls started (agents used as tools).
    pub fn with_parent(mut self, run: RunId) -> Self {
        self.parent = Some(run);
        self
    }

    /// The parent filter, if any.
    pub fn parent(&self) -> Option<RunId> {
        self.parent
    }

    /// The run the page starts before, if any.
    pub fn before(&self) -> Option<RunId> {
        self.before
    }

    /// The most runs the page holds.
    pub fn limit(&self) -> usize {
        self.limit
    }
}

impl Default for RunQuery {
    fn default() -> Self {
        Self::new()
    }
}

/// What a run has done so far, summed over its log's model calls: a
/// store keeps it beside the run, updated in each commit's transaction.
///
/// Tokens are those the provider reported, or, where it reported none,
/// those a budget counted (estimated). The cost is known only for calls
/// made under a price table.
///
/// ```
/// use klieo_types::{Episode, FinishReason, RunTally, Usage};
///
/// let call = Episode::LlmCall {
///     step: 1,
///     tokens: Some(Usage::new(52, 9)),
///     latency_ms: 310,
///     finish_reason: FinishReason::ToolCalls,
///     tool_calls: 2,
///     spend: None,
/// };
/// let tally = RunTally::of([&call, &call]);
/// assert_eq!((tally.model_calls, tally.tool_calls), (2, 4));
/// assert_eq!((tally.input_tokens, tally.output_tokens), (104, 18));
/// assert_eq!(tally.cost_micros, None);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunTally {
    /// Model calls made (a run's steps).
    pub model_calls: u64,
    /// Tool calls the model asked for.
    pub tool_calls: u64,
    /// Input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// What the calls cost, in millionths of a US dollar, when any was
    /// priced.
    pub cost_micros: Option<u64>,
}

impl RunTally {
    /// The tally of `episodes`.
    pub fn of<'a>(episodes: impl IntoIterator<Item = &'a Episode>) -> Self {
        let mut tally = Self::default();
        for episode in episodes {
            tally.add(episode);
        }
        tally
    }

    /// Adds `episode` when it is a model call.
    pub fn add(&mut self, episode: &Episode) {
        let Episode::LlmCall {
            tokens,
            tool_calls,
            spend,
            ..
        } = episode
        else {
            return;
        };
        self.model_calls = self.model_calls.saturating_add(1);
        self.tool_calls = self.tool_calls.saturating_add(u64::from(*tool_calls));
        let (input, output) = match (tokens, spend) {
            (Some(usage), _) => (
                u64::from(usage.input_tokens),
                u64::from(usage.output_tokens),
            ),
            (None, Some(spend)) => (spend.input_tokens, spend.output_tokens),
            (None, None) => (0, 0),
        };
        self.input_tokens = self.input_tokens.saturating_add(input);
        self.output_tokens = self.output_tokens.saturating_add(output);
        if let Some(cost) = spend.as_ref().and_then(|s| s.cost_micros) {
            self.cost_micros = Some(self.cost_micros.unwrap_or(0).saturating_add(cost));
        }
    }
}

/// One run as the catalog lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunEntry {
    /// The run; its id says when it was made ([`RunId::timestamp_ms`]).
    pub run: RunId,
    /// The thread it talks on.
    pub thread: ThreadId,
    /// The agent it was submitted for; `None` for a run an agent drove
    /// without a queue.
    pub agent: Option<String>,
    /// Where it is.
    pub state: RunState,
    /// What it has done so far.
    pub tally: RunTally,
    /// When it last changed (submitted, claimed, committed to or
    /// cancelled), in milliseconds since the Unix epoch by the store's
    /// clock; `None` for a run written before its store kept it.
    pub updated_ms: Option<u64>,
    /// The run whose call started this one (an agent used as a tool);
    /// `None` for a run that is no child.
    pub parent: Option<RunId>,
}

impl RunEntry {
    /// A run's entry; see the fields.
    pub fn new(
        run: RunId,
        thread: ThreadId,
        agent: Option<String>,
        state: RunState,
        tally: RunTally,
        updated_ms: Option<u64>,
    ) -> Self {
        Self {
            run,
            thread,
            agent,
            state,
            tally,
            updated_ms,
            parent: None,
        }
    }

    /// The entry of a child run of `parent` (see [`parent`](Self::parent)).
    pub fn with_parent(mut self, parent: Option<RunId>) -> Self {
        self.parent = parent;
        self
    }
}

/// One page of the catalog.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunPage {
    /// The runs, newest first.
    pub runs: Vec<RunEntry>,
    /// Where the next page starts ([`RunQuery::with_before`]); `None`
    /// when this page is the last.
    pub next: Option<RunId>,
}

impl RunPage {
    /// The page of a query of `limit` runs from `runs`, the runs a store
    /// read for it, newest first: at most `limit + 1`, the one past the
    /// page telling that there is a next (so a last page is never empty).
    ///
    /// ```
    /// use klieo_types::{RunEntry, RunId, RunPage, RunState, RunTally, ThreadId};
    ///
    /// let entry = |run| RunEntry::new(run, ThreadId::new("t"), None, RunState::Queued, RunTally::default(), None);
    /// let (c, b, a) = (RunId::new(), RunId::new(), RunId::new());
    /// let page = RunPage::new(vec![entry(a), entry(b), entry(c)], 2);
    /// assert_eq!(page.runs.len(), 2);
    /// assert_eq!(page.next, Some(b));
    /// assert_eq!(RunPage::new(vec![entry(a), entry(b)], 2).next, None);
    /// ```
    pub fn new(mut runs: Vec<RunEntry>, limit: usize) -> Self {
        let more = runs.len() > limit;
        runs.truncate(limit);
        let next = more.then(|| runs.last().map(|entry| entry.run)).flatten();
        Self { runs, next }
    }
}

/// A store that lists its runs (every klieo store does): newest first, by
/// an index, so a page of a store of 100,000 runs costs what a page of 100
/// does.
#[async_trait]
pub trait RunCatalog: Send + Sync {
    /// The page of runs `query` asks for (read as [`RunPage::new`] says:
    /// one run past the limit, to know whether there is a next page).
    async fn runs(&self, query: &RunQuery) -> Result<RunPage, MemoryError>;

    /// One run's entry; `None` when the store has no such run.
    async fn entry(&self, run: RunId) -> Result<Option<RunEntry>, MemoryError>;

    /// The store's changes as they happen: an item each time a run may
    /// have changed (a commit, a claim, a decision, a cancel), so that
    /// whoever follows a run looks at it again at once rather than at its
    /// next poll. Each call gives a stream of its own, on a connection of
    /// its own where the store has connections: take one and share it.
    ///
    /// An item may come with nothing changed, and a store tells only of
    /// runs someone [`follow`](Self::follow)s: a follower still polls
    /// now and then (the stream may end, its connection lost for good).
    /// The default, for a store that cannot tell, is `None`: followers
    /// poll.
    async fn changes(&self) -> Result<Option<RunChanges>, MemoryError> {
        Ok(None)
    }

    /// Tells the store that `run` is followed for `ttl`, so that its
    /// [`changes`](Self::changes) streams tell of it; renew it before
    /// `ttl` runs out. A store that tells of every run (the default)
    /// needs nothing; one that tells only of followed runs (PostgreSQL:
    /// a commit of a run no one follows then notifies no one) keeps it.
    async fn follow(&self, run: RunId, ttl: Duration) -> Result<(), MemoryError> {
        let _ = (run, ttl);
        Ok(())
    }
}

/// What [`RunCatalog::changes`] gives.
pub type RunChanges = Pin<Box<dyn Stream<Item = RunChange> + Send>>;

/// One item of [`RunChanges`]: which run may have changed.
///
/// ```
/// use klieo_types::{RunChange, RunId};
///
/// let (run, other) = (RunId::new(), RunId::new());
/// assert!(RunChange::Run(run).concerns(run));
/// assert!(!RunChange::Run(other).concerns(run));
/// assert!(RunChange::Any.concerns(run));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RunChange {
    /// This run may have changed.
    Run(RunId),
    /// Some run may have changed: the store cannot say which (it counts
    /// the changes of the whole store), or changes may have been missed
    /// (its connection was lost and made again).
    Any,
}

impl RunChange {
    /// Whether `run` may be the run that changed.
    pub fn concerns(&self, run: RunId) -> bool {
        match self {
            Self::Run(changed) => *changed == run,
            Self::Any => true,
        }
    }
}
