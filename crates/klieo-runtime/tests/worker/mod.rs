//! Workers driving submitted runs on the in-memory journal, on paused
//! tokio time: submit and wait, the concurrency bound, runs no worker
//! knows, runs taken over (`takeover`), cancel, and the builder's checks.

mod gated;
mod shutdown;
mod takeover;
mod wakeups;

use crate::durable::support::{count, Counted};
use klieo_runtime::{wait, Agent, Worker, WorkerOptions, WorkerReport};
use klieo_store::InMemoryJournal;
use klieo_types::testing::CallThenAnswer;
use klieo_types::{
    Commit, ConfigError, Episode, EpisodicMemory, Error, Journal, MemoryError, Message, RunId,
    RunQueue, RunState, Submission, ThreadId,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const TTL: Duration = Duration::from_secs(30);
const LONG: Duration = Duration::from_secs(3600);

fn agent(store: &InMemoryJournal, work: Counted) -> Agent {
    Agent::builder(CallThenAnswer::new("work", "done"))
        .add_tool(work)
        .with_memory(store.clone())
        .build()
        .unwrap()
}

fn worker(store: &InMemoryJournal, agent: Agent, options: WorkerOptions) -> Worker {
    Worker::builder(store.clone())
        .add_agent("support", agent)
        .with_options(options)
        .build()
        .unwrap()
}

fn options() -> WorkerOptions {
    WorkerOptions::new()
        .with_lease_ttl(TTL)
        .with_poll_interval(Duration::from_millis(100))
        .with_drain_deadline(Duration::from_secs(5))
}

/// Starts `worker` in a task of its own; cancel the token to drain it.
fn start(worker: Worker) -> (CancellationToken, JoinHandle<WorkerReport>) {
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    (
        shutdown,
        tokio::spawn(async move { worker.run(token).await }),
    )
}

fn completed() -> RunState {
    RunState::Completed {
        answer: "done".into(),
    }
}

#[tokio::test(start_paused = true)]
async fn a_submitted_run_is_driven_by_a_worker_and_waited_for() {
    let store = InMemoryJournal::new();
    let works = Arc::new(AtomicUsize::new(0));
    let run = store
        .submit(&Submission::new("support", "do the work"))
        .await
        .unwrap();
    let worker = worker(
        &store,
        agent(&store, Counted::new("work", false, &works)),
        options(),
    );
    let (shutdown, working) = start(worker);
    assert_eq!(wait(&store, run, LONG).await.unwrap(), completed());
    shutdown.cancel();
    let report = working.await.unwrap();
    assert_eq!((report.finished, report.released.len()), (1, 0));
    assert_eq!(count(&works), 1);
    let log = store.replay(run).await.unwrap();
    assert!(
        matches!(log.first(), Some(Episode::Started { .. })),
        "{log:?}"
    );
    assert!(
        matches!(log.last(), Some(Episode::Completed { .. })),
        "{log:?}"
    );
}

/// A tool that tracks how many of its calls run at once.
struct Gauge {
    now: AtomicUsize,
    most: AtomicUsize,
}

#[tokio::test(start_paused = true)]
async fn a_worker_drives_many_runs_at_most_its_concurrency_at_once() {
    let store = InMemoryJournal::new();
    let gauge = Arc::new(Gauge {
        now: AtomicUsize::new(0),
        most: AtomicUsize::new(0),
    });
    let tracked = Arc::clone(&gauge);
    let work =
        klieo_runtime::TypedTool::new("work", "works a while", move |_: serde_json::Value| {
            let gauge = Arc::clone(&tracked);
            async move {
                let now = gauge.now.fetch_add(1, Ordering::SeqCst) + 1;
                gauge.most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(1)).await;
                gauge.now.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, klieo_types::ToolError>("worked")
            }
        });
    let agent = Agent::builder(CallThenAnswer::new("work", "done"))
        .add_tool(work)
        .with_memory(store.clone())
        .build()
        .unwrap();
    let mut runs = Vec::new();
    for i in 0..20 {
        let submission = Submission::new("support", format!("job {i}"));
        runs.push(store.submit(&submission).await.unwrap());
    }
    let worker = worker(&store, agent, options().with_concurrency(3));
    let (shutdown, working) = start(worker);
    for run in &runs {
        assert_eq!(wait(&store, *run, LONG).await.unwrap(), completed());
    }
    shutdown.cancel();
    assert_eq!(working.await.unwrap().finished, 20);
    assert_eq!(
        gauge.most.load(Ordering::SeqCst),
        3,
        "three runs at once, never more"
    );
}

