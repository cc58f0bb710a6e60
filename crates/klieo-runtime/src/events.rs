//! [`RunEvents`]: the stream of an [`Agent`](crate::Agent)'s run, as typed
//! [`RunEvent`]s with klieo's own [`Error`].

use crate::dispatch::result_text;
use crate::engine::{start, Engine, Mode};
use crate::run::Run;
use crate::streaming::Item;
use crate::summary::{Answer, RunEvent, RunSummary};
use futures_core::Stream;
use klieo_types::{Error, Message, RunId};
use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::io::Write;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

pub(crate) type Starting = Pin<Box<dyn Future<Output = Result<Engine, Error>> + Send>>;

/// Where a starting run is kept once it is made, for the events it queues
/// before an error that ends it as it starts (a budget's refusal).
pub(crate) type EarlyRun = Arc<OnceLock<Arc<Run>>>;

/// The start of a run's next part (a team's run, handed to another
/// agent), given the slot for the run it makes.
pub(crate) type StartPart = Box<dyn FnOnce(EarlyRun) -> Starting + Send>;

/// What a team's stream does when a part of its run ends without an
/// answer: the next part's start, when the part handed the run on. It is
/// given the part's run and the summary of every part so far.
pub(crate) type Onward = Box<dyn FnMut(&Run, &RunSummary) -> Option<StartPart> + Send>;

/// What a streamed run does, as it happens: text, tool calls and their
/// results, finished steps, and last [`RunEvent::Finished`] with the answer
/// and its summary. A run that ends without an answer ends with one `Err`
/// item: the same [`Error`] a blocking run returns for the same cause
/// (`Error::Tool`, `Error::MaxStepsExceeded`, `Error::Refused`, …).
///
/// Read it with the inherent [`next`](Self::next) (no extension trait
/// needed), or as a [`Stream`]. Dropping it stops the run, which records
/// `consumer-dropped` (`cancelled` when the run's token had fired).
///
/// ```
/// use klieo_runtime::{Agent, RunEvent};
/// use klieo_types::testing::{text_chunks, ScriptedLlm};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build()?.block_on(async {
/// let llm = ScriptedLlm::new().then_chunks(text_chunks(&["Hel", "lo"], None));
/// let agent = Agent::builder(llm).build()?;
///
/// let mut events = agent.stream("Hi");
/// let mut text = String::new();
/// while let Some(event) = events.next().await {
///     match event? {
///         RunEvent::Text(delta) => text.push_str(&delta),
///         RunEvent::Finished(answer) => assert_eq!(answer.text, "Hello"),
///         _ => {}
///     }
/// }
/// assert_eq!(text, "Hello");
/// # Ok::<(), klieo_types::Error>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a run's stream does nothing unless polled"]
pub struct RunEvents {
    run_id: RunId,
    state: State,
    /// The run being started, for the events it queued before an error
    /// that ends it before its first cycle (a budget's refusal).
    early: EarlyRun,
    /// A team's run: what follows a part that hands the run on.
    onward: Option<Onward>,
    /// A team's run: the summary of the parts that ended.
    carried: Option<RunSummary>,
    /// A team's run between two parts: the part that handed it on,
    /// which records the stream's drop until the next part runs.
    handing: Option<Arc<Run>>,
    /// Whether the stream was polled: a run whose start never ran has
    /// nothing to stop when the stream is dropped.
    started: bool,
}

enum State {
    /// Appending the user's message and opening the first cycle.
    Starting(Starting),
    /// Relaying the run's events (its chunks among them, as the run's
    /// one queue turned them into events).
    Running(Engine),
    /// Handing out the events queued before an error that ended the run
    /// as it started, then the error.
    Failing(VecDeque<RunEvent>, Option<Error>),
    /// Handing out the events queued before a part of a team's run handed
    /// it on, then starting the next part.
    Handing(VecDeque<RunEvent>, Option<StartPart>),
    Done,
}

impl RunEvents {
    /// The events of `run`, which starts by appending `prompt` to its
    /// thread, in the commit of its `Started`.
    pub(crate) fn new(run: Run, prompt: Message) -> Self {
        let run_id = run.ctx.run_id;
        let run = Arc::new(run);
        Self::starting(run_id, |early| {
            let _ = early.set(Arc::clone(&run));
            Box::pin(start(run, Some(prompt), Mode::Streamed))
        })
    }

    /// The events of run `run_id`, once the future `make` returns has
    /// started its engine; the future puts the run in the slot it is
    /// given once it made it.
    pub(crate) fn starting(run_id: RunId, make: impl FnOnce(EarlyRun) -> Starting) -> Self {
        let early = EarlyRun::default();
        Self {
            run_id,
            state: State::Starting(make(Arc::clone(&early))),
            early,
            onward: None,
            carried: None,
            handing: None,
            started: false,
        }
    }

