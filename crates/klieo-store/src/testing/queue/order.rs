//! The order claims take runs in (a run under way first), and the runs
//! they leave to another process.

use super::{claim, commit, submit};
use klieo_types::{Commit, Episode, RunQueue, Submission, ThreadId};
use std::time::Duration;

/// A run whose worker let go of it (drained, or stopped and its lease run
/// out) is claimed before queued runs: under a backlog it is taken over
/// at once, not after the queue.
pub async fn a_given_up_run_is_claimed_before_queued_ones(queue: &dyn RunQueue) {
    let begun = submit(queue, &Submission::new("support", "first")).await;
    assert_eq!(claim(queue, "w1", "support", 1).await.len(), 1);
    let started = Episode::Started {
        agent: "support".into(),
    };
    commit(
        queue,
        Commit::new(begun, ThreadId::new(format!("run-{begun}")))
            .with_episodes(vec![started])
            .with_holder("w1"),
    )
    .await;
    let queued = submit(queue, &Submission::new("support", "second")).await;
    if let Err(e) = queue.release(begun, "w1").await {
        panic!("release failed: {e}");
    }
    let claimed = claim(queue, "w2", "support", 1).await;
    let runs: Vec<_> = claimed.iter().map(|c| c.run).collect();
    assert_eq!(runs, [begun], "the run under way first, then {queued}");
}

/// A queued run another process leased (to take it up itself, as
/// `Agent::resume` does) is not claimed while that lease is live; the
/// lease's own holder may claim it.
pub async fn a_queued_run_another_process_leased_is_left_to_it(queue: &dyn RunQueue) {
    let run = submit(queue, &Submission::new("support", "mine")).await;
    match queue.lease(run, "taker", Duration::from_secs(3600)).await {
        Ok(true) => {}
        other => panic!("the queued run's lease: {other:?}"),
    }
    let next = submit(queue, &Submission::new("support", "theirs")).await;
    let runs =
        |claimed: Vec<klieo_types::Claimed>| -> Vec<_> { claimed.iter().map(|c| c.run).collect() };
    assert_eq!(
        runs(claim(queue, "w1", "support", 1).await),
        [next],
        "{run} is another process's; the run after it is claimed"
    );
    let claimed = claim(queue, "taker", "support", 1).await;
    assert_eq!(runs(claimed), [run], "its lease's holder claims it");
}
