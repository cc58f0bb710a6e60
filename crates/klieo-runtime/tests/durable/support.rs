//! What the durable-run tests share: a tool that counts its runs, a model
//! that tells when it is called, a store whose commits go through a hook,
//! episode outcomes.

use super::store::Store;
use klieo_types::testing::ScriptedLlm;
use klieo_types::{
    async_trait, Capabilities, ChatRequest, ChatResponse, Commit, Episode, EpisodicMemory, Journal,
    KeySpend, KeyStanding, LlmClient, LlmError, MemoryError, Message, PendingStep, Reservation,
    Reserved, RunId, RunRecord, ShortTermMemory, SpendLedger, ThreadId, Tool, ToolContext, ToolDef,
    ToolError, ToolPolicy, Transcript,
};
use serde_json::json;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// A tool that counts its runs; when told to, it tells when it starts and
/// then hangs, or waits to be let go on.
pub(crate) struct Counted {
    def: ToolDef,
    runs: Arc<AtomicUsize>,
    idempotent: bool,
    approval: bool,
    hang: Option<Arc<Notify>>,
    proceed: Option<Arc<Notify>>,
}

impl Counted {
    pub(crate) fn new(name: &str, idempotent: bool, runs: &Arc<AtomicUsize>) -> Self {
        Self {
            def: ToolDef::new(name, "counts its runs", json!({"type": "object"})),
            runs: Arc::clone(runs),
            idempotent,
            approval: false,
            hang: None,
            proceed: None,
        }
    }

    /// Needs a person's approval before it runs.
    pub(crate) fn watched(mut self) -> Self {
        self.approval = true;
        self
    }

    /// Tells `started` when it runs, then never answers.
    pub(crate) fn hanging(mut self, started: &Arc<Notify>) -> Self {
        self.hang = Some(Arc::clone(started));
        self
    }

    /// Tells `started` when it runs, then answers once `proceed` is told.
    pub(crate) fn waiting(mut self, started: &Arc<Notify>, proceed: &Arc<Notify>) -> Self {
        self.proceed = Some(Arc::clone(proceed));
        self.hanging(started)
    }
}

#[async_trait]
impl Tool for Counted {
    fn def(&self) -> &ToolDef {
        &self.def
    }

    fn policy(&self) -> ToolPolicy {
        ToolPolicy::new()
            .with_idempotent(self.idempotent)
            .with_approval(self.approval)
    }

    async fn invoke(
        &self,
        _args: serde_json::Value,
        ctx: ToolContext<'_>,
    ) -> Result<serde_json::Value, ToolError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        if let Some(started) = &self.hang {
            started.notify_one();
            match &self.proceed {
                Some(proceed) => proceed.notified().await,
                None => std::future::pending::<()>().await,
            }
        }
        Ok(json!({"call": ctx.call_id}))
    }
}

/// A model that tells when each call starts.
pub(crate) struct Told {
    pub(crate) inner: ScriptedLlm,
    pub(crate) called: Arc<Notify>,
}

