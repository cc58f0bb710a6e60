//! [`Session`]: a conversation with an agent, on one thread.

use super::Agent;
use crate::blocking::run_blocking;
use crate::engine::{start, Mode};
use crate::events::RunEvents;
use crate::output::typed;
use crate::run::Extras;
use crate::summary::{Answer, Typed};
use crate::typed_events::TypedEvents;
use klieo_types::{Error, Message, RunId, ThreadId, Transcript};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use std::sync::Arc;

/// One conversation with an [`Agent`]: each call appends the user's
/// message to the thread's history, runs (a new run id each time), and
/// keeps the answer in the history.
#[derive(Clone, Debug)]
pub struct Session {
    pub(super) agent: Agent,
    pub(super) thread: ThreadId,
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

    /// [`stream`](Self::stream), for an answer of type `T` as
    /// [`run_typed`](Self::run_typed) asks for it: the run's events as they
    /// come (the answer's text among them), ending with
    /// [`TypedEvent::Finished`](crate::TypedEvent::Finished) and the value.
    ///
    /// ```
    /// use klieo_runtime::{Agent, TypedEvent};
    /// use klieo_types::testing::{text_chunks, ScriptedLlm};
    ///
    /// #[derive(serde::Deserialize, schemars::JsonSchema)]
    /// struct Verdict {
    ///     approve: bool,
    /// }
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build()?.block_on(async {
    /// let llm = ScriptedLlm::new().then_chunks(text_chunks(&["{\"approve\"", ": true}"], None));
    /// let agent = Agent::builder(llm).build()?;
    /// let mut events = agent.session("t").stream_typed::<Verdict>("Refund order 7?");
    /// let mut verdict = None;
    /// while let Some(event) = events.next().await {
    ///     if let TypedEvent::Finished(typed) = event? {
    ///         verdict = Some(typed.value);
    ///     }
    /// }
    /// assert!(verdict.expect("the last event").approve);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stream_typed<T>(&self, prompt: impl Into<String>) -> TypedEvents<T>
    where
        T: DeserializeOwned + JsonSchema,
    {
        let run_id = RunId::new();
        let (agent, thread, prompt) = (self.agent.clone(), self.thread.clone(), prompt.into());
        TypedEvents::new(RunEvents::starting(run_id, |early| {
            Box::pin(async move {
                let extras = Extras {
                    events: true,
                    ..agent.typed_extras::<T>().await
                };
                let run = Arc::new(agent.new_run(run_id, &thread, extras)?);
                let _ = early.set(Arc::clone(&run));
                start(run, Some(Message::user(prompt)), Mode::Streamed).await
            })
        }))
    }

    pub(super) async fn run_typed_as<T>(
        &self,
        run_id: RunId,
        prompt: String,
    ) -> Result<Typed<T>, Error>
    where
        T: DeserializeOwned + JsonSchema,
    {
        let extras = self.agent.typed_extras::<T>().await;
        typed(self.run_with(run_id, prompt, extras).await?)
    }

    pub(super) async fn run_as(&self, run_id: RunId, prompt: String) -> Result<Answer, Error> {
        self.run_with(run_id, prompt, Extras::default()).await
    }

    pub(crate) async fn run_with(
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

    pub(super) fn stream_as(&self, run_id: RunId, prompt: String) -> RunEvents {
        self.stream_with(run_id, prompt, Extras::default())
    }

    /// The events of a new run `run_id` asked `prompt`, shaped by
    /// `extras` (which queue events whatever they say).
    pub(crate) fn stream_with(&self, run_id: RunId, prompt: String, extras: Extras) -> RunEvents {
        let extras = Extras {
            events: true,
            ..extras
        };
        match self.agent.new_run(run_id, &self.thread, extras) {
            Ok(run) => RunEvents::new(run, Message::user(prompt)),
            Err(e) => RunEvents::failed(run_id, e),
        }
    }
}
