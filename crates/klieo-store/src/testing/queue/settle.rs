//! A cancelled run's spend, settled late: the run was stopped, which is
//! what its worker must hear.

use super::{claim, commit, submit};
use klieo_types::{
    Commit, Episode, KeyLimits, KeySpend, MemoryError, Reservation, Reserved, RunId, RunQueue,
    Settlement, Submission, ThreadId,
};
use std::time::Duration;

/// A settling commit of a cancelled run is refused as
/// `MemoryError::Cancelled`, whether or not its reservation lapsed
/// meanwhile: the worker stops the run, where a conflict would have it
/// try again. (A store that keeps no ledger has nothing to settle.)
pub async fn a_cancelled_runs_late_settlement_is_cancelled(queue: &dyn RunQueue) {
    let Some(ledger) = queue.ledger() else {
        return;
    };
    let run = submit(queue, &Submission::new("support", "hi")).await;
    assert_eq!(claim(queue, "w", "support", 10).await.len(), 1);
    let thread = ThreadId::new(format!("run-{run}"));
    let started = Episode::Started {
        agent: "support".into(),
    };
    let begun = Commit::new(run, thread.clone()).with_episodes(vec![started]);
    commit(queue, begun.with_holder("w")).await;
    if let Err(e) = queue.cancel(run, "ops").await {
        panic!("cancel: {e}");
    }
    let period = 1_800_000_000;
    let spend = KeySpend::new(100, 0, 1);
    let reserve = |ttl| {
        let limits = KeyLimits::new().with_tokens(1_000);
        let reservation = Reservation::new("acme", period, run, spend, limits, ttl);
        async move {
            match ledger.reserve(&reservation).await {
                Ok(Reserved::Granted(_)) => {}
                other => panic!("reserve ({ttl:?}): {other:?}"),
            }
        }
    };
    let settle = || async {
        let late = Commit::new(run, thread.clone())
            .with_episodes(vec![Episode::Completed { steps: 1 }])
            .with_settlement(Settlement::new("acme", period, spend))
            .with_holder("w");
        queue.commit(late).await
    };
    let refused = Err(MemoryError::Cancelled {
        run,
        by: "ops".into(),
    });
    reserve(Duration::ZERO).await;
    assert_eq!(settle().await, refused, "its reservation lapsed");
    reserve(Duration::from_secs(3_600)).await;
    assert_eq!(settle().await, refused, "its reservation held");
    match ledger.standing("acme", period, RunId::new()).await {
        Ok(standing) => assert_eq!(standing.settled, KeySpend::default(), "nothing settled"),
        Err(e) => panic!("standing: {e}"),
    }
}
