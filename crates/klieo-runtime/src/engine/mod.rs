//! [`Engine`]: the one step loop. A run's cycles (fit the history, call the
//! model under the retry policy, the guardrails, the journal, the tools)
//! are driven here for blocking and streamed runs alike, by the polls of
//! whoever reads the engine: the consumer of a streamed run, or
//! [`Engine::finish`] for a blocking one.
//!
//! The two modes differ only in how a cycle calls the model
//! ([`Mode`]): a streamed cycle relays the model's chunks as they come; a
//! blocking cycle makes one `complete` call and goes straight to its
//! reply, with nothing relayed. Having nothing to hand out between
//! cycles, a blocking run takes its steps one after another in one
//! future ([`blocking_steps`]), the same work between two cycles
//! ([`after_reply`]) each time.

mod dropped;
mod start;

pub(crate) use start::{start, start_with};

use crate::fact::Fact;
use crate::guardrail::check_post_llm;
use crate::lease::{give_up, Held};
use crate::run::{OpenFailure, Run};
use crate::spend::ran_out;
use crate::step::{finish_step, StepEnd};
use crate::stream::{ChunkPump, PumpEvent};
use crate::streaming::{Ended, Item};
use futures_core::Stream;
use klieo_types::{BudgetLimit, ChatRequest, ChatResponse, Episode, Error, ErrorChain, Message};
use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;
use tracing::{Instrument, Span};

/// How the engine's cycles call the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// One `complete` call a cycle; nothing is relayed.
    Blocking,
    /// The model's chunks are relayed as they arrive.
    Streamed,
}

/// One cycle in flight: its request, span, clock, the stream it relays
/// (none for a blocking call) and the next event (a blocking call's reply).
/// Once its reply is taken (`after_reply`), its box holds it emptied (a
/// default request, no span) until the next cycle is written into it.
struct Cycle {
    step: u32,
    req: ChatRequest,
    /// The budget's limit that lowered the request's `max_tokens` last,
    /// if one did.
    cut: Option<BudgetLimit>,
    span: Span,
    started: Instant,
    pump: Option<ChunkPump>,
    pending: Option<PumpEvent>,
    /// The list a step's messages went to memory in, emptied, kept for
    /// the next step's (memories in this process take the messages out
    /// of it; a journal takes it whole).
    messages: Vec<Message>,
}

/// Opens cycle `step`: its request, its span, and its model call, up to
/// the call's reply (blocking) or its stream's first event. The cycle is
/// written into `reuse`, the box of the cycle before, when there is one.
async fn open_cycle(
    run: &Run,
    step: u32,
    mode: Mode,
    reuse: Option<Box<Cycle>>,
) -> Result<Box<Cycle>, OpenFailure> {
    let (req, cut) = run.request(step).await.map_err(OpenFailure::Init)?;
    let span = run
        .emit(Fact::ModelCallBegan {
            step,
            req: &req,
            // As it goes out (see `Run::streams`).
            streamed: mode == Mode::Streamed && run.streams(&req),
            first: step == run.seat().map_or(1, |seat| seat.since.saturating_add(1)),
        })
        .span();
    run.reserved(step, &span);
    let started = Instant::now();
    let fresh = |messages| Cycle {
        step,
        req,
        cut,
        span,
        started,
        pump: None,
        pending: None,
        messages,
    };
    let mut cycle = match reuse {
        Some(mut cycle) => {
            *cycle = fresh(std::mem::take(&mut cycle.messages));
            cycle
        }
        None => Box::new(fresh(Vec::new())),
    };
    let opened = match mode {
        Mode::Streamed => run
            .open_stream(&cycle.req)
            .instrument(cycle.span.clone())
            .await
            .map(|(pump, first)| (Some(pump), first)),
        Mode::Blocking => run
            .complete(&cycle.req, &cycle.span)
            .await
            .map(|reply| (None, PumpEvent::Finished(reply)))
            .map_err(OpenFailure::Init),
    };
    match opened {
        Ok((pump, first)) => {
            cycle.pump = pump;
            cycle.pending = Some(first);
            Ok(cycle)
        }
        Err(failure) => {
            let (OpenFailure::Init(error) | OpenFailure::InBand(error)) = &failure;
            let _ = run.emit(Fact::ModelCallFailed {
                error,
                span: &cycle.span,
            });
            Err(failure)
        }
    }
}

/// What the work between two cycles led to.
enum Next {
    /// The next cycle, open.
    Cycle(Box<Cycle>),
    /// The model answered this.
    Answered(String),
}