#[async_trait]
impl LlmClient for Told {
    fn name(&self) -> &str {
        "told"
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn complete(&self, req: ChatRequest) -> Result<ChatResponse, LlmError> {
        self.called.notify_one();
        self.inner.complete(req).await
    }
}

/// Each episode's kind, with a tool call's outcome (`tool_call:ok`).
pub(crate) fn outcomes(log: &[Episode]) -> Vec<String> {
    log.iter()
        .map(|e| match e {
            Episode::ToolCall { result, .. } => {
                let json = serde_json::to_value(result).unwrap();
                format!("tool_call:{}", json["status"].as_str().unwrap_or("?"))
            }
            other => other.kind().to_owned(),
        })
        .collect()
}

/// A count of `runs` so far.
pub(crate) fn count(runs: &AtomicUsize) -> usize {
    runs.load(Ordering::SeqCst)
}

/// What [`Hooked`] does with a commit, given the store: writes it, and
/// acts before or after (a pause, a worker's claim), or refuses it.
pub(crate) type OnCommit = Arc<
    dyn Fn(Store, Commit) -> Pin<Box<dyn Future<Output = Result<(), MemoryError>> + Send>>
        + Send
        + Sync,
>;

/// A hook that writes each commit and, after the first that holds an
/// episode `matching`, says so on the first `Notify` and waits on the
/// second before it returns (a write landed, its answer held back).
pub(crate) fn held_after(matching: fn(&Episode) -> bool) -> (OnCommit, Arc<Notify>, Arc<Notify>) {
    let (landed, held) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let (tell, hold) = (Arc::clone(&landed), Arc::clone(&held));
    let on_commit: OnCommit = Arc::new(move |store, commit| {
        let (tell, hold) = (Arc::clone(&tell), Arc::clone(&hold));
        Box::pin(async move {
            let matched = commit.episodes.iter().any(matching);
            store.commit(commit).await?;
            if matched {
                tell.notify_one();
                hold.notified().await;
            }
            Ok(())
        })
    });
    (on_commit, landed, held)
}

/// What [`Hooked`] answers a lease renewal with, given the store and
/// whether this is the first ask (the take): the store's answer, or a
/// failure.
pub(crate) type OnLease = Arc<
    dyn Fn(
            Store,
            RunId,
            String,
            Duration,
        ) -> Pin<Box<dyn Future<Output = Result<bool, MemoryError>> + Send>>
        + Send
        + Sync,
>;

/// The store under test, its commits (and, when asked, its leases)
/// through a hook: a store whose timing falls just so, or that refuses a
/// write.
pub(crate) struct Hooked {
    pub(crate) inner: Store,
    pub(crate) on_commit: OnCommit,
    pub(crate) on_lease: Option<OnLease>,
    /// Told when a reservation on a key was made, which then is never
    /// answered: a store whose write landed as its caller went away.
    pub(crate) on_reserve: Option<Arc<Notify>>,
    /// A run whose log cannot be decoded (a newer klieo wrote it).
    pub(crate) unreadable: Option<RunId>,
    /// Whether giving a lease up never answers.
    pub(crate) release_hangs: bool,
}

impl Hooked {
    /// `inner`, its commits through `on_commit`.
    pub(crate) fn new(inner: Store, on_commit: OnCommit) -> Self {
        Self {
            inner,
            on_commit,
            on_lease: None,
            on_reserve: None,
            unreadable: None,
            release_hangs: false,
        }
    }

    /// Its leases given up with no answer ever.
    #[allow(
        dead_code,
        reason = "the in-memory journal's lease scenarios use it, on paused time; SQLite's do not"
    )]
    pub(crate) fn hanging_on_release(mut self) -> Self {
        self.release_hangs = true;
        self
    }

    /// Its log of `run` undecodable, as one a newer klieo wrote.
    pub(crate) fn with_unreadable_log(mut self, run: RunId) -> Self {
        self.unreadable = Some(run);
        self
    }

    /// Its key reservations made, then never answered, saying so on
    /// `made`.
    pub(crate) fn hanging_after_reserve(mut self, made: &Arc<Notify>) -> Self {
        self.on_reserve = Some(Arc::clone(made));
        self
    }

    /// Its leases through `on_lease` too.
    #[allow(
        dead_code,
        reason = "the in-memory journal's lease scenarios use it, on paused time; SQLite's do not"
    )]
    pub(crate) fn with_leases(mut self, on_lease: OnLease) -> Self {
        self.on_lease = Some(on_lease);
        self
    }
}

