//! [`AgentBuilder`]: an [`Agent`]'s model, instructions, tools, options and
//! memories, each with a default.

use crate::agent::Agent;
use crate::context::AgentContext;
use crate::options::RunOptions;
use klieo_types::{
    ConfigError, EpisodicMemory, Journal, ShortTermMemory, Tool, ToolDef, ToolInvoker, ToolSet,
    Toolbox,
};
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// An [`AgentBuilder`] whose memories are separate ones (the default:
/// in-memory, or those given to `with_short_term` / `with_episodic`): runs
/// are written to each in turn, with no journal, and cannot be resumed.
#[derive(Debug, Clone, Copy, Default)]
pub struct SeparateMemories;

/// An [`AgentBuilder`] whose memories are one store that is a [`Journal`]
/// (`with_memory`): each step is written whole, and runs can be resumed
/// and approved from any process.
#[derive(Debug, Clone, Copy, Default)]
pub struct Journaled;

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
///
/// # Memories are one choice
///
/// Either one store that is a [`Journal`] ([`with_memory`](Self::with_memory),
/// which makes the builder an `AgentBuilder<Journaled>`): each step is
/// written whole and runs can be resumed; or separate memories
/// ([`with_short_term`](AgentBuilder::with_short_term),
/// [`with_episodic`](AgentBuilder::with_episodic), an
/// `AgentBuilder<SeparateMemories>`), written in turn, with nothing to
/// resume from. Replacing one half of a journaled store would silently
/// lose resumability, so it does not compile:
///
/// ```compile_fail,E0599
/// use klieo_runtime::{Agent, InMemoryShortTerm};
/// use klieo_types::{testing::ScriptedLlm, Journal};
/// use std::sync::Arc;
///
/// fn mixed<J: Journal + 'static>(store: J) {
///     let _agent = Agent::builder(ScriptedLlm::new())
///         .with_memory(store)
///         .with_short_term(Arc::new(InMemoryShortTerm::new())) // no such method
///         .build();
/// }
/// ```
///
/// The other order is one choice replacing another, and compiles:
///
/// ```
/// use klieo_runtime::{Agent, AgentBuilder, InMemoryShortTerm, Journaled};
/// use klieo_types::{testing::ScriptedLlm, Journal};
/// use std::sync::Arc;
///
/// fn durable<J: Journal + 'static>(store: J) -> AgentBuilder<Journaled> {
///     Agent::builder(ScriptedLlm::new())
///         .with_short_term(Arc::new(InMemoryShortTerm::new()))
///         .with_memory(store) // both memories are the store now
/// }
/// ```
#[must_use = "an AgentBuilder does nothing until .build()"]
pub struct AgentBuilder<M = SeparateMemories> {
    ctx: AgentContext,
    tools: ToolSet,
    sources: Toolbox,
    instructions: String,
    options: RunOptions,
    memories: PhantomData<M>,
}

impl AgentBuilder {
    pub(crate) fn new(ctx: AgentContext) -> Self {
        Self {
            ctx,
            tools: ToolSet::new(),
            sources: Toolbox::new(),
            instructions: String::new(),
            options: RunOptions::default(),
            memories: PhantomData,
        }
    }

    /// Sets the conversation memory, a memory of its own: runs are not
    /// journaled and cannot be resumed.
    pub fn with_short_term(mut self, memory: Arc<dyn ShortTermMemory>) -> Self {
        self.ctx = self.ctx.with_short_term(memory);
        self
    }

    /// Sets the event log, a memory of its own: runs are not journaled
    /// and cannot be resumed.
    pub fn with_episodic(mut self, memory: Arc<dyn EpisodicMemory>) -> Self {
        self.ctx = self.ctx.with_episodic(memory);
        self
    }
}

impl<M> AgentBuilder<M> {
    /// Sets the instructions (the system prompt) of every run.
    pub fn with_instructions(mut self, instructions: impl Into<String>) -> Self {
        self.instructions = instructions.into();
        self
    }

    /// Adds a tool; one with the same name replaces the earlier one.
    pub fn add_tool(mut self, tool: impl Tool + 'static) -> Self {
        self.tools = self.tools.add_tool(tool);
        self
    }

    /// Adds `agent` as a tool the model knows as `name` and is told what
    /// it does by `description`: each call is a child run of `agent`
    /// ([`AgentTool`](crate::AgentTool)).
    pub fn add_agent_tool(
        self,
        name: impl Into<String>,
        description: impl Into<String>,
        agent: Agent,
    ) -> Self {
        self.add_tool(crate::AgentTool::new(name, description, agent))
    }

    /// Adds every tool of `tools`.
    pub fn add_tools(mut self, tools: ToolSet) -> Self {
        self.tools = self.tools.merge(tools);
        self
    }

    /// Adds a source of tools, such as an MCP server (`klieo_mcp`): its
    /// tools join the agent's in one catalogue. A tool whose name is taken
    /// already is shown to the model as `{prefix}{name}` (see [`Toolbox`]).
    pub fn add_invoker(
        mut self,
        prefix: impl Into<String>,
        tools: impl ToolInvoker + 'static,
    ) -> Self {
        self.sources = self.sources.add_prefixed(prefix, tools);
        self
    }

