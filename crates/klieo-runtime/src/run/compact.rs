//! Compacting a run's thread as its request is built (see
//! [`crate::compaction`]): when the history read takes the policy's share
//! of the budget, every message since the last summary up to the newest
//! kept is summarised (in chunks that fit the history budget), the summary kept
//! with the run's `Compacted` episode in one commit, and the history read
//! again.

use super::Run;
use crate::compaction::{Compaction, CompactionError, CompactionInput};
use crate::fact::Fact;
use klieo_retry::{retry, RetryDecision, RetryError};
use klieo_types::{Error, History, MemoryError, Role, ThreadSummary, Transcript, Usage};
use std::sync::atomic::Ordering;
use tracing::{Instrument, Span};

/// Where the newest `keep` tokens of `messages` begin, moved back to the
/// start of a turn (never on a tool result, which stays with its call),
/// and never after `limit`: the messages before it are summarised. `None`
/// when that leaves nothing to summarise.
pub(crate) fn cut_point(messages: &Transcript, keep: usize, limit: usize) -> Option<usize> {
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
    let cut = turn_start(messages, cut.min(len.saturating_sub(1)).min(limit), 0);
    (cut > 0).then_some(cut)
}

/// `at`, moved back (not past `floor`) off tool results to the message
/// whose call they answer: a cut there keeps a call with its results.
fn turn_start(messages: &Transcript, mut at: usize, floor: usize) -> usize {
    while at > floor && messages.get(at).is_some_and(|m| m.role == Role::Tool) {
        at -= 1;
    }
    at
}

/// The chunk of `messages` from `next` (before `end`) of at most `max`
/// estimated tokens (at least one turn's part), and where the next
/// begins. A tool call is never parted from its results: a chunk that
/// would end on the call ends before it, or, when the call is all it
/// holds, takes the results too, past `max`.
fn chunk(messages: &Transcript, next: usize, end: usize, max: usize) -> (Transcript, usize) {
    let (mut stop, mut tokens) = (next, 0);
    for message in messages.iter().skip(next).take(end.saturating_sub(next)) {
        let size = message.estimated_tokens();
        if stop > next && tokens + size > max {
            break;
        }
        tokens += size;
        stop += 1;
    }
    let mut cut = if stop < end {
        turn_start(messages, stop, next)
    } else {
        stop
    };
    if cut == next {
        // The call is all the chunk holds: its results come with it.
        cut = stop;
        while cut < end && messages.get(cut).is_some_and(|m| m.role == Role::Tool) {
            cut += 1;
        }
    }
    let taken = messages.iter().skip(next).take(cut - next).cloned();
    (Transcript::from(taken.collect::<Vec<_>>()), cut)
}

/// What a request of the run may hold: its history budget, in estimated
/// tokens, and, when fitted to the model's window, what it spends besides,
/// which a summary call may spend as well.
pub(crate) struct Room {
    pub(crate) history: usize,
    pub(crate) besides: Option<Besides>,
}

/// What a request fitted to a window spends besides its history.
pub(crate) struct Besides {
    /// Its system prompt, tools and frame, in estimated tokens.
    pub(crate) estimated: u64,
    /// The room kept for its reply, in the server's tokens.
    pub(crate) reply: u32,
    /// The server's tokens per estimated token, in thousandths.
    pub(crate) scale: u64,
}

impl Besides {
    /// What a call spending `estimated` tokens of its own and keeping
    /// `reply` for its reply spends past this, in estimated tokens.
    fn past(&self, estimated: usize, reply: u32) -> usize {
        let in_estimates = |reply: u32| u64::from(reply).saturating_mul(1_000) / self.scale.max(1);
        let own = (estimated as u64).saturating_add(in_estimates(reply));
        let run = self.estimated.saturating_add(in_estimates(self.reply));
        usize::try_from(own.saturating_sub(run)).unwrap_or(usize::MAX)
    }
}

