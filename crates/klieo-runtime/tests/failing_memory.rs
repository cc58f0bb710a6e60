//! A conversation memory that fails while the run's event log is healthy:
//! both modes end the run's log with `Failed`, a streamed run with one
//! `Err` item, as the terminal contract says.

use crate::support::{collect, context, ended, episodes, failed_text, start, terminal, text};
use klieo_runtime::{run_steps, AgentContext, InMemoryShortTerm, RunOptions};
use klieo_types::testing::{text_chunks, ScriptedLlm};
use klieo_types::{
    async_trait, Error, MemoryError, Message, ShortTermMemory, ThreadId, Transcript,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A conversation memory whose appends fail once `full` is set ("disk
/// full"); loads still work.
struct FullDisk {
    inner: InMemoryShortTerm,
    full: AtomicBool,
}

#[async_trait]
impl ShortTermMemory for FullDisk {
    async fn append(&self, thread: &ThreadId, messages: Vec<Message>) -> Result<(), MemoryError> {
        if self.full.load(Ordering::SeqCst) {
            return Err(MemoryError::backend("disk full"));
        }
        self.inner.append(thread, messages).await
    }

    async fn load(&self, thread: &ThreadId, max_tokens: usize) -> Result<Transcript, MemoryError> {
        self.inner.load(thread, max_tokens).await
    }

    async fn clear(&self, thread: &ThreadId) -> Result<(), MemoryError> {
        self.inner.clear(thread).await
    }
}

/// A context whose conversation memory (separate from its healthy event
/// log) has the user's message, then fails every append.
async fn full_disk(llm: &ScriptedLlm) -> (AgentContext, ThreadId) {
    let memory = Arc::new(FullDisk {
        inner: InMemoryShortTerm::new(),
        full: AtomicBool::new(false),
    });
    let (ctx, thread) = context(llm).await;
    let history = ctx.short_term().load(&thread, usize::MAX).await.unwrap();
    memory
        .append(&thread, history.iter().cloned().collect())
        .await
        .unwrap();
    memory.full.store(true, Ordering::SeqCst);
    (ctx.with_short_term(memory), thread)
}

const DISK_FULL: &str = "memory backend failed: disk full";

#[tokio::test]
async fn a_failing_conversation_memory_ends_a_blocking_runs_log_with_failed() {
    let llm = ScriptedLlm::new().then_text("hello");
    let (ctx, thread) = full_disk(&llm).await;
    let error = run_steps(&ctx, "", thread, RunOptions::default())
        .await
        .unwrap_err();
    assert_eq!(error, Error::Memory(MemoryError::backend("disk full")));
    assert_eq!(
        failed_text(&episodes(&ctx).await).as_deref(),
        Some(DISK_FULL)
    );
}

#[tokio::test]
async fn a_failing_conversation_memory_ends_a_streamed_run_with_one_item_and_failed() {
    let llm = ScriptedLlm::new().then_chunks(text_chunks(&["hel", "lo"], None));
    let (ctx, thread) = full_disk(&llm).await;
    let items = collect(start(&ctx, thread, RunOptions::default()).await).await;
    assert_eq!(text(&items), "hello");
    assert_eq!(
        ended(&terminal(&items), DISK_FULL),
        &Error::Memory(MemoryError::backend("disk full"))
    );
    assert_eq!(
        failed_text(&episodes(&ctx).await).as_deref(),
        Some(DISK_FULL)
    );
}
