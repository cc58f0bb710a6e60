//! Tools: the [`Tool`] trait one tool implements, the [`ToolInvoker`] the
//! runtime calls, and [`ToolSet`], an invoker over a list of tools.

use crate::error::ToolError;
use crate::ids::RunId;
use crate::request::ToolDef;
use crate::tool_policy::ToolPolicy;
use async_trait::async_trait;
use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// What a tool knows about the call it serves.
///
/// [`idempotency_key`](Self::idempotency_key) names the call for a
/// service that must act on it once (a payment): a resumed run that runs
/// an interrupted call again runs it with the same key, and no other call
/// has it.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ToolContext<'a> {
    /// The run making the call.
    pub run_id: RunId,
    /// The cycle of the run that asked for the call (from 1; 0 outside a
    /// run).
    pub step: u32,
    /// The call's id, as the model gave it (distinct within its reply
    /// only: a server that fills in missing ids repeats them across
    /// replies).
    pub call_id: &'a str,
    /// The agent making the call.
    pub agent: &'a str,
    /// What the runtime hands the tools it provides itself (see
    /// [`runtime`](Self::runtime)).
    runtime: Option<&'a (dyn Any + Send + Sync)>,
}

impl<'a> ToolContext<'a> {
    /// A context for one call, outside any step (see
    /// [`with_step`](Self::with_step)).
    pub fn new(run_id: RunId, call_id: &'a str, agent: &'a str) -> Self {
        Self {
            run_id,
            step: 0,
            call_id,
            agent,
            runtime: None,
        }
    }

    /// The context of a call asked for at cycle `step`.
    pub fn with_step(mut self, step: u32) -> Self {
        self.step = step;
        self
    }

    /// The context with `value`, which the runtime hands the tools it
    /// provides itself (an agent used as a tool finds the run calling it
    /// by it).
    pub fn with_runtime(mut self, value: &'a (dyn Any + Send + Sync)) -> Self {
        self.runtime = Some(value);
        self
    }

    /// What the runtime handed the call, if it is a `T`: for the tools
    /// the runtime provides itself; a tool of your own has no use for it,
    /// but one that calls another tool passes its context on as it got it
    /// (a context made anew, or [`into_owned`](Self::into_owned), has
    /// none: an agent used as a tool then runs its child outside the
    /// calling run's cancellation and budget).
    ///
    /// ```
    /// use klieo_types::{RunId, ToolContext};
    ///
    /// let mark = 7_u8;
    /// let ctx = ToolContext::new(RunId::new(), "c1", "desk").with_runtime(&mark);
    /// assert_eq!(ctx.runtime::<u8>(), Some(&7));
    /// assert_eq!(ctx.runtime::<u32>(), None);
    /// ```
    pub fn runtime<T: Any>(&self) -> Option<&'a T> {
        self.runtime?.downcast_ref()
    }

    /// The call's idempotency key, `{run}:{step}:{call id}`: the same for
    /// the call whenever it runs (a resumed run runs an interrupted call
    /// again in its step, with its id), different for every other call.
    ///
    /// ```
    /// use klieo_types::{RunId, ToolContext};
    ///
    /// let run = RunId::new();
    /// let first = ToolContext::new(run, "call_0", "desk").with_step(1);
    /// let later = ToolContext::new(run, "call_0", "desk").with_step(2);
    /// assert_eq!(first.idempotency_key(), format!("{run}:1:call_0"));
    /// assert_ne!(first.idempotency_key(), later.idempotency_key(), "a server reused the id");
    /// ```
    pub fn idempotency_key(&self) -> String {
        idempotency_key(self.run_id, self.step, self.call_id)
    }
}

fn idempotency_key(run: RunId, step: u32, call_id: &str) -> String {
    format!("{run}:{step}:{call_id}")
}

/// A [`ToolContext`] that owns what it says, for work that outlives the
/// call's borrow (a typed tool's future, a task of its own).
///
/// ```
/// use klieo_types::{OwnedToolContext, RunId, ToolContext};
///
/// let run = RunId::new();
/// let owned = ToolContext::new(run, "c1", "desk").with_step(3).into_owned();
/// assert_eq!((owned.run_id, owned.call_id.as_str(), owned.agent.as_str()), (run, "c1", "desk"));
/// assert_eq!(owned.idempotency_key(), format!("{run}:3:c1"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OwnedToolContext {
    /// The run making the call.
    pub run_id: RunId,
    /// The cycle of the run that asked for the call.
    pub step: u32,
    /// The call's id, as the model gave it.
    pub call_id: String,
    /// The agent making the call.
    pub agent: String,
}

