//! [`run_steps_streaming`]: the streaming step loop, driven by the
//! consumer's own polls.

use crate::context::AgentContext;
use crate::guardrail::check_post_llm;
use crate::lease::{self, Held};
use crate::options::RunOptions;
use crate::run::{Extras, OpenFailure, Run};
use crate::step::{finish_step, StepEnd};
use crate::stream::{ChunkPump, PumpEvent, CONSUMER_DROPPED};
use crate::summary::RunEvent;
use crate::telemetry::{self, record_reply};
use futures_core::Stream;
use klieo_types::{
    ChatChunk, ChatRequest, ChatResponse, ChunkStream, Episode, Error, FinishReason, LlmError,
    Message, ThreadId,
};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;
use tracing::{Instrument, Span};

/// Runs the agent like [`run_steps`](crate::run_steps), handing out the
/// model's chunks as they arrive, across every cycle of the run (after a
/// round of tool calls, the next cycle's chunks follow on the same stream).
///
/// # Terminal-error contract
///
/// On any ending other than an answer, the stream yields exactly one last
/// `Err` item, then ends:
///
/// - cancellation through `ctx.cancel` → `LlmError::Cancelled`;
/// - the consumer dropped the stream → nobody is left to see an item; the
///   run stops and records `Episode::Failed { error: "consumer-dropped" }`;
/// - `max_steps` reached → `LlmError::Server` with message
///   `"max steps exceeded: N"`;
/// - a tool failed for good → `LlmError::Server` with message `"tool: …"`;
/// - a provider error mid-stream → that `LlmError`, its variant kept;
/// - a reply over `max_response_bytes` → `LlmError::Server` with message
///   `"response exceeded max_response_bytes cap"`;
/// - a guardrail refusal or hand-off → `LlmError::Server` with message
///   `"refused: …"` / `"handoff to AGENT: …"`.
///
/// Those `Server` items are the run's own endings, not the provider's:
/// each carries the run's typed [`Error`] in its `cause` field (also its
/// `source()`, and [`LlmError::cause`]), and is exactly as retryable as
/// that cause, so a tool failure or max steps is never `retryable()`.
/// [`Agent::stream`](crate::Agent::stream) hands out the typed `Error`
/// itself.
///
/// An error while opening the first cycle's stream that retrying cannot
/// fix (`Unauthorized`, say) is returned by this function itself, so
/// `let stream = run_steps_streaming(..).await?;` sees it; in later cycles
/// it arrives as the terminal item. A retryable provider error before the
/// first chunk of a cycle reached the consumer is retried like an init
/// error, under `opts.retry`; after that it is forwarded, never replayed.
///
/// # Episodes
///
/// As in the blocking loop: `Started`, one `LlmCall` per cycle (with the
/// provider's token usage when it reported any, `null` when not), one
/// `ToolCall` per tool call, `Completed`; a failed run records `Failed`
/// with the texts of [`terminal_for`](crate::terminal_for): `cancelled`,
/// `consumer-dropped`, `max steps exceeded: N`, and so on. Every episode of
/// the run is recorded before the stream yields its last item.
///
/// # Back-pressure and cost
///
/// The loop runs inside the returned stream, in the consumer's task: no
/// task is spawned and no channel sits between provider and consumer. The
/// provider's stream is polled only when the consumer asks for the next
/// item, so a slow consumer slows the provider down; cancellation is
/// raced against a provider that is waiting.
///
/// ```
/// use klieo_runtime::{run_steps_streaming, AgentContext, RunOptions};
/// use klieo_types::testing::{text_chunks, ScriptedLlm};
/// use klieo_types::{Message, ThreadId};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build()?.block_on(async {
/// let llm = ScriptedLlm::new().then_chunks(text_chunks(&["Hel", "lo"], None));
/// let ctx = AgentContext::new(llm);
/// let thread = ThreadId::new("t");
/// ctx.short_term.append(&thread, vec![Message::user("Hi")]).await?;
///
/// let mut stream = run_steps_streaming(&ctx, "", thread, RunOptions::default()).await?;
/// let mut text = String::new();
/// // With `use klieo::prelude::*` (which has `StreamExt`): `stream.next().await`.
/// while let Some(chunk) = std::future::poll_fn(|cx| stream.as_mut().poll_next(cx)).await {
///     text.push_str(&chunk?.delta);
/// }
/// assert_eq!(text, "Hello");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub async fn run_steps_streaming(
    ctx: &AgentContext,
    system_prompt: &str,
    thread: ThreadId,
    opts: RunOptions,
) -> Result<ChunkStream, Error> {
    let run = Run::new(ctx.clone(), system_prompt, thread, opts, Extras::default())?;
    Ok(Box::pin(Chunks(start(Arc::new(run), None).await?)))
}

/// What the run's stream hands out: the model's chunks and, when the run
/// queues them, its other events.
pub(crate) enum Item {
    Chunk(ChatChunk),
    Event(RunEvent),
}

