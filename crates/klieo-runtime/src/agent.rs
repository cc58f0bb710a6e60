//! [`Agent`]: a model with instructions, tools, options and memories,
//! built once with [`AgentBuilder`] and shared; each question is a run of
//! its own, alone ([`Agent::run`]) or in a conversation ([`Session`]).

use crate::approval::decide;
use crate::blocking::run_blocking;
use crate::builder::AgentBuilder;
use crate::context::AgentContext;
use crate::engine::Mode;
use crate::events::RunEvents;
use crate::options::RunOptions;
use crate::output::{parse, OutputSpec};
use crate::resume::{journal_of, record_of, resume_engine, resume_run, Why};
use crate::run::{Extras, Run};
use crate::summary::{Answer, Typed};
use klieo_types::{Error, Journal, LlmClient, Message, RunId, ThreadId, Ticket, Transcript};
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
        self.run_context(RunId::new())
    }

    /// A session of its own for one run, its thread named after the run.
    fn one_off(&self) -> (Session, RunId) {
        let run_id = RunId::new();
        (self.session(format!("run-{run_id}")), run_id)
    }

    fn run_context(&self, run_id: RunId) -> AgentContext {
        let template = &self.inner.template;
        AgentContext {
            run_id,
            cancel: template.cancel.child_token(),
            ..template.clone()
        }
    }

    /// Continues the run `run` after its process stopped (a crash, a
    /// restart), in this process or any other, on the thread its journal
    /// recorded: completed model calls are not asked again, recorded tool
    /// results are not run again, and a call that was running when the
    /// process stopped runs again only if its tool is idempotent
    /// ([`ToolPolicy::idempotent`](klieo_types::ToolPolicy::idempotent)); otherwise the model is told its outcome is
    /// unknown. Of two processes resuming one run at once, one goes on and
    /// the other fails with a `MemoryError::Conflict` before running
    /// anything: with leases, at its lease; without (`lease_ttl: None`), at
    /// its first write after the other's, since every write expects the
    /// log it read, before any tool of a new step runs (an idempotent call
    /// of the interrupted step may have run again in both).
    ///
    /// Needs a store that is a journal ([`AgentBuilder::with_memory`]);
    /// otherwise, or for a run the store does not know or that already
    /// ended, [`Error::NotResumable`]. A typed run resumes as a plain one.
    pub async fn resume(&self, run: RunId) -> Result<Answer, Error> {
        self.go_on(run, None).await
    }

    /// Approves the call a suspended run waits on ([`Error::Suspended`]),
    /// then runs it on to its answer (or its next suspension), in this
    /// process or any other. Fails closed with [`Error::TicketRejected`],
    /// running nothing, unless the run waits on exactly that call; of two
    /// decisions at once, one wins and the other fails with a
    /// `MemoryError::Conflict`, running nothing.
    pub async fn approve(&self, ticket: &Ticket) -> Result<Answer, Error> {
        self.go_on(ticket.run, Some((ticket, None))).await
    }

    /// Denies the call a suspended run waits on: it does not run, and the
    /// model is told `reason` as its result. Then as [`approve`](Self::approve).
    pub async fn deny(&self, ticket: &Ticket, reason: impl Into<String>) -> Result<Answer, Error> {
        self.go_on(ticket.run, Some((ticket, Some(reason.into()))))
            .await
    }

    /// [`resume`](Self::resume), streamed: the run's events from where it
    /// stopped, as [`Session::stream`] hands them out, ending with
    /// [`RunEvent::Finished`](crate::RunEvent::Finished) or one `Err` (the
    /// same errors `resume` returns, [`Error::Suspended`] among them).
    ///
    /// ```
    /// use klieo_runtime::{Agent, RunEvent};
    /// use klieo_store::InMemoryJournal;
    /// use klieo_types::testing::{text_chunks, ScriptedLlm};
    /// use klieo_types::{Error, ToolCall};
    /// use serde_json::json;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build()?.block_on(async {
    /// let store = InMemoryJournal::new();
    /// let refund = klieo_runtime::TypedTool::new("refund", "Refunds.", |_: serde_json::Value| async {
    ///     Ok::<_, klieo_types::ToolError>("refunded")
    /// })
    /// .with_approval(true);
    /// let call = ToolCall::new("c1", "refund", json!({}));
    /// let llm = ScriptedLlm::new()
    ///     .then_tool_calls(vec![call])
    ///     .then_chunks(text_chunks(&["Re", "funded."], None));
    /// let agent = Agent::builder(llm).with_tool(refund).with_memory(store).build()?;
    /// let Err(Error::Suspended { ticket, .. }) = agent.session("t").run("Refund me").await else {
    ///     panic!("the refund waits for a person");
    /// };
    ///
    /// let mut events = agent.approve_stream(&ticket);
    /// assert_eq!(events.run_id(), ticket.run);
    /// let mut text = String::new();
    /// while let Some(event) = events.next().await {
    ///     if let RunEvent::Text(delta) = event? {
    ///         text.push_str(&delta);
    ///     }
    /// }
    /// assert_eq!(text, "Refunded.");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn resume_stream(&self, run: RunId) -> RunEvents {
        self.go_on_streamed(run, None)
    }

    /// [`approve`](Self::approve), streamed; see
    /// [`resume_stream`](Self::resume_stream).
    pub fn approve_stream(&self, ticket: &Ticket) -> RunEvents {
        self.go_on_streamed(ticket.run, Some((ticket.clone(), None)))
    }

    /// [`deny`](Self::deny), streamed; see
    /// [`resume_stream`](Self::resume_stream).
    pub fn deny_stream(&self, ticket: &Ticket, reason: impl Into<String>) -> RunEvents {
        self.go_on_streamed(ticket.run, Some((ticket.clone(), Some(reason.into()))))
    }

    async fn go_on(
        &self,
        run: RunId,
        decision: Option<(&Ticket, Option<String>)>,
    ) -> Result<Answer, Error> {
        let (run, journal, why) = self
            .take_up(
                run,
                decision.map(|(t, d)| (t.clone(), d)),
                Extras::default(),
            )
            .await?;
        let text = resume_run(Arc::clone(&run), journal, why).await?;
        Ok(Answer {
            text,
            summary: run.progress.summary(),
        })
    }

    fn go_on_streamed(
        &self,
        run_id: RunId,
        decision: Option<(Ticket, Option<String>)>,
    ) -> RunEvents {
        let agent = self.clone();
        let extras = Extras {
            events: true,
            ..Extras::default()
        };
        RunEvents::starting(
            run_id,
            Box::pin(async move {
                let (run, journal, why) = agent.take_up(run_id, decision, extras).await?;
                resume_engine(run, journal, why, Mode::Streamed).await
            }),
        )
    }

    /// The run `run` rebuilt from its journal, with a person's decision on
    /// the call it waits on recorded first when there is one.
    async fn take_up(
        &self,
        run: RunId,
        decision: Option<(Ticket, Option<String>)>,
        extras: Extras,
    ) -> Result<(Arc<Run>, Arc<dyn Journal>, Why), Error> {
        let journal = journal_of(&self.run_context(run))?;
        let record = record_of(journal.as_ref(), run).await?;
        let run = Arc::new(self.new_run(run, &record.thread, extras)?);
        let why = match decision {
            Some((ticket, denial)) => {
                decide(&run, journal.as_ref(), &ticket, denial).await?;
                Why::Decision
            }
            None => Why::Restart,
        };
        Ok((run, journal, why))
    }

    fn new_run(&self, run_id: RunId, thread: &ThreadId, extras: Extras) -> Result<Run, Error> {
        Run::new(
            self.run_context(run_id),
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

/// One conversation with an [`Agent`]: each call appends the user's
/// message to the thread's history, runs (a new run id each time), and
/// keeps the answer in the history.
#[derive(Clone, Debug)]
pub struct Session {
    agent: Agent,
    thread: ThreadId,
}

impl Session {
    /// The conversation's thread.
    pub fn thread(&self) -> &ThreadId {
        &self.thread
    }

    /// Asks `prompt` and waits for the answer.
    pub async fn run(&self, prompt: impl Into<String>) -> Result<Answer, Error> {
        self.run_as(RunId::new(), prompt.into()).await
    }

    /// Asks `prompt` and streams what the run does; the last event is
    /// [`RunEvent::Finished`](crate::RunEvent::Finished).
    pub fn stream(&self, prompt: impl Into<String>) -> RunEvents {
        self.stream_as(RunId::new(), prompt.into())
    }

    /// Asks `prompt` and waits for an answer of type `T`, whose JSON
    /// Schema is derived with schemars.
    ///
    /// The answer is asked for the strongest way the provider allows
    /// ([`Capabilities`](klieo_types::Capabilities)): strict JSON schema,
    /// else JSON mode with the schema in the instructions, else the schema
    /// in the instructions alone (the JSON is then taken from the text).
    /// With tools, the schema binds only the final answer: the model may
    /// call tools first. An answer that does not parse or fit is sent back
    /// with the reason, at most
    /// [`output_repairs`](crate::RunOptions::output_repairs) times, then the
    /// run fails with `Error::InvalidOutput`, holding the last answer.
    ///
    /// ```
    /// use klieo_runtime::Agent;
    /// use klieo_types::testing::ScriptedLlm;
    /// use schemars::JsonSchema;
    /// use serde::Deserialize;
    ///
    /// #[derive(Deserialize, JsonSchema)]
    /// struct Verdict {
    ///     /// Whether the claim holds.
    ///     holds: bool,
    /// }
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build()?.block_on(async {
    /// let llm = ScriptedLlm::new()
    ///     .then_text("I think it holds.")
    ///     .then_text(r#"{"holds": true}"#);
    /// let agent = Agent::builder(llm).build()?;
    /// let verdict = agent.run_typed::<Verdict>("Is 17*23 = 391?").await?;
    /// assert!(verdict.value.holds);
    /// assert_eq!(verdict.answer.summary.steps, 2, "the first answer was sent back");
    /// # Ok::<(), klieo_types::Error>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn run_typed<T>(&self, prompt: impl Into<String>) -> Result<Typed<T>, Error>
    where
        T: DeserializeOwned + JsonSchema,
    {
        self.run_typed_as(RunId::new(), prompt.into()).await
    }

    /// The conversation so far, oldest first.
    pub async fn messages(&self) -> Result<Transcript, Error> {
        let memory = self.agent.inner.template.short_term();
        Ok(memory.load(&self.thread, usize::MAX).await?)
    }

    async fn run_typed_as<T>(&self, run_id: RunId, prompt: String) -> Result<Typed<T>, Error>
    where
        T: DeserializeOwned + JsonSchema,
    {
        let caps = self.agent.inner.template.llm.capabilities();
        let extras = Extras {
            output: Some(OutputSpec::of::<T>(caps)),
            ..Extras::default()
        };
        let answer = self.run_with(run_id, prompt, extras).await?;
        let value = parse::<T>(&answer.text).map_err(|reason| Error::InvalidOutput {
            reason,
            reply: answer.text.clone(),
            attempts: 1,
        })?;
        Ok(Typed { value, answer })
    }

    async fn run_as(&self, run_id: RunId, prompt: String) -> Result<Answer, Error> {
        self.run_with(run_id, prompt, Extras::default()).await
    }

    async fn run_with(
        &self,
        run_id: RunId,
        prompt: String,
        extras: Extras,
    ) -> Result<Answer, Error> {
        let run = Arc::new(self.agent.new_run(run_id, &self.thread, extras)?);
        // The prompt lands with the run's `Started`: a store never holds
        // one without the other.
        let text = run_blocking(Arc::clone(&run), Some(Message::user(prompt))).await?;
        Ok(Answer {
            text,
            summary: run.progress.summary(),
        })
    }

    fn stream_as(&self, run_id: RunId, prompt: String) -> RunEvents {
        let extras = Extras {
            events: true,
            ..Extras::default()
        };
        match self.agent.new_run(run_id, &self.thread, extras) {
            Ok(run) => RunEvents::new(run, Message::user(prompt)),
            Err(e) => RunEvents::failed(run_id, e),
        }
    }
}
