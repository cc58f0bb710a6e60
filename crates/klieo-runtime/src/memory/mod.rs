//! In-memory [`ShortTermMemory`] and [`EpisodicMemory`], safe to share
//! between concurrent runs: each is split over many locks by key
//! ([`Shards`]), so runs on different threads rarely wait for each other.

mod shards;

use async_trait::async_trait;
use klieo_types::{
    Episode, EpisodicMemory, History, MemoryError, Message, MessageLog, RunId, ShortTermMemory,
    ThreadId, ThreadSummary, Transcript,
};
use shards::Shards;

/// Conversations kept in memory, one [`MessageLog`] per thread.
///
/// `load` cuts the newest messages that fit the token budget in time that
/// does not grow with the thread's length, and never returns a tool result
/// whose assistant tool-call message was cut. Appends of one call land
/// together. Threads are spread over many locks, so concurrent runs on
/// different threads do not queue behind one.
///
/// ```
/// use klieo_runtime::InMemoryShortTerm;
/// use klieo_types::{Message, ShortTermMemory, ThreadId};
///
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let memory = InMemoryShortTerm::new();
/// let thread = ThreadId::new("t1");
/// memory.append(&thread, vec![Message::user("hi"), Message::assistant("hello")]).await?;
/// assert_eq!(memory.load(&thread, 1_000).await?.len(), 2);
/// # Ok::<(), klieo_types::MemoryError>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct InMemoryShortTerm {
    threads: Shards<ThreadId, MessageLog>,
}

impl InMemoryShortTerm {
    /// No threads yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// [`append`](ShortTermMemory::append), which never waits: called by
    /// the runtime directly, with no future to box.
    pub(crate) fn append_now(
        &self,
        thread: &ThreadId,
        messages: impl IntoIterator<Item = Message>,
    ) {
        let mut threads = self.threads.shard(thread);
        // A thread's id is copied only for its first append.
        let log = match threads.get_mut(thread) {
            Some(log) => log,
            None => threads.entry(thread.clone()).or_default(),
        };
        for message in messages {
            log.push(message);
        }
    }

    /// [`load_history`](ShortTermMemory::load_history), which never waits
    /// (see [`append_now`](Self::append_now)).
    pub(crate) fn history_now(
        &self,
        thread: &ThreadId,
        max_tokens: usize,
        granule: usize,
    ) -> History {
        self.threads
            .shard(thread)
            .get(thread)
            .map(|log| log.history(max_tokens, granule))
            .unwrap_or_else(|| History::new(None, Transcript::new(), 0))
    }

    /// [`add_summary`](ShortTermMemory::add_summary), which never waits
    /// (see [`append_now`](Self::append_now)).
    pub(crate) fn add_summary_now(
        &self,
        thread: &ThreadId,
        summary: ThreadSummary,
    ) -> Result<(), MemoryError> {
        let mut threads = self.threads.shard(thread);
        if let Some(log) = threads.get_mut(thread) {
            return log.add_summary(summary);
        }
        // A thread is kept only once the summary is (a refused one of a
        // thread that was cleared leaves none).
        let mut log = MessageLog::new();
        log.add_summary(summary)?;
        threads.insert(thread.clone(), log);
        Ok(())
    }
}

#[async_trait]
impl ShortTermMemory for InMemoryShortTerm {
    async fn append(&self, thread: &ThreadId, messages: Vec<Message>) -> Result<(), MemoryError> {
        self.append_now(thread, messages);
        Ok(())
    }

    async fn load(&self, thread: &ThreadId, max_tokens: usize) -> Result<Transcript, MemoryError> {
        Ok(self
            .threads
            .shard(thread)
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
            .threads
            .shard(thread)
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
        Ok(self.history_now(thread, max_tokens, granule))
    }

    async fn add_summary(
        &self,
        thread: &ThreadId,
        summary: ThreadSummary,
    ) -> Result<(), MemoryError> {
        self.add_summary_now(thread, summary)
    }

    async fn clear(&self, thread: &ThreadId) -> Result<(), MemoryError> {
        self.threads.shard(thread).remove(thread);
        Ok(())
    }
}

/// Event logs kept in memory, listed in run-creation order. Runs are
/// spread over many locks, so concurrent runs do not queue behind one.
///
/// ```
/// use klieo_runtime::InMemoryEpisodic;
/// use klieo_types::{Episode, EpisodicMemory, RunId};
///
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let log = InMemoryEpisodic::new();
/// let (first, second) = (RunId::new(), RunId::new());
/// log.record(second, Episode::Started { agent: "b".into() }).await?;
/// log.record(first, Episode::Started { agent: "a".into() }).await?;
/// assert_eq!(log.list_runs().await?, vec![first, second]);
/// assert_eq!(log.replay(first).await?.len(), 1);
/// # Ok::<(), klieo_types::MemoryError>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct InMemoryEpisodic {
    /// Each run's episodes, as the writes that recorded them: a write's
    /// list is kept as it came, so a long run's log is never copied to
    /// grow.
    runs: Shards<RunId, Vec<Vec<Episode>>>,
}

impl InMemoryEpisodic {
    /// No runs yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// [`record_all`](EpisodicMemory::record_all), which never waits:
    /// called by the runtime directly, with no future to box.
    pub(crate) fn record_now(&self, run: RunId, episodes: Vec<Episode>) {
        // Nothing recorded lists no run (every run listed has an event).
        if episodes.is_empty() {
            return;
        }
        self.runs.shard(&run).entry(run).or_default().push(episodes);
    }
}

#[async_trait]
impl EpisodicMemory for InMemoryEpisodic {
    async fn record(&self, run: RunId, episode: Episode) -> Result<(), MemoryError> {
        self.runs
            .shard(&run)
            .entry(run)
            .or_default()
            .push(vec![episode]);
        Ok(())
    }

    async fn record_all(&self, run: RunId, episodes: Vec<Episode>) -> Result<(), MemoryError> {
        self.record_now(run, episodes);
        Ok(())
    }

    async fn replay(&self, run: RunId) -> Result<Vec<Episode>, MemoryError> {
        let runs = self.runs.shard(&run);
        let writes = runs.get(&run).map_or(&[][..], Vec::as_slice);
        let mut episodes = Vec::with_capacity(writes.iter().map(Vec::len).sum());
        for write in writes {
            episodes.extend_from_slice(write);
        }
        Ok(episodes)
    }

    async fn list_runs(&self) -> Result<Vec<RunId>, MemoryError> {
        // Ids sort in the order they were made.
        let mut runs = self.runs.keys();
        runs.sort_unstable();
        Ok(runs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn recording_nothing_lists_no_run() {
        let log = InMemoryEpisodic::new();
        log.record_all(RunId::new(), Vec::new()).await.ok();
        assert_eq!(log.list_runs().await.ok(), Some(Vec::new()));
    }
}
