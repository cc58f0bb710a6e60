//! Runs that go on after their process stopped or a person decided:
//! `resume`, `approve` and `deny`, blocking and streamed.

use super::Agent;
use crate::approval::decide;
use crate::engine::Mode;
use crate::events::RunEvents;
use crate::fact::Fact;
use crate::output::{typed, OutputSpec};
use crate::resume::{journal_of, record_of, resume_engine, resume_run, Why};
use crate::run::{Extras, Run};
use crate::summary::{Answer, Typed};
use crate::team::tree::{handed_to, TreeRoot};
use crate::typed_events::TypedEvents;
use klieo_types::{Capabilities, Episode, Error, Journal, RunId, Ticket};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use std::sync::Arc;

impl Agent {
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
    /// Needs a store that is a journal ([`AgentBuilder::with_memory`](crate::AgentBuilder::with_memory));
    /// otherwise, or for a run the store does not know or that already
    /// ended, [`Error::NotResumable`]. A typed run goes on asking for the
    /// shape its log recorded, its answer returned as text;
    /// [`resume_typed`](Self::resume_typed) reads it as its type too.
    pub async fn resume(&self, run: RunId) -> Result<Answer, Error> {
        self.go_on(run, None, Extras::default()).await
    }

    /// Approves the call a suspended run waits on ([`Error::Suspended`]),
    /// then runs it on to its answer (or its next suspension), in this
    /// process or any other. Fails closed with [`Error::TicketRejected`],
    /// running nothing, unless the run waits on exactly that call; of two
    /// decisions at once, one wins and the other fails with a
    /// `MemoryError::Conflict`, running nothing. The run's lease is taken
    /// before the decision is recorded (with leases on), so a worker of
    /// its fleet does not claim it in between: the agent that decides
    /// runs it on. (A decision on a child run's call is recorded before
    /// its root is leased: a worker may take the root up first, and this
    /// call then fails with a `Conflict` while the run goes on there.)
    pub async fn approve(&self, ticket: &Ticket) -> Result<Answer, Error> {
        self.go_on(ticket.run, Some((ticket, None)), Extras::default())
            .await
    }

    /// Denies the call a suspended run waits on: it does not run, and the
    /// model is told `reason` as its result. Then as [`approve`](Self::approve).
    pub async fn deny(&self, ticket: &Ticket, reason: impl Into<String>) -> Result<Answer, Error> {
        let decision = Some((ticket, Some(reason.into())));
        self.go_on(ticket.run, decision, Extras::default()).await
    }