impl OwnedToolContext {
    /// The call's idempotency key, as [`ToolContext::idempotency_key`].
    pub fn idempotency_key(&self) -> String {
        idempotency_key(self.run_id, self.step, &self.call_id)
    }
}

impl ToolContext<'_> {
    /// The same context, owning its strings.
    pub fn into_owned(self) -> OwnedToolContext {
        OwnedToolContext {
            run_id: self.run_id,
            step: self.step,
            call_id: self.call_id.to_owned(),
            agent: self.agent.to_owned(),
        }
    }
}

/// One tool a model can call.
///
/// ```
/// use async_trait::async_trait;
/// use klieo_types::{Tool, ToolContext, ToolDef, ToolError};
/// use serde_json::{json, Value};
///
/// struct Echo(ToolDef);
///
/// #[async_trait]
/// impl Tool for Echo {
///     fn def(&self) -> &ToolDef {
///         &self.0
///     }
///     async fn invoke(&self, args: Value, _ctx: ToolContext<'_>) -> Result<Value, ToolError> {
///         Ok(args)
///     }
/// }
///
/// let echo = Echo(ToolDef::new("echo", "Returns its arguments.", json!({"type": "object"})));
/// assert_eq!(echo.def().name, "echo");
/// ```
#[async_trait]
pub trait Tool: Send + Sync {
    /// Name, description and argument schema, as shown to the model.
    fn def(&self) -> &ToolDef;

    /// Runs the tool. `args` has been parsed from the model's JSON text.
    async fn invoke(
        &self,
        args: serde_json::Value,
        ctx: ToolContext<'_>,
    ) -> Result<serde_json::Value, ToolError>;

    /// How the runtime treats this tool's calls: its own time bound,
    /// whether a call may run again, whether a person must approve it.
    /// Default [`ToolPolicy::new`]: the run's bound, not idempotent, no
    /// approval.
    fn policy(&self) -> ToolPolicy {
        ToolPolicy::new()
    }
}

/// What the runtime calls to run tools by name.
#[async_trait]
pub trait ToolInvoker: Send + Sync {
    /// Definitions of every tool, in a stable order.
    fn catalogue(&self) -> Arc<[ToolDef]>;

    /// Runs the tool called `name`. An unknown name is
    /// [`ToolError::UnknownTool`].
    async fn invoke(
        &self,
        name: &str,
        args: serde_json::Value,
        ctx: ToolContext<'_>,
    ) -> Result<serde_json::Value, ToolError>;

    /// The policy of the tool called `name` ([`Tool::policy`]); the
    /// default policy for a name it does not know.
    fn policy(&self, name: &str) -> ToolPolicy {
        let _ = name;
        ToolPolicy::new()
    }
}

/// A [`ToolInvoker`] over a fixed set of [`Tool`]s, looked up by name.
///
/// ```
/// # use async_trait::async_trait;
/// # use klieo_types::{Tool, ToolContext, ToolDef, ToolError};
/// # use serde_json::{json, Value};
/// # struct Echo(ToolDef);
/// # #[async_trait]
/// # impl Tool for Echo {
/// #     fn def(&self) -> &ToolDef { &self.0 }
/// #     async fn invoke(&self, args: Value, _: ToolContext<'_>) -> Result<Value, ToolError> { Ok(args) }
/// # }
/// use klieo_types::{RunId, ToolInvoker, ToolSet};
///
/// let tools = ToolSet::new()
///     .add_tool(Echo(ToolDef::new("echo", "Returns its arguments.", json!({"type": "object"}))));
/// assert_eq!(tools.catalogue().len(), 1);
///
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let ctx = ToolContext::new(RunId::new(), "c1", "doc");
/// let out = tools.invoke("echo", json!({"x": 1}), ctx).await?;
/// assert_eq!(out, json!({"x": 1}));
/// let err = tools.invoke("nope", json!({}), ctx).await.unwrap_err();
/// assert!(matches!(err, ToolError::UnknownTool { .. }));
/// # Ok::<(), ToolError>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default)]
pub struct ToolSet {
    tools: Vec<Arc<dyn Tool>>,
    by_name: HashMap<String, usize, foldhash::fast::RandomState>,
    catalogue: Arc<[ToolDef]>,
}

impl ToolSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a tool; a tool with the same name replaces the earlier one.
    pub fn add_tool(self, tool: impl Tool + 'static) -> Self {
        self.add_shared(Arc::new(tool))
    }

    /// Adds a shared tool; a tool with the same name replaces the earlier one.
    pub fn add_shared(mut self, tool: Arc<dyn Tool>) -> Self {
        let name = tool.def().name.clone();
        match self.by_name.get(&name) {
            Some(&index) => {
                if let Some(slot) = self.tools.get_mut(index) {
                    *slot = tool;
                }
            }
            None => {
                self.by_name.insert(name, self.tools.len());
                self.tools.push(tool);
            }
        }
        self.catalogue = self.tools.iter().map(|t| t.def().clone()).collect();
        self
    }

    /// Adds every tool of `other`; a tool with the same name as one
    /// already here replaces it.
    pub fn merge(self, other: ToolSet) -> Self {
        other.tools.into_iter().fold(self, Self::add_shared)
    }

    /// Number of tools.
    pub fn len(&self) -> usize {
        self.tools.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }
}

