//! The behaviour every [`RunQueue`] must show, as checks a store's tests
//! call with a fresh, empty store; [`queue_suite!`](crate::testing::queue::queue_suite)
//! makes one named test per scenario.

#![allow(clippy::panic, reason = "a failed check is a panic, like assert!")]

use klieo_types::{
    Claimed, Commit, Episode, MemoryError, Message, RunId, RunQueue, RunState, Submission, ThreadId,
};
use std::time::{Duration, SystemTime};

mod assign;
mod order;
mod record;
mod settle;
mod texts;
mod wakes;

pub use assign::{
    a_run_never_submitted_is_given_to_workers,
    a_run_written_without_episodes_is_claimed_without_a_prompt,
    assign_moves_a_waiting_run_and_leaves_a_finished_one,
};
pub use order::{
    a_given_up_run_is_claimed_before_queued_ones, a_queued_run_another_process_leased_is_left_to_it,
};
pub use record::a_submitted_run_is_known_before_its_first_commit;
pub use settle::a_cancelled_runs_late_settlement_is_cancelled;
pub use texts::texts_holding_a_nul_are_written;
pub use wakes::a_decision_wakes_idle_workers;

const HOUR: Duration = Duration::from_secs(3600);

async fn submit(queue: &dyn RunQueue, submission: &Submission) -> RunId {
    match queue.submit(submission).await {
        Ok(run) => run,
        Err(e) => panic!("submit({submission:?}) failed: {e}"),
    }
}

async fn claim(queue: &dyn RunQueue, holder: &str, agent: &str, limit: usize) -> Vec<Claimed> {
    match queue.claim(holder, &[agent.to_owned()], limit, HOUR).await {
        Ok(claimed) => claimed,
        Err(e) => panic!("claim by {holder} failed: {e}"),
    }
}

async fn state(queue: &dyn RunQueue, run: RunId) -> Option<RunState> {
    match queue.state(run).await {
        Ok(state) => state,
        Err(e) => panic!("state({run}) failed: {e}"),
    }
}

async fn commit(queue: &dyn RunQueue, commit: Commit) {
    if let Err(e) = queue.commit(commit).await {
        panic!("commit failed: {e}");
    }
}

/// A submitted run is queued, then claimed by one worker only, with its
/// prompt and a thread of its own, and is running from then on.
pub async fn a_submitted_run_is_claimed_once(queue: &dyn RunQueue) {
    let run = submit(queue, &Submission::new("support", "where is my order?")).await;
    assert_eq!(state(queue, run).await, Some(RunState::Queued));
    let claimed = claim(queue, "w1", "support", 10).await;
    assert_eq!(
        claimed,
        vec![Claimed::new(
            run,
            "support".into(),
            ThreadId::new(format!("run-{run}")),
            Some("where is my order?".into()),
        )],
        "the queued run is claimed with its prompt"
    );
    assert_eq!(state(queue, run).await, Some(RunState::Running));
    assert!(
        claim(queue, "w2", "support", 10).await.is_empty(),
        "a claimed run is not claimed again while its lease lasts"
    );
    let leased = queue.lease(run, "w2", HOUR).await;
    assert!(
        matches!(leased, Ok(false)),
        "the claim holds the run's lease for its worker: {leased:?}"
    );
}

/// Claims take queued runs oldest first, at most `limit`, and only of the
/// agents named.
pub async fn claims_take_the_oldest_runs_of_known_agents(queue: &dyn RunQueue) {
    let first = submit(queue, &Submission::new("support", "1")).await;
    let other = submit(queue, &Submission::new("billing", "2")).await;
    let second = submit(queue, &Submission::new("support", "3")).await;
    let third = submit(queue, &Submission::new("support", "4")).await;
    let runs = |claimed: Vec<Claimed>| claimed.into_iter().map(|c| c.run).collect::<Vec<_>>();
    assert_eq!(runs(claim(queue, "w", "support", 2).await), [first, second]);
    assert_eq!(runs(claim(queue, "w", "support", 2).await), [third]);
    assert_eq!(
        state(queue, other).await,
        Some(RunState::Queued),
        "a run of an agent no worker named stays queued"
    );
    let none: Vec<String> = Vec::new();
    let nothing = queue.claim("w", &none, 10, HOUR).await;
    assert!(matches!(nothing.as_deref(), Ok([])), "{nothing:?}");
}

