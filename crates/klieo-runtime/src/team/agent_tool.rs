//! [`AgentTool`]: an [`Agent`] as another agent's tool. A call starts a
//! child run: its own run id (derived from the call, so the same call
//! finds it again), its own thread and log; its answer is the call's
//! result, its failure the call's.

use super::cut_off::{Caller, ChildCall, Running, CUT_OFF_GRACE};
use super::tool_shape::Shape;
use super::tree::MAX_DEPTH;
use crate::agent::{Agent, ChildEnd, ChildSetup};
use crate::run::ParentCall;
use async_trait::async_trait;
use klieo_types::{
    Error, MemoryError, Tool, ToolContext, ToolDef, ToolError, ToolPolicy, WaitingOn,
};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// An agent as a tool of another: the model calls it with
/// `{"input": "…"}`, the task in words, and reads its answer.
///
/// Each call is a **child run** of the agent: its id is
/// [`RunId::child`](klieo_types::RunId::child) of the calling run for the
/// call's [idempotency key](ToolContext::idempotency_key), its thread is
/// its own (`run-<child id>`: it does not see the parent's conversation,
/// only `input`), and it runs with the agent's own model, instructions,
/// tools, options and memories.
///
/// On an agent whose memories are a journal, a call run again after its
/// process stopped (the tool is idempotent for this reason) finds its
/// child: it takes the child up where the child's log ends (no completed
/// model call is asked again; the child's own tools are resumed by their
/// own rules), or gives the answer the child already ended with.
///
/// The call fails as the child does: a child that ends without an answer
/// (steps, budget, a guardrail, a model whose retries are spent, a
/// cancel) is `ToolError::Failed`, told to the model, the same when the
/// call runs again and finds it ended; a child whose store failed or
/// whose lease another process still holds is `ToolError::Retryable`
/// after the lease's time. A child that waits for a person is
/// `ToolError::Waiting`: the calling run waits with it, and one decision
/// carries both on. Agents are built before they are given, so agents
/// alone cannot call one another in a cycle; whatever the tools, a tree
/// holds at most 32 runs, and a call that would start a deeper one is
/// `ToolError::Failed`, told to the model.
///
/// ```
/// use klieo_runtime::{Agent, AgentTool};
/// use klieo_types::testing::ScriptedLlm;
/// use klieo_types::ToolCall;
/// use serde_json::json;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build()?.block_on(async {
/// let lookup = Agent::builder(ScriptedLlm::new().then_text("Order 1042 shipped on May 2."))
///     .with_name("lookup")
///     .build()?;
/// let call = ToolCall::new("c1", "lookup", json!({"input": "When did order 1042 ship?"}));
/// let desk = Agent::builder(
///     ScriptedLlm::new()
///         .then_tool_calls(vec![call])
///         .then_text("It shipped on May 2."),
/// )
/// .add_tool(AgentTool::new("lookup", "Finds orders.", lookup))
/// .build()?;
///
/// let answer = desk.run("Where is my order 1042?").await?;
/// assert_eq!(answer.text, "It shipped on May 2.");
/// # Ok::<(), klieo_types::Error>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct AgentTool {
    def: ToolDef,
    agent: Agent,
    timeout: Duration,
    shape: Shape,
}

/// How long a call of an [`AgentTool`] may take by default: a child run
/// of many steps, each a model call and its tools.
pub const AGENT_TOOL_TIMEOUT: Duration = Duration::from_secs(600);

