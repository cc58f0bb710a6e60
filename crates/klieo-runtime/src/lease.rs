//! Holding a run's lease while driving it: taken first, renewed in the
//! background, given up at the end.

use crate::run::Run;
use klieo_types::{Error, Journal, MemoryError, RunId};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::task::JoinHandle;

/// Why a run's lease stopped it.
#[derive(Debug, Clone, Copy)]
enum LeaseLoss {
    /// It could not be renewed before it would run out.
    Lapsing,
    /// The store refused to renew it: the run was cancelled elsewhere,
    /// or another worker took it over. The run stops as cancelled.
    Lost,
}

/// Whether the run's lease stopped it, and why: set once by the renewal
/// task, which stops the run, and read by the run, which then writes
/// nothing more (its end is not a cancel of its own, and not its own to
/// record).
#[derive(Debug, Default)]
pub(crate) struct LeaseEnd(OnceLock<LeaseLoss>);

impl LeaseEnd {
    /// What the run stopped with, once its lease stopped it.
    pub(crate) fn error(&self) -> Option<Error> {
        let error = match self.0.get()? {
            LeaseLoss::Lapsing => MemoryError::backend(
                "the run's lease could not be renewed before it would run out (the store did \
                 not answer, or this process was held up), so the run was stopped; it is taken \
                 up again once the lease has run out",
            ),
            // Cancelled elsewhere, or taken over: stopped as a cancel
            // stops it (the meaning a caller, or a parent run, acts on),
            // writing nothing more.
            LeaseLoss::Lost => return Some(Error::Cancelled),
        };
        Some(Error::Memory(error))
    }
}

/// A lease this process holds; dropping it stops the renewals (the lease
/// then runs out), [`release`](Self::release) also gives it up.
pub(crate) struct Held {
    renewal: Option<JoinHandle<()>>,
    journal: Arc<dyn Journal>,
    run: RunId,
    holder: String,
    /// The lease's time to live: the longest its release is waited for.
    ttl: Duration,
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(renewal) = self.renewal.take() {
            renewal.abort();
        }
    }
}

impl Held {
    /// Ends the holding once the run stopped, with `error` if it failed:
    /// gives the lease up, unless a write to the store failed. Then the
    /// lease runs out instead, so that a run whose write the store keeps
    /// refusing is claimed again once its TTL has passed, not at once
    /// and without end.
    pub(crate) async fn end(self, error: Option<&Error>) {
        match error {
            Some(Error::Memory(_)) => drop(self),
            _ => self.release().await,
        }
    }

    /// Stops renewing and gives the lease up (see [`release_within`]).
    pub(crate) async fn release(mut self) {
        if let Some(renewal) = self.renewal.take() {
            renewal.abort();
        }
        release_within(self.journal.as_ref(), self.run, &self.holder, self.ttl).await;
    }
}

/// Gives `holder`'s lease of `run` up, waiting its time to live `ttl` at
/// most: by then it has run out anyway, and the run's end waits no
/// longer. A failure, or no answer, is only logged. (A release given up
/// on may still reach the store later; were the same holder to take the
/// run again sooner, it would give up that lease.)
pub(crate) async fn release_within<J: Journal + ?Sized>(
    journal: &J,
    run: RunId,
    holder: &str,
    ttl: Duration,
) {
    match tokio::time::timeout(ttl, journal.release(run, holder)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(run_id = %run, error = %e, "could not give up the run's lease; it runs out");
        }
        Err(_) => {
            let waited = ttl.as_millis();
            tracing::warn!(run_id = %run, "could not give up the run's lease: no answer within {waited} ms; it runs out");
        }
    }
}

/// Ends the holding of `lease`, if the run held one (see [`Held::end`]).
pub(crate) async fn give_up(lease: Option<Held>, error: Option<&Error>) {
    if let Some(lease) = lease {
        lease.end(error).await;
    }
}

/// Takes the lease of `run`'s run, when its store is a journal and its
/// options ask for leases, without renewing it (see [`hold`]): the
/// journal and the lease's time to live, or `None` without leases. Fails
/// with a `MemoryError::Conflict` while another worker holds it.
pub(crate) async fn take(run: &Run) -> Result<Option<(Arc<dyn Journal>, Duration)>, Error> {
    let (Some(ttl), Some(journal)) = (run.opts.lease_ttl, run.journal()) else {
        return Ok(None);
    };
    let id = run.ctx.run_id;
    if !journal.lease(id, run.holder(), ttl).await? {
        return Err(Error::Memory(MemoryError::Conflict(format!(
            "run {id} cannot be leased: another worker is driving it (its lease lasts {} s \
             past its last renewal; resume it once that worker has stopped and the lease \
             ran out), or it was cancelled (its log ends saying by whom)",
            ttl.as_secs()
        ))));
    }
    Ok(Some((journal, ttl)))
}

