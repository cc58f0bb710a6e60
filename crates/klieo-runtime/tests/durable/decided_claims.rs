//! A decision made with the agent where the run's fleet may claim it: the
//! agent takes the run's lease before it records the decision, so no
//! worker claims the run in between and the agent goes on with it.

use super::store::{fresh, Store};
use super::support::{count, Counted};
use klieo_runtime::Agent;
use klieo_types::testing::ScriptedLlm;
use klieo_types::{
    async_trait, Claimed, Commit, Episode, EpisodicMemory, Error, Journal, MemoryError, Message,
    PendingStep, RunId, RunQueue, RunRecord, ShortTermMemory, ThreadId, ToolCall, Transcript,
};
use serde_json::json;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The store, and a worker that claims the agent's runs right after each
/// commit that records a decision, as a poll that lands just then does.
struct ClaimsAfterDecisions {
    inner: Store,
    claimed: Arc<Mutex<Vec<Claimed>>>,
}

#[async_trait]
impl ShortTermMemory for ClaimsAfterDecisions {
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
impl EpisodicMemory for ClaimsAfterDecisions {
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
impl Journal for ClaimsAfterDecisions {
    async fn commit(&self, commit: Commit) -> Result<(), MemoryError> {
        let decided = commit
            .episodes
            .iter()
            .any(|e| matches!(e, Episode::Approved { .. }));
        self.inner.commit(commit).await?;
        if decided {
            let agents = ["support".to_owned()];
            let claim = self
                .inner
                .claim("racer", &agents, 1, Duration::from_secs(30));
            let mut claimed = claim.await?;
            self.claimed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .append(&mut claimed);
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

#[tokio::test]
async fn an_approval_with_the_agent_is_not_lost_to_a_workers_claim() {
    let (_dir, store) = fresh().await;
    let claimed = Arc::new(Mutex::new(Vec::new()));
    let racing = ClaimsAfterDecisions {
        inner: store.clone(),
        claimed: Arc::clone(&claimed),
    };
    let works = Arc::new(AtomicUsize::new(0));
    let call = ToolCall::new("c1", "work", json!({}));
    let llm = ScriptedLlm::new()
        .then_tool_calls(vec![call])
        .then_text("Done.");
    let agent = Agent::builder(llm)
        .add_tool(Counted::new("work", false, &works).watched())
        .with_memory(racing)
        .build()
        .expect("the options are valid");
    let Err(Error::Suspended { ticket, .. }) = agent.session("t").run("work").await else {
        panic!("the run waits for a person");
    };
    // The run is the fleet's too: a worker may claim it once decided.
    store.assign(ticket.run, "support").await.unwrap();

    let answer = agent.approve(&ticket).await;
    assert_eq!(answer.map(|a| a.text).ok().as_deref(), Some("Done."));
    let claimed = claimed.lock().unwrap_or_else(|e| e.into_inner());
    assert!(claimed.is_empty(), "a worker claimed it: {claimed:?}");
    assert_eq!(count(&works), 1);
}
