//! The [`InMemoryJournal`] as a [`ShortTermMemory`] and an
//! [`EpisodicMemory`]: the same maps its commits write.

use crate::InMemoryJournal;
use async_trait::async_trait;
use klieo_types::{
    Episode, EpisodicMemory, History, MemoryError, Message, RunId, ShortTermMemory, ThreadId,
    ThreadSummary, Transcript,
};

#[async_trait]
impl ShortTermMemory for InMemoryJournal {
    async fn append(&self, thread: &ThreadId, messages: Vec<Message>) -> Result<(), MemoryError> {
        if messages.is_empty() {
            return Ok(());
        }
        let mut state = self.state();
        let log = state.threads.entry(thread.clone()).or_default();
        for message in messages {
            log.push(message);
        }
        Ok(())
    }

    async fn load(&self, thread: &ThreadId, max_tokens: usize) -> Result<Transcript, MemoryError> {
        Ok(self
            .state()
            .threads
            .get(thread)
            .map(|log| log.window(max_tokens))
            .unwrap_or_default())
    }

    async fn load_stable(
        &self,
        thread: &ThreadId,
        max_tokens: usize,
        granule: usize,
    ) -> Result<Transcript, MemoryError> {
        Ok(self
            .state()
            .threads
            .get(thread)
            .map(|log| log.stable_window(max_tokens, granule))
            .unwrap_or_default())
    }

    async fn load_history(
        &self,
        thread: &ThreadId,
        max_tokens: usize,
        granule: usize,
    ) -> Result<History, MemoryError> {
        Ok(self
            .state()
            .threads
            .get(thread)
            .map(|log| log.history(max_tokens, granule))
            .unwrap_or_else(|| History::new(None, Transcript::new(), 0)))
    }

    async fn add_summary(
        &self,
        thread: &ThreadId,
        summary: ThreadSummary,
    ) -> Result<(), MemoryError> {
        self.state()
            .threads
            .entry(thread.clone())
            .or_default()
            .add_summary(summary)
    }

    async fn clear(&self, thread: &ThreadId) -> Result<(), MemoryError> {
        self.state().threads.remove(thread);
        Ok(())
    }
}

#[async_trait]
impl EpisodicMemory for InMemoryJournal {
    async fn record(&self, run: RunId, episode: Episode) -> Result<(), MemoryError> {
        self.state().logs.entry(run).or_default().push(episode);
        Ok(())
    }

    async fn replay(&self, run: RunId) -> Result<Vec<Episode>, MemoryError> {
        Ok(self.state().logs.get(&run).cloned().unwrap_or_default())
    }

    async fn list_runs(&self) -> Result<Vec<RunId>, MemoryError> {
        // Ids sort in the order they were made.
        Ok(self.state().logs.keys().copied().collect())
    }
}