/// A run whose `not_before` has not come is not claimed.
pub async fn a_run_waits_for_its_start_time(queue: &dyn RunQueue) {
    let later = SystemTime::now() + HOUR;
    let run = submit(
        queue,
        &Submission::new("support", "later").with_not_before(later),
    )
    .await;
    let past = SystemTime::now() - HOUR;
    let due = submit(
        queue,
        &Submission::new("support", "now").with_not_before(past),
    )
    .await;
    let claimed: Vec<RunId> = claim(queue, "w", "support", 10)
        .await
        .into_iter()
        .map(|c| c.run)
        .collect();
    assert_eq!(claimed, [due]);
    assert_eq!(state(queue, run).await, Some(RunState::Queued));
}

/// A key makes a retried submit find its run; the same key for another
/// submission is refused, naming the run.
pub async fn a_key_makes_one_run(queue: &dyn RunQueue) {
    let submission = Submission::new("support", "refund 1042").with_key("ticket-7");
    let run = submit(queue, &submission).await;
    assert_eq!(submit(queue, &submission).await, run, "a retried submit");
    let other = Submission::new("support", "refund 1043").with_key("ticket-7");
    match queue.submit(&other).await {
        Err(MemoryError::KeyReused { key, run: made }) => {
            assert_eq!((key.as_str(), made), ("ticket-7", run));
        }
        other => panic!("a reused key for another prompt must be refused, got {other:?}"),
    }
    let moved = submission.clone().with_thread(ThreadId::new("elsewhere"));
    assert!(
        matches!(
            queue.submit(&moved).await,
            Err(MemoryError::KeyReused { .. })
        ),
        "another thread is another submission"
    );
    assert_eq!(claim(queue, "w", "support", 10).await.len(), 1);
}

/// Commits move a run's state: running, suspended, completed with its
/// answer, failed with its error; suspended and finished runs are not
/// claimed.
pub async fn commits_move_a_runs_state(queue: &dyn RunQueue) {
    let run = submit(queue, &Submission::new("support", "hi")).await;
    let thread = ThreadId::new(format!("run-{run}"));
    assert_eq!(claim(queue, "w", "support", 1).await.len(), 1);
    let started = Episode::Started {
        agent: "support".into(),
    };
    commit(
        queue,
        Commit::new(run, thread.clone()).with_episodes(vec![started]),
    )
    .await;
    assert_eq!(state(queue, run).await, Some(RunState::Running));
    let suspended = Episode::Suspended {
        step: 1,
        call_id: "c1".into(),
        tool: "refund".into(),
        digest: "d".into(),
    };
    commit(
        queue,
        Commit::new(run, thread.clone()).with_episodes(vec![suspended]),
    )
    .await;
    assert_eq!(state(queue, run).await, Some(RunState::Suspended));
    if let Err(e) = queue.release(run, "w").await {
        panic!("release failed: {e}");
    }
    assert!(
        claim(queue, "w2", "support", 10).await.is_empty(),
        "a suspended run waits for a decision, not a worker"
    );
    let approved = Episode::Approved {
        call_id: "c1".into(),
        by: None,
    };
    commit(
        queue,
        Commit::new(run, thread.clone()).with_episodes(vec![approved]),
    )
    .await;
    assert_eq!(state(queue, run).await, Some(RunState::Running));
    commit(
        queue,
        Commit::new(run, thread)
            .with_messages(vec![Message::assistant("refunded")])
            .with_episodes(vec![Episode::Completed { steps: 2 }]),
    )
    .await;
    assert_eq!(
        state(queue, run).await,
        Some(RunState::Completed {
            answer: "refunded".into()
        })
    );
    assert!(claim(queue, "w2", "support", 10).await.is_empty());

    let unsubmitted = RunId::new();
    let failed = Episode::Failed {
        error: "model down".into(),
    };
    commit(
        queue,
        Commit::new(unsubmitted, ThreadId::new("own")).with_episodes(vec![failed]),
    )
    .await;
    assert_eq!(
        state(queue, unsubmitted).await,
        Some(RunState::Failed {
            error: "model down".into()
        }),
        "a run written without a submit has a state too"
    );
    assert_eq!(state(queue, RunId::new()).await, None);
}