/// Everything between two cycles: guardrails, episodes, memory, tools,
/// and opening the next cycle.
async fn after_reply(
    run: Arc<Run>,
    mut cycle: Box<Cycle>,
    reply: ChatResponse,
    mode: Mode,
) -> Result<Next, Error> {
    // Read where it lies: the cycle is 656 bytes, its request 248.
    let step = cycle.step;
    // The step's list: the reply's episodes, then those of its calls or
    // of its answer.
    let mut episodes = Vec::with_capacity(2 + reply.message.tool_calls.len());
    run.reply_ended(
        step,
        &reply,
        cycle.started.elapsed(),
        &cycle.span,
        &mut episodes,
    );
    // The call's span ends with its reply, before the guardrails look.
    cycle.span = Span::none();
    // A run with no guardrails makes no future to check with.
    let checked = match run.opts.guardrails.is_empty() {
        true => Ok(()),
        false => check_post_llm(&run.opts.guardrails, &cycle.req, &reply, &run.ctx.cancel).await,
    };
    if let Err(e) = checked {
        // The reply is spent and kept, its spend settled against the
        // budgets, as a step whose calls are refused keeps its model
        // call (see `finish_step`); a hand-off within the team writes it
        // with the hand-off.
        let mut step = run.commit().with_episodes(episodes);
        if let Some(handed) = run.handoff_decided(&e) {
            return Err(run.hand_off(Some(step), handed).await);
        }
        if let Err(lost) = run.write(&mut step).await {
            // The refusal is what ends the run; the store's failure is
            // told, not put in its place.
            tracing::warn!(error = %ErrorChain(&lost), "a refused reply's model call was not written");
        }
        return Err(e);
    }
    // A reply cut where a budget lowered its cap ran out of the budget: an
    // answer so cut says so.
    let cut_by = cycle
        .cut
        .and_then(|limit| ran_out(limit, &cycle.req, &reply));
    // The request shares the thread's newest history block; letting it go
    // first lets the append in `finish_step` extend that block in place.
    cycle.req = ChatRequest::default();
    // Made where it is polled: awaited as it was made, the step's future
    // (424 bytes) was moved twice more (see docs/PERFORMANCE.md). The
    // step's messages go to memory in the cycle's list, kept emptied for
    // the next step's (one allocation a step fewer).
    let spare = &mut cycle.messages;
    let ended = pin!(finish_step(&run, step, reply, episodes, cut_by, spare)).await?;
    match ended {
        StepEnd::Answer(text) => Ok(Next::Answered(text)),
        StepEnd::Continue => {
            run.check_next_step(step)?;
            match open_cycle(&run, step + 1, mode, Some(cycle)).await {
                Ok(cycle) => Ok(Next::Cycle(cycle)),
                Err(OpenFailure::Init(e) | OpenFailure::InBand(e)) => Err(e),
            }
        }
    }
}

/// A blocking run's steps from a reply on, up to its answer or the
/// error that ends it: [`after_reply`] again for each cycle's reply, in
/// one future, so a step moves no future between the engine's states
/// (a streamed run, or one whose events are read, goes back to the
/// engine between cycles to hand out what they relay).
async fn blocking_steps(
    run: Arc<Run>,
    mut cycle: Box<Cycle>,
    mut reply: ChatResponse,
) -> Result<Next, Error> {
    loop {
        match after_reply(Arc::clone(&run), cycle, reply, Mode::Blocking).await? {
            Next::Cycle(mut next) => match next.pending.take() {
                Some(PumpEvent::Finished(next_reply)) => {
                    cycle = next;
                    reply = next_reply;
                }
                other => {
                    next.pending = other;
                    return Ok(Next::Cycle(next));
                }
            },
            answered => return Ok(answered),
        }
    }
}

type Work<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl Engine {
    /// The work after `cycle`'s `reply`: the blocking run's steps from it
    /// on (see [`blocking_steps`]), or what comes before the next cycle.
    /// Made apart from the relay (never inlined into it): its future is
    /// large, and a relay's poll, which makes it once a cycle, would carry
    /// its frame for every chunk.
    #[inline(never)]
    fn working(&self, cycle: Box<Cycle>, reply: ChatResponse) -> State {
        let run = Arc::clone(&self.run);
        State::Working(match self.mode {
            Mode::Blocking if !self.events => Box::pin(blocking_steps(run, cycle, reply)),
            mode => Box::pin(after_reply(run, cycle, reply, mode)),
        })
    }
}

enum State {
    Relaying(Box<Cycle>),
    Working(Work<Result<Next, Error>>),
    Failing(Work<Ended>),
    /// The failure is recorded: the events it queued go first, then it.
    Ended(Box<Ended>),
    /// The model answered; the lease is being given up.
    Closing(Work<()>),
    Done,
}

/// Records the failure and gives up the lease, then hands out the ending.
fn failing(run: &Arc<Run>, error: Error, lease: Option<Held>) -> State {
    failing_after(run, Vec::new(), error, lease)
}

/// [`failing`], its ending written in one commit after `before` (the call
/// a stream's failure cut off).
fn failing_after(run: &Arc<Run>, before: Vec<Episode>, error: Error, lease: Option<Held>) -> State {
    let run = Arc::clone(run);
    State::Failing(Box::pin(async move {
        let ended = run.ended_after(before, error).await;
        give_up(lease, Some(&ended.error)).await;
        ended
    }))
}