    /// Adds every source of `toolbox`, each with its own prefix.
    pub fn add_toolbox(mut self, toolbox: Toolbox) -> Self {
        self.sources = self.sources.merge(toolbox);
        self
    }

    /// Sets the options of every run.
    pub fn with_options(mut self, options: RunOptions) -> Self {
        self.options = options;
        self
    }

    /// Sets both the conversation memory and the event log to one store,
    /// such as `klieo_sqlite::SqliteStore`, replacing the memories set
    /// before: see [`AgentContext::with_memory`]. Runs are then journaled
    /// and can be resumed.
    pub fn with_memory<J: Journal + 'static>(self, store: J) -> AgentBuilder<Journaled> {
        AgentBuilder {
            ctx: self.ctx.with_memory(store),
            tools: self.tools,
            sources: self.sources,
            instructions: self.instructions,
            options: self.options,
            memories: PhantomData,
        }
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

    /// The agent, once its options are checked
    /// ([`RunOptions::validate`]): a [`ConfigError`] names an option that
    /// cannot work, its value and the fix.
    ///
    /// ```
    /// use klieo_runtime::{Agent, RunOptions};
    /// use klieo_types::{testing::ScriptedLlm, ConfigError};
    ///
    /// let refused = Agent::builder(ScriptedLlm::new())
    ///     .with_options(RunOptions::default().with_max_steps(0))
    ///     .build();
    /// assert!(matches!(refused, Err(ConfigError::Invalid { name, .. }) if name == "RunOptions::max_steps"));
    /// ```
    pub fn build(self) -> Result<Agent, ConfigError> {
        self.options.validate()?;
        if self.ctx.agent_name.is_empty() {
            return Err(ConfigError::invalid(
                "AgentBuilder::with_name",
                "an empty name names no agent in its runs' logs and spans, nor in a \
                 team: use a name such as `support` (the default is `agent`)",
            ));
        }
        // A tool given here is checked whole now; a source's, by the
        // names it lists at build (an MCP server's, as listed at connect).
        for def in self.tools.catalogue().iter() {
            check_tool(def)?;
            if self.tools.policy(&def.name).timeout() == Some(Duration::ZERO) {
                return Err(ConfigError::invalid(
                    format!("ToolPolicy::timeout of tool `{}`", def.name),
                    "0 s would time every call of the tool out before it starts: use the \
                     longest a call may take, or no timeout of its own (the run's \
                     RunOptions::tool_timeout)",
                ));
            }
        }
        self.options.budget.check_client(self.ctx.llm.as_ref())?;
        crate::run::check_ledger(&self.options.budget, &self.ctx.memories)?;
        if self.sources.is_empty() {
            let template = self.ctx.with_tools(self.tools);
            return Ok(Agent::new(template, self.instructions, self.options));
        }
        let tools = Toolbox::new().add_source(self.tools).merge(self.sources);
        // A source's tools are named by the source (an MCP server's are
        // made usable there; a clash's prefix, by the toolbox); the
        // agent's own were checked above.
        if let Some(def) = tools
            .catalogue()
            .iter()
            .find(|def| !ToolDef::is_usable_name(&def.name))
        {
            return Err(ConfigError::invalid(
                format!("the name of tool `{}`", def.name),
                "models refuse it: a source's tool must be named with 1 to 64 letters, \
                 digits, `_` and `-`, such as `get_weather`: rename it in its source",
            ));
        }
        let template = self.ctx.with_tools(tools);
        Ok(Agent::new(template, self.instructions, self.options))
    }
}

/// `def` as models take it: a usable name, and parameters that are one
/// JSON object schema (a call's arguments are an object).
fn check_tool(def: &ToolDef) -> Result<(), ConfigError> {
    if !ToolDef::is_usable_name(&def.name) {
        return Err(ConfigError::invalid(
            format!("the name of tool `{}`", def.name),
            "models refuse it: name a tool with 1 to 64 letters, digits, `_` and `-`, \
             such as `get_weather`",
        ));
    }
    let object = def.parameters.as_object().is_some_and(|schema| {
        schema
            .get("type")
            .is_none_or(|kind| kind.as_str() == Some("object"))
    });
    // One of several shapes at the top (an internally tagged enum's
    // schema): models take only an object's schema there.
    let one_of = def.parameters.as_object().is_some_and(|schema| {
        ["oneOf", "anyOf", "allOf"]
            .iter()
            .any(|key| schema.contains_key(*key))
    });
    if one_of {
        return Err(ConfigError::invalid(
            format!("the parameters of tool `{}`", def.name),
            "the schema is one of several shapes (`oneOf`, `anyOf` or `allOf` at its \
             top, as an enum's is), which models refuse: take a struct that holds the \
             enum as a field",
        ));
    }
    if !object {
        return Err(ConfigError::invalid(
            format!("the parameters of tool `{}`", def.name),
            format!(
                "a call's arguments are one JSON object, and this schema is `{}`: take a \
                 struct (or a map), not a unit, number, string or list",
                klieo_types::text::bounded(&def.parameters.to_string(), 200)
            ),
        ));
    }
    Ok(())
}