impl std::fmt::Debug for AgentTool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentTool")
            .field("name", &self.def.name)
            .field("agent", &self.agent.name())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl AgentTool {
    /// `agent` as a tool the model knows as `name`, told what it does by
    /// `description`.
    pub fn new(name: impl Into<String>, description: impl Into<String>, agent: Agent) -> Self {
        Self {
            def: ToolDef::new(name, description, Shape::words_parameters()),
            agent,
            timeout: AGENT_TOOL_TIMEOUT,
            shape: Shape::Words,
        }
    }

    /// `agent` as a tool that takes a value of type `I` (its parameters
    /// are `I`'s JSON Schema; the child run is asked its JSON) and gives
    /// the JSON of an answer of type `O`, which the child run is asked
    /// for as [`Session::run_typed`](crate::Session::run_typed) asks
    /// (checked, and repaired, the same way).
    ///
    /// ```
    /// use klieo_runtime::{Agent, AgentTool};
    /// use klieo_types::testing::ScriptedLlm;
    /// use klieo_types::ToolCall;
    /// use schemars::JsonSchema;
    /// use serde::Deserialize;
    /// use serde_json::json;
    ///
    /// #[derive(Deserialize, JsonSchema)]
    /// struct Query {
    ///     /// The order's number.
    ///     order: u32,
    /// }
    ///
    /// #[derive(Deserialize, JsonSchema)]
    /// struct Order {
    ///     shipped: bool,
    /// }
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build()?.block_on(async {
    /// let lookup = Agent::builder(ScriptedLlm::new().then_text(r#"{"shipped": true}"#))
    ///     .with_name("lookup")
    ///     .build()?;
    /// let call = ToolCall::new("c1", "lookup", json!({"order": 1042}));
    /// let desk = Agent::builder(ScriptedLlm::new().then_tool_calls(vec![call]).then_text("It shipped."))
    ///     .add_tool(AgentTool::typed::<Query, Order>("lookup", "Finds orders.", lookup))
    ///     .build()?;
    ///
    /// let answer = desk.run("Did 1042 ship?").await?;
    /// let result = &answer.summary.tool_calls[0].outcome;
    /// assert_eq!(result, &klieo_types::ToolOutcome::Ok { output: json!({"shipped": true}) });
    /// # Ok::<(), klieo_types::Error>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn typed<I, O>(
        name: impl Into<String>,
        description: impl Into<String>,
        agent: Agent,
    ) -> Self
    where
        I: DeserializeOwned + JsonSchema,
        O: DeserializeOwned + JsonSchema,
    {
        Self {
            def: ToolDef::new(name, description, Shape::typed_parameters::<I>()),
            agent,
            timeout: AGENT_TOOL_TIMEOUT,
            shape: Shape::typed::<I, O>(),
        }
    }

    /// Sets how long one call may take (default [`AGENT_TOOL_TIMEOUT`],
    /// 10 minutes). A call past it is stopped and the model told
    /// (`ToolError::Timeout`); its child run is cancelled and records its
    /// end (`Failed`, `cancelled`) within 10 seconds (one that cannot in
    /// that time, its store out of reach, is left as after a crash), and a
    /// later call starts a child of its own. A calling run that is
    /// cancelled cancels its child the same way.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The agent the tool runs.
    pub fn agent(&self) -> &Agent {
        &self.agent
    }
}

#[async_trait]
impl Tool for AgentTool {
    fn def(&self) -> &ToolDef {
        &self.def
    }

    async fn invoke(&self, args: Value, ctx: ToolContext<'_>) -> Result<Value, ToolError> {
        let tool = &self.def.name;
        let input = self.shape.prompt(tool, &args)?;
        let child = super::tree::child_of_call(ctx.run_id, ctx.step, ctx.call_id);
        // In a streamed run, the child's events go into its stream; it is
        // cancelled with the calling run.
        let calling = ctx.runtime::<Arc<Caller>>().cloned();
        let depth = calling.as_ref().map_or(0, |c| c.depth());
        if depth.saturating_add(1) >= MAX_DEPTH {
            // Agents calling one another (a late-bound invoker can make a
            // cycle) stop here: the tree's bookkeeping follows no deeper.
            return Err(ToolError::Failed {
                tool: tool.clone(),
                message: format!(
                    "agent `{}` is not started: its run would be {} deep in calls of agents, \
                     and a tree holds at most {MAX_DEPTH}; answer without it",
                    self.agent.name(),
                    depth + 2
                ),
            });
        }
        let parent = ParentCall {
            run: ctx.run_id,
            step: ctx.step,
            call_id: ctx.call_id.to_owned(),
            depth,
        };
        let relay = calling.as_ref().and_then(|c| c.relay().cloned());
        let stop = self.agent.cancel_token();
        let setup = ChildSetup {
            parent,
            relay,
            cancel: stop.clone(),
            // The calling run's budget covers the child's spend.
            cover: calling.as_ref().and_then(|c| c.cover().cloned()),
            output: self.shape.output(),
        };
        let agent = self.agent.clone();
        let running: Running = Box::pin(async move { agent.run_child(child, input, setup).await });
        let call = ChildCall::new(running, stop, calling);
        let Some(ended) = call.within(self.timeout).await else {
            return Err(ToolError::Timeout {
                tool: tool.clone(),
                after: self.timeout,
            });
        };
        match ended {
            Ok(ChildEnd::Answered(answer)) => self.shape.result(tool, answer),
            Ok(ChildEnd::Failed(error)) => Err(ToolError::Failed {
                tool: tool.clone(),
                message: format!(
                    "agent `{}` (run {child}) ended without an answer: {error}",
                    self.agent.name()
                ),
            }),
            Err(e) => Err(failure(tool, &self.agent, child, e)),
        }
    }

    /// Idempotent: a call run again finds its child run (on a journal) and
    /// takes it up rather than starting over. Bounded by the tool's own
    /// time ([`with_timeout`](AgentTool::with_timeout)), not the run's
    /// bound for a tool call.
    fn policy(&self) -> ToolPolicy {
        // The call keeps its own time, and cancels its child when it is
        // up: the run's bound comes after, never first.
        let bound = match self.timeout {
            // Reported as it is, for the agent's build to refuse.
            Duration::ZERO => Duration::ZERO,
            own => own.saturating_add(CUT_OFF_GRACE * 2),
        };
        ToolPolicy::new().with_idempotent(true).with_timeout(bound)
    }
}

/// The call's failure for a child run that stopped with `e`.
fn failure(tool: &str, agent: &Agent, child: klieo_types::RunId, e: Error) -> ToolError {
    let name = agent.name();
    match e {
        Error::Suspended {
            ticket,
            tool: waits_on,
        } => ToolError::Waiting {
            tool: tool.to_owned(),
            on: Box::new(WaitingOn::new(ticket, waits_on, false)),
        },
        Error::InDoubt {
            ticket,
            tool: waits_on,
        } => ToolError::Waiting {
            tool: tool.to_owned(),
            on: Box::new(WaitingOn::new(ticket, waits_on, true)),
        },
        // The child was cancelled in its store (`klieo cancel`, the
        // console): it is over, and so is the call.
        Error::Memory(e @ MemoryError::Cancelled { .. }) => ToolError::Failed {
            tool: tool.to_owned(),
            message: format!("agent `{name}` (run {child}) was cancelled: {e}"),
        },
        // The child's store failed, or another process still holds the
        // child's lease (its process stopped a moment ago): the child is
        // left as it is, and the call, run again after the lease's time,
        // takes it up.
        Error::Memory(e) => ToolError::Retryable {
            message: format!("agent `{name}` (run {child}) could not go on: its store said: {e}"),
            retry_after: Some(
                agent
                    .options()
                    .lease_ttl()
                    .unwrap_or(Duration::from_secs(1)),
            ),
        },
        // The child's own retries are spent, or it was cancelled: it
        // ended, and running the call again finds it ended.
        e => ToolError::Failed {
            tool: tool.to_owned(),
            message: format!("agent `{name}` (run {child}) ended without an answer: {e}"),
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use klieo_types::testing::ScriptedLlm;
    use klieo_types::RunId;

    #[test]
    fn a_child_cancelled_in_its_store_fails_the_call_for_good() {
        let agent = Agent::builder(ScriptedLlm::new())
            .with_name("lookup")
            .build()
            .unwrap();
        let child = RunId::new();
        let cancelled = Error::Memory(MemoryError::Cancelled {
            run: child,
            by: "ada".into(),
        });
        let told = failure("ask_lookup", &agent, child, cancelled);
        assert!(matches!(told, ToolError::Failed { .. }), "{told:?}");
        let unreachable = Error::Memory(MemoryError::backend("down"));
        let told = failure("ask_lookup", &agent, child, unreachable);
        assert!(matches!(told, ToolError::Retryable { .. }), "{told:?}");
    }
}
