//! What a journal holds of a run submitted to its queue before the run's
//! first commit.

use super::{claim, submit};
use klieo_types::{RunId, RunQueue, RunRecord, Submission, ThreadId};

/// A submitted run is known to the journal before its first commit, with
/// the thread its submission gives it (its own, or the one named) and no
/// pending step: queued, claimed, and cancelled while it waited alike.
pub async fn a_submitted_run_is_known_before_its_first_commit(queue: &dyn RunQueue) {
    let own = submit(queue, &Submission::new("support", "hi")).await;
    let named = submit(
        queue,
        &Submission::new("support", "hi").with_thread(ThreadId::new("t")),
    )
    .await;
    let waits = submit(queue, &Submission::new("billing", "hi")).await;
    let record = |thread: ThreadId| Some(RunRecord::new(thread, None));
    let expected = [
        (own, record(ThreadId::new(format!("run-{own}")))),
        (named, record(ThreadId::new("t"))),
        (waits, record(ThreadId::new(format!("run-{waits}")))),
    ];
    known(queue, &expected, "queued").await;
    assert_eq!(claim(queue, "w", "support", 10).await.len(), 2);
    if let Err(e) = queue.cancel(waits, "ops").await {
        panic!("cancel({waits}) failed: {e}");
    }
    known(queue, &expected, "claimed, or cancelled while queued").await;
    assert!(
        matches!(queue.run(RunId::new()).await, Ok(None)),
        "a run never submitted nor committed is not known"
    );
}

/// Checks what the journal holds of each run against what is expected.
async fn known(queue: &dyn RunQueue, expected: &[(RunId, Option<RunRecord>)], when: &str) {
    for (run, expected) in expected {
        match queue.run(*run).await {
            Ok(found) => assert_eq!(&found, expected, "run {run} {when}"),
            Err(e) => panic!("run({run}) {when} failed: {e}"),
        }
    }
}
