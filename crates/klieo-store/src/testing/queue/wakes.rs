//! Idle workers woken by a person's decision, on a store that wakes them.

use super::{claim, commit, submit};
use futures_util::{FutureExt, StreamExt};
use klieo_types::{Commit, Episode, RunQueue, Submission, ThreadId, Wakeups};
use std::time::Duration;

/// How long a wake-up may take to come (a server's notification).
const WAKE: Duration = Duration::from_secs(10);

/// The next wake-up, which must come within [`WAKE`].
async fn woken(wakeups: &mut Wakeups, why: &str) {
    match tokio::time::timeout(WAKE, wakeups.next()).await {
        Ok(Some(())) => {}
        Ok(None) => panic!("the wake-ups ended before {why}"),
        Err(_) => panic!("no wake-up within {WAKE:?} after {why}"),
    }
}

/// A person's decision, written by no worker, lets a suspended run go on:
/// a store that wakes idle workers ([`RunQueue::wakeups`]) wakes them, so
/// that the run is claimed at once, not at their next poll. (A store
/// without wake-ups has its workers poll.)
pub async fn a_decision_wakes_idle_workers(queue: &dyn RunQueue) {
    let mut wakeups = match queue.wakeups().await {
        Ok(Some(wakeups)) => wakeups,
        Ok(None) => return,
        Err(e) => panic!("wakeups: {e}"),
    };
    let run = submit(queue, &Submission::new("support", "hi")).await;
    woken(&mut wakeups, "a submit").await;
    assert_eq!(claim(queue, "w", "support", 10).await.len(), 1);
    let thread = ThreadId::new(format!("run-{run}"));
    let suspended = vec![
        Episode::Started {
            agent: "support".into(),
        },
        Episode::Suspended {
            step: 1,
            call_id: "c1".into(),
            tool: "send_mail".into(),
            digest: "0123456789abcdef".into(),
        },
    ];
    let waits = Commit::new(run, thread.clone()).with_episodes(suspended);
    commit(queue, waits.with_holder("w")).await;
    if let Err(e) = queue.release(run, "w").await {
        panic!("release: {e}");
    }
    // Whatever came so far is taken: the decision's own wake-up is next.
    while let Some(Some(())) = wakeups.next().now_or_never() {}

    let approved = Episode::Approved {
        call_id: "c1".into(),
        by: Some("ada".into()),
    };
    commit(
        queue,
        Commit::new(run, thread).with_episodes(vec![approved]),
    )
    .await;
    woken(&mut wakeups, "a decision").await;
    assert_eq!(
        claim(queue, "w2", "support", 10).await.len(),
        1,
        "claimed at once"
    );
}
