//! [`MessageLog`]: a thread's messages in shared blocks with running
//! token sums, and its summaries, for a memory that keeps threads in
//! memory.

use super::{Block, Segment, Transcript};
use crate::error::MemoryError;
use crate::message::{Message, Role};
use crate::summary::{History, ThreadSummary};
use std::fmt;
use std::sync::Arc;

/// The most messages a block holds: a thread's first 256 messages are
/// one segment of a transcript, unless a transcript still held its newest
/// block when the log grew (see [`MessageLog::push`]).
pub(super) const BLOCK: usize = 256;

/// A block of the log, and the index in the log of its first message.
#[derive(Clone)]
struct Placed {
    start: usize,
    block: Block,
}

/// A block shorter than this, held by a transcript (or a clone of the
/// log) when the log grows, is copied rather than followed by a new
/// block (see [`MessageLog::push`]): every block but the newest holds at
/// least this many messages.
const COPIED_BELOW: usize = 16;

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
    /// The messages, oldest first, in blocks of at most [`BLOCK`].
    blocks: Vec<Placed>,
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
    ///
    /// It goes in the newest block, in place, while that block has room
    /// (256 messages) and no transcript holds it. A transcript's messages
    /// never change, so a block one holds is left as it is: a short one
    /// (fewer than 16 messages) is cloned, text and all, with the new one
    /// into a block this log alone holds, and the message starts a new
    /// block after a longer one. So a thread read while it grows copies at
    /// most 15 messages a push, and its blocks stay long enough (16 or more
    /// but the newest) to keep a transcript's segments few.
    pub fn push(&mut self, message: Message) {
        let index = self.len();
        let total = self.running_tokens.last().copied().unwrap_or(0);
        self.running_tokens
            .push(total + message.estimated_tokens() as u64);
        let newest = match self.blocks.last_mut() {
            Some(newest) if newest.block.len() < BLOCK => &mut newest.block,
            _ => return self.start_block(index, message),
        };
        if let Some(block) = Arc::get_mut(newest) {
            block.push(message);
        } else if newest.len() < COPIED_BELOW {
            let mut block = Vec::with_capacity(COPIED_BELOW);
            block.extend(newest.iter().cloned());
            block.push(message);
            *newest = Arc::new(block);
        } else {
            self.start_block(index, message);
        }
    }

    /// Starts a block with `message`, the log's message at `index`.
    fn start_block(&mut self, index: usize, message: Message) {
        self.blocks.push(Placed {
            start: index,
            block: Arc::new(vec![message]),
        });
    }

    /// The block that holds the message at `index`, for an index below
    /// the log's length: the last block starting at or before it (`None`
    /// only for an empty log).
    fn block_of(&self, index: usize) -> Option<usize> {
        self.blocks
            .partition_point(|placed| placed.start <= index)
            .checked_sub(1)
    }

    fn message(&self, index: usize) -> Option<&Message> {
        let placed = self.blocks.get(self.block_of(index)?)?;
        placed.block.get(index - placed.start)
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
        // `None` only when the log is empty (or `end` past its length):
        // then there is nothing to cut.
        let Some(blocks) = self
            .block_of(start)
            .zip(self.block_of(end - 1))
            .and_then(|(first, last)| self.blocks.get(first..=last))
        else {
            return Transcript::new();
        };
        // A slice's iterator has a known length: at most one allocation.
        let segments = blocks.iter().map(|placed| {
            let base = placed.start;
            Segment {
                block: Arc::clone(&placed.block),
                start: start.max(base) - base,
                end: end.min(base + placed.block.len()) - base,
            }
        });
        Transcript::of(segments.collect(), end - start)
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

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    //! Blocks a transcript holds while the log grows.

    use super::*;
    use crate::transcript::tests::{contents, name, numbered};

    #[test]
    fn a_short_block_a_transcript_holds_is_copied_when_the_log_grows() {
        let mut log = numbered(3);
        let held = log.all();
        log.push(Message::user("later"));
        assert_eq!(contents(&held), ["m0000", "m0001", "m0002"], "untouched");
        assert_eq!(
            log.blocks.len(),
            1,
            "copied into one block the log alone holds"
        );
        assert!(!Arc::ptr_eq(
            &log.blocks[0].block,
            &held.segments()[0].block
        ));
        assert_eq!(contents(&log.all()), ["m0000", "m0001", "m0002", "later"]);
        // Held no more, the block grows in place.
        drop(held);
        let before = Arc::as_ptr(&log.blocks[0].block);
        log.push(Message::user("last"));
        assert_eq!(Arc::as_ptr(&log.blocks[0].block), before);
        assert_eq!(log.len(), 5);
    }

    #[test]
    fn a_long_block_a_transcript_holds_is_followed_by_a_new_one() {
        let mut log = numbered(COPIED_BELOW + 1);
        let held = log.window(usize::MAX);
        log.push(Message::tool_result("a", "orphan"));
        log.push(Message::user("after"));
        assert_eq!(held.len(), COPIED_BELOW + 1, "untouched");
        assert_eq!(log.blocks.len(), 2);
        let starts: Vec<usize> = log.blocks.iter().map(|placed| placed.start).collect();
        assert_eq!(starts, [0, COPIED_BELOW + 1]);
        let mut expected: Vec<String> = (0..=COPIED_BELOW).map(name).collect();
        expected.extend(["orphan".to_owned(), "after".to_owned()]);
        assert_eq!(contents(&log.all()), expected);
        // A window that starts in the new block skips its orphaned result.
        let after = Message::user("after").estimated_tokens();
        let orphan = Message::tool_result("a", "orphan").estimated_tokens();
        assert_eq!(contents(&log.window(after + orphan)), ["after"]);
        // One that spans both reads across them, in order.
        let spanning = log.range(COPIED_BELOW - 1, COPIED_BELOW + 3);
        assert_eq!(contents(&spanning), expected[COPIED_BELOW - 1..].to_vec());
        assert_eq!(spanning.segments().len(), 2);
    }

    #[test]
    fn a_cloned_log_and_its_clone_grow_apart() {
        let mut log = numbered(2);
        let mut clone = log.clone();
        log.push(Message::user("mine"));
        clone.push(Message::user("theirs"));
        assert_eq!(contents(&log.all()), ["m0000", "m0001", "mine"]);
        assert_eq!(contents(&clone.all()), ["m0000", "m0001", "theirs"]);
    }

    #[test]
    fn a_log_read_at_every_push_keeps_blocks_of_at_least_the_copy_bound() {
        let mut log = MessageLog::new();
        let mut held = Vec::new();
        for i in 0..200 {
            log.push(Message::user(name(i)));
            // A reader holds the newest messages at every push.
            held.push(log.window(usize::MAX));
        }
        let (newest, older) = log
            .blocks
            .split_last()
            .map_or((0, &[][..]), |(n, o)| (n.block.len(), o));
        assert!(newest >= 1);
        assert!(
            older
                .iter()
                .all(|placed| placed.block.len() >= COPIED_BELOW),
            "{:?}",
            older.iter().map(|p| p.block.len()).collect::<Vec<_>>()
        );
        assert!(log.blocks.len() <= 200 / COPIED_BELOW + 1);
        let expected: Vec<String> = (0..200).map(name).collect();
        assert_eq!(contents(&log.all()), expected);
        assert_eq!(
            contents(&held[99]),
            expected[..100].to_vec(),
            "each reader's messages are as they were"
        );
    }
}