/// How a streamed run ended without an answer: the run's own error, and
/// the terminal item of the chunk-stream contract (both recorded as
/// `Failed` before they are handed out).
pub(crate) struct Ended {
    pub(crate) error: Error,
    pub(crate) item: LlmError,
}

/// The chunk stream of [`run_steps_streaming`]: the chunks, and the
/// terminal item of the contract.
struct Chunks(RunStream);

impl Stream for Chunks {
    type Item = Result<ChatChunk, LlmError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let inner = &mut self.get_mut().0;
        loop {
            return match Pin::new(&mut *inner).poll_next(cx) {
                Poll::Ready(Some(Ok(Item::Chunk(chunk)))) => Poll::Ready(Some(Ok(chunk))),
                Poll::Ready(Some(Ok(Item::Event(_)))) => continue,
                Poll::Ready(Some(Err(ended))) => Poll::Ready(Some(Err(ended.item))),
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            };
        }
    }
}

/// Takes the run's lease, records `Started` (with `prompt`, appended to
/// the thread in the same commit), opens the first cycle and returns the
/// run's stream, which holds the lease until it ends; an error that
/// retrying cannot fix before the first chunk is returned here (and
/// recorded as `Failed`).
pub(crate) async fn start(run: Arc<Run>, prompt: Option<Message>) -> Result<RunStream, Error> {
    let span = run.span.clone();
    let lease = lease::hold(&run).instrument(span.clone()).await?;
    let first = async {
        let started = Episode::Started {
            agent: run.ctx.agent_name.to_string(),
        };
        run.fence_new();
        run.write(
            run.commit()
                .with_messages(prompt.into_iter().collect())
                .with_episodes(vec![started]),
        )
        .await?;
        run.check_next_step(0)?;
        Ok::<_, Error>(open_cycle(&run, 1).await)
    }
    .instrument(span)
    .await;
    let mut lease = lease;
    let state = match first {
        Ok(Ok(cycle)) => State::Relaying(cycle),
        Ok(Err(OpenFailure::InBand(e))) => failing(&run, e, lease.take()),
        Err(e) | Ok(Err(OpenFailure::Init(e))) => {
            run.record_failure(&e).await;
            give_up(lease).await;
            return Err(e);
        }
    };
    let events = run.progress.queues_events();
    Ok(RunStream {
        run,
        state,
        events,
        lease,
    })
}

async fn give_up(lease: Option<Held>) {
    if let Some(lease) = lease {
        lease.release().await;
    }
}

/// One cycle in flight: its request, span, clock and pump.
struct Cycle {
    step: u32,
    req: ChatRequest,
    span: Span,
    started: Instant,
    pump: ChunkPump,
    pending: Option<PumpEvent>,
}

async fn open_cycle(run: &Run, step: u32) -> Result<Box<Cycle>, OpenFailure> {
    let req = run.request(step).await.map_err(OpenFailure::Init)?;
    let span = run.chat_span(&req, step, true);
    let started = Instant::now();
    let (pump, first) = match run.open_stream(&req).instrument(span.clone()).await {
        Ok(opened) => opened,
        Err(failure) => {
            let (OpenFailure::Init(e) | OpenFailure::InBand(e)) = &failure;
            telemetry::record_error(&span, e, run.captures_content());
            return Err(failure);
        }
    };
    Ok(Box::new(Cycle {
        step,
        req,
        span,
        started,
        pump,
        pending: Some(first),
    }))
}

/// Everything between two cycles: guardrails, episodes, memory, tools,
/// and opening the next stream. `None` means the model answered.
async fn after_reply(
    run: Arc<Run>,
    cycle: Box<Cycle>,
    reply: ChatResponse,
) -> Result<Option<Box<Cycle>>, Error> {
    let Cycle {
        step,
        req,
        span,
        started,
        ..
    } = *cycle;
    record_reply(&run.span, &span, &reply, run.captures_content());
    drop(span);
    check_post_llm(&run.opts.guardrails, &req, &reply).await?;
    // The request shares the thread's newest history block; letting it go
    // first lets the append in `finish_step` extend that block in place.
    drop(req);
    match finish_step(&run, step, reply, started.elapsed()).await? {
        StepEnd::Answer(_) => Ok(None),
        StepEnd::Continue => {
            run.check_next_step(step)?;
            match open_cycle(&run, step + 1).await {
                Ok(cycle) => Ok(Some(cycle)),
                Err(OpenFailure::Init(e) | OpenFailure::InBand(e)) => Err(e),
            }
        }
    }
}

type Work<T> = Pin<Box<dyn Future<Output = T> + Send>>;

enum State {
    Relaying(Box<Cycle>),
    Working(Work<Result<Option<Box<Cycle>>, Error>>),
    Failing(Work<Ended>),
    /// The model answered; the lease is being given up.
    Closing(Work<()>),
    Done,
}