/// A run whose worker let go (its lease released, or run out) is claimed
/// again, to resume: without its prompt once its log has begun.
pub async fn a_released_run_is_claimed_to_resume(queue: &dyn RunQueue) {
    let run = submit(queue, &Submission::new("support", "hi")).await;
    let thread = ThreadId::new(format!("run-{run}"));
    assert_eq!(claim(queue, "w1", "support", 1).await.len(), 1);
    let started = Episode::Started {
        agent: "support".into(),
    };
    commit(
        queue,
        Commit::new(run, thread.clone())
            .with_messages(vec![Message::user("hi")])
            .with_episodes(vec![started])
            .with_holder("w1"),
    )
    .await;
    if let Err(e) = queue.release(run, "w1").await {
        panic!("release failed: {e}");
    }
    let claimed = claim(queue, "w2", "support", 10).await;
    assert_eq!(
        claimed,
        vec![Claimed::new(run, "support".into(), thread, None)],
        "a begun run is claimed to resume, without its prompt"
    );
}

/// Cancel stops a queued run, saying who in its state and log; a
/// finished run is left as it is.
pub async fn cancel_stops_a_run_that_waits(queue: &dyn RunQueue) {
    let run = submit(queue, &Submission::new("support", "hi")).await;
    let cancelled = RunState::Cancelled { by: "ops".into() };
    assert!(matches!(queue.cancel(run, "ops").await, Ok(Some(ref s)) if *s == cancelled));
    assert_eq!(state(queue, run).await, Some(cancelled));
    match queue.replay(run).await {
        Ok(log) => assert_eq!(
            log,
            vec![Episode::Failed {
                error: "cancelled by ops".into()
            }],
            "the log says who cancelled the run"
        ),
        Err(e) => panic!("replay failed: {e}"),
    }
    assert!(claim(queue, "w", "support", 10).await.is_empty());

    let done = submit(queue, &Submission::new("support", "hi")).await;
    assert_eq!(claim(queue, "w", "support", 10).await.len(), 1);
    let thread = ThreadId::new(format!("run-{done}"));
    let answered = Commit::new(done, thread)
        .with_messages(vec![Message::assistant("hello")])
        .with_episodes(vec![Episode::Completed { steps: 1 }]);
    commit(queue, answered).await;
    let completed = RunState::Completed {
        answer: "hello".into(),
    };
    assert!(
        matches!(queue.cancel(done, "ops").await, Ok(Some(ref s)) if *s == completed),
        "a finished run is left as it is"
    );
    assert!(matches!(queue.cancel(RunId::new(), "ops").await, Ok(None)));
}

