//! [`Agent`]: a model with instructions, tools, options and memories,
//! built once with [`AgentBuilder`] and shared; each question is a run of
//! its own, alone ([`Agent::run`]) or in a conversation ([`Session`]).

mod child;
mod durable;
mod inbox;
mod session;

pub(crate) use child::{ChildEnd, ChildSetup};
pub use inbox::PendingApproval;
pub use session::Session;

use crate::builder::AgentBuilder;
use crate::context::AgentContext;
use crate::events::RunEvents;
use crate::options::RunOptions;
use crate::run::{Extras, Run};
use crate::summary::{Answer, Typed};
use klieo_types::{Error, LlmClient, RunId, ThreadId};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use std::fmt;
use std::sync::Arc;

/// An agent: a model, its instructions (the system prompt), tools, run
/// options and memories. Cheap to clone and to share across tasks; every
/// call starts a run with its own run id.
///
/// ```
/// use klieo_runtime::Agent;
/// use klieo_types::testing::ScriptedLlm;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build()?.block_on(async {
/// let agent = Agent::builder(ScriptedLlm::new().then_text("Hi!").then_text("Fine."))
///     .with_instructions("Be brief.")
///     .build()?;
///
/// let answer = agent.run("Hello").await?;
/// assert_eq!(answer.text, "Hi!");
/// assert_eq!(answer.summary.steps, 1);
///
/// // A conversation: the history is kept between calls.
/// let chat = agent.session("user-42");
/// chat.run("How are you?").await?;
/// assert_eq!(chat.messages().await?.len(), 2);
/// # Ok::<(), klieo_types::Error>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Agent {
    inner: Arc<Inner>,
}

struct Inner {
    /// Model, memories, tools, cancel token and name; each run gets a copy
    /// with a fresh run id and a child token.
    template: AgentContext,
    instructions: String,
    options: RunOptions,
}

impl Agent {
    pub(crate) fn new(template: AgentContext, instructions: String, options: RunOptions) -> Self {
        Self {
            inner: Arc::new(Inner {
                template,
                instructions,
                options,
            }),
        }
    }

    /// Starts building an agent on `llm`.
    pub fn builder(llm: impl LlmClient + 'static) -> AgentBuilder {
        AgentBuilder::new(AgentContext::new(llm))
    }

    /// [`builder`](Self::builder), for a model that is already shared.
    pub fn builder_shared(llm: Arc<dyn LlmClient>) -> AgentBuilder {
        AgentBuilder::new(AgentContext::from_shared(llm))
    }

    /// Asks `prompt` in a conversation of its own and waits for the answer.
    pub async fn run(&self, prompt: impl Into<String>) -> Result<Answer, Error> {
        let (session, run_id) = self.one_off();
        session.run_as(run_id, prompt.into()).await
    }

    /// Asks `prompt` in a conversation of its own and waits for an answer
    /// of type `T`; see [`Session::run_typed`].
    pub async fn run_typed<T>(&self, prompt: impl Into<String>) -> Result<Typed<T>, Error>
    where
        T: DeserializeOwned + JsonSchema,
    {
        let (session, run_id) = self.one_off();
        session.run_typed_as(run_id, prompt.into()).await
    }

    /// Asks `prompt` in a conversation of its own and streams what the run
    /// does; the last event is [`RunEvent::Finished`](crate::RunEvent::Finished).
    pub fn stream(&self, prompt: impl Into<String>) -> RunEvents {
        let (session, run_id) = self.one_off();
        session.stream_as(run_id, prompt.into())
    }

    /// The conversation called `id`: its history lives in the agent's
    /// short-term memory, so a session of the same id (in this process, or
    /// in another with a shared memory) continues it.
    pub fn session(&self, id: impl AsRef<str>) -> Session {
        Session {
            agent: self.clone(),
            thread: ThreadId::new(id),
        }
    }

    /// The agent's name, as its episodes and traces give it.
    pub fn name(&self) -> &str {
        &self.inner.template.agent_name
    }

    /// Its memories.
    pub(crate) fn memories(&self) -> &crate::journal::Memories {
        &self.inner.template.memories
    }

    /// What its event log holds of run `run`.
    pub(crate) async fn episodes_of(&self, run: RunId) -> Result<Vec<klieo_types::Episode>, Error> {
        Ok(self.inner.template.memories.episodic().replay(run).await?)
    }

    /// The names of the tools its model is offered.
    pub(crate) fn tool_names(&self) -> Vec<String> {
        let catalogue = self.inner.template.tools.catalogue();
        catalogue.iter().map(|d| d.name.clone()).collect()
    }

    /// The instructions every run starts with.
    pub fn instructions(&self) -> &str {
        &self.inner.instructions
    }

    /// The options every run uses.
    pub fn options(&self) -> &RunOptions {
        &self.inner.options
    }

    /// A context for the low-level loops (`run_steps`), with a fresh run id.
    pub fn context(&self) -> AgentContext {
        self.run_context(RunId::new(), None)
    }

    /// A session of its own for one run, its thread named after the run.
    fn one_off(&self) -> (Session, RunId) {
        let run_id = RunId::new();
        (self.session(format!("run-{run_id}")), run_id)
    }

    /// A token cancelled with this agent's runs (see
    /// [`AgentBuilder::with_cancel`](crate::AgentBuilder)).
    pub(crate) fn cancel_token(&self) -> tokio_util::sync::CancellationToken {
        self.inner.template.cancel.child_token()
    }

    /// A run's context: a fresh run id, and a token of its own, cancelled
    /// with `cancel` when given (a child run, with the run that called
    /// it), else with the agent's.
    fn run_context(
        &self,
        run_id: RunId,
        cancel: Option<tokio_util::sync::CancellationToken>,
    ) -> AgentContext {
        let template = &self.inner.template;
        AgentContext {
            run_id,
            cancel: cancel.unwrap_or_else(|| template.cancel.child_token()),
            ..template.clone()
        }
    }

    pub(crate) fn new_run(
        &self,
        run_id: RunId,
        thread: &ThreadId,
        extras: Extras,
    ) -> Result<Run, Error> {
        Run::new(
            self.run_context(run_id, extras.cancel.clone()),
            &self.inner.instructions,
            thread.clone(),
            self.inner.options.clone(),
            Extras {
                summary: true,
                ..extras
            },
        )
    }
}

impl fmt::Debug for Agent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Agent")
            .field("name", &self.name())
            .field("llm", &self.inner.template.llm.name())
            .field("tools", &self.inner.template.tools.catalogue().len())
            .field("options", &self.inner.options)
            .finish()
    }
}