#[tokio::test(start_paused = true)]
async fn a_run_of_an_agent_no_worker_holds_stays_queued() {
    let store = InMemoryJournal::new();
    let works = Arc::new(AtomicUsize::new(0));
    let run = store
        .submit(&Submission::new("billing", "refund"))
        .await
        .unwrap();
    let worker = worker(
        &store,
        agent(&store, Counted::new("work", false, &works)),
        options(),
    );
    let (shutdown, working) = start(worker);
    // The wait runs out on paused time, the worker looking all along.
    let state = wait(&store, run, Duration::from_secs(10)).await.unwrap();
    assert_eq!(state, RunState::Queued, "never dropped, never run");
    shutdown.cancel();
    assert_eq!(working.await.unwrap(), WorkerReport::default());
    assert_eq!(count(&works), 0);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_run_is_never_claimed_and_its_wait_says_who() {
    let store = InMemoryJournal::new();
    let works = Arc::new(AtomicUsize::new(0));
    let later = SystemTime::now() + LONG;
    let submission = Submission::new("support", "work").with_not_before(later);
    let run = store.submit(&submission).await.unwrap();
    let cancelled = RunState::Cancelled { by: "ops".into() };
    assert_eq!(
        store.cancel(run, "ops").await.unwrap(),
        Some(cancelled.clone())
    );
    let worker = worker(
        &store,
        agent(&store, Counted::new("work", false, &works)),
        options(),
    );
    let (shutdown, working) = start(worker);
    assert_eq!(wait(&store, run, LONG).await.unwrap(), cancelled);
    shutdown.cancel();
    assert_eq!(working.await.unwrap().finished, 0);
    assert_eq!(count(&works), 0);
}

#[tokio::test(start_paused = true)]
async fn a_running_run_cancelled_elsewhere_is_stopped_by_its_worker() {
    let store = InMemoryJournal::new();
    let (works, started) = (Arc::new(AtomicUsize::new(0)), Arc::new(Notify::new()));
    let hanging = Counted::new("work", false, &works).hanging(&started);
    let one_at_a_time = options().with_concurrency(1);
    let (shutdown, working) = start(worker(&store, agent(&store, hanging), one_at_a_time));
    let first = store
        .submit(&Submission::new("support", "a"))
        .await
        .unwrap();
    started.notified().await;
    let cancelled = RunState::Cancelled { by: "ops".into() };
    assert_eq!(
        store.cancel(first, "ops").await.unwrap(),
        Some(cancelled.clone())
    );
    assert_eq!(wait(&store, first, LONG).await.unwrap(), cancelled);

    // The worker drives one run at a time: the next one's tool starts
    // only once the cancelled run was stopped (at its lease's renewal).
    let second = store
        .submit(&Submission::new("support", "b"))
        .await
        .unwrap();
    started.notified().await;
    assert_eq!(count(&works), 2);
    assert_eq!(store.state(second).await.unwrap(), Some(RunState::Running));
    let log = store.replay(first).await.unwrap();
    assert_eq!(
        log.last(),
        Some(&Episode::Failed {
            error: "cancelled by ops".into()
        }),
        "nothing is written after the cancel: {log:?}"
    );
    shutdown.cancel();
    let report = working.await.unwrap();
    assert_eq!(report.released, vec![second]);
    assert_eq!(report.finished, 0, "the cancel ended the first run");
}

#[tokio::test(start_paused = true)]
async fn an_idle_worker_is_woken_by_a_submit_before_its_next_poll() {
    let store = InMemoryJournal::new();
    let works = Arc::new(AtomicUsize::new(0));
    let hourly = options().with_poll_interval(LONG);
    let idle = worker(
        &store,
        agent(&store, Counted::new("work", false, &works)),
        hourly,
    );
    let (shutdown, working) = start(idle);
    // Its first claim found nothing; its next poll is an hour away.
    tokio::task::yield_now().await;
    let run = store
        .submit(&Submission::new("support", "work"))
        .await
        .unwrap();
    let soon = Duration::from_secs(1);
    assert_eq!(wait(&store, run, soon).await.unwrap(), completed());
    shutdown.cancel();
    assert_eq!(working.await.unwrap().finished, 1);
}

#[tokio::test(start_paused = true)]
async fn a_drained_workers_run_wakes_an_idle_worker() {
    let store = InMemoryJournal::new();
    let (works, started) = (Arc::new(AtomicUsize::new(0)), Arc::new(Notify::new()));
    let hanging = Counted::new("work", true, &works).hanging(&started);
    let (busy_shutdown, busy_working) = start(worker(&store, agent(&store, hanging), options()));
    let run = store
        .submit(&Submission::new("support", "work"))
        .await
        .unwrap();
    started.notified().await;
    // Idle: its first claim finds the run leased; its next poll is an
    // hour away.
    let hourly = options().with_poll_interval(LONG);
    let idle = worker(
        &store,
        agent(&store, Counted::new("work", true, &works)),
        hourly,
    );
    let (idle_shutdown, idle_working) = start(idle);
    tokio::task::yield_now().await;
    busy_shutdown.cancel();
    assert_eq!(busy_working.await.unwrap().released, vec![run]);
    // Given up at the drain deadline (5 s): the idle worker takes it at
    // once, not at its next poll.
    let soon = Duration::from_secs(1);
    assert_eq!(wait(&store, run, soon).await.unwrap(), completed());
    idle_shutdown.cancel();
    assert_eq!(idle_working.await.unwrap().finished, 1);
}

#[tokio::test(start_paused = true)]
async fn a_wait_without_a_bound_lasts_until_the_run_is_over() {
    let store = InMemoryJournal::new();
    let works = Arc::new(AtomicUsize::new(0));
    let run = store
        .submit(&Submission::new("support", "work"))
        .await
        .unwrap();
    let driving = worker(
        &store,
        agent(&store, Counted::new("work", false, &works)),
        options(),
    );
    let (shutdown, working) = start(driving);
    assert_eq!(wait(&store, run, Duration::MAX).await.unwrap(), completed());
    shutdown.cancel();
    working.await.unwrap();
}

/// A store that stops answering holds no wait past its bound.
#[tokio::test(start_paused = true)]
async fn a_wait_on_a_store_that_does_not_answer_ends_at_its_bound() {
    let store = InMemoryJournal::new();
    let run = store
        .submit(&Submission::new("support", "work"))
        .await
        .unwrap();
    let queue = gated::GatedClaims::new(&store);
    queue.silent_state.store(true, Ordering::SeqCst);
    let waited = tokio::time::timeout(
        Duration::from_secs(20),
        wait(&queue, run, Duration::from_secs(10)),
    )
    .await
    .expect("the wait ends at its bound");
    match waited {
        Err(klieo_types::Error::Memory(e)) => {
            assert!(e.to_string().contains("did not say within 10s"), "{e}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn waiting_on_a_run_the_store_does_not_know_is_not_found() {
    let store = InMemoryJournal::new();
    let unknown = RunId::new();
    match wait(&store, unknown, LONG).await {
        Err(Error::Memory(MemoryError::NotFound(text))) => {
            assert!(text.contains(&unknown.to_string()), "{text}");
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
}

#[test]
fn a_worker_without_agents_or_with_options_that_cannot_work_is_refused() {
    let store = InMemoryJournal::new();
    match Worker::builder(store.clone()).build() {
        Err(ConfigError::Invalid { name, .. }) => assert_eq!(name, "WorkerBuilder::add_agent"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let works = Arc::new(AtomicUsize::new(0));
    let refused = Worker::builder(store.clone())
        .add_agent(
            "support",
            agent(&store, Counted::new("work", false, &works)),
        )
        .with_options(WorkerOptions::new().with_concurrency(0))
        .build();
    match refused {
        Err(ConfigError::Invalid { name, .. }) => assert_eq!(name, "WorkerOptions::concurrency"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_worker_with_an_agent_named_nothing_is_refused() {
    let store = InMemoryJournal::new();
    let works = Arc::new(AtomicUsize::new(0));
    let refused = Worker::builder(store.clone())
        .add_agent("", agent(&store, Counted::new("work", false, &works)))
        .build();
    match refused {
        Err(ConfigError::Invalid { name, reason, .. }) => {
            assert_eq!(name, "WorkerBuilder::add_agent");
            assert!(reason.contains("\"\""), "{reason}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_worker_with_an_agent_that_keeps_its_runs_in_its_own_process_is_refused() {
    let store = InMemoryJournal::new();
    let works = Arc::new(AtomicUsize::new(0));
    // Built without `with_memory(store)`: its runs would never end in the
    // store, which would hand each out again every lease TTL.
    let forgetful = Agent::builder(CallThenAnswer::new("work", "done"))
        .add_tool(Counted::new("work", false, &works))
        .build()
        .unwrap();
    let refused = Worker::builder(store)
        .add_agent("support", forgetful)
        .build();
    match refused {
        Err(ConfigError::Invalid { name, reason, .. }) => {
            assert_eq!(name, "WorkerBuilder::add_agent");
            assert!(reason.contains("\"support\""), "{reason}");
            assert!(reason.contains("with_memory"), "{reason}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// A run written without episodes, then assigned, has nothing a worker
/// can take up: it is ended, not claimed again each lease TTL.
#[tokio::test(start_paused = true)]
async fn a_run_assigned_with_nothing_to_take_up_is_ended() {
    let store = InMemoryJournal::new();
    let works = Arc::new(AtomicUsize::new(0));
    let run = RunId::new();
    let bare = Commit::new(run, ThreadId::new("bare")).with_messages(vec![Message::user("hi")]);
    store.commit(bare).await.unwrap();
    assert_eq!(
        store.assign(run, "support").await.unwrap(),
        Some(RunState::Running)
    );
    let work = Counted::new("work", false, &works);
    let (shutdown, working) = start(worker(&store, agent(&store, work), options()));
    let ended = wait(&store, run, LONG).await.unwrap();
    let RunState::Failed { error } = &ended else {
        panic!("ended: {ended:?}");
    };
    assert!(error.contains("no episodes"), "{error}");
    assert_eq!(count(&works), 0, "nothing ran");
    shutdown.cancel();
    let report = working.await.unwrap();
    assert_eq!(report.finished, 0, "not driven: ended for want of a log");
}
