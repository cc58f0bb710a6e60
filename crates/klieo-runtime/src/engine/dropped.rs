//! A streamed run's engine dropped before its end: its consumer went
//! away, and what the run was doing is finished or recorded as dropped.

use super::{after_reply, Cycle, Engine, Mode, State, Work};
use crate::fact::Fact;
use crate::lease::{give_up, Held};
use crate::run::Run;
use klieo_types::{Episode, FinishReason};
use std::sync::Arc;

impl Drop for Engine {
    /// A streamed run dropped before its end is a consumer that went away:
    /// the run stops (its pending work is dropped with it) and the event
    /// log records `consumer-dropped`, on the current tokio runtime, or
    /// `cancelled` when the run's token had fired (as the run would have
    /// ended had it been read on). A consumer that stops after the
    /// answer's finish chunk (not having cancelled) has the answer kept and
    /// the run completed (usage that would have followed stays unknown),
    /// unless a typed run's answer does not fit its shape (a repair would
    /// ask the model again, for nobody); one gone while the answer was
    /// being written leaves the run completed if that write got in, and
    /// nothing is written after it. The lease is given up once that is
    /// recorded.
    ///
    /// A blocking run dropped before its end is a process that stopped:
    /// nothing is recorded, and the lease runs out (its renewals stop), so
    /// the run is resumed as a crashed one is. Its span, which is exported
    /// all the same, says it was dropped (`error.type = "dropped"`), so no
    /// trace shows it as a success; one dropped while it gave its lease up
    /// had its answer written, and ended well.
    fn drop(&mut self) {
        if self.mode == Mode::Blocking {
            // A run closing has its answer written: it gives its lease up.
            if !matches!(
                self.state,
                State::Done | State::Ended(_) | State::Closing(_)
            ) {
                self.run.tell(&Fact::Dropped);
            }
            return;
        }
        let lease = self.lease.take();
        let work: Work<()> = match std::mem::replace(&mut self.state, State::Done) {
            State::Done | State::Ended(_) => return,
            State::Failing(record) => Box::pin(async move {
                record.await;
            }),
            State::Closing(release) => release,
            // A run cancelled before its consumer went away ends
            // cancelled, as reading on would have told (the pump looks at
            // the token before the stream's end).
            State::Relaying(cycle) if answered(&cycle) && !self.run.ctx.cancel.is_cancelled() => {
                // The consumer stopped reading after the answer's finish
                // chunk: the run is complete, so finish its step, unless
                // it is a typed answer that does not fit, which would ask
                // the model again with nobody reading.
                let run = Arc::clone(&self.run);
                Box::pin(async move {
                    let reply =
                        (cycle.pump.as_ref()).map(|p| p.reply().snapshot(FinishReason::Stop));
                    match reply {
                        Some(reply) if run.fits(&reply.message.content) => {
                            let answered =
                                after_reply(Arc::clone(&run), cycle, reply, Mode::Streamed);
                            if let Err(e) = answered.await {
                                let ended = run.ended_by(e).await;
                                return give_up(lease, Some(&ended.error)).await;
                            }
                        }
                        _ => {
                            let cut = cut_off(&run, &cycle);
                            return record_drop(&run, lease, cut).await;
                        }
                    }
                    give_up(lease, None).await;
                })
            }
            State::Relaying(cycle) => {
                let run = Arc::clone(&self.run);
                Box::pin(async move {
                    let cut = cut_off(&run, &cycle);
                    record_drop(&run, lease, cut).await;
                })
            }
            State::Working(_) => {
                let run = Arc::clone(&self.run);
                Box::pin(async move { record_drop(&run, lease, Vec::new()).await })
            }
        };
        self.run.spawn_dropped(work);
    }
}

/// Records how a streamed run dropped before its end ended (see
/// `Run::record_dropped`: `cancelled` when its token had fired,
/// `consumer-dropped` otherwise), and gives up its lease.
async fn record_drop(run: &Run, lease: Option<Held>, cut: Vec<Episode>) {
    let ended = run.record_dropped(cut).await;
    give_up(lease, ended.as_ref()).await;
}

/// The journal's view of the model call `cycle` was relaying when its
/// consumer went away or its stream failed: what came of its reply,
/// finished `interrupted` unless its finish reason had come (its spend
/// estimated unless its usage had, settled against the budgets and the
/// key's reservation), so that a call the provider was paying for is
/// counted. Nothing for a blocking cycle, nor for a call whose stream
/// brought no chunk (whose failure, say, was waiting to be handed out:
/// it was not paid for as an answer; a cycle's pending event is the
/// first of its stream).
pub(super) fn cut_off(run: &Run, cycle: &Cycle) -> Vec<Episode> {
    let Some(pump) = &cycle.pump else {
        return Vec::new();
    };
    if !pump.reply().received() {
        return Vec::new();
    }
    let partial = pump.reply().snapshot(FinishReason::Interrupted);
    let mut episodes = Vec::new();
    let latency = cycle.started.elapsed();
    run.reply_ended(cycle.step, &partial, latency, &cycle.span, &mut episodes);
    episodes
}

/// Whether the cycle's reply is a whole answer, as `finish_step` takes
/// it: a `stop` finish reason with no tool asked for, or a `length` one
/// (whose calls, cut off, do not run).
fn answered(cycle: &Cycle) -> bool {
    let Some(pump) = &cycle.pump else {
        return false;
    };
    let reply = pump.reply();
    cycle.pending.is_none()
        && match reply.finish_reason() {
            Some(FinishReason::Stop) => !reply.has_tool_calls(),
            Some(FinishReason::Length) => true,
            _ => false,
        }
}