/// Records the failure and gives up the lease, then hands out the ending.
fn failing(run: &Arc<Run>, error: Error, lease: Option<Held>) -> State {
    let run = Arc::clone(run);
    State::Failing(Box::pin(async move {
        let item = run.record_failure(&error).await;
        give_up(lease).await;
        Ended { error, item }
    }))
}

/// Gives up the lease of a run that answered, then ends the stream.
fn closing(lease: Option<Held>) -> State {
    match lease {
        Some(lease) => State::Closing(Box::pin(lease.release())),
        None => State::Done,
    }
}

/// A streamed run: the step loop, driven by the consumer's polls.
pub(crate) struct RunStream {
    run: Arc<Run>,
    state: State,
    /// Whether the run queues events (checked before each item).
    events: bool,
    /// The run's lease, held (and renewed) until the stream ends.
    lease: Option<Held>,
}

impl RunStream {
    /// The run, for its summary once the stream has ended.
    pub(crate) fn run(&self) -> &Run {
        &self.run
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

impl Stream for RunStream {
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
                    let event = match cycle.pending.take() {
                        Some(event) => event,
                        None => match cycle.pump.poll_event(cx) {
                            Poll::Ready(event) => event,
                            Poll::Pending => {
                                this.state = State::Relaying(cycle);
                                return Poll::Pending;
                            }
                        },
                    };
                    match event {
                        PumpEvent::Chunk(chunk) => {
                            this.state = State::Relaying(cycle);
                            return Poll::Ready(Some(Ok(Item::Chunk(chunk))));
                        }
                        PumpEvent::Finished(reply) => {
                            let run = Arc::clone(&this.run);
                            this.state = State::Working(Box::pin(after_reply(run, cycle, reply)));
                        }
                        PumpEvent::Failed(e) => {
                            telemetry::record_error(&cycle.span, &e, this.run.captures_content());
                            this.state = failing(&this.run, e, this.lease.take());
                        }
                    }
                }
                State::Working(mut work) => match work.as_mut().poll(cx) {
                    Poll::Pending => {
                        this.state = State::Working(work);
                        // Tool results arrive while the next cycle opens.
                        return this.queued().unwrap_or(Poll::Pending);
                    }
                    Poll::Ready(Ok(Some(cycle))) => this.state = State::Relaying(cycle),
                    Poll::Ready(Ok(None)) => this.state = closing(this.lease.take()),
                    Poll::Ready(Err(e)) => this.state = failing(&this.run, e, this.lease.take()),
                },
                State::Failing(mut work) => match work.as_mut().poll(cx) {
                    Poll::Pending => {
                        this.state = State::Failing(work);
                        return Poll::Pending;
                    }
                    Poll::Ready(item) => return Poll::Ready(Some(Err(item))),
                },
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

/// Whether the cycle's reply is a whole answer: a `stop` or `length`
/// finish reason has arrived and the model asked for no tool.
fn answered(cycle: &Cycle) -> bool {
    let reply = cycle.pump.reply();
    cycle.pending.is_none()
        && matches!(
            reply.finish_reason(),
            Some(FinishReason::Stop | FinishReason::Length)
        )
        && !reply.has_tool_calls()
}

impl Drop for RunStream {
    /// A stream dropped before its end is a consumer that went away: the
    /// run stops (its pending work is dropped with it) and the event log
    /// records `consumer-dropped`, on the current tokio runtime. A consumer
    /// that stops after the answer's finish chunk has the answer kept and
    /// the run completed (usage that would have followed stays unknown).
    /// The lease is given up once that is recorded.
    fn drop(&mut self) {
        let lease = self.lease.take();
        let work: Work<()> = match std::mem::replace(&mut self.state, State::Done) {
            State::Done => return,
            State::Failing(record) => Box::pin(async move {
                record.await;
            }),
            State::Closing(release) => release,
            State::Relaying(cycle) if answered(&cycle) => {
                // The consumer stopped reading after the answer's finish
                // chunk: the run is complete, so finish its step.
                let run = Arc::clone(&self.run);
                Box::pin(async move {
                    let reply = cycle.pump.reply().snapshot(FinishReason::Stop);
                    if let Err(e) = after_reply(Arc::clone(&run), cycle, reply).await {
                        run.record_failure(&e).await;
                    }
                    give_up(lease).await;
                })
            }
            State::Relaying(_) | State::Working(_) => {
                let run = Arc::clone(&self.run);
                Box::pin(async move {
                    let _ = run
                        .record(Episode::Failed {
                            error: CONSUMER_DROPPED.to_owned(),
                        })
                        .await;
                    give_up(lease).await;
                })
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(work);
            }
            Err(_) => tracing::warn!(
                run_id = self.run.run_id(),
                "streamed run dropped outside a tokio runtime; its end is not recorded"
            ),
        }
    }
}