    /// [`resume`](Self::resume), streamed: the run's events from where it
    /// stopped, as [`Session::stream`](crate::Session::stream) hands them out, ending with
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
    /// let agent = Agent::builder(llm).add_tool(refund).with_memory(store).build()?;
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
        self.go_on_streamed(run, None, None)
    }

    /// [`approve`](Self::approve), streamed; see
    /// [`resume_stream`](Self::resume_stream).
    pub fn approve_stream(&self, ticket: &Ticket) -> RunEvents {
        self.go_on_streamed(ticket.run, Some((ticket.clone(), None)), None)
    }

    /// [`deny`](Self::deny), streamed; see
    /// [`resume_stream`](Self::resume_stream).
    pub fn deny_stream(&self, ticket: &Ticket, reason: impl Into<String>) -> RunEvents {
        self.go_on_streamed(
            ticket.run,
            Some((ticket.clone(), Some(reason.into()))),
            None,
        )
    }

    /// [`resume_stream`](Self::resume_stream) of a run asked for an answer
    /// of type `T`: its answer checked (and repaired) as a `T`, as
    /// [`resume_typed`](Self::resume_typed) does, the last event
    /// [`TypedEvent::Finished`](crate::TypedEvent::Finished) with the value.
    pub fn resume_stream_typed<T>(&self, run: RunId) -> TypedEvents<T>
    where
        T: DeserializeOwned + JsonSchema,
    {
        TypedEvents::new(self.go_on_streamed(run, None, Some(OutputSpec::of::<T>)))
    }

    /// [`approve_stream`](Self::approve_stream) of a typed run; see
    /// [`resume_stream_typed`](Self::resume_stream_typed).
    pub fn approve_stream_typed<T>(&self, ticket: &Ticket) -> TypedEvents<T>
    where
        T: DeserializeOwned + JsonSchema,
    {
        let decision = Some((ticket.clone(), None));
        TypedEvents::new(self.go_on_streamed(ticket.run, decision, Some(OutputSpec::of::<T>)))
    }

    /// [`deny_stream`](Self::deny_stream) of a typed run; see
    /// [`resume_stream_typed`](Self::resume_stream_typed).
    pub fn deny_stream_typed<T>(&self, ticket: &Ticket, reason: impl Into<String>) -> TypedEvents<T>
    where
        T: DeserializeOwned + JsonSchema,
    {
        let decision = Some((ticket.clone(), Some(reason.into())));
        TypedEvents::new(self.go_on_streamed(ticket.run, decision, Some(OutputSpec::of::<T>)))
    }

    /// [`resume`](Self::resume) of a run that was asked for an answer of
    /// type `T` ([`Session::run_typed`](crate::Session::run_typed)): the
    /// model is asked for that shape again, the answer checked (and
    /// repaired) as in the run, and its value returned.
    pub async fn resume_typed<T>(&self, run: RunId) -> Result<Typed<T>, Error>
    where
        T: DeserializeOwned + JsonSchema,
    {
        let extras = self.typed_extras::<T>().await;
        typed(self.go_on(run, None, extras).await?)
    }

    /// [`approve`](Self::approve) of a typed run; see
    /// [`resume_typed`](Self::resume_typed).
    pub async fn approve_typed<T>(&self, ticket: &Ticket) -> Result<Typed<T>, Error>
    where
        T: DeserializeOwned + JsonSchema,
    {
        let extras = self.typed_extras::<T>().await;
        typed(self.go_on(ticket.run, Some((ticket, None)), extras).await?)
    }

    /// [`deny`](Self::deny) of a typed run; see
    /// [`resume_typed`](Self::resume_typed).
    pub async fn deny_typed<T>(
        &self,
        ticket: &Ticket,
        reason: impl Into<String>,
    ) -> Result<Typed<T>, Error>
    where
        T: DeserializeOwned + JsonSchema,
    {
        let extras = self.typed_extras::<T>().await;
        let decision = Some((ticket, Some(reason.into())));
        typed(self.go_on(ticket.run, decision, extras).await?)
    }

    /// The shape a typed run recorded, so that a resume without its type
    /// asks for it again.
    async fn recorded_shape(
        &self,
        journal: &dyn Journal,
        run: RunId,
    ) -> Result<Option<OutputSpec>, Error> {
        let log = journal.replay(run).await?;
        let Some((name, schema)) = log.into_iter().find_map(|e| match e {
            Episode::OutputShape { name, schema } => Some((name, schema)),
            _ => None,
        }) else {
            return Ok(None);
        };
        let caps = self.inner.template.llm.discover_capabilities().await;
        Ok(Some(OutputSpec::recorded(name, schema, caps)))
    }

    /// What a run asked for an answer of type `T` is built with.
    pub(super) async fn typed_extras<T: DeserializeOwned + JsonSchema>(&self) -> Extras {
        Extras {
            output: Some(self.shaped(OutputSpec::of::<T>).await),
            ..Extras::default()
        }
    }

    /// The shape `output` makes for this agent's model, as it says what
    /// it can do.
    pub(super) async fn shaped(&self, output: fn(Capabilities) -> OutputSpec) -> OutputSpec {
        output(self.inner.template.llm.discover_capabilities().await)
    }

    pub(crate) async fn go_on(
        &self,
        run: RunId,
        decision: Option<(&Ticket, Option<String>)>,
        extras: Extras,
    ) -> Result<Answer, Error> {
        let decision = decision.map(|(t, d)| (t.clone(), d));
        let (run, decision) = self.root_for(run, decision).await?;
        self.go_on_exactly(run, decision, extras).await
    }

    /// [`go_on`](Self::go_on) of `run` itself, a child run too (a worker's
    /// claim, a child run taken up by its parent's call).
    pub(crate) async fn go_on_exactly(
        &self,
        run: RunId,
        decision: Option<(Ticket, Option<String>)>,
        extras: Extras,
    ) -> Result<Answer, Error> {
        let (run, journal, why) = self.take_up(run, decision, extras).await?;
        let text = resume_run(Arc::clone(&run), journal, why).await?;
        Ok(Answer {
            text,
            summary: run.progress.summary(),
        })
    }

    /// The run `run_id` streamed on, its answer of the shape `output`
    /// makes for the model's capabilities when given (a typed run's `T`),
    /// else of the shape its log recorded.
    fn go_on_streamed(
        &self,
        run_id: RunId,
        decision: Option<(Ticket, Option<String>)>,
        output: Option<fn(Capabilities) -> OutputSpec>,
    ) -> RunEvents {
        self.go_on_streamed_from(run_id, decision, true, Extras::default(), output)
    }

    /// [`go_on_streamed`](Self::go_on_streamed); a child run is taken up
    /// through its tree's root when `by_root`, else itself; `output` as in
    /// [`go_on_streamed`](Self::go_on_streamed).
    pub(crate) fn go_on_streamed_from(
        &self,
        run_id: RunId,
        decision: Option<(Ticket, Option<String>)>,
        by_root: bool,
        extras: Extras,
        output: Option<fn(Capabilities) -> OutputSpec>,
    ) -> RunEvents {
        let agent = self.clone();
        let mut extras = Extras {
            events: true,
            ..extras
        };
        RunEvents::starting(run_id, move |early| {
            Box::pin(async move {
                if let Some(output) = output {
                    extras.output = Some(agent.shaped(output).await);
                }
                let (run_id, decision) = match by_root {
                    true => agent.root_for(run_id, decision).await?,
                    false => (run_id, decision),
                };
                let (run, journal, why) = agent.take_up(run_id, decision, extras).await?;
                let _ = early.set(Arc::clone(&run));
                resume_engine(run, journal, why, Mode::Streamed).await
            })
        })
    }

    /// Where `run` is taken up: a child run (an agent used as a tool) by
    /// taking up its tree's root, whose calls find the child going on,
    /// after the decision on the child's call is recorded. Any other run
    /// as it is. A child run whose root another agent drives, or a run a
    /// hand-off gave on (a team's), is refused.
    async fn root_for(
        &self,
        run: RunId,
        decision: Option<(Ticket, Option<String>)>,
    ) -> Result<(RunId, Option<(Ticket, Option<String>)>), Error> {
        let Ok(journal) = journal_of(&self.inner.template.memories, run) else {
            return Ok((run, decision));
        };
        let tree = TreeRoot::of(journal, run).await?;
        let root = tree.root;
        // The root goes on with the agent that drives it (the last a
        // hand-off gave it to): another agent (a child's) would find its
        // calls unknown, and a team's run goes on through its team.
        let handed = handed_to(&tree.log).is_some();
        let driver = tree.driver(self.name());
        // A run of one agent may be taken up by another (`klieo resume
        // --agent`); a team's is its team's.
        let refused = handed || (driver != self.name() && root != run);
        if refused {
            let what = match root == run {
                true => "it is".to_owned(),
                false => format!("it is a child run of run {root}, which is"),
            };
            let reason = match handed {
                true => format!(
                    "{what} a team's run, which a hand-off gave to agent `{driver}`: take it \
                     up through its team (Team::resume, approve or deny)"
                ),
                false => format!(
                    "{what} a run which agent `{driver}` drives: decide or resume it with \
                     that agent (this one is `{}`)",
                    self.name()
                ),
            };
            return Err(Error::NotResumable { run, reason });
        }
        Ok((root, tree.decision_for_root(run, decision).await?))
    }

    /// The run `run` rebuilt from its journal, with a person's decision on
    /// the call it waits on recorded first when there is one.
    pub(crate) async fn take_up(
        &self,
        run: RunId,
        decision: Option<(Ticket, Option<String>)>,
        extras: Extras,
    ) -> Result<(Arc<Run>, Arc<dyn Journal>, Why), Error> {
        let journal = journal_of(&self.inner.template.memories, run)?;
        let record = record_of(journal.as_ref(), run).await?;
        let extras = match extras.output {
            Some(_) => extras,
            None => Extras {
                output: self.recorded_shape(journal.as_ref(), run).await?,
                ..extras
            },
        };
        let run = Arc::new(self.new_run(run, &record.thread, extras)?);
        let Some((ticket, denial)) = decision else {
            return Ok((run, journal, Why::Restart));
        };
        // The ticket is checked first, reading only: one the run does not
        // wait on (decided, cancelled) takes no lease. Then leased: a
        // decided run is for a worker to claim, and one claiming it before
        // this take-up leases it would leave the decision in and this
        // take-up refused.
        let decided = async {
            crate::approval::waiting_for(journal.as_ref(), &ticket).await?;
            let leased = crate::lease::take(&run).await?;
            if let Err(refused) = decide(&run, journal.as_ref(), &ticket, denial).await {
                if leased.is_some() {
                    // Nothing was decided: the run is left as it was.
                    let _ = journal.release(run.ctx.run_id, run.holder()).await;
                }
                return Err(refused);
            }
            Ok(())
        };
        if let Err(refused) = decided.await {
            let _ = run.emit(Fact::NotStarted { error: &refused });
            return Err(refused);
        }
        Ok((run, journal, Why::Decision))
    }
}
