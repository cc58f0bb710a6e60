//! Tool dispatch: the calls of one step run concurrently up to a bound;
//! their results reach memory in the model's order, and the event log as
//! soon as they are in.

mod bound;
mod prepared;

use prepared::Prepared;
pub(crate) use prepared::PreparedCalls;

pub(crate) use bound::bounded;
mod call;
mod results;

pub(crate) use results::result_text;

use crate::fact::{Fact, ToolCallEnd};
use crate::run::Run;
use crate::team::handoff::HandedOff;
use crate::team::tree::{end_waiting, wake_if_decided};
use call::{run_one, Ran};
use klieo_types::{Commit, Episode, Error, MemoryError, Message, RunId, ToolCall};
use results::EarlyResults;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::Poll;
use tracing::{Instrument, Span};

/// The message a call that was never started gets, so the thread keeps a
/// result for every call the model made (providers reject it otherwise).
const NOT_RUN: &str = "error: not run, because another tool call of this step failed";

type CallFuture<'a> = Pin<Box<dyn Future<Output = Ended> + Send + 'a>>;

/// A call that ended, its end emitted: what the model reads of it, the
/// journal's episode of it, and what it ends.
struct Ended {
    text: String,
    episode: Option<Episode>,
    fatal: Option<Error>,
}

/// Runs one call, its start emitted (`span` the one that opened), and
/// emits its end.
fn call_and_end<'a>(
    run: &'a Run,
    step: u32,
    index: usize,
    call: &'a ToolCall,
    prepared: Prepared,
    span: Span,
) -> impl Future<Output = Ended> + Send + 'a {
    let within = span.clone();
    async move {
        let ran = run_one(run, step, call, prepared).await;
        end_of(run, step, index, call, ran, &within)
    }
    .instrument(span)
}

/// Call `index`'s end, `ran`, emitted on `span`.
fn end_of(run: &Run, step: u32, index: usize, call: &ToolCall, ran: Ran, span: &Span) -> Ended {
    if ran.waits() {
        // It has not ended: no result is kept, and it runs again when
        // the run goes on.
        return Ended {
            text: ran.text,
            episode: None,
            fatal: ran.fatal,
        };
    }
    let ended = run.emit(Fact::ToolCallEnded(ToolCallEnd {
        step,
        index,
        call,
        args: ran.args,
        outcome: ran.outcome,
        error_kind: ran.error_kind,
        latency_ms: ran.latency_ms,
        span: Some(span),
    }));
    Ended {
        text: ran.text,
        episode: ended.episode,
        fatal: ran.fatal,
    }
}

