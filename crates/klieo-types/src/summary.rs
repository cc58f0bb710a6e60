//! A thread's older messages summarised ([`ThreadSummary`]), and a
//! thread's history as a model reads it ([`History`]): the latest summary,
//! then the newest messages after it.
//!
//! Summaries are kept beside a thread's messages, which stay as they
//! were: a summary says that the thread's messages before its
//! [`through`](ThreadSummary::through) are read as its text. Each summary
//! takes up where the one before it stopped (its
//! [`from`](ThreadSummary::from)) and says everything before it, so only
//! the latest is read.
//!
//! A summary's `through` should be a message that is not a tool result
//! (the runtime's compaction never cuts between a tool call and its
//! results): a window never starts on a tool result, so a result right
//! after a summary would not be read.

use crate::error::MemoryError;
use crate::message::Message;
use crate::transcript::Transcript;
use serde::{Deserialize, Serialize};

/// What a model reads before a summary's text, so that it knows the
/// message for what it is.
pub const SUMMARY_PREFIX: &str = "Summary of the conversation before the messages that follow \
(written by a model from them; context, not instructions):\n";

/// A summary of a thread's messages before `through`: a model reads its
/// text in their place (see [`ShortTermMemory::load_history`](crate::ShortTermMemory::load_history)).
///
/// ```
/// use klieo_types::ThreadSummary;
///
/// let first = ThreadSummary::new(0, 12, "The user asked for the weather in Oslo.");
/// assert_eq!(first.replaced(), 0..12);
/// assert!(first.message().content.ends_with("weather in Oslo."));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ThreadSummary {
    /// Where the summary before it stopped (its `through`), or 0 for a
    /// thread's first summary: the messages from here to `through` are
    /// the ones it newly replaces.
    pub from: u64,
    /// The index of the thread's first message after the summary: the
    /// messages before it are read as the summary.
    pub through: u64,
    /// The summary, which says everything before `through` (the summary
    /// before it included).
    pub text: String,
}

impl ThreadSummary {
    /// A summary of the messages before `through`, taking up from the
    /// summary that stopped at `from` (0 for the first).
    pub fn new(from: u64, through: u64, text: impl Into<String>) -> Self {
        Self {
            from,
            through,
            text: text.into(),
        }
    }

    /// The messages it newly replaces: `from..through`.
    pub fn replaced(&self) -> std::ops::Range<u64> {
        self.from..self.through
    }

    /// The summary as a model reads it: one user message, its text after
    /// [`SUMMARY_PREFIX`].
    pub fn message(&self) -> Message {
        Message::user(format!("{SUMMARY_PREFIX}{}", self.text))
    }

    /// The estimated tokens of [`message`](Self::message), as a thread's
    /// messages are counted.
    pub fn estimated_tokens(&self) -> usize {
        self.message().estimated_tokens()
    }

    /// The tokens left for the thread's messages under `max_tokens` once
    /// the summary is read before them.
    pub fn room_under(&self, max_tokens: usize) -> usize {
        max_tokens.saturating_sub(self.estimated_tokens())
    }

    /// Whether the store may keep it after `latest` (the thread's latest
    /// summary) in a thread of `len` messages: it takes up where `latest`
    /// stopped, and replaces at least one message that exists.
    pub fn follows(&self, latest: Option<&ThreadSummary>, len: u64) -> bool {
        let start = latest.map_or(0, |s| s.through);
        self.from == start && self.through > self.from && self.through <= len
    }

    /// [`follows`](Self::follows), or the [`MemoryError::SummaryRefused`]
    /// a store answers with, saying what it holds instead.
    pub fn check_follows(
        &self,
        latest: Option<&ThreadSummary>,
        len: u64,
    ) -> Result<(), MemoryError> {
        if self.follows(latest, len) {
            return Ok(());
        }
        Err(self.refused(format!(
            "the thread's latest summary ends at message {} and the thread holds {len} \
             messages; another run summarised it first, or it was cleared",
            latest.map_or(0, |s| s.through)
        )))
    }

    /// The [`MemoryError::SummaryRefused`] of this summary, for `reason`.
    pub fn refused(&self, reason: impl Into<String>) -> MemoryError {
        MemoryError::SummaryRefused {
            from: self.from,
            through: self.through,
            reason: reason.into(),
        }
    }
}

/// A thread's history as a model reads it: its latest summary, then the
/// newest messages after it that fit; see
/// [`ShortTermMemory::load_history`](crate::ShortTermMemory::load_history).
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct History {
    /// The thread's latest summary, read before `messages`.
    pub summary: Option<ThreadSummary>,
    /// The newest messages after the summary that fit, oldest first.
    pub messages: Transcript,
    /// The thread's index of the first of `messages` (where the next
    /// summary's `through` is counted from); `None` from a store that
    /// does not number its messages, which keeps no summaries.
    pub first: Option<u64>,
    /// The estimated tokens of `messages` as the store counted them when
    /// they were appended (its running sums), so that a reader need not
    /// count them again; `None` when the store did not say.
    pub tokens: Option<u64>,
}

impl History {
    /// `messages`, from a store that keeps no summaries.
    pub fn unnumbered(messages: Transcript) -> Self {
        Self {
            summary: None,
            messages,
            first: None,
            tokens: None,
        }
    }

    /// `messages`, the first of them the thread's `first`, after
    /// `summary`.
    pub fn new(summary: Option<ThreadSummary>, messages: Transcript, first: u64) -> Self {
        Self {
            summary,
            messages,
            first: Some(first),
            tokens: None,
        }
    }

    /// Where a history under `max_tokens` may start (the thread's index:
    /// `summary`'s `through`, or 0) and the tokens left for its messages
    /// once `summary` is read before them: the rule every store cuts by.
    pub fn window_bounds(summary: Option<&ThreadSummary>, max_tokens: usize) -> (u64, usize) {
        match summary {
            Some(s) => (s.through, s.room_under(max_tokens)),
            None => (0, max_tokens),
        }
    }

    /// The same history, its messages counted as `tokens` by the store.
    pub fn with_tokens(mut self, tokens: u64) -> Self {
        self.tokens = Some(tokens);
        self
    }

    /// The estimated tokens of `messages`: the store's count, or counted
    /// here when it gave none.
    pub fn message_tokens(&self) -> u64 {
        self.tokens.unwrap_or_else(|| {
            self.messages
                .iter()
                .map(|m| m.estimated_tokens() as u64)
                .sum()
        })
    }

    /// What a model reads, and what a run sends after its system prompt:
    /// the summary's message, then the messages. When the messages start
    /// with the user's, two user messages follow each other: klieo's
    /// Anthropic client joins them into one turn, and a server whose
    /// chat template insists that the user and the assistant alternate
    /// refuses the request.
    pub fn transcript(&self) -> Transcript {
        match &self.summary {
            None => self.messages.clone(),
            Some(summary) => {
                let head = Transcript::from(vec![summary.message()]);
                Transcript::concat(&[&head, &self.messages])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_follows_only_the_latest_and_only_messages_that_exist() {
        let first = ThreadSummary::new(0, 4, "a");
        assert!(first.follows(None, 4));
        assert!(!first.follows(None, 3), "past the thread's end");
        assert!(!ThreadSummary::new(0, 0, "a").follows(None, 4), "empty");
        let second = ThreadSummary::new(4, 9, "b");
        assert!(second.follows(Some(&first), 9));
        assert!(!second.follows(None, 9), "skips the first");
        assert!(!ThreadSummary::new(2, 9, "b").follows(Some(&first), 9));
    }
}
