//! [`AgentContext`]: everything a run needs, cheap to clone.

use crate::journal::Memories;
use crate::run::ModelFit;
use klieo_types::{
    EpisodicMemory, Journal, LlmClient, RunId, ShortTermMemory, ToolInvoker, ToolSet,
};
use std::fmt;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// The model, memories, tools and identity of one agent run.
///
/// Every handle is shared, so cloning is a few reference-count increments.
/// [`child`](Self::child) derives the context of a sub-run.
///
/// ```
/// use klieo_runtime::AgentContext;
/// use klieo_types::testing::ScriptedLlm;
///
/// let ctx = AgentContext::new(ScriptedLlm::new()).with_agent_name("calc");
/// let sub = ctx.child("helper");
/// assert_ne!(sub.run_id(), ctx.run_id());
/// ctx.cancel().cancel();
/// assert!(sub.cancel().is_cancelled(), "cancelling a parent cancels its children");
/// ```
#[derive(Clone)]
pub struct AgentContext {
    pub(crate) llm: Arc<dyn LlmClient>,
    /// One choice: a journal, or separate memories (its own, kept in this
    /// process, by default).
    pub(crate) memories: Memories,
    pub(crate) tools: Arc<dyn ToolInvoker>,
    pub(crate) run_id: RunId,
    pub(crate) cancel: CancellationToken,
    pub(crate) agent_name: Arc<str>,
    /// What the runs of this model learned of its window and its counts.
    pub(crate) model_fit: Arc<ModelFit>,
}

impl AgentContext {
    /// A context for `llm` with in-memory memories, no tools, a fresh run
    /// id and cancellation token, named `"agent"`.
    pub fn new(llm: impl LlmClient + 'static) -> Self {
        Self::from_shared(Arc::new(llm))
    }

    /// [`new`](Self::new), for a model that is already shared.
    pub fn from_shared(llm: Arc<dyn LlmClient>) -> Self {
        Self {
            llm,
            memories: Memories::in_process(),
            tools: Arc::new(ToolSet::new()),
            run_id: RunId::new(),
            cancel: CancellationToken::new(),
            agent_name: Arc::from("agent"),
            model_fit: Arc::default(),
        }
    }

    /// Sets the tools.
    pub fn with_tools(mut self, tools: impl ToolInvoker + 'static) -> Self {
        self.tools = Arc::new(tools);
        self
    }

    /// Sets the conversation memory: the context's memories are then
    /// separate ones (a store set with [`with_memory`](Self::with_memory)
    /// stays the event log, written episode by episode), runs are not
    /// journaled and cannot be resumed.
    pub fn with_short_term(mut self, memory: Arc<dyn ShortTermMemory>) -> Self {
        self.memories = self.memories.with_short_term(memory);
        self
    }

    /// Sets the event log: like [`with_short_term`](Self::with_short_term),
    /// the memories are then separate ones, and runs cannot be resumed.
    pub fn with_episodic(mut self, memory: Arc<dyn EpisodicMemory>) -> Self {
        self.memories = self.memories.with_episodic(memory);
        self
    }

    /// Sets both memories to one store, such as `klieo_sqlite::SqliteStore`,
    /// which then writes each step whole: the reply, the tool results,
    /// their episodes and the run's pending step commit together (see
    /// [`Journal`]).
    pub fn with_memory<J: Journal + 'static>(mut self, store: J) -> Self {
        self.memories = Memories::Journal(Arc::new(store));
        self
    }

    /// Sets the cancellation token.
    pub fn with_cancel(mut self, cancel: CancellationToken) -> Self {
        self.cancel = cancel;
        self
    }

    /// Sets the agent's name.
    pub fn with_agent_name(mut self, name: impl AsRef<str>) -> Self {
        self.agent_name = Arc::from(name.as_ref());
        self
    }

    /// The model.
    pub fn llm(&self) -> &Arc<dyn LlmClient> {
        &self.llm
    }

    /// The conversation memory (the journal, when the memories are one).
    pub fn short_term(&self) -> &dyn ShortTermMemory {
        self.memories.short_term()
    }

    /// The event log (the journal, when the memories are one).
    pub fn episodic(&self) -> &dyn EpisodicMemory {
        self.memories.episodic()
    }

    /// The journal both memories are, when they are one
    /// ([`with_memory`](Self::with_memory)).
    pub fn journal(&self) -> Option<&Arc<dyn Journal>> {
        self.memories.journal_ref()
    }

    /// The tools the model may call.
    pub fn tools(&self) -> &Arc<dyn ToolInvoker> {
        &self.tools
    }

    /// This run's id; the episodes it records are filed under it.
    pub fn run_id(&self) -> RunId {
        self.run_id
    }

    /// The token that cancels the run (and the runs of its children):
    /// `ctx.cancel().cancel()` cancels it; `ctx.cancel()` alone does not.
    #[must_use = "this returns the run's token: call `.cancel()` on it to cancel the run"]
    pub fn cancel(&self) -> &CancellationToken {
        &self.cancel
    }

    /// The agent's name, for episodes and traces.
    pub fn agent_name(&self) -> &str {
        &self.agent_name
    }

    /// The context of the next run of the same agent: a fresh run id, and
    /// the same model, memories, tools, cancellation token and name. A run
    /// files its episodes under its run id, so each question asked through
    /// `run_steps` needs its own.
    ///
    /// ```
    /// use klieo_runtime::AgentContext;
    /// use klieo_types::testing::ScriptedLlm;
    ///
    /// let first = AgentContext::new(ScriptedLlm::new());
    /// let second = first.next_run();
    /// assert_ne!(first.run_id(), second.run_id());
    /// assert_eq!(first.agent_name(), second.agent_name());
    /// ```
    pub fn next_run(&self) -> Self {
        Self {
            run_id: RunId::new(),
            ..self.clone()
        }
    }

    /// The context of a sub-run named `name`: a fresh run id, the same
    /// model, memories and tools, and a child cancellation token (cancelled
    /// with this one, cancellable alone).
    pub fn child(&self, name: impl AsRef<str>) -> Self {
        Self {
            run_id: RunId::new(),
            cancel: self.cancel.child_token(),
            agent_name: Arc::from(name.as_ref()),
            ..self.clone()
        }
    }
}

impl fmt::Debug for AgentContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentContext")
            .field("agent", &self.agent_name)
            .field("run_id", &self.run_id)
            .field("llm", &self.llm.name())
            .field("tools", &self.tools.catalogue().len())
            .field("cancelled", &self.cancel.is_cancelled())
            .finish()
    }
}