/// Runs the calls (any number but one), at most `limit` at once, starting none
/// after a result that ends the step for good (one that waits for a person
/// stops no other); returns each started call's end at its index. A
/// call that ends while others still run has its episode written at once
/// by `early`.
async fn run_bounded<'a>(
    run: &'a Run,
    step: u32,
    calls: &'a [ToolCall],
    args: PreparedCalls,
    limit: usize,
    early: &mut EarlyResults<'a>,
) -> Vec<Option<Ended>> {
    // In a team, the first hand-off call of the step is the one that
    // takes effect; any other is told it did not, and not run.
    let asked = run.handoff_asked_at(calls);
    let start = |index: usize, call: &'a ToolCall, prepared: Prepared| -> CallFuture<'a> {
        let span = run.emit(Fact::ToolCallBegan { call }).span();
        match run.handoff_passed_over(calls, index, asked.as_ref()) {
            Some(told) => {
                let ran = call::told(run, call, prepared, told);
                let _in_call = span.enter();
                let end = end_of(run, step, index, call, ran, &span);
                Box::pin(std::future::ready(end))
            }
            None => Box::pin(call_and_end(run, step, index, call, prepared, span)),
        }
    };
    let mut args = args.into_iter();
    let mut ended: Vec<Option<Ended>> = calls.iter().map(|_| None).collect();
    let mut running: Vec<(usize, CallFuture<'a>)> = Vec::with_capacity(limit.min(calls.len()));
    let mut next = 0;
    let mut stop = false;
    poll_fn(|cx| loop {
        while !stop && running.len() < limit {
            let Some(call) = calls.get(next) else { break };
            let prepared = args
                .next()
                .unwrap_or_else(|| Prepared::of(call, run.ctx.tools.as_ref()));
            running.push((next, start(next, call, prepared)));
            next += 1;
        }
        let mut progressed = false;
        let mut i = 0;
        while i < running.len() {
            if let Poll::Ready(end) = running[i].1.as_mut().poll(cx) {
                let (index, _) = running.swap_remove(i);
                // A call that waits for a person stops no other: they run,
                // as they would have beside it, and are not left to a
                // resume that could not tell they never started.
                stop |= end.fatal.as_ref().is_some_and(|e| !e.waits_for_person());
                if let Some(slot) = ended.get_mut(index) {
                    if let (true, Some(episode)) = (early.enabled(), &end.episode) {
                        early.push(index, episode.clone());
                    }
                    *slot = Some(end);
                }
                progressed = true;
            } else {
                i += 1;
            }
        }
        if running.is_empty() && (stop || next >= calls.len()) {
            // The last results go in the step's commit; a write in flight
            // finishes first.
            early.leave_queued();
            return early.poll(cx);
        }
        // Running calls keep their wakers; a write's own wakes this too.
        let _ = early.poll(cx);
        stop |= early.failed.is_some();
        if !progressed {
            return Poll::Pending;
        }
    })
    .await;
    ended
}

/// What a step's tool calls end: their messages and episodes are pushed
/// onto the caller's (see [`dispatch_tools`]).
pub(crate) struct Dispatched {
    /// What ends the run: cancellation while a call ran, else the first
    /// error, in call order, that the model is not told (one that ends
    /// the step for good before one that waits for a person), else a
    /// failed write of an early result.
    pub(crate) fatal: Option<Error>,
    /// The calls, in call order, that wait with another run for a person
    /// (`ToolError::Waiting`), by their index, and those runs. Unless
    /// another call ended the step for good, the step stays open with the
    /// first, its messages unwritten, and the calls run again when the
    /// run goes on; otherwise the runs they wait with are ended with it.
    pub(crate) waiting: Vec<(usize, RunId)>,
}

impl Dispatched {
    /// When a call of `calls` (those dispatched) waits with another run
    /// for a person: records `episodes` (taken: what came before the
    /// calls and the results that are in) with the wait, leaving the step
    /// open (its messages unwritten: the call runs again when the run
    /// goes on), and returns the error the run stops with. `None` when no
    /// call waits.
    pub(crate) async fn stop_if_waiting(
        &mut self,
        run: &Run,
        step: u32,
        calls: &[ToolCall],
        episodes: &mut Vec<Episode>,
    ) -> Option<Error> {
        let &(index, with) = self.waiting.first()?;
        // A call that ended the step otherwise (cancelled, failed for
        // good) comes first: the step is written whole, the run ends.
        if !self.fatal.as_ref().is_some_and(Error::waits_for_person) {
            return None;
        }
        let stopped = self.fatal.take()?;
        let waits = calls.get(index).map(|call| {
            run.emit(Fact::WaitingOnChild {
                step,
                call,
                child: with,
            })
        });
        let mut episodes = std::mem::take(episodes);
        episodes.extend(waits.and_then(|w| w.episode));
        if let Err(e) = run.record_all(episodes).await {
            return Some(e);
        }
        // A person who decided while the step's other calls ran, before
        // this wait was written, found nobody waiting to wake.
        if let Some(journal) = run.journal() {
            if let Err(e) = wake_if_decided(journal.as_ref(), run.ctx.run_id).await {
                tracing::warn!(
                    run_id = %run.ctx.run_id,
                    error = %e,
                    "the run waits with a child run, which was not checked for a decision \
                     made meanwhile: `klieo resume` wakes it if one was"
                );
            }
        }
        Some(stopped)
    }

    /// Writes the step's `commit` and returns what ends the agent's part
    /// (see `Run::write_tool_step`), whatever the step; `finish_step`
    /// writes a step that neither waits nor hands off itself, by the same
    /// rule. A step that ends for good while its
    /// calls wait with other runs for a person (a call failed for good,
    /// or the run was cancelled) ends those runs once it is written, or
    /// once the store refuses it as cancelled (see
    /// `team::tree::end_waiting`): no person is asked about a call whose
    /// result nobody will read. A step that is not written (another
    /// process took the run over, the store failed) leaves them as they
    /// are, for the run that goes on. A store that fails to end one is
    /// logged: the step's own end is what the run reports.
    pub(crate) async fn write_step(
        self,
        run: &Run,
        mut commit: Commit,
        handoff: Option<HandedOff>,
    ) -> Result<(), Error> {
        let fatal = match self.fatal {
            Some(fatal) if !self.waiting.is_empty() => fatal,
            fatal => return run.write_tool_step(commit, handoff, fatal).await,
        };
        let written = run.write(&mut commit).await;
        let ended = match &written {
            Ok(()) => !matches!(fatal, Error::Memory(_)),
            Err(e) => matches!(e, Error::Memory(MemoryError::Cancelled { .. })),
        };
        if let (true, Some(journal)) = (ended, run.journal()) {
            for &(_, waiting) in &self.waiting {
                let ending = end_waiting(journal.as_ref(), run.ctx.run_id, waiting);
                if let Err(e) = ending.await {
                    tracing::warn!(
                        run_id = %run.ctx.run_id,
                        waiting = %waiting,
                        error = %e,
                        "the run ended, but a run that waits with one of its calls was not ended"
                    );
                }
            }
        }
        written?;
        Err(fatal)
    }

    /// Takes call `index`'s end (`None`: never started) into `messages`
    /// and, unless written early, `episodes`.
    fn take(
        &mut self,
        index: usize,
        call: &ToolCall,
        end: Option<Ended>,
        early: &EarlyResults<'_>,
        messages: &mut Vec<Message>,
        episodes: &mut Vec<Episode>,
    ) {
        let Some(end) = end else {
            messages.push(Message::tool_result(call.id.clone(), NOT_RUN));
            return;
        };
        if let Some(Error::Suspended { ticket, .. } | Error::InDoubt { ticket, .. }) = &end.fatal {
            self.waiting.push((index, ticket.run));
        }
        messages.push(Message::tool_result(call.id.clone(), end.text));
        if !early.written(index) {
            episodes.extend(end.episode);
        }
        match end.fatal {
            Some(Error::Cancelled) => self.fatal = Some(Error::Cancelled),
            // A call that ends the step for good comes before one that
            // waits, whatever their order.
            Some(e)
                if self
                    .fatal
                    .as_ref()
                    .is_none_or(|f| f.waits_for_person() && !e.waits_for_person()) =>
            {
                self.fatal = Some(e);
            }
            Some(_) | None => {}
        }
    }
}

/// Runs the tool calls of cycle `step` and pushes their results onto
/// `messages` and their episodes onto `episodes`, in the model's order,
/// for the caller to write with the step. A result in while other calls
/// still run is written to the log at once (keeping the step pending), so
/// a crash loses no result that was in; the others are left to the
/// caller. When a call fails for good, every call already started still
/// has its result; the caller then ends the run with the first such error
/// in call order.
pub(crate) async fn dispatch_tools(
    run: &Run,
    step: u32,
    calls: &[ToolCall],
    args: PreparedCalls,
    messages: &mut Vec<Message>,
    episodes: &mut Vec<Episode>,
) -> Dispatched {
    let mut early = EarlyResults::new(run, calls.len());
    let mut dispatched = Dispatched {
        fatal: None,
        waiting: Vec::new(),
    };
    if let [call] = calls {
        // One call needs no boxed future to race with others, nor a list
        // of ends.
        let prepared = args
            .into_iter()
            .next()
            .unwrap_or_else(|| Prepared::of(call, run.ctx.tools.as_ref()));
        let span = run.emit(Fact::ToolCallBegan { call }).span();
        let end = call_and_end(run, step, 0, call, prepared, span).await;
        dispatched.take(0, call, Some(end), &early, messages, episodes);
    } else {
        let limit = run.opts.tool_concurrency;
        let ended = run_bounded(run, step, calls, args, limit, &mut early).await;
        for (index, (call, end)) in calls.iter().zip(ended).enumerate() {
            dispatched.take(index, call, end, &early, messages, episodes);
        }
    }
    if let Some(e) = early.failed.take() {
        dispatched.fatal.get_or_insert(e);
    }
    dispatched
}