/// Gives up the lease of a run that answered, then ends the stream.
fn closing(lease: Option<Held>) -> State {
    match lease {
        Some(lease) => State::Closing(Box::pin(lease.release())),
        None => State::Done,
    }
}

/// A run's step loop, driven by polls: it yields the model's chunks (in a
/// streamed run) and the run's queued events, then ends, or yields one
/// [`Ended`] and ends.
pub(crate) struct Engine {
    run: Arc<Run>,
    mode: Mode,
    state: State,
    /// Whether the run queues events (read on every item).
    events: bool,
    /// The run's lease, held (and renewed) until the engine ends.
    lease: Option<Held>,
    /// The answer, once the model gave it.
    answer: Option<String>,
}

impl Engine {
    /// The run, for its summary once the engine has ended.
    pub(crate) fn run(&self) -> &Run {
        &self.run
    }

    /// The run, shared.
    pub(crate) fn run_shared(&self) -> &Arc<Run> {
        &self.run
    }

    /// Drives the run to its end, dropping what it relays: the answer, or
    /// the error that ended it (recorded already).
    pub(crate) async fn finish(mut self) -> Result<String, Error> {
        loop {
            match poll_fn(|cx| Pin::new(&mut self).poll_next(cx)).await {
                Some(Ok(_)) => {}
                Some(Err(ended)) => return Err(ended.error),
                None => return Ok(self.answer.take().unwrap_or_default()),
            }
        }
    }

    /// An event the run queued, unless it queues none.
    fn queued(&self) -> Option<Poll<Option<Result<Item, Ended>>>> {
        if !self.events {
            return None;
        }
        let event = self.run.progress.next_event()?;
        Some(Poll::Ready(Some(Ok(Item::Event(event)))))
    }
}

impl Stream for Engine {
    type Item = Result<Item, Ended>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let _entered = this.run.span.enter();
        loop {
            if let Some(event) = this.queued() {
                return event;
            }
            match std::mem::replace(&mut this.state, State::Done) {
                State::Relaying(mut cycle) => {
                    let event = match (cycle.pending.take(), &mut cycle.pump) {
                        (Some(event), Some(pump)) => pump.unless_cancelled(event),
                        (Some(event), None) => event,
                        (None, Some(pump)) => match pump.poll_event(cx) {
                            Poll::Ready(event) => event,
                            Poll::Pending => {
                                this.state = State::Relaying(cycle);
                                return Poll::Pending;
                            }
                        },
                        (None, None) => PumpEvent::Failed(Error::BadResponse(
                            "a blocking cycle's reply was taken twice".into(),
                        )),
                    };
                    match event {
                        PumpEvent::Chunk(chunk) => {
                            this.state = State::Relaying(cycle);
                            // A consumer of chunks gets it as it is; one of
                            // events, the events it makes, from the queue.
                            if !this.events {
                                return Poll::Ready(Some(Ok(Item::Chunk(chunk))));
                            }
                            this.run.progress.queue_chunk(chunk);
                        }
                        PumpEvent::Finished(reply) => this.state = this.working(cycle, reply),
                        PumpEvent::Failed(error) => {
                            if let Error::Llm(failed) = &error {
                                // The stream's own failure: the attempt
                                // the call ended with, on its span.
                                let _in_call = cycle.span.enter();
                                let _ = this.run.emit(Fact::AttemptFailed {
                                    error: failed,
                                    retried: false,
                                });
                            }
                            // What the stream brought was paid for.
                            let cut = dropped::cut_off(&this.run, &cycle);
                            let _ = this.run.emit(Fact::ModelCallFailed {
                                error: &error,
                                span: &cycle.span,
                            });
                            this.state = failing_after(&this.run, cut, error, this.lease.take());
                        }
                    }
                }
                State::Working(mut work) => match work.as_mut().poll(cx) {
                    Poll::Pending => {
                        this.state = State::Working(work);
                        // Tool results arrive while the next cycle opens.
                        return this.queued().unwrap_or(Poll::Pending);
                    }
                    Poll::Ready(Ok(Next::Cycle(cycle))) => this.state = State::Relaying(cycle),
                    Poll::Ready(Ok(Next::Answered(text))) => {
                        this.answer = Some(text);
                        this.state = closing(this.lease.take());
                    }
                    Poll::Ready(Err(e)) => this.state = failing(&this.run, e, this.lease.take()),
                },
                State::Failing(mut work) => match work.as_mut().poll(cx) {
                    Poll::Pending => {
                        this.state = State::Failing(work);
                        return Poll::Pending;
                    }
                    Poll::Ready(item) => this.state = State::Ended(Box::new(item)),
                },
                State::Ended(item) => return Poll::Ready(Some(Err(*item))),
                State::Closing(mut work) => match work.as_mut().poll(cx) {
                    Poll::Pending => {
                        this.state = State::Closing(work);
                        return Poll::Pending;
                    }
                    Poll::Ready(()) => this.state = State::Done,
                },
                State::Done => return Poll::Ready(None),
            }
        }
    }
}