    /// These events, going on with the next part of the run when a part
    /// hands it on (`onward`).
    pub(crate) fn with_onward(mut self, onward: Onward) -> Self {
        self.onward = Some(onward);
        self
    }

    /// The next part of the run, when the part that ended (`run`) handed
    /// it on: the summary so far is carried to the answer.
    fn next_part(&mut self, run: &Run) -> Option<StartPart> {
        let onward = self.onward.as_mut()?;
        run.handoff.get()?;
        let part = run.progress.summary();
        let so_far = match self.carried.take() {
            Some(carried) => carried.followed_by(part),
            None => part,
        };
        let next = onward(run, &so_far);
        self.carried = Some(so_far);
        next
    }

    /// The run of the part that handed the run on, kept until the next
    /// part runs.
    fn hand_from(&mut self, run: Arc<Run>) {
        self.handing = Some(run);
    }

    /// A run that could not start: its one item is `error`.
    pub(crate) fn failed(run_id: RunId, error: Error) -> Self {
        Self::starting(run_id, |_| Box::pin(std::future::ready(Err(error))))
    }

    /// The run these are the events of, known before its first event: a
    /// process that stops mid-run resumes it by this id.
    pub fn run_id(&self) -> RunId {
        self.run_id
    }

    /// The next event; `None` after the last.
    pub async fn next(&mut self) -> Option<Result<RunEvent, Error>> {
        poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// Drives the run to its end, writing what it does to `out` as it
    /// happens (the model's text as it comes, `[tool(arguments)]` for a
    /// call, `[= result]` for its result), and returns its answer, or the
    /// error that ended it. For a terminal: control characters in what the
    /// model and tools say (an escape sequence, say) are written escaped,
    /// never as themselves. A write that fails is not tried again; the run
    /// goes on to its end either way.
    ///
    /// ```
    /// use klieo_runtime::Agent;
    /// use klieo_types::testing::{text_chunks, ScriptedLlm};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build()?.block_on(async {
    /// let llm = ScriptedLlm::new().then_chunks(text_chunks(&["Hel", "lo\u{1b}[2J"], None));
    /// let agent = Agent::builder(llm).build()?;
    /// let mut shown = Vec::new();
    /// let answer = agent.stream("Hi").print(&mut shown).await?;
    /// assert_eq!(answer.text, "Hello\u{1b}[2J");
    /// assert_eq!(String::from_utf8(shown)?, "Hello\\u{1b}[2J");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn print(mut self, mut out: impl Write) -> Result<Answer, Error> {
        let mut writing = true;
        let mut write = |text: String| {
            writing = writing
                && out
                    .write_all(text.as_bytes())
                    .and_then(|()| out.flush())
                    .is_ok();
        };
        while let Some(event) = self.next().await {
            match event? {
                RunEvent::Text(delta) => write(shown(&delta)),
                RunEvent::ToolCall(call) => {
                    write(format!(
                        "[{}({})]\n",
                        shown(&call.name),
                        shown(call.arguments())
                    ));
                }
                RunEvent::ToolResult { outcome, .. } => {
                    write(format!("[= {}]\n", shown(&result_text(&outcome))));
                }
                RunEvent::Finished(answer) => return Ok(answer),
                _ => {}
            }
        }
        Err(Error::BadResponse(
            "the run's events ended without its answer".into(),
        ))
    }
}

/// `text` with its control characters (but line ends and tabs) escaped.
fn shown(text: &str) -> String {
    let mut shown = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() && c != '\n' && c != '\t' {
            shown.extend(c.escape_unicode());
        } else {
            shown.push(c);
        }
    }
    shown
}