/// Cancel stops a running run in the store at once: its worker's lease is
/// gone and cannot be taken again, and every later commit is refused
/// with `MemoryError::Cancelled`, so the log ends with who cancelled it.
pub async fn cancel_stops_a_running_run(queue: &dyn RunQueue) {
    let run = submit(queue, &Submission::new("support", "hi")).await;
    assert_eq!(claim(queue, "w", "support", 10).await.len(), 1);
    let thread = ThreadId::new(format!("run-{run}"));
    let started = Commit::new(run, thread.clone())
        .with_messages(vec![Message::user("hi")])
        .with_episodes(vec![Episode::Started {
            agent: "support".into(),
        }])
        .with_holder("w")
        .with_expected_episodes(0);
    commit(queue, started).await;
    let cancelled = RunState::Cancelled { by: "ops".into() };
    assert!(matches!(queue.cancel(run, "ops").await, Ok(Some(ref s)) if *s == cancelled));
    for holder in ["w", "w2"] {
        assert!(
            matches!(queue.lease(run, holder, HOUR).await, Ok(false)),
            "no lease is granted on a cancelled run ({holder})"
        );
    }
    let refused = MemoryError::Cancelled {
        run,
        by: "ops".into(),
    };
    let next = Commit::new(run, thread.clone())
        .with_messages(vec![Message::assistant("hello")])
        .with_episodes(vec![Episode::Completed { steps: 1 }]);
    for attempt in [
        next.clone().with_holder("w").with_expected_episodes(1),
        next,
    ] {
        match queue.commit(attempt).await {
            Err(e) => assert_eq!(e, refused, "a cancelled run's commit is refused"),
            Ok(()) => panic!("a commit to a cancelled run went in"),
        }
    }
    assert_eq!(state(queue, run).await, Some(cancelled));
    match queue.replay(run).await {
        Ok(log) => assert_eq!(
            log,
            vec![
                Episode::Started {
                    agent: "support".into()
                },
                Episode::Failed {
                    error: "cancelled by ops".into()
                }
            ],
            "the log ends with who cancelled the run"
        ),
        Err(e) => panic!("replay failed: {e}"),
    }
    assert!(claim(queue, "w2", "support", 10).await.is_empty());
}

/// One test per [`RunQueue`] scenario of this module, each on a fresh
/// store from `$fresh` (an expression giving something that derefs to
/// the store), with the attributes given after it.
///
/// ```ignore
/// mod queue {
///     klieo_store::testing::queue::queue_suite!(Box::new(klieo_store::InMemoryJournal::new()));
/// }
/// ```
#[doc(hidden)]
#[macro_export]
macro_rules! __klieo_store_queue_suite {
    ($fresh:expr $(, #[$attr:meta])* $(,)?) => {
        $crate::__klieo_store_queue_scenarios!([$(#[$attr])*] $fresh;
            a_submitted_run_is_claimed_once,
            claims_take_the_oldest_runs_of_known_agents,
            a_run_waits_for_its_start_time,
            a_key_makes_one_run,
            a_submitted_run_is_known_before_its_first_commit,
            commits_move_a_runs_state,
            a_released_run_is_claimed_to_resume,
            a_given_up_run_is_claimed_before_queued_ones,
            a_queued_run_another_process_leased_is_left_to_it,
            cancel_stops_a_run_that_waits,
            cancel_stops_a_running_run,
            a_cancelled_runs_late_settlement_is_cancelled,
            a_run_never_submitted_is_given_to_workers,
            a_run_written_without_episodes_is_claimed_without_a_prompt,
            assign_moves_a_waiting_run_and_leaves_a_finished_one,
            texts_holding_a_nul_are_written,
            a_decision_wakes_idle_workers,
        );
    };
}

/// One test per named queue scenario.
#[doc(hidden)]
#[macro_export]
macro_rules! __klieo_store_queue_scenarios {
    (@one [$(#[$attr:meta])*] $fresh:expr; $scenario:ident) => {
        $(#[$attr])*
        #[tokio::test]
        async fn $scenario() {
            let fresh = $fresh;
            $crate::testing::queue::$scenario(&*fresh).await;
        }
    };
    ($attrs:tt $fresh:expr; $($scenario:ident),* $(,)?) => {
        $(
            $crate::__klieo_store_queue_scenarios!(@one $attrs $fresh; $scenario);
        )*
    };
}

#[doc(inline)]
pub use crate::__klieo_store_queue_suite as queue_suite;