impl Run {
    /// `history` (read for cycle `step` under a history budget of
    /// `room.history` tokens), compacted first when the run's policy says so;
    /// `reload` reads it again after a compaction. A compaction that fails
    /// is recorded and leaves `history` as it was; the run does not try
    /// again. A failure to record, a store that failed for another
    /// reason than refusing the summary, and the run's cancellation are
    /// errors.
    pub(crate) async fn compacted<F, Fut>(
        &self,
        step: u32,
        history: History,
        room: Room,
        reload: F,
    ) -> Result<History, Error>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<History, Error>>,
    {
        let Some(policy) = &self.opts.compaction else {
            return Ok(history);
        };
        let budget = room.history;
        // A summary call fits where the run's request does: what it spends
        // besides its messages past what the run's request does comes out
        // of its chunks (nothing, with no window to fit).
        let compactor = policy.compactor();
        let overhead = room.besides.as_ref().map_or(0, |besides| {
            besides.past(compactor.overhead_tokens(), compactor.reply_tokens())
        });
        // Noted at the run's first read (see `note_prompt_at`).
        let limit = self.compaction_limit.get().unwrap_or(0);
        if self.compaction_given_up.load(Ordering::Relaxed) {
            return Ok(history);
        }
        let summary_tokens = history
            .summary
            .as_ref()
            .map_or(0, ThreadSummary::estimated_tokens);
        let read = summary_tokens as u64 + history.message_tokens();
        if read < policy.trigger(budget) as u64 {
            return Ok(history);
        }
        let Some(first) = history.first else {
            let refused = CompactionError::Store(MemoryError::Unsupported(
                "the run's memory keeps no thread summaries".into(),
            ));
            self.compaction_failed(step, &refused, &Span::none())
                .await?;
            return Ok(history);
        };
        let from = history.summary.as_ref().map_or(0, |s| s.through);
        if limit <= from {
            // Only the run's own messages follow the summary: nothing it
            // may summarise (and nothing to read the thread for).
            return Ok(history);
        }
        // Every message since the summary: the window may have left the
        // oldest of them out, and the summary must say them too.
        let since = if first > from {
            self.ctx
                .short_term()
                .load_history(&self.thread, usize::MAX, 1)
                .await?
        } else {
            history.clone()
        };
        let start = since.first.unwrap_or(from);
        let limit = usize::try_from(limit.saturating_sub(start)).unwrap_or(usize::MAX);
        let Some(cut) = cut_point(&since.messages, policy.keep(budget), limit) else {
            return Ok(history);
        };
        let kept: u64 = since
            .messages
            .iter()
            .skip(cut)
            .map(|m| m.estimated_tokens() as u64)
            .sum();
        if kept >= budget as u64 {
            // What must stay (the run's own messages) fills the budget
            // alone: no summary could be read beside it.
            return Ok(history);
        }
        let span = self.emit(Fact::CompactionBegan { step }).span();
        let previous = history.summary.as_ref().map(|s| s.text.as_str());
        let made = self
            .summarize(policy, previous, &since.messages, cut, budget, overhead)
            .instrument(span.clone())
            .await;
        let summary = made.and_then(|(text, usage)| {
            let summary = ThreadSummary::new(from, start + cut as u64, text);
            // What is kept must still fit after it.
            let max = (budget as u64).saturating_sub(kept);
            let tokens = summary.estimated_tokens() as u64;
            match tokens > max {
                true => Err(CompactionError::SummaryTooLarge { tokens, max }),
                false => Ok((summary, usage)),
            }
        });
        let (summary, usage) = match summary {
            Ok(made) => made,
            Err(CompactionError::Cancelled) => return Err(Error::Cancelled),
            Err(e) => {
                self.compaction_failed(step, &e, &span).await?;
                return Ok(history);
            }
        };
        let fact = || Fact::Compacted {
            step,
            summary: &summary,
            usage,
            span: &span,
        };
        // The journal's view first, written with the summary; the others
        // only once it is in, so no one is told of a compaction that did
        // not happen.
        let episode = self.ctx.memories.episode(fact());
        let mut commit = self
            .side_commit()
            .with_summary(summary.clone())
            .with_episodes(episode.into_iter().collect());
        match self.write(&mut commit).await {
            Ok(()) => self.tell(&fact()),
            Err(Error::Memory(refused @ MemoryError::SummaryRefused { .. })) => {
                self.compaction_failed(step, &CompactionError::Store(refused), &span)
                    .await?;
                return Ok(history);
            }
            Err(e) => return Err(e),
        }
        reload().await
    }

