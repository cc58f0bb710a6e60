//! [`TypedTool`]: a tool from an async function of a typed argument, its
//! JSON Schema derived from the type.

use crate::schema::schema_of;
use klieo_types::{
    async_trait, OwnedToolContext, Tool, ToolContext, ToolDef, ToolError, ToolPolicy,
};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::time::Duration;

/// A [`Tool`] made from an async function whose argument is a type of
/// yours: `#[derive(Deserialize, JsonSchema)]` on a struct gives the model
/// its parameters (doc comments become descriptions), and the function gets
/// the arguments already parsed. Its output is anything `Serialize`.
///
/// Arguments that do not fit the type go back to the model as
/// [`ToolError::InvalidArgs`], naming the field, so it can correct itself.
/// The argument type must be a JSON object (a struct with named fields):
/// [`AgentBuilder::build`](crate::AgentBuilder::build) refuses a tool
/// whose parameters are not, or whose name models refuse (1 to 64
/// letters, digits, `_` and `-`).
///
/// ```
/// use klieo_runtime::TypedTool;
/// use klieo_types::{RunId, Tool, ToolContext, ToolError};
/// use schemars::JsonSchema;
/// use serde::Deserialize;
/// use serde_json::json;
///
/// #[derive(Deserialize, JsonSchema)]
/// struct Add {
///     /// The first number.
///     a: i64,
///     /// The second number.
///     b: i64,
/// }
///
/// let add = TypedTool::new("add", "Adds two numbers.", |args: Add| async move {
///     Ok::<_, ToolError>(args.a + args.b)
/// });
/// assert_eq!(add.def().parameters["properties"]["a"]["description"], "The first number.");
///
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let ctx = ToolContext::new(RunId::new(), "c1", "doc");
/// assert_eq!(add.invoke(json!({"a": 2, "b": 3}), ctx).await?, json!(5));
/// let wrong = add.invoke(json!({"a": 2}), ctx).await.unwrap_err();
/// assert!(wrong.to_string().contains("missing field `b`"), "{wrong}");
/// # Ok::<(), ToolError>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct TypedTool<A, F> {
    def: ToolDef,
    f: F,
    policy: ToolPolicy,
    args: PhantomData<fn(A)>,
}

impl<A> TypedTool<A, ()> {
    /// A tool called `name` that does what `description` says by running `f`.
    #[allow(
        clippy::new_ret_no_self,
        reason = "the tool's type names its function's"
    )]
    pub fn new<G, Fut, O>(
        name: impl Into<String>,
        description: impl Into<String>,
        f: G,
    ) -> TypedTool<A, impl Fn(A, OwnedToolContext) -> Fut + Send + Sync>
    where
        A: DeserializeOwned + JsonSchema,
        G: Fn(A) -> Fut + Send + Sync,
        Fut: Future<Output = Result<O, ToolError>> + Send,
        O: Serialize,
    {
        TypedTool::with_context(name, description, move |args, _call| f(args))
    }

    /// [`new`](Self::new), for a function that also gets the call's
    /// context: its run, step and call id, and the agent; its
    /// [`idempotency_key`](klieo_types::OwnedToolContext::idempotency_key)
    /// is what a payment service wants (a resumed run that runs an
    /// interrupted call again runs it with the same key).
    ///
    /// ```
    /// use klieo_runtime::TypedTool;
    /// use klieo_types::{OwnedToolContext, RunId, Tool, ToolContext, ToolError};
    /// use schemars::JsonSchema;
    /// use serde::Deserialize;
    /// use serde_json::json;
    ///
    /// #[derive(Deserialize, JsonSchema)]
    /// struct Refund {
    ///     /// In cents.
    ///     cents: u32,
    /// }
    ///
    /// let refund = TypedTool::with_context(
    ///     "refund",
    ///     "Refunds the customer.",
    ///     |r: Refund, call: OwnedToolContext| async move {
    ///         // The payment service is told the call's idempotency key.
    ///         let key = call.idempotency_key();
    ///         Ok::<_, ToolError>(format!("refunded {} cents (key {key})", r.cents))
    ///     },
    /// );
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let run = RunId::new();
    /// let ctx = ToolContext::new(run, "call-7", "desk").with_step(2);
    /// let said = format!("refunded 5 cents (key {run}:2:call-7)");
    /// assert_eq!(refund.invoke(json!({"cents": 5}), ctx).await?, json!(said));
    /// # Ok::<(), ToolError>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_context<G, Fut, O>(
        name: impl Into<String>,
        description: impl Into<String>,
        f: G,
    ) -> TypedTool<A, G>
    where
        A: DeserializeOwned + JsonSchema,
        G: Fn(A, OwnedToolContext) -> Fut + Send + Sync,
        Fut: Future<Output = Result<O, ToolError>> + Send,
        O: Serialize,
    {
        TypedTool {
            def: ToolDef::new(name, description, schema_of::<A>()),
            f,
            policy: ToolPolicy::new(),
            args: PhantomData,
        }
    }
}

impl<A, F> TypedTool<A, F> {
    /// Bounds each call of this tool by `timeout` instead of the run's
    /// `RunOptions::tool_timeout`.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.policy = self.policy.with_timeout(timeout);
        self
    }

    /// Declares that running a call twice with the same arguments has the
    /// effect of running it once, so a resumed run may run an interrupted
    /// call again ([`ToolPolicy::idempotent`]). Default: not idempotent.
    pub fn with_idempotent(mut self, idempotent: bool) -> Self {
        self.policy = self.policy.with_idempotent(idempotent);
        self
    }

    /// Requires a person's approval before each call runs
    /// ([`ToolPolicy::requires_approval`]). Default: no approval.
    pub fn with_approval(mut self, required: bool) -> Self {
        self.policy = self.policy.with_approval(required);
        self
    }
}

impl<A, F> fmt::Debug for TypedTool<A, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TypedTool")
            .field("name", &self.def.name)
            .finish()
    }
}

#[async_trait]
impl<A, F, Fut, O> Tool for TypedTool<A, F>
where
    A: DeserializeOwned + JsonSchema,
    F: Fn(A, OwnedToolContext) -> Fut + Send + Sync,
    Fut: Future<Output = Result<O, ToolError>> + Send,
    O: Serialize,
{
    fn def(&self) -> &ToolDef {
        &self.def
    }

    fn policy(&self) -> ToolPolicy {
        self.policy
    }

    async fn invoke(&self, args: Value, ctx: ToolContext<'_>) -> Result<Value, ToolError> {
        refuse_a_list(&self.def.name, &args)?;
        let args: A = crate::schema::read_as(args).map_err(|e| ToolError::InvalidArgs {
            tool: self.def.name.clone(),
            reason: format!("{e}; send one JSON object that matches the tool's parameters"),
        })?;
        let output = (self.f)(args, ctx.into_owned()).await?;
        serde_json::to_value(output).map_err(|e| {
            ToolError::Permanent(format!(
                "tool `{}` returned an output that is not JSON: {e}",
                self.def.name
            ))
        })
    }
}

/// `InvalidArgs` for arguments sent as a list: a tool's parameters are an
/// object's (`AgentBuilder::build` refuses others), and serde fills a
/// struct from a list by position, so the model's values would land in
/// fields it never named.
pub(crate) fn refuse_a_list(tool: &str, args: &Value) -> Result<(), ToolError> {
    match args.is_array() {
        true => Err(ToolError::InvalidArgs {
            tool: tool.to_owned(),
            reason: "the arguments are a list, not an object; send one JSON object that names \
                     each of the tool's parameters"
                .into(),
        }),
        false => Ok(()),
    }
}
