//! [`RunQueue::assign`]: a run handed to an agent's workers.

use super::{claim, commit, submit, HOUR};
use klieo_types::{
    Claimed, Commit, Episode, Message, RunId, RunQueue, RunState, Submission, ThreadId,
};

async fn assign(queue: &dyn RunQueue, run: RunId, agent: &str) -> Option<RunState> {
    match queue.assign(run, agent).await {
        Ok(state) => state,
        Err(e) => panic!("assign({run}, {agent}) failed: {e}"),
    }
}

/// A run an agent wrote in its own process, never submitted, is claimed
/// by no worker until it is given to an agent's; then it is claimed to
/// resume (without a prompt, on its own thread), but only once no live
/// lease is held on it.
pub async fn a_run_never_submitted_is_given_to_workers(queue: &dyn RunQueue) {
    let thread = ThreadId::new("own");
    let begun = |run| {
        Commit::new(run, thread.clone())
            .with_messages(vec![Message::user("hi")])
            .with_episodes(vec![Episode::Started {
                agent: "support".into(),
            }])
    };
    let stopped = RunId::new();
    commit(queue, begun(stopped)).await;
    assert!(
        claim(queue, "w", "support", 10).await.is_empty(),
        "a run never submitted belongs to no worker"
    );
    assert_eq!(
        assign(queue, stopped, "support").await,
        Some(RunState::Running)
    );
    assert_eq!(
        claim(queue, "w", "support", 10).await,
        vec![Claimed::new(
            stopped,
            "support".into(),
            thread.clone(),
            None
        )],
        "an assigned run is claimed to resume, on its own thread"
    );

    let driven = RunId::new();
    commit(queue, begun(driven)).await;
    assert!(
        matches!(queue.lease(driven, "its-process", HOUR).await, Ok(true)),
        "a fresh run's lease is free"
    );
    assert_eq!(
        assign(queue, driven, "support").await,
        Some(RunState::Running)
    );
    assert!(
        claim(queue, "w", "support", 10).await.is_empty(),
        "a run whose process holds its lease stays with that process"
    );
    if let Err(e) = queue.release(driven, "its-process").await {
        panic!("release failed: {e}");
    }
    let claimed: Vec<RunId> = claim(queue, "w", "support", 10)
        .await
        .into_iter()
        .map(|c| c.run)
        .collect();
    assert_eq!(claimed, [driven], "claimed once its lease is given up");
}

/// A run written without episodes (its messages only), never submitted,
/// is claimed after its assignment without a prompt, as any run written
/// in its agent's process: it has none to start from.
pub async fn a_run_written_without_episodes_is_claimed_without_a_prompt(queue: &dyn RunQueue) {
    let thread = ThreadId::new("bare");
    let run = RunId::new();
    commit(
        queue,
        Commit::new(run, thread.clone()).with_messages(vec![Message::user("hi")]),
    )
    .await;
    assert_eq!(assign(queue, run, "support").await, Some(RunState::Running));
    assert_eq!(
        claim(queue, "w", "support", 10).await,
        vec![Claimed::new(run, "support".into(), thread, None)],
        "no prompt: the run was never submitted"
    );
}

/// A queued run given to another agent is claimed by that agent's
/// workers, with its prompt; a suspended one keeps waiting for a person
/// and is claimed once decided; a finished run is left as it is, and a
/// run the store does not know is `None`.
pub async fn assign_moves_a_waiting_run_and_leaves_a_finished_one(queue: &dyn RunQueue) {
    let queued = submit(queue, &Submission::new("billing", "refund 1042")).await;
    assert_eq!(
        assign(queue, queued, "support").await,
        Some(RunState::Queued)
    );
    assert!(claim(queue, "w", "billing", 10).await.is_empty());
    assert_eq!(
        claim(queue, "w", "support", 10).await,
        vec![Claimed::new(
            queued,
            "support".into(),
            ThreadId::new(format!("run-{queued}")),
            Some("refund 1042".into()),
        )],
        "a queued run moves to the new agent with its prompt"
    );

    let waiting = RunId::new();
    let thread = ThreadId::new("waits");
    let suspended = Episode::Suspended {
        step: 1,
        call_id: "c1".into(),
        tool: "refund".into(),
        digest: "d".into(),
    };
    commit(
        queue,
        Commit::new(waiting, thread.clone())
            .with_messages(vec![Message::user("refund it")])
            .with_episodes(vec![suspended]),
    )
    .await;
    assert_eq!(
        assign(queue, waiting, "support").await,
        Some(RunState::Suspended)
    );
    assert!(
        claim(queue, "w", "support", 10).await.is_empty(),
        "a suspended run still waits for a person"
    );
    let approved = Episode::Approved {
        call_id: "c1".into(),
        by: Some("ops".into()),
    };
    commit(
        queue,
        Commit::new(waiting, thread.clone()).with_episodes(vec![approved]),
    )
    .await;
    assert_eq!(
        claim(queue, "w", "support", 10).await,
        vec![Claimed::new(waiting, "support".into(), thread, None)],
        "once decided, the agent's workers take it up"
    );

    let done = RunId::new();
    commit(
        queue,
        Commit::new(done, ThreadId::new("done"))
            .with_messages(vec![Message::assistant("hello")])
            .with_episodes(vec![Episode::Completed { steps: 1 }]),
    )
    .await;
    let completed = RunState::Completed {
        answer: "hello".into(),
    };
    assert_eq!(assign(queue, done, "support").await, Some(completed));
    assert!(claim(queue, "w", "support", 10).await.is_empty());
    assert_eq!(assign(queue, RunId::new(), "support").await, None);
}
