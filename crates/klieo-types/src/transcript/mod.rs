//! [`Transcript`], a cheaply cloned sequence of messages, and [`MessageLog`],
//! the append-only history it is cut from.
//!
//! An agent sends the recent history of its thread to the model on every
//! step. Copying that history each time makes a run of `n` steps cost
//! `O(n²)`. Here the history is kept in shared, immutable blocks: a
//! transcript of the newest messages is a handful of reference-counted
//! block handles, found by binary search over running token totals, so
//! building a request costs the same at step 10 and at step 1,000.

use crate::message::Message;
use segments::Segments;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::sync::Arc;

/// Messages kept in place, shared by the transcripts cut from them: a
/// message is one allocation of its block's, not one of its own (see
/// docs/PERFORMANCE.md).
type Block = Arc<Vec<Message>>;

#[derive(Clone)]
struct Segment {
    block: Block,
    start: usize,
    end: usize,
}

impl Segment {
    fn messages(&self) -> &[Message] {
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
    segments: Segments,
    len: usize,
}

impl Transcript {
    /// An empty transcript.
    pub const fn new() -> Self {
        Self {
            segments: Segments::Empty,
            len: 0,
        }
    }

    fn segments(&self) -> &[Segment] {
        self.segments.as_slice()
    }

    /// A transcript of `segments` holding `len` messages.
    fn of(segments: Segments, len: usize) -> Self {
        Self {
            segments: match len {
                0 => Segments::Empty,
                _ => segments,
            },
            len,
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
        self.segments().iter().flat_map(|s| s.messages().iter())
    }

    /// The message at `index`, oldest first.
    pub fn get(&self, mut index: usize) -> Option<&Message> {
        for segment in self.segments() {
            let messages = segment.messages();
            if index < messages.len() {
                return messages.get(index);
            }
            index -= messages.len();
        }
        None
    }

    /// The newest message.
    pub fn last(&self) -> Option<&Message> {
        self.segments().last().and_then(|s| s.messages().last())
    }

    /// Appends a message.
    pub fn push(&mut self, message: Message) {
        self.len += 1;
        // Grown in place when this transcript alone holds its segments
        // and the end of their last block.
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
        let segment = Segment {
            block: Arc::new(vec![message]),
            start: 0,
            end: 1,
        };
        let segments = self.segments().iter().cloned();
        self.segments = segments.chain(std::iter::once(segment)).collect();
    }

    /// Appends every message of `other`, sharing them. The list of
    /// segments (a handle per block of up to 256 messages) is made again,
    /// so appending many transcripts one by one costs more than one
    /// [`concat`](Self::concat) of them all.
    pub fn extend_shared(&mut self, other: &Transcript) {
        *self = Self::concat(&[self, other]);
    }

    /// The messages of `parts`, in order, sharing them: no allocation for
    /// up to two segments (a request's system prompt and a history within
    /// one block of its log), one for more from up to three parts (a
    /// request's system prompt, summary and history), two for more parts.
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
        let len = parts.iter().map(|p| p.len).sum();
        // An iterator of known length makes a shared list in one
        // allocation; a request's parts (the system prompt, a summary,
        // the history) take that path.
        let segments: Segments = match parts {
            [] => return Self::new(),
            [one] => return (*one).clone(),
            [first, second] => {
                let (first, second) = (first.segments().iter(), second.segments().iter());
                first.chain(second).cloned().collect()
            }
            [first, second, third] => {
                let first = first.segments().iter().chain(second.segments());
                first.chain(third.segments()).cloned().collect()
            }
            more => more
                .iter()
                .flat_map(|p| p.segments().iter().cloned())
                .collect(),
        };
        Self::of(segments, len)
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
        let block: Vec<Message> = iter.into_iter().collect();
        let len = block.len();
        if len == 0 {
            return Self::new();
        }
        let segment = Segment {
            block: Arc::new(block),
            start: 0,
            end: len,
        };
        Self::of(Segments::One(segment), len)
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

mod log;
mod segments;

pub use log::MessageLog;

#[cfg(test)]
mod tests;
