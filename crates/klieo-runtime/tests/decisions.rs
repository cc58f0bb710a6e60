//! Decisions recorded from the store alone (`klieo_runtime::decisions`),
//! with no agent: a worker claims the decided run and carries it out.

use klieo_runtime::decisions::{
    in_doubt, pending_approval, record_decision, record_settlement, Decision, Settled,
};
use klieo_runtime::{wait, Agent, TypedTool, Worker, WorkerOptions};
use klieo_store::InMemoryJournal;
use klieo_types::testing::CallThenAnswer;
use klieo_types::{
    Episode, EpisodicMemory, Error, Journal, RunQueue, RunState, Submission, ToolError, ToolOutcome,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
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
        .add_tool(work)
        .with_memory(store.clone())
        .build()
        .unwrap();
    let worker = Worker::builder(store.clone())
        .add_agent("support", agent)
        .with_options(WorkerOptions::new().with_poll_interval(Duration::from_millis(100)))
        .build()
        .unwrap();
    (worker, runs)
}

/// A run of `support` submitted and suspended for its call's approval,
/// under a worker that goes on working.
struct Working {
    store: InMemoryJournal,
    run: klieo_types::RunId,
    /// How many times the call ran.
    runs: Arc<AtomicUsize>,
    shutdown: CancellationToken,
    working: tokio::task::JoinHandle<klieo_runtime::WorkerReport>,
}

async fn suspended() -> Working {
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
    Working {
        store,
        run,
        runs,
        shutdown,
        working,
    }
}

#[tokio::test(start_paused = true)]
async fn a_decision_recorded_from_the_store_is_carried_out_by_a_worker() {
    let Working {
        store,
        run,
        runs,
        shutdown,
        working,
    } = suspended().await;
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

#[tokio::test(start_paused = true)]
async fn a_decision_on_a_run_cancelled_while_it_waited_says_the_run_ended() {
    let Working {
        store,
        run,
        runs,
        shutdown,
        working,
    } = suspended().await;
    let waiting = pending_approval(&store, run).await.unwrap().unwrap();
    store.cancel(run, "ops").await.unwrap();

    let approve = Decision::Approve { by: "ada".into() };
    let refused = record_decision(&store, &waiting.ticket, approve).await;
    let Err(Error::TicketRejected { reason, .. }) = &refused else {
        panic!("refused: {refused:?}");
    };
    assert!(reason.contains("has ended"), "{reason}");
    assert!(!reason.contains("  "), "{reason}");
    shutdown.cancel();
    working.await.unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 0, "the call never ran");
}

/// A worker whose `pay` needs approval and, with `started`, says so when
/// it starts and never ends.
fn payer(store: &InMemoryJournal, paid: &Arc<AtomicUsize>, started: Option<Arc<Notify>>) -> Worker {
    let paid = Arc::clone(paid);
    let pay = TypedTool::new("pay", "Pays.", move |_: serde_json::Value| {
        let (paid, started) = (Arc::clone(&paid), started.clone());
        async move {
            paid.fetch_add(1, Ordering::SeqCst);
            if let Some(started) = started {
                started.notify_one();
                std::future::pending::<()>().await;
            }
            Ok::<_, ToolError>("paid")
        }
    })
    .with_approval(true);
    let agent = Agent::builder(CallThenAnswer::new("pay", "done"))
        .add_tool(pay)
        .with_memory(store.clone())
        .build()
        .unwrap();
    let options = WorkerOptions::new()
        .with_poll_interval(Duration::from_millis(100))
        .with_drain_deadline(Duration::from_millis(50));
    Worker::builder(store.clone())
        .add_agent("pay", agent)
        .with_options(options)
        .build()
        .unwrap()
}

/// A payment approved, then cut short by its worker's stop, and found in
/// doubt by a second worker, which goes on working: the store, the run,
/// the call in doubt, how many times it was paid, and the second worker.
struct Doubted {
    store: InMemoryJournal,
    run: klieo_types::RunId,
    doubted: klieo_runtime::PendingApproval,
    paid: Arc<AtomicUsize>,
    shutdown: CancellationToken,
    working: tokio::task::JoinHandle<klieo_runtime::WorkerReport>,
}

async fn doubted() -> Doubted {
    let (store, paid) = (&InMemoryJournal::new(), &Arc::new(AtomicUsize::new(0)));
    let run = store
        .submit(&Submission::new("pay", "pay Ada"))
        .await
        .unwrap();
    let started = Arc::new(Notify::new());
    let first = payer(store, paid, Some(Arc::clone(&started)));
    let stop_first = CancellationToken::new();
    let token = stop_first.clone();
    let working = tokio::spawn(async move { first.run(token).await });
    assert_eq!(wait(store, run, LONG).await.unwrap(), RunState::Suspended);
    let waiting = pending_approval(store, run).await.unwrap().unwrap();
    let approve = Decision::Approve { by: "ada".into() };
    record_decision(store, &waiting.ticket, approve)
        .await
        .unwrap();
    started.notified().await;
    // The worker stops while it pays: whether it paid is unknown.
    stop_first.cancel();
    working.await.unwrap();

    let second = payer(store, paid, None);
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    let working = tokio::spawn(async move { second.run(token).await });
    assert_eq!(wait(store, run, LONG).await.unwrap(), RunState::Suspended);
    let doubted = in_doubt(store, run)
        .await
        .unwrap()
        .expect("the payment is in doubt");
    assert_eq!(doubted.tool, "pay");
    Doubted {
        store: store.clone(),
        run,
        doubted,
        paid: Arc::clone(paid),
        shutdown,
        working,
    }
}

/// What a person found of the payment in doubt: it happened.
fn receipt() -> Settled {
    Settled::Happened {
        output: serde_json::json!("receipt 42"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_call_in_doubt_is_settled_from_the_store_and_a_worker_goes_on_at_once() {
    let Doubted {
        store,
        run,
        doubted,
        paid,
        shutdown,
        working,
    } = doubted().await;
    assert!(
        store.lease(run, "anyone", LONG).await.unwrap(),
        "the worker that found it in doubt gave its lease up"
    );
    store.release(run, "anyone").await.unwrap();

    record_settlement(&store, &doubted.ticket, receipt(), "ada")
        .await
        .unwrap();
    let done = wait(&store, run, LONG).await.unwrap();
    assert_eq!(
        done,
        RunState::Completed {
            answer: "done".into()
        }
    );
    assert_eq!(
        paid.load(Ordering::SeqCst),
        1,
        "paid once: settling runs nothing"
    );
    shutdown.cancel();
    working.await.unwrap();
    let log = store.replay(run).await.unwrap();
    assert!(log.iter().any(|e| matches!(
        e,
        Episode::ToolCall { result: ToolOutcome::Ok { output }, .. } if output == "receipt 42"
    )));
}

#[tokio::test(start_paused = true)]
async fn a_settlement_of_a_run_cancelled_while_in_doubt_says_the_run_ended() {
    let Doubted {
        store,
        run,
        doubted,
        paid,
        shutdown,
        working,
    } = doubted().await;
    store.cancel(run, "ops").await.unwrap();

    let refused = record_settlement(&store, &doubted.ticket, receipt(), "ada").await;
    let Err(Error::TicketRejected { reason, .. }) = &refused else {
        panic!("refused: {refused:?}");
    };
    assert!(reason.contains("has ended"), "{reason}");
    shutdown.cancel();
    working.await.unwrap();
    assert_eq!(paid.load(Ordering::SeqCst), 1, "the call never ran again");
}
