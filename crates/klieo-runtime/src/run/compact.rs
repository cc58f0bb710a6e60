//! Compacting a run's thread as its request is built (see
//! [`crate::compaction`]): when the history read takes the policy's share
//! of the budget, the older messages are summarised, the summary kept
//! with the run's `Compacted` episode in one commit, and the history read
//! again.

use super::fit::estimate;
use super::Run;
use crate::compaction::{Compaction, CompactionError, CompactionInput, Summarized};
use crate::fact::Fact;
use klieo_types::{Error, History, Role, ThreadSummary, Transcript};
use std::sync::atomic::Ordering;
use std::sync::PoisonError;
use tracing::Instrument;

/// Where the newest `keep` tokens of `messages` begin, moved back to the
/// start of a turn (never on a tool result, which stays with its call):
/// the messages before it are summarised. `None` when that leaves nothing
/// to summarise.
pub(crate) fn cut_point(messages: &Transcript, keep: usize) -> Option<usize> {
    let len = messages.len();
    let mut kept = 0;
    let mut cut = len;
    for (i, message) in messages.iter().rev().enumerate() {
        let i = len - 1 - i;
        kept += message.estimated_tokens();
        if kept > keep {
            break;
        }
        cut = i;
    }
    // The newest message stays, however large.
    cut = cut.min(len.saturating_sub(1));
    while cut > 0 && messages.get(cut).map(|m| m.role) == Some(Role::Tool) {
        cut -= 1;
    }
    (cut > 0).then_some(cut)
}

/// The first `n` messages of `messages`.
fn first(messages: &Transcript, n: usize) -> Transcript {
    messages.iter().take(n).cloned().collect()
}

impl Run {
    /// `history` (read for cycle `step` under a history budget of
    /// `budget` tokens), compacted first when the run's policy says so;
    /// `reload` reads it again after a compaction. A compaction that fails
    /// is recorded and leaves `history` as it was; the run does not try
    /// again. Only a failure to record is an error.
    pub(crate) async fn compacted<F, Fut>(
        &self,
        step: u32,
        history: History,
        budget: usize,
        reload: F,
    ) -> Result<History, Error>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<History, Error>>,
    {
        let Some(policy) = &self.opts.compaction else {
            return Ok(history);
        };
        if self.compaction_given_up.load(Ordering::Relaxed) {
            return Ok(history);
        }
        let summary_tokens = history
            .summary
            .as_ref()
            .map_or(0, ThreadSummary::estimated_tokens);
        let read = summary_tokens as u64 + estimate(&history.messages);
        if read < policy.trigger(budget) as u64 {
            return Ok(history);
        }
        let Some(first_index) = history.first else {
            let refused = CompactionError::Store(klieo_types::MemoryError::Unsupported(
                "the run's memory keeps no thread summaries".into(),
            ));
            self.compaction_failed(step, &refused, &tracing::Span::none())
                .await?;
            return Ok(history);
        };
        let Some(cut) = cut_point(&history.messages, policy.keep(budget)) else {
            return Ok(history);
        };
        let span = self.emit(Fact::CompactionBegan { step }).span();
        let previous = history.summary.as_ref();
        let replaced = first(&history.messages, cut);
        let made = self
            .summarize(policy, previous.map(|s| s.text.as_str()), &replaced)
            .instrument(span.clone())
            .await;
        let made = match made {
            Ok(made) => made,
            Err(e) => {
                self.compaction_failed(step, &e, &span).await?;
                return Ok(history);
            }
        };
        let from = previous.map_or(0, |s| s.through);
        let summary = ThreadSummary::new(from, first_index + cut as u64, made.text);
        let episode = self
            .emit(Fact::Compacted {
                step,
                summary: &summary,
                usage: made.usage,
                span: &span,
            })
            .episode;
        let pending = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut commit = self
            .commit()
            .with_summary(summary)
            .with_episodes(episode.into_iter().collect());
        commit.pending = pending;
        if let Err(e) = self.write(commit).await {
            let e = match e {
                Error::Memory(e) => CompactionError::Store(e),
                other => return Err(other),
            };
            self.compaction_failed(step, &e, &span).await?;
            return Ok(history);
        }
        reload().await
    }

    /// Runs the policy's strategy over `messages`, bounded by its timeout
    /// and the run's cancellation.
    async fn summarize(
        &self,
        policy: &Compaction,
        previous: Option<&str>,
        messages: &Transcript,
    ) -> Result<Summarized, CompactionError> {
        let input = CompactionInput::new(previous, messages, &*self.ctx.llm);
        let work = tokio::time::timeout(policy.timeout(), policy.compactor().summarize(input));
        let made = tokio::select! {
            made = work => made.map_err(|_| CompactionError::TimedOut { after: policy.timeout() })?,
            () = self.ctx.cancel.cancelled() => return Err(CompactionError::Cancelled),
        }?;
        if made.text.trim().is_empty() {
            return Err(CompactionError::EmptySummary);
        }
        Ok(made)
    }

    /// Records that compacting before cycle `step` failed with `error`,
    /// and gives up compacting for the rest of the run.
    async fn compaction_failed(
        &self,
        step: u32,
        error: &CompactionError,
        span: &tracing::Span,
    ) -> Result<(), Error> {
        self.compaction_given_up.store(true, Ordering::Relaxed);
        let episode = self
            .emit(Fact::CompactionFailed { step, error, span })
            .episode;
        let pending = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut commit = self.commit().with_episodes(episode.into_iter().collect());
        commit.pending = pending;
        self.write(commit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use klieo_types::{Message, ToolCall};
    use serde_json::json;

    fn thread() -> Transcript {
        Transcript::from(vec![
            Message::user("first question, rather long to count for something"),
            Message::assistant("first answer, rather long to count for something"),
            Message::user("second"),
            Message::assistant_tool_calls("", vec![ToolCall::new("c1", "echo", json!({}))]),
            Message::tool_result("c1", "one"),
            Message::tool_result("c1", "two"),
        ])
    }

    #[test]
    fn the_cut_never_leaves_a_tool_result_without_its_call() {
        let messages = thread();
        let results: usize = messages.iter().skip(4).map(Message::estimated_tokens).sum();
        // Room for the two results alone: their call stays with them.
        assert_eq!(cut_point(&messages, results), Some(3));
    }

    #[test]
    fn the_newest_turn_stays_however_small_the_share_kept() {
        assert_eq!(cut_point(&thread(), 0), Some(3));
        let one = Transcript::from(vec![Message::user("only")]);
        assert_eq!(cut_point(&one, 0), None, "nothing older to summarise");
    }

    #[test]
    fn a_share_that_holds_everything_summarises_nothing() {
        assert_eq!(cut_point(&thread(), usize::MAX), None);
    }
}
