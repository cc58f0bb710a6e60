//! [`GatedClaims`]: the in-memory journal as a store whose claims, leases
//! and wake-ups a test holds in its hands.

use async_trait::async_trait;
use futures_util::stream;
use klieo_store::InMemoryJournal;
use klieo_types::{
    Claimed, Commit, Episode, EpisodicMemory, Journal, MemoryError, Message, RunId, RunQueue,
    RunRecord, RunState, ShortTermMemory, Submission, ThreadId, Transcript, Wakeups,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};

/// The in-memory journal, whose claims wait for a permit of `gate`
/// (none at first) after telling `asked` (or never answer, once, when
/// `hang_next`), whose leases and releases never
/// answer once `stuck`, whose wake-ups come when the test sends them, and
/// whose asks for wake-ups or a run's state never answer once
/// `silent_wakeups` or `silent_state`.
#[derive(Clone)]
pub(super) struct GatedClaims {
    store: InMemoryJournal,
    pub(super) asked: Arc<Notify>,
    pub(super) gate: Arc<Semaphore>,
    pub(super) stuck: Arc<AtomicBool>,
    /// Each permit a wake-up the store sends.
    pub(super) wake: Arc<Notify>,
    /// Told each time the worker reads a wake-up.
    pub(super) woken: Arc<Notify>,
    /// Whether the next claim never answers (the ones after it do).
    pub(super) hang_next: Arc<AtomicBool>,
    pub(super) silent_wakeups: Arc<AtomicBool>,
    pub(super) silent_state: Arc<AtomicBool>,
}

impl GatedClaims {
    pub(super) fn new(store: &InMemoryJournal) -> Self {
        Self {
            store: store.clone(),
            asked: Arc::new(Notify::new()),
            gate: Arc::new(Semaphore::new(0)),
            stuck: Arc::new(AtomicBool::new(false)),
            wake: Arc::new(Notify::new()),
            woken: Arc::new(Notify::new()),
            hang_next: Arc::new(AtomicBool::new(false)),
            silent_wakeups: Arc::new(AtomicBool::new(false)),
            silent_state: Arc::new(AtomicBool::new(false)),
        }
    }
}

#[async_trait]
impl ShortTermMemory for GatedClaims {
    async fn append(&self, thread: &ThreadId, messages: Vec<Message>) -> Result<(), MemoryError> {
        self.store.append(thread, messages).await
    }
    async fn load(&self, thread: &ThreadId, max_tokens: usize) -> Result<Transcript, MemoryError> {
        self.store.load(thread, max_tokens).await
    }
    async fn clear(&self, thread: &ThreadId) -> Result<(), MemoryError> {
        self.store.clear(thread).await
    }
}

#[async_trait]
impl EpisodicMemory for GatedClaims {
    async fn record(&self, run: RunId, episode: Episode) -> Result<(), MemoryError> {
        self.store.record(run, episode).await
    }
    async fn replay(&self, run: RunId) -> Result<Vec<Episode>, MemoryError> {
        self.store.replay(run).await
    }
    async fn list_runs(&self) -> Result<Vec<RunId>, MemoryError> {
        self.store.list_runs().await
    }
}

#[async_trait]
impl Journal for GatedClaims {
    async fn commit(&self, commit: Commit) -> Result<(), MemoryError> {
        self.store.commit(commit).await
    }
    async fn run(&self, run: RunId) -> Result<Option<RunRecord>, MemoryError> {
        Journal::run(&self.store, run).await
    }
    async fn lease(&self, run: RunId, holder: &str, ttl: Duration) -> Result<bool, MemoryError> {
        if self.stuck.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        self.store.lease(run, holder, ttl).await
    }
    async fn release(&self, run: RunId, holder: &str) -> Result<(), MemoryError> {
        if self.stuck.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        self.store.release(run, holder).await
    }
}

#[async_trait]
impl RunQueue for GatedClaims {
    async fn submit(&self, submission: &Submission) -> Result<RunId, MemoryError> {
        self.store.submit(submission).await
    }
    async fn claim(
        &self,
        holder: &str,
        agents: &[String],
        limit: usize,
        ttl: Duration,
    ) -> Result<Vec<Claimed>, MemoryError> {
        self.asked.notify_one();
        if self.hang_next.swap(false, Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        let permit = self.gate.acquire().await;
        drop(permit);
        self.store.claim(holder, agents, limit, ttl).await
    }
    async fn state(&self, run: RunId) -> Result<Option<RunState>, MemoryError> {
        if self.silent_state.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        self.store.state(run).await
    }
    async fn cancel(&self, run: RunId, by: &str) -> Result<Option<RunState>, MemoryError> {
        self.store.cancel(run, by).await
    }
    async fn assign(&self, run: RunId, agent: &str) -> Result<Option<RunState>, MemoryError> {
        self.store.assign(run, agent).await
    }
    /// A wake-up for each permit of `wake`, telling `woken` as it is read.
    async fn wakeups(&self) -> Result<Option<Wakeups>, MemoryError> {
        if self.silent_wakeups.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        let (wake, woken) = (Arc::clone(&self.wake), Arc::clone(&self.woken));
        let each = stream::unfold((wake, woken), |(wake, woken)| async move {
            wake.notified().await;
            woken.notify_one();
            Some(((), (wake, woken)))
        });
        Ok(Some(Box::pin(each)))
    }
}