/// Takes the lease of `run`'s run and renews it until the [`Held`] is
/// dropped or released, when its store is a journal and its options ask
/// for leases; fails with a `MemoryError::Conflict` while another worker
/// holds it.
pub(crate) async fn hold(run: &Run) -> Result<Option<Held>, Error> {
    // The lease lasts its TTL from no earlier than this.
    let taken = tokio::time::Instant::now();
    let Some((journal, ttl)) = take(run).await? else {
        return Ok(None);
    };
    let id = run.ctx.run_id;
    let holder = run.holder().to_owned();
    let ended = Arc::clone(&run.lease_end);
    let renewing = (Arc::clone(&journal), holder.clone(), run.ctx.cancel.clone());
    let renewal = tokio::spawn(async move {
        let (journal, holder, cancel) = renewing;
        let every = ttl / 3;
        // Bounded: a renewal that hangs is one that failed.
        let answer = every / 2;
        // Counted from the take, however late this task first runs.
        let mut tick = tokio::time::interval_at(taken + every, every);
        // When the lease the store last granted was asked for.
        let mut held_since = taken;
        let stop = |loss| {
            let _ = ended.0.set(loss);
            cancel.cancel();
        };
        loop {
            tick.tick().await;
            let asked = tokio::time::Instant::now();
            // Asked only after the lease had run out (this process was
            // held up longer than its time to live): another worker may
            // have taken the run, driven its tools and let it go
            // meanwhile, so renewing it proves nothing. This process
            // stops the run first.
            if ran_out(held_since, asked + answer, ttl) {
                tracing::warn!(run_id = %id, "the run's lease ran out before it could be renewed (the process was held up); stopping the run");
                stop(LeaseLoss::Lapsing);
                break;
            }
            let renewed = tokio::time::timeout(answer, journal.lease(id, &holder, ttl)).await;
            match renewed {
                Ok(Ok(true)) => held_since = asked,
                // Cancelled from another process, or taken over by a
                // worker that found the lease run out: this process
                // stops the run now (its commits would be refused).
                Ok(Ok(false)) => {
                    tracing::warn!(run_id = %id, "the run's lease was lost (it was cancelled, or another worker took it over); stopping it");
                    stop(LeaseLoss::Lost);
                    break;
                }
                // The store may be back by the next renewal, before the
                // lease runs out; once the next renewal's answer could
                // come after that, another worker may take the run over,
                // and this process stops it first.
                failed => {
                    let why = match failed {
                        Ok(Err(e)) => e.to_string(),
                        _ => format!("no answer within {} ms", answer.as_millis()),
                    };
                    if !ran_out(held_since, asked + every + answer, ttl) {
                        tracing::warn!(run_id = %id, error = %why, "could not renew the run's lease");
                        continue;
                    }
                    tracing::warn!(run_id = %id, error = %why, "the run's lease could not be renewed before it would run out; stopping the run");
                    stop(LeaseLoss::Lapsing);
                    break;
                }
            }
        }
    });
    Ok(Some(Held {
        renewal: Some(renewal),
        journal,
        run: id,
        holder,
        ttl,
    }))
}

/// Whether a lease last granted when asked at `held_since` may have run
/// out by `by` (when a renewal asked now would reach the store at the
/// latest).
fn ran_out(held_since: tokio::time::Instant, by: tokio::time::Instant, ttl: Duration) -> bool {
    by.saturating_duration_since(held_since) >= ttl
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_renewal_asked_past_the_time_to_live_comes_after_the_lease_ran_out() {
        let ttl = Duration::from_secs(30);
        let held = tokio::time::Instant::now();
        assert!(!ran_out(held, held + ttl / 3, ttl));
        assert!(!ran_out(held, held + ttl - Duration::from_millis(1), ttl));
        assert!(ran_out(held, held + ttl, ttl));
        assert!(ran_out(held, held + ttl * 2, ttl), "a process held up");
    }
}
