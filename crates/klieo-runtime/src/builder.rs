//! [`AgentBuilder`]: an [`Agent`]'s model, instructions, tools, options and
//! memories, each with a default.

use crate::agent::Agent;
use crate::context::AgentContext;
use crate::options::RunOptions;
use klieo_types::{EpisodicMemory, Journal, ShortTermMemory, Tool, ToolInvoker, ToolSet, Toolbox};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Builds an [`Agent`]; every setting has a default.
///
/// # Default
///
/// - instructions: none
/// - tools: none
/// - options: [`RunOptions::default`]
/// - memories: in-memory, for this process
/// - name: `"agent"`
/// - cancellation: a token of the agent's own
#[must_use = "an AgentBuilder does nothing until .build()"]
pub struct AgentBuilder {
    ctx: AgentContext,
    tools: ToolSet,
    sources: Toolbox,
    instructions: String,
    options: RunOptions,
}

impl AgentBuilder {
    pub(crate) fn new(ctx: AgentContext) -> Self {
        Self {
            ctx,
            tools: ToolSet::new(),
            sources: Toolbox::new(),
            instructions: String::new(),
            options: RunOptions::default(),
        }
    }

    /// Sets the instructions (the system prompt) of every run.
    pub fn with_instructions(mut self, instructions: impl Into<String>) -> Self {
        self.instructions = instructions.into();
        self
    }

    /// Adds a tool; one with the same name replaces the earlier one.
    pub fn with_tool(mut self, tool: impl Tool + 'static) -> Self {
        self.tools = self.tools.with(tool);
        self
    }

    /// Adds every tool of `tools`.
    pub fn with_tools(mut self, tools: ToolSet) -> Self {
        self.tools = self.tools.merge(tools);
        self
    }

    /// Adds a source of tools, such as an MCP server (`klieo_mcp`): its
    /// tools join the agent's in one catalogue. A tool whose name is taken
    /// already is shown to the model as `{prefix}{name}` (see [`Toolbox`]).
    pub fn with_invoker(
        mut self,
        prefix: impl Into<String>,
        tools: impl ToolInvoker + 'static,
    ) -> Self {
        self.sources = self.sources.with_prefixed(prefix, tools);
        self
    }

    /// Adds every source of `toolbox`, each with its own prefix.
    pub fn with_toolbox(mut self, toolbox: Toolbox) -> Self {
        self.sources = self.sources.merge(toolbox);
        self
    }

    /// Sets the options of every run.
    pub fn with_options(mut self, options: RunOptions) -> Self {
        self.options = options;
        self
    }

    /// Sets the conversation memory.
    pub fn with_short_term(mut self, memory: Arc<dyn ShortTermMemory>) -> Self {
        self.ctx.short_term = memory;
        self
    }

    /// Sets the event log.
    pub fn with_episodic(mut self, memory: Arc<dyn EpisodicMemory>) -> Self {
        self.ctx.episodic = memory;
        self
    }

    /// Sets both the conversation memory and the event log to one store,
    /// such as `klieo_sqlite::SqliteStore`: see
    /// [`AgentContext::with_memory`].
    pub fn with_memory<J: Journal + 'static>(mut self, store: J) -> Self {
        self.ctx = self.ctx.with_memory(store);
        self
    }

    /// Sets the agent's name.
    pub fn with_name(mut self, name: impl AsRef<str>) -> Self {
        self.ctx.agent_name = Arc::from(name.as_ref());
        self
    }

    /// Sets the token that cancels every run of the agent (each run gets
    /// a child of it).
    pub fn with_cancel(mut self, cancel: CancellationToken) -> Self {
        self.ctx.cancel = cancel;
        self
    }

    /// The agent.
    pub fn build(self) -> Agent {
        let template = if self.sources.is_empty() {
            self.ctx.with_tools(self.tools)
        } else {
            self.ctx
                .with_tools(Toolbox::new().with(self.tools).merge(self.sources))
        };
        Agent::new(template, self.instructions, self.options)
    }
}
