//! Compacting a run's thread as its request is built (see
//! [`crate::compaction`]): when the history read takes the policy's share
//! of the budget, every message since the last summary up to the newest
//! kept is summarised (in chunks that fit the history budget), the summary kept
//! with the run's `Compacted` episode in one commit, and the history read
//! again.

mod chunks;

use super::Run;
use crate::compaction::{Compaction, CompactionError, CompactionInput};
use crate::fact::Fact;
use chunks::{chunk, cut_point};
use klieo_retry::{retry, RetryDecision, RetryError};
use klieo_types::{Error, History, MemoryError, ThreadSummary, Transcript, Usage};
use std::sync::atomic::Ordering;
use tracing::{Instrument, Span};

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
        let from = history.summary.as_ref().map_or(0, |s| s.through);
        // A window that left messages since the summary out (a large
        // message took their room) is compacted however little it holds:
        // they would otherwise reach the model neither whole nor summed up.
        let left_out = !history.messages.is_empty() && history.first.is_some_and(|f| f > from);
        let trigger = policy.trigger(budget) as u64;
        if read < trigger && !left_out {
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
        if summary_tokens as u64 + since.message_tokens() < trigger {
            // Only the window's cut at a granule left messages out: the
            // thread since the summary is under the trigger.
            return Ok(history);
        }
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
        if let (false, Some(previous)) = (left_out, &history.summary) {
            // A rewrite of the summary retires at least as much as it
            // holds (or half what lies between the trigger and what is
            // kept): a long summary next to the kept messages stands near
            // the trigger, and would be rewritten each turn to sum up a
            // few more messages. Messages the window leaves out are
            // summed up whatever that retires.
            let between = policy.trigger(budget).saturating_sub(policy.keep(budget));
            let least = previous.estimated_tokens().min(between / 2) as u64;
            if since.message_tokens().saturating_sub(kept) < least {
                return Ok(history);
            }
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
