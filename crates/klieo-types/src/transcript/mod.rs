//! [`Transcript`], a cheaply cloned sequence of messages, and [`MessageLog`],
//! the append-only history it is cut from.
//!
//! An agent sends the recent history of its thread to the model on every
//! step. Copying that history each time makes a run of `n` steps cost
//! `O(n²)`. Here the history is kept in shared, immutable blocks: a
//! transcript of the newest messages is a handful of reference-counted
//! block handles, found by binary search over running token totals, so
//! building a request costs the same at step 10 and at step 1,000.

use crate::error::MemoryError;
use crate::message::{Message, Role};
use crate::summary::{History, ThreadSummary};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::sync::Arc;

/// Messages per block of a [`MessageLog`].
const BLOCK: usize = 64;

type Block = Arc<Vec<Arc<Message>>>;

#[derive(Clone)]
struct Segment {
    block: Block,
    start: usize,
    end: usize,
}

impl Segment {
    fn messages(&self) -> &[Arc<Message>] {
        self.block.get(self.start..self.end).unwrap_or_default()
    }
}

/// An immutable, cheaply cloned sequence of messages: what a
/// [`ChatRequest`](crate::ChatRequest) sends and what a
/// [`ShortTermMemory`](crate::ShortTermMemory) loads.
///
/// Cloning a transcript never copies a message; messages are shared with the
/// [`MessageLog`] they came from. Build one from a `Vec<Message>`, or push
/// messages onto it.
///
/// ```
/// use klieo_types::{Message, Role, Transcript};
///
/// let mut t = Transcript::from(vec![Message::system("Be brief.")]);
/// t.push(Message::user("Hi"));
/// assert_eq!(t.len(), 2);
/// assert_eq!(t.last().map(|m| m.role), Some(Role::User));
/// let roles: Vec<Role> = t.iter().map(|m| m.role).collect();
/// assert_eq!(roles, [Role::System, Role::User]);
/// ```
#[derive(Clone, Default)]
pub struct Transcript {
    segments: Vec<Segment>,
    len: usize,
}

impl Transcript {
    /// An empty transcript.
    pub const fn new() -> Self {
        Self {
            segments: Vec::new(),
            len: 0,
        }
    }

    /// Number of messages.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds no message.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The messages, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Message> + '_ {
        self.segments
            .iter()
            .flat_map(|s| s.messages().iter().map(|m| &**m))
    }

    /// The message at `index`, oldest first.
    pub fn get(&self, mut index: usize) -> Option<&Message> {
        for segment in &self.segments {
            let messages = segment.messages();
            if index < messages.len() {
                return messages.get(index).map(|m| &**m);
            }
            index -= messages.len();
        }
        None
    }

    /// The newest message.
    pub fn last(&self) -> Option<&Message> {
        self.segments
            .last()
            .and_then(|s| s.messages().last())
            .map(|m| &**m)
    }

    /// Appends a message.
    pub fn push(&mut self, message: Message) {
        self.push_shared(Arc::new(message));
    }

    /// Appends a message that is already shared, without copying it.
    pub fn push_shared(&mut self, message: Arc<Message>) {
        self.len += 1;
        if let Some(last) = self.segments.last_mut() {
            let end = last.end;
            if let Some(block) = Arc::get_mut(&mut last.block) {
                if block.len() == end {
                    block.push(message);
                    last.end += 1;
                    return;
                }
            }
        }
        self.segments.push(Segment {
            block: Arc::new(vec![message]),
            start: 0,
            end: 1,
        });
    }

    /// Appends every message of `other`, sharing them.
    pub fn extend_shared(&mut self, other: &Transcript) {
        self.segments.extend(other.segments.iter().cloned());
        self.len += other.len;
    }

    /// The messages of `parts`, in order, sharing them (one allocation,
    /// where extending a copy of the first part grows it).
    ///
    /// ```
    /// use klieo_types::{Message, Transcript};
    ///
    /// let system = Transcript::from(vec![Message::system("Be brief.")]);
    /// let history = Transcript::from(vec![Message::user("hi"), Message::assistant("hello")]);
    /// let request = Transcript::concat(&[&system, &history]);
    /// assert_eq!(request.len(), 3);
    /// assert_eq!(request.get(1).map(|m| m.content.as_str()), Some("hi"));
    /// ```
    pub fn concat(parts: &[&Transcript]) -> Transcript {
        let mut segments = Vec::with_capacity(parts.iter().map(|p| p.segments.len()).sum());
        let mut len = 0;
        for part in parts {
            segments.extend(part.segments.iter().cloned());
            len += part.len;
        }
        Self { segments, len }
    }

    /// Copies the messages out into a vector.
    pub fn to_vec(&self) -> Vec<Message> {
        self.iter().cloned().collect()
    }
}

impl From<Vec<Message>> for Transcript {
    fn from(messages: Vec<Message>) -> Self {
        messages.into_iter().collect()
    }
}

impl FromIterator<Message> for Transcript {
    fn from_iter<I: IntoIterator<Item = Message>>(iter: I) -> Self {
        let block: Vec<Arc<Message>> = iter.into_iter().map(Arc::new).collect();
        let len = block.len();
        if len == 0 {
            return Self::new();
        }
        Self {
            segments: vec![Segment {
                block: Arc::new(block),
                start: 0,
                end: len,
            }],
            len,
        }
    }
}

impl<'a> IntoIterator for &'a Transcript {
    type Item = &'a Message;
    type IntoIter = Box<dyn DoubleEndedIterator<Item = &'a Message> + 'a>;

    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

impl PartialEq for Transcript {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl Eq for Transcript {}

impl fmt::Debug for Transcript {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Serialize for Transcript {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for Transcript {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<Message>::deserialize(deserializer).map(Transcript::from)
    }
}

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
                let mut block = Vec::with_capacity(BLOCK);
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
        let (lower, budget) = match summary {
            Some(s) => (
                usize::try_from(s.through).unwrap_or(usize::MAX),
                s.room_under(max_tokens),
            ),
            None => (0, max_tokens),
        };
        let start = self.stable_start(lower, budget, granule);
        History::new(
            summary.cloned(),
            self.range(start, self.len()),
            start as u64,
        )
    }

    /// Keeps `summary` of the thread, if it follows the latest
    /// ([`ThreadSummary::follows`]); refused with
    /// [`MemoryError::Conflict`] otherwise.
    pub fn add_summary(&mut self, summary: ThreadSummary) -> Result<(), MemoryError> {
        if !summary.follows(self.summaries.last(), self.len() as u64) {
            return Err(MemoryError::Conflict(format!(
                "a summary of messages {}..{} does not follow the thread's latest summary (through {}) within its {} messages: another run summarised it first",
                summary.from,
                summary.through,
                self.summaries.last().map_or(0, |s| s.through),
                self.len()
            )));
        }
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
        let blocks = start / BLOCK..=(end - 1) / BLOCK;
        let mut transcript = Transcript {
            segments: Vec::with_capacity(blocks.clone().count()),
            len: 0,
        };
        for index in blocks {
            let Some(block) = self.blocks.get(index) else {
                break;
            };
            let base = index * BLOCK;
            let from = start.max(base) - base;
            let to = end.min(base + block.len()) - base;
            transcript.segments.push(Segment {
                block: Arc::clone(block),
                start: from,
                end: to,
            });
            transcript.len += to - from;
        }
        transcript
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
mod tests;
