//! Decisions recorded from the store alone (`klieo_runtime::decisions`),
//! with no agent: a worker claims the decided run and carries it out.

use klieo_runtime::decisions::{pending_approval, record_decision, Decision};
use klieo_runtime::{wait, Agent, TypedTool, Worker, WorkerOptions};
use klieo_store::InMemoryJournal;
use klieo_types::testing::CallThenAnswer;
use klieo_types::{Episode, EpisodicMemory, Error, RunQueue, RunState, Submission, ToolError};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const LONG: Duration = Duration::from_secs(3600);

/// A worker for agent `support`, whose one call needs an approval; how
/// many times the call ran.
fn worker(store: &InMemoryJournal) -> (Worker, Arc<AtomicUsize>) {
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&runs);
    let work = TypedTool::new("work", "Works.", move |_: serde_json::Value| {
        let counted = Arc::clone(&counted);
        async move {
            counted.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ToolError>("worked")
        }
    })
    .with_approval(true);
    let agent = Agent::builder(CallThenAnswer::new("work", "done"))
        .with_tool(work)
        .with_memory(store.clone())
        .build()
        .unwrap();
    let worker = Worker::builder(store.clone())
        .with_agent("support", agent)
        .with_options(WorkerOptions::new().with_poll_interval(Duration::from_millis(100)))
        .build()
        .unwrap();
    (worker, runs)
}

#[tokio::test(start_paused = true)]
async fn a_decision_recorded_from_the_store_is_carried_out_by_a_worker() {
    let store = InMemoryJournal::new();
    let run = store
        .submit(&Submission::new("support", "do the work"))
        .await
        .unwrap();
    let (worker, runs) = worker(&store);
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    let working = tokio::spawn(async move { worker.run(token).await });
    assert_eq!(wait(&store, run, LONG).await.unwrap(), RunState::Suspended);
    assert_eq!(
        runs.load(Ordering::SeqCst),
        0,
        "nothing runs before approval"
    );

    // No agent here: the waiting call and the decision, from the store.
    let waiting = pending_approval(&store, run).await.unwrap().unwrap();
    assert_eq!(waiting.tool, "work");
    let approve = Decision::Approve { by: "ada".into() };
    record_decision(&store, &waiting.ticket, approve.clone())
        .await
        .unwrap();
    let again = record_decision(&store, &waiting.ticket, approve).await;
    assert!(
        matches!(again, Err(Error::TicketRejected { .. })),
        "{again:?}"
    );

    let done = wait(&store, run, LONG).await.unwrap();
    assert_eq!(
        done,
        RunState::Completed {
            answer: "done".into()
        }
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the approved call ran once");
    shutdown.cancel();
    working.await.unwrap();
    let log = store.replay(run).await.unwrap();
    assert!(log
        .iter()
        .any(|e| matches!(e, Episode::Approved { by: Some(by), .. } if by == "ada")));
}
