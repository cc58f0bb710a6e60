//! [`MessageLog`]: a thread's messages in shared blocks with running
//! token sums, and its summaries, for a memory that keeps threads in
//! memory.

use super::segments::Segments;
use super::{Block, Segment, Transcript, BLOCK, FIRST_BLOCK};
use crate::error::MemoryError;
use crate::message::{Message, Role};
use crate::summary::{History, ThreadSummary};
use std::fmt;
use std::sync::Arc;

/// The append-only history of one thread, able to hand out the newest
/// messages that fit a token budget in time independent of its length.
///
/// Memory backends keep one log per thread. [`window`](Self::window) never
/// starts with a tool result whose assistant tool-call message was cut off:
/// providers reject such a request.
///
/// ```
/// use klieo_types::{Message, MessageLog, Role, ToolCall};
///
/// let mut log = MessageLog::new();
/// log.push(Message::user("What is 2+2?"));
/// let call = ToolCall::new("c1", "calculator", serde_json::json!({"expression": "2+2"}));
/// log.push(Message::assistant_tool_calls("", vec![call]));
/// log.push(Message::tool_result("c1", "4"));
/// log.push(Message::assistant("4"));
///
/// assert_eq!(log.window(10_000).len(), 4);
/// // A budget that would cut between the call and its result drops the
/// // orphaned result too.
/// let tail_tokens = Message::assistant("4").estimated_tokens();
/// let window = log.window(tail_tokens + 1);
/// assert_eq!(window.len(), 1);
/// assert_eq!(window.get(0).map(|m| m.role), Some(Role::Assistant));
/// ```
#[derive(Clone)]
pub struct MessageLog {
    blocks: Vec<Block>,
    /// `running_tokens[i]` is the estimated token count of messages `0..i`.
    running_tokens: Vec<u64>,
    /// The thread's summaries, oldest first.
    summaries: Vec<ThreadSummary>,
}

impl Default for MessageLog {
    fn default() -> Self {
        Self::new()
    }
}

impl MessageLog {
    /// An empty log.
    pub fn new() -> Self {
        Self {
            blocks: Vec::new(),
            running_tokens: vec![0],
            summaries: Vec::new(),
        }
    }

    /// Number of messages ever appended.
    pub fn len(&self) -> usize {
        self.running_tokens.len() - 1
    }

    /// Whether nothing was appended yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends a message.
    pub fn push(&mut self, message: Message) {
        let total = self.running_tokens.last().copied().unwrap_or(0);
        self.running_tokens
            .push(total + message.estimated_tokens() as u64);
        let message = Arc::new(message);
        match self.blocks.last_mut() {
            Some(block) if block.len() < BLOCK => Arc::make_mut(block).push(message),
            _ => {
                // A thread's first block grows as it needs (most threads
                // are short); a later one is made whole at once.
                let capacity = match self.blocks.is_empty() {
                    true => FIRST_BLOCK,
                    false => BLOCK,
                };
                let mut block = Vec::with_capacity(capacity);
                block.push(message);
                self.blocks.push(Arc::new(block));
            }
        }
    }

    fn message(&self, index: usize) -> Option<&Message> {
        self.blocks
            .get(index / BLOCK)
            .and_then(|b| b.get(index % BLOCK))
            .map(|m| &**m)
    }

    /// The whole history.
    pub fn all(&self) -> Transcript {
        self.range(0, self.len())
    }

    /// The newest messages whose estimated tokens add up to at most
    /// `max_tokens`, oldest first, never starting with an orphaned tool
    /// result. May be empty when even the newest message is over budget.
    pub fn window(&self, max_tokens: usize) -> Transcript {
        self.stable_window(max_tokens, 1)
    }

    /// [`window`](Self::window), cut at a multiple of `granule` tokens of
    /// the log (see
    /// [`ShortTermMemory::load_stable`](crate::ShortTermMemory::load_stable)).
    pub fn stable_window(&self, max_tokens: usize, granule: usize) -> Transcript {
        self.range(self.stable_start(0, max_tokens, granule), self.len())
    }

    /// The thread's history as a model reads it: the latest summary, then
    /// the newest messages after it that fit `max_tokens` with the
    /// summary's message, cut as [`stable_window`](Self::stable_window).
    pub fn history(&self, max_tokens: usize, granule: usize) -> History {
        let summary = self.summaries.last();
        let (lower, budget) = History::window_bounds(summary, max_tokens);
        let lower = usize::try_from(lower).unwrap_or(usize::MAX);
        let (start, end) = (self.stable_start(lower, budget, granule), self.len());
        let tokens = self.running_tokens[end] - self.running_tokens[start.min(end)];
        History::new(summary.cloned(), self.range(start, end), start as u64).with_tokens(tokens)
    }

    /// Keeps `summary` of the thread, if it follows the latest
    /// ([`ThreadSummary::follows`]); refused with
    /// [`MemoryError::SummaryRefused`] otherwise.
    pub fn add_summary(&mut self, summary: ThreadSummary) -> Result<(), MemoryError> {
        summary.check_follows(self.summaries.last(), self.len() as u64)?;
        self.summaries.push(summary);
        Ok(())
    }

    /// The thread's summaries, oldest first.
    pub fn summaries(&self) -> &[ThreadSummary] {
        &self.summaries
    }

    /// Where a window of `max_tokens` in granules of `granule` starts, at
    /// `lower` or after it, never on a tool result.
    fn stable_start(&self, lower: usize, max_tokens: usize, granule: usize) -> usize {
        let end = self.len();
        let total = self.running_tokens.last().copied().unwrap_or(0);
        let granule = (granule.clamp(1, max_tokens.max(1))) as u64;
        let floor = total
            .saturating_sub(max_tokens as u64)
            .div_ceil(granule)
            .saturating_mul(granule);
        let mut start = self.running_tokens[..end]
            .partition_point(|&t| t < floor)
            .max(lower.min(end));
        while start < end && self.message(start).map(|m| m.role) == Some(Role::Tool) {
            start += 1;
        }
        start
    }

    fn range(&self, start: usize, end: usize) -> Transcript {
        if start >= end {
            return Transcript::new();
        }
        let first = start / BLOCK;
        let Some(blocks) = self.blocks.get(first..=(end - 1) / BLOCK) else {
            return Transcript::new();
        };
        // A slice's iterator has a known length: at most one allocation.
        let segments = blocks.iter().enumerate().map(|(i, block)| {
            let base = (first + i) * BLOCK;
            Segment {
                block: Arc::clone(block),
                start: start.max(base) - base,
                end: end.min(base + block.len()) - base,
            }
        });
        let segments: Segments = segments.collect();
        let len = segments.as_slice().iter().map(|s| s.end - s.start).sum();
        Transcript::of(segments, len)
    }
}

impl fmt::Debug for MessageLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageLog")
            .field("len", &self.len())
            .field("tokens", &self.running_tokens.last())
            .finish()
    }
}