impl fmt::Debug for ToolSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.catalogue.iter().map(|d| &d.name))
            .finish()
    }
}

#[async_trait]
impl ToolInvoker for ToolSet {
    fn catalogue(&self) -> Arc<[ToolDef]> {
        Arc::clone(&self.catalogue)
    }

    /// Hands back the tool's own future: a call boxes one future, not
    /// two.
    fn invoke<'set, 'name, 'ctx, 'call>(
        &'set self,
        name: &'name str,
        args: serde_json::Value,
        ctx: ToolContext<'ctx>,
    ) -> Pin<Box<dyn Future<Output = Result<serde_json::Value, ToolError>> + Send + 'call>>
    where
        'set: 'call,
        'name: 'call,
        'ctx: 'call,
        Self: 'call,
    {
        match self.by_name.get(name).and_then(|&i| self.tools.get(i)) {
            Some(tool) => tool.invoke(args, ctx),
            None => {
                let unknown = ToolError::UnknownTool {
                    name: name.to_owned(),
                    available: self.catalogue.iter().map(|d| d.name.clone()).collect(),
                };
                Box::pin(std::future::ready(Err(unknown)))
            }
        }
    }

    fn policy(&self, name: &str) -> ToolPolicy {
        self.by_name
            .get(name)
            .and_then(|&index| self.tools.get(index))
            .map_or_else(ToolPolicy::new, |tool| tool.policy())
    }
}

/// A [`Tool`] made from a definition and a synchronous function, for tools
/// that compute rather than wait.
///
/// ```
/// use klieo_types::{FnTool, RunId, Tool, ToolContext, ToolDef, ToolError};
/// use serde_json::json;
///
/// let upper = FnTool::new(
///     ToolDef::new("upper", "Upper-cases `text`.", json!({"type": "object"})),
///     |args| {
///         let text = args["text"].as_str().ok_or_else(|| ToolError::InvalidArgs {
///             tool: "upper".into(),
///             reason: "`text` must be a string".into(),
///         })?;
///         Ok(json!(text.to_uppercase()))
///     },
/// );
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let ctx = ToolContext::new(RunId::new(), "c1", "doc");
/// assert_eq!(upper.invoke(json!({"text": "hi"}), ctx).await?, json!("HI"));
/// assert!(upper.invoke(json!({}), ctx).await.is_err());
/// # Ok::<(), ToolError>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct FnTool<F> {
    def: ToolDef,
    f: F,
    policy: ToolPolicy,
}

impl<F> FnTool<F>
where
    F: Fn(serde_json::Value) -> Result<serde_json::Value, ToolError> + Send + Sync,
{
    /// A tool that runs `f` on the parsed arguments, under the default
    /// [`ToolPolicy`].
    pub fn new(def: ToolDef, f: F) -> Self {
        Self {
            def,
            f,
            policy: ToolPolicy::new(),
        }
    }

    /// Sets the tool's [`policy`](Tool::policy): its own time bound,
    /// whether a call may run again, whether a person must approve it.
    ///
    /// ```
    /// use klieo_types::{FnTool, Tool, ToolDef, ToolPolicy};
    /// use serde_json::json;
    ///
    /// let refund = FnTool::new(ToolDef::new("refund", "Refunds.", json!({"type": "object"})), Ok)
    ///     .with_policy(ToolPolicy::new().with_approval(true));
    /// assert!(refund.policy().requires_approval());
    /// ```
    pub fn with_policy(mut self, policy: ToolPolicy) -> Self {
        self.policy = policy;
        self
    }
}

impl<F> fmt::Debug for FnTool<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnTool")
            .field("name", &self.def.name)
            .finish()
    }
}

#[async_trait]
impl<F> Tool for FnTool<F>
where
    F: Fn(serde_json::Value) -> Result<serde_json::Value, ToolError> + Send + Sync,
{
    fn def(&self) -> &ToolDef {
        &self.def
    }

    async fn invoke(
        &self,
        args: serde_json::Value,
        _ctx: ToolContext<'_>,
    ) -> Result<serde_json::Value, ToolError> {
        (self.f)(args)
    }

    fn policy(&self) -> ToolPolicy {
        self.policy
    }
}