    /// Summarises `messages[..end]` after `previous`, in chunks that fit
    /// a history budget of `budget` with the summary so far and
    /// `overhead` (what a call of the strategy spends past the run's
    /// request: see [`Compactor::overhead_tokens`](crate::compaction::Compactor::overhead_tokens)), each call
    /// bounded by the policy's timeout, retried under the run's retry
    /// policy when its model failed for a while, and given up when the run
    /// is cancelled: the summary and what its calls used.
    async fn summarize(
        &self,
        policy: &Compaction,
        previous: Option<&str>,
        messages: &Transcript,
        end: usize,
        budget: usize,
        overhead: usize,
    ) -> Result<(String, Option<Usage>), CompactionError> {
        let mut summary = previous.map(str::to_owned);
        let mut used: Option<Usage> = None;
        let room = |summary: &Option<String>| {
            let taken = summary
                .as_deref()
                .map_or(0, klieo_types::estimated_text_tokens);
            budget.saturating_sub(taken.saturating_add(overhead)).max(1)
        };
        let mut next = 0;
        while next < end {
            // A longer summary leaves less room for the chunks after it.
            let (part, after) = chunk(messages, next, end, room(&summary));
            next = after;
            // Each call within the policy's timeout, a model's transient
            // failure retried as the run's model calls are.
            let previous = summary.as_deref();
            let attempt = || async {
                let input = CompactionInput::new(previous, &part, &*self.ctx.llm);
                let work = policy.compactor().summarize(input);
                match tokio::time::timeout(policy.timeout(), work).await {
                    Ok(made) => made,
                    Err(_) => Err(CompactionError::TimedOut {
                        after: policy.timeout(),
                    }),
                }
            };
            let classify = |e: &CompactionError| match e {
                CompactionError::Model(e) => super::model_call::classify(e),
                _ => RetryDecision::Stop,
            };
            let made = match retry(&self.opts.retry, &self.ctx.cancel, classify, attempt).await {
                Ok(made) => made,
                Err(RetryError::Failed(e)) => return Err(e),
                Err(_) => return Err(CompactionError::Cancelled),
            };
            if made.text.trim().is_empty() {
                return Err(CompactionError::EmptySummary);
            }
            used = match (used, made.usage) {
                (Some(a), Some(b)) => Some(a + b),
                (a, b) => a.or(b),
            };
            summary = Some(made.text);
        }
        Ok((summary.unwrap_or_default(), used))
    }

    /// Records that compacting before cycle `step` failed with `error`,
    /// and gives up compacting for the rest of the run.
    async fn compaction_failed(
        &self,
        step: u32,
        error: &CompactionError,
        span: &Span,
    ) -> Result<(), Error> {
        self.compaction_given_up.store(true, Ordering::Relaxed);
        let episode = self
            .emit(Fact::CompactionFailed { step, error, span })
            .episode;
        self.record_all(episode.into_iter().collect()).await
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
        assert_eq!(cut_point(&messages, results, usize::MAX), Some(3));
    }

    #[test]
    fn the_newest_turn_stays_however_small_the_share_kept() {
        assert_eq!(cut_point(&thread(), 0, usize::MAX), Some(3));
        let one = Transcript::from(vec![Message::user("only")]);
        assert_eq!(
            cut_point(&one, 0, usize::MAX),
            None,
            "nothing older to summarise"
        );
    }

    #[test]
    fn a_share_that_holds_everything_summarises_nothing() {
        assert_eq!(cut_point(&thread(), usize::MAX, usize::MAX), None);
    }

    #[test]
    fn the_cut_stops_at_the_runs_own_first_message() {
        assert_eq!(cut_point(&thread(), 0, 2), Some(2));
        assert_eq!(cut_point(&thread(), 0, 0), None);
    }

    #[test]
    fn chunks_hold_at_most_their_share_and_at_least_one_message() {
        let messages = thread();
        let sizes: Vec<usize> = messages.iter().map(Message::estimated_tokens).collect();
        let (first, next) = chunk(&messages, 0, 4, sizes[0] + sizes[1]);
        assert_eq!((first.len(), next), (2, 2), "{sizes:?}");
        let (second, next) = chunk(&messages, next, 4, sizes[0] + sizes[1]);
        assert_eq!((second.len(), next), (2, 4));
        let (tiny, next) = chunk(&messages, 0, 3, 1);
        assert_eq!((tiny.len(), next), (1, 1), "one message when none fits");
    }

    #[test]
    fn a_chunk_never_parts_a_call_from_its_results() {
        let messages = thread();
        let sizes: Vec<usize> = messages.iter().map(Message::estimated_tokens).collect();
        // Room up to the call: it goes with its results, to the next.
        let up_to_call: usize = sizes[..4].iter().sum();
        let (first, next) = chunk(&messages, 0, 6, up_to_call);
        assert_eq!((first.len(), next), (3, 3), "{sizes:?}");
        let (second, next) = chunk(&messages, next, 6, up_to_call);
        assert_eq!((second.len(), next), (3, 6));
        // A call alone takes its results, whatever the bound.
        let (alone, next) = chunk(&messages, 3, 6, 1);
        assert_eq!((alone.len(), next), (3, 6));
    }
}
