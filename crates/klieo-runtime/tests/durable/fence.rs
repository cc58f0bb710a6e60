//! Without leases, every commit of a resumed run is fenced against the
//! log it read: of two resumes that both got their `Resumed` in, the one
//! that read first fails with a `Conflict` at its next write, and nothing
//! runs twice.

use super::store::{fresh, Store};
use super::support::{count, Counted};
use klieo_runtime::{Agent, AgentBuilder, RunOptions};
use klieo_types::testing::ScriptedLlm;
use klieo_types::{
    async_trait, Commit, Episode, EpisodicMemory, Error, Journal, MemoryError, Message,
    PendingStep, RunId, RunRecord, ShortTermMemory, ThreadId, ToolCall, Transcript,
};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// The store, with a pause after a commit that records `Resumed`: says
/// `paused`, then waits for `go_on`.
struct PausedAfterResumed {
    inner: Store,
    paused: Arc<Notify>,
    go_on: Arc<Notify>,
}

#[async_trait]
impl ShortTermMemory for PausedAfterResumed {
    async fn append(&self, thread: &ThreadId, messages: Vec<Message>) -> Result<(), MemoryError> {
        self.inner.append(thread, messages).await
    }
    async fn load(&self, thread: &ThreadId, max_tokens: usize) -> Result<Transcript, MemoryError> {
        self.inner.load(thread, max_tokens).await
    }
    async fn clear(&self, thread: &ThreadId) -> Result<(), MemoryError> {
        self.inner.clear(thread).await
    }
}

#[async_trait]
impl EpisodicMemory for PausedAfterResumed {
    async fn record(&self, run: RunId, episode: Episode) -> Result<(), MemoryError> {
        self.inner.record(run, episode).await
    }
    async fn replay(&self, run: RunId) -> Result<Vec<Episode>, MemoryError> {
        self.inner.replay(run).await
    }
    async fn list_runs(&self) -> Result<Vec<RunId>, MemoryError> {
        self.inner.list_runs().await
    }
}

#[async_trait]
impl Journal for PausedAfterResumed {
    async fn commit(&self, commit: Commit) -> Result<(), MemoryError> {
        let resumed = commit
            .episodes
            .iter()
            .any(|e| matches!(e, Episode::Resumed { .. }));
        self.inner.commit(commit).await?;
        if resumed {
            self.paused.notify_one();
            self.go_on.notified().await;
        }
        Ok(())
    }
    async fn run(&self, run: RunId) -> Result<Option<RunRecord>, MemoryError> {
        self.inner.run(run).await
    }
    async fn pending(&self, run: RunId) -> Result<Option<PendingStep>, MemoryError> {
        self.inner.pending(run).await
    }
    async fn lease(&self, run: RunId, holder: &str, ttl: Duration) -> Result<bool, MemoryError> {
        self.inner.lease(run, holder, ttl).await
    }
    async fn release(&self, run: RunId, holder: &str) -> Result<(), MemoryError> {
        self.inner.release(run, holder).await
    }
}

fn no_lease() -> RunOptions {
    RunOptions::default().with_lease_ttl(None)
}

/// A resumer whose model asks for `send_mail` once, then answers.
fn resumer(mails: &Arc<AtomicUsize>) -> AgentBuilder {
    let call = ToolCall::new("c2", "send_mail", json!({}));
    Agent::builder(
        ScriptedLlm::new()
            .then_tool_calls(vec![call])
            .then_text("Sent."),
    )
    .add_tool(Counted::new("send_mail", false, mails))
    .with_options(no_lease())
}

#[tokio::test]
async fn of_two_resumes_without_leases_the_one_that_read_first_stops_before_running_anything() {
    let (_dir, store) = fresh().await;
    let mails = Arc::new(AtomicUsize::new(0));

    // A run that stopped while its (not idempotent) call ran.
    let started = Arc::new(Notify::new());
    let call = ToolCall::new("c1", "send_mail", json!({}));
    let crashed = Agent::builder(ScriptedLlm::new().then_tool_calls(vec![call]))
        .add_tool(Counted::new("send_mail", false, &mails).hanging(&started))
        .with_options(no_lease())
        .with_memory(store.clone())
        .build()
        .expect("the options are valid");
    let chat = crashed.session("t");
    let mut run = Box::pin(chat.run("mail Ada"));
    tokio::select! {
        answer = &mut run => panic!("send_mail hangs: {answer:?}"),
        () = started.notified() => {}
    }
    drop(run);
    let id = store.list_runs().await.unwrap()[0];
    mails.store(0, Ordering::SeqCst);

    // The first resumer gets its `Resumed` in, then pauses.
    let (paused, go_on) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let first = resumer(&mails)
        .with_memory(PausedAfterResumed {
            inner: store.clone(),
            paused: Arc::clone(&paused),
            go_on: Arc::clone(&go_on),
        })
        .build()
        .expect("the options are valid");
    let first = tokio::spawn(async move { first.resume(id).await });
    paused.notified().await;

    // The second reads the log after it, gets its own `Resumed` in, and
    // drives the run to its answer.
    let second = resumer(&mails)
        .with_memory(store.clone())
        .build()
        .expect("the options are valid");
    let answer = second.resume(id).await.unwrap();
    assert_eq!(answer.text, "Sent.");
    assert_eq!(count(&mails), 1);

    go_on.notify_one();
    let error = first
        .await
        .unwrap()
        .expect_err("the first resume is fenced out");
    assert!(
        matches!(error, Error::Memory(MemoryError::Conflict(_))),
        "{error:?}"
    );
    assert_eq!(count(&mails), 1, "send_mail ran once");
    let log = store.replay(id).await.unwrap();
    let completed = log
        .iter()
        .filter(|e| matches!(e, Episode::Completed { .. }))
        .count();
    assert_eq!(completed, 1, "{log:?}");
    assert!(
        matches!(log.last(), Some(Episode::Completed { .. })),
        "{log:?}"
    );
}