#[async_trait]
impl ShortTermMemory for Hooked {
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
impl EpisodicMemory for Hooked {
    async fn record(&self, run: RunId, episode: Episode) -> Result<(), MemoryError> {
        self.inner.record(run, episode).await
    }
    async fn replay(&self, run: RunId) -> Result<Vec<Episode>, MemoryError> {
        if self.unreadable == Some(run) {
            return Err(MemoryError::Serialization {
                reason: format!("episode of run {run}: unknown variant `from_a_newer_klieo`"),
                cause: None,
            });
        }
        self.inner.replay(run).await
    }
    async fn list_runs(&self) -> Result<Vec<RunId>, MemoryError> {
        self.inner.list_runs().await
    }
}

#[async_trait]
impl Journal for Hooked {
    async fn commit(&self, commit: Commit) -> Result<(), MemoryError> {
        (self.on_commit)(self.inner.clone(), commit).await
    }
    async fn run(&self, run: RunId) -> Result<Option<RunRecord>, MemoryError> {
        self.inner.run(run).await
    }
    async fn pending(&self, run: RunId) -> Result<Option<PendingStep>, MemoryError> {
        self.inner.pending(run).await
    }
    async fn lease(&self, run: RunId, holder: &str, ttl: Duration) -> Result<bool, MemoryError> {
        match &self.on_lease {
            Some(on_lease) => on_lease(self.inner.clone(), run, holder.to_owned(), ttl).await,
            None => self.inner.lease(run, holder, ttl).await,
        }
    }
    async fn release(&self, run: RunId, holder: &str) -> Result<(), MemoryError> {
        if self.release_hangs {
            std::future::pending::<()>().await;
        }
        self.inner.release(run, holder).await
    }
    fn ledger(&self) -> Option<&dyn SpendLedger> {
        self.inner.ledger().map(|_| self as &dyn SpendLedger)
    }
}

#[async_trait]
impl SpendLedger for Hooked {
    async fn reserve(&self, reservation: &Reservation) -> Result<Reserved, MemoryError> {
        let ledger = self.inner.ledger().expect("the store keeps a ledger");
        let reserved = ledger.reserve(reservation).await?;
        if let Some(made) = &self.on_reserve {
            made.notify_one();
            std::future::pending::<()>().await;
        }
        Ok(reserved)
    }
    async fn standing(
        &self,
        key: &str,
        period: u64,
        run: RunId,
    ) -> Result<KeyStanding, MemoryError> {
        let ledger = self.inner.ledger().expect("the store keeps a ledger");
        ledger.standing(key, period, run).await
    }
}

/// A run of an agent on `store` (with `options`) whose `send_mail`
/// (counting into `mails`) has started and hangs: the future that drives
/// it, holding its lease while it lives. Drop it as its process dies.
pub(crate) async fn driven_while_hanging(
    store: &Store,
    mails: &Arc<AtomicUsize>,
    options: klieo_runtime::RunOptions,
) -> Pin<Box<dyn Future<Output = Result<klieo_runtime::Answer, klieo_types::Error>> + Send>> {
    let started = Arc::new(Notify::new());
    let call = klieo_types::ToolCall::new("c1", "send_mail", json!({}));
    let agent = klieo_runtime::Agent::builder(ScriptedLlm::new().then_tool_calls(vec![call]))
        .add_tool(Counted::new("send_mail", false, mails).hanging(&started))
        .with_memory(store.clone())
        .with_options(options)
        .build()
        .expect("the options are valid");
    let mut run: Pin<Box<dyn Future<Output = _> + Send>> =
        Box::pin(async move { agent.session("t").run("mail Ada").await });
    tokio::select! {
        answer = &mut run => panic!("send_mail hangs: {answer:?}"),
        () = started.notified() => {}
    }
    run
}

/// The log of `run` once it ends `failed`, as a drop records it, in a
/// task of its own: read again, the scheduler let run between, a
/// thousand times at most (the log as it is then).
pub(crate) async fn failed_log(store: &Store, run: klieo_types::RunId) -> Vec<Episode> {
    let mut log = Vec::new();
    for _ in 0..1_000 {
        log = store.replay(run).await.unwrap();
        if log.last().is_some_and(|e| e.kind() == "failed") {
            break;
        }
        tokio::task::yield_now().await;
    }
    log
}

/// What `journal`'s ledger holds reserved on `key` now.
pub(crate) async fn reserved(journal: &dyn Journal, key: &str) -> KeySpend {
    let ledger = journal.ledger().expect("the store keeps a ledger");
    let standing = ledger.standing(key, 0, RunId::new()).await;
    standing.expect("the ledger answers").reserved
}

/// Whether what `journal` holds reserved on `key` is given back within a
/// bounded number of yields: a dropped run's ending runs in a task of
/// its own.
pub(crate) async fn given_back(journal: &dyn Journal, key: &str) -> bool {
    for _ in 0..10_000 {
        tokio::task::yield_now().await;
        if reserved(journal, key).await == KeySpend::default() {
            return true;
        }
    }
    false
}