impl Stream for RunEvents {
    type Item = Result<RunEvent, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        this.started = true;
        loop {
            match &mut this.state {
                State::Starting(starting) => match starting.as_mut().poll(cx) {
                    // A run taken up again settles its open step first: a
                    // child run its call takes up relays events already.
                    Poll::Pending => {
                        let early = this.early.get().and_then(|run| run.progress.next_event());
                        return early.map_or(Poll::Pending, |event| Poll::Ready(Some(Ok(event))));
                    }
                    Poll::Ready(Ok(engine)) => {
                        // The part runs: its engine records a drop now,
                        // and holds its run (and the run's span) alone.
                        this.handing = None;
                        this.early = EarlyRun::default();
                        this.state = State::Running(engine);
                    }
                    Poll::Ready(Err(e)) => {
                        let mut queued = VecDeque::new();
                        let mut next = None;
                        if let Some(run) = this.early.get().cloned() {
                            while let Some(event) = run.progress.next_event() {
                                queued.push_back(event);
                            }
                            next = this.next_part(&run);
                        }
                        this.state = match next {
                            Some(next) => State::Handing(queued, Some(next)),
                            None => State::Failing(queued, Some(e)),
                        };
                        if let (State::Handing(..), Some(run)) = (&this.state, this.early.get()) {
                            let run = Arc::clone(run);
                            this.hand_from(run);
                        }
                        // The run is over here: let go of it (and its span).
                        this.early = EarlyRun::default();
                    }
                },
                State::Failing(queued, error) => {
                    if let Some(event) = queued.pop_front() {
                        return Poll::Ready(Some(Ok(event)));
                    }
                    let error = error.take();
                    this.state = State::Done;
                    if let Some(e) = error {
                        return Poll::Ready(Some(Err(e)));
                    }
                }
                State::Handing(queued, next) => {
                    if let Some(event) = queued.pop_front() {
                        return Poll::Ready(Some(Ok(event)));
                    }
                    let early = EarlyRun::default();
                    this.early = Arc::clone(&early);
                    this.state = match next.take() {
                        Some(next) => State::Starting(next(early)),
                        None => State::Done,
                    };
                }
                State::Running(engine) => {
                    match Pin::new(&mut *engine).poll_next(cx) {
                        Poll::Pending => return Poll::Pending,
                        // A run of events hands out no chunks.
                        Poll::Ready(Some(Ok(Item::Chunk(_)))) => {}
                        Poll::Ready(Some(Ok(Item::Event(event)))) => {
                            return Poll::Ready(Some(Ok(event)))
                        }
                        Poll::Ready(Some(Err(ended))) => {
                            let run = Arc::clone(engine.run_shared());
                            if let Some(next) = this.next_part(&run) {
                                this.state = State::Handing(VecDeque::new(), Some(next));
                                this.hand_from(run);
                                continue;
                            }
                            this.state = State::Done;
                            return Poll::Ready(Some(Err(ended.error)));
                        }
                        Poll::Ready(None) => {
                            let run = engine.run();
                            let summary = run.progress.summary();
                            let answer = Answer {
                                text: run.progress.answer().unwrap_or_default(),
                                summary: match this.carried.take() {
                                    Some(carried) => carried.followed_by(summary),
                                    None => summary,
                                },
                            };
                            this.state = State::Done;
                            return Poll::Ready(Some(Ok(RunEvent::Finished(answer))));
                        }
                    }
                }
                State::Done => return Poll::Ready(None),
            }
        }
    }
}

impl Drop for RunEvents {
    /// A stream dropped with no engine to record it records
    /// `consumer-dropped`, or `cancelled` when the run's token had fired
    /// (see `Run::record_dropped`): between two parts of a team's run, the
    /// part that handed the run on records it until the part handed to
    /// has begun, then that part (which may hold a reservation on its
    /// key, given back with the ending); while a run starts or is
    /// taken up (its approved calls, its children, running), the run
    /// does, unless its start never ran, or its log leaves it stopped (not
    /// started yet, or still waiting for a person: see
    /// `Run::nothing_to_record`). Its lease, held by the start, runs out.
    /// On the current tokio runtime.
    fn drop(&mut self) {
        let run = match &self.state {
            State::Handing(..) => self.handing.take(),
            State::Starting(_) if !self.started => None,
            // The part handed to, once it exists, records: it may hold a
            // reservation on its key, which its ending gives back.
            State::Starting(_) => match self.early.get().cloned() {
                Some(run) => {
                    // What it read when taken up may be stale: look again.
                    run.forget_fence();
                    Some(run)
                }
                None => self.handing.take(),
            },
            // The part handed on (its `HandedOff` is written) and its end
            // was not read yet.
            State::Running(engine)
                if self.onward.is_some() && engine.run().handoff.get().is_some() =>
            {
                Some(Arc::clone(engine.run_shared()))
            }
            _ => None,
        };
        let Some(run) = run else {
            return;
        };
        let recording = Arc::clone(&run);
        run.spawn_dropped(async move {
            recording.record_dropped(Vec::new()).await;
        });
    }
}

impl std::fmt::Debug for RunEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            State::Starting(_) => "starting",
            State::Running { .. } => "running",
            State::Failing(..) => "failing",
            State::Handing(..) => "handing on",
            State::Done => "done",
        };
        f.debug_struct("RunEvents")
            .field("run_id", &self.run_id)
            .field("state", &state)
            .finish()
    }
}
