//! A worker's drain on shutdown: waits up to the deadline for its runs
//! (and for a claim cut short, whose runs it gives up), then stops what
//! is left and gives up its leases, waiting for the store at most one
//! lease TTL.

use super::{ended, Runs, Worker, WorkerReport};
use klieo_types::{Claimed, RunId, RunState};
use std::future::Future;
use std::pin::Pin;
use tokio::task::JoinSet;

/// A claim in flight.
pub(super) type Claiming<'a> = Pin<Box<dyn Future<Output = Vec<Claimed>> + Send + 'a>>;

impl Worker {
    /// Waits up to the drain deadline for `running`, and for `late` (a
    /// claim shutdown cut short, whose runs it gives up at once), then
    /// stops what is left and gives up its leases.
    pub(super) async fn drain(
        &self,
        mut running: JoinSet<bool>,
        mut runs: Runs,
        mut report: WorkerReport,
        mut late: Option<Claiming<'_>>,
    ) -> WorkerReport {
        let deadline = tokio::time::sleep(self.options.drain_deadline());
        tokio::pin!(deadline);
        while !running.is_empty() || late.is_some() {
            let claiming = async {
                match late.as_mut() {
                    Some(claim) => claim.await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                done = running.join_next_with_id(), if !running.is_empty() => {
                    if let Some(done) = done {
                        ended(&mut runs, &mut report, done);
                    }
                }
                claimed = claiming => {
                    late = None;
                    // Bounded: a store that answered the claim may hang
                    // now; the leases it gave run out.
                    let giving_up = self.give_up(claimed, &runs);
                    let _ = tokio::time::timeout(self.options.lease_ttl(), giving_up).await;
                }
                () = &mut deadline => break,
            }
        }
        if running.is_empty() && runs.is_empty() {
            return report;
        }
        running.abort_all();
        // A run that ended before its abort took hold is booked as ended.
        while let Some(done) = running.join_next_with_id().await {
            if matches!(&done, Err(e) if e.is_cancelled()) {
                continue;
            }
            ended(&mut runs, &mut report, done);
        }
        let mut left: Vec<RunId> = runs.into_values().map(|(run, _)| run).collect();
        // Past one lease TTL, the leases have run out: a store that does
        // not answer is waited for no longer.
        let settled = tokio::time::timeout(
            self.options.lease_ttl(),
            self.settle_stopped(&mut left, &mut report),
        )
        .await;
        if settled.is_err() {
            tracing::warn!(holder = %self.holder, runs = left.len(), "the store did not answer while stopped runs' leases were given up; they run out");
            report.released.append(&mut left);
        }
        report.released.sort_unstable();
        report
    }

    /// Books each run of `left` stopped at the drain deadline, taking it
    /// from `left` once booked: finished if it was over, released (its
    /// lease given up) if not, neither if its lease is another's (it was
    /// cancelled, or taken over).
    async fn settle_stopped(&self, left: &mut Vec<RunId>, report: &mut WorkerReport) {
        while let Some(&run) = left.last() {
            // Aborted after its last write, a run may be over already.
            // Its state is read while this worker still holds the lease:
            // once the lease is given up, another worker may take the run
            // and finish it, and both would count it. The lease is renewed
            // first: on a store with one writer, a write the aborted run
            // had begun lands before it, so the state read is the run's.
            let held = self
                .queue
                .lease(run, &self.holder, self.options.lease_ttl())
                .await;
            if matches!(held, Ok(false)) {
                // Cancelled meanwhile, or taken over: not this worker's
                // to book, and no lease of its own to give up.
                left.pop();
                continue;
            }
            // Cancelled meanwhile, it was not this worker's to end.
            let over = matches!(
                self.queue.state(run).await,
                Ok(Some(state)) if (state.is_finished() && !matches!(state, RunState::Cancelled { .. }))
                    || state == RunState::Suspended
            );
            if let Err(e) = self.queue.release(run, &self.holder).await {
                tracing::warn!(run_id = %run, error = %e, "could not give up a drained run's lease; it runs out");
            }
            left.pop();
            if over {
                report.finished += 1;
            } else {
                report.released.push(run);
            }
        }
    }

    /// Gives up the leases of runs claimed once the worker was shutting
    /// down, so that another worker takes them at once; not of one this
    /// worker still drives (a claim renews the lease of a run whose task
    /// goes on, see `Worker::run`).
    async fn give_up(&self, claimed: Vec<Claimed>, runs: &Runs) {
        for claim in claimed {
            let driven = runs
                .values()
                .any(|(run, task)| *run == claim.run && !task.is_finished());
            if driven {
                continue;
            }
            if let Err(e) = self.queue.release(claim.run, &self.holder).await {
                tracing::warn!(run_id = %claim.run, error = %e, "could not give up a run claimed during shutdown; it is taken over once its lease runs out");
            }
        }
    }
}
