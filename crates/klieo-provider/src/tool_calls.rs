//! [`ToolCallParts`]: streamed tool calls put together from fragments, by
//! index, whatever the wire format that carries them.

use klieo_types::{LlmError, ToolCall};

/// Bytes the tool calls of one streamed reply may hold by default, 4 MiB:
/// their argument text, ids and names, and a fixed record per call.
pub const TOOL_CALLS_LIMIT: usize = 4 * 1024 * 1024;

/// One piece of a streamed tool call, as a provider's wire format gives it.
#[derive(Debug, Clone, Copy, Default)]
pub struct ToolCallFragment<'a> {
    /// Which call of the reply this is a piece of (OpenAI's `index`,
    /// Anthropic's content block `index`); without one, the call with this
    /// fragment's id, else the last call.
    pub index: Option<u32>,
    /// The call's id, when this piece carries it.
    pub id: Option<&'a str>,
    /// The tool's name, when this piece carries it.
    pub name: Option<&'a str>,
    /// More of the arguments' JSON text, appended as it comes.
    pub arguments: Option<&'a str>,
}

/// A tool call being put together.
#[derive(Debug, Default)]
struct PartialCall {
    index: u32,
    id: String,
    name: String,
    arguments: String,
}

impl PartialCall {
    /// Adds a fragment and returns the bytes it added. The first non-empty
    /// id and name win: some servers repeat both in every fragment, others
    /// send them once. Arguments are appended as they come.
    fn absorb(&mut self, fragment: &ToolCallFragment<'_>) -> usize {
        let before = self.id.len() + self.name.len() + self.arguments.len();
        if self.id.is_empty() {
            if let Some(id) = fragment.id {
                self.id.push_str(id);
            }
        }
        if self.name.is_empty() {
            if let Some(name) = fragment.name {
                self.name.push_str(name);
            }
        }
        if let Some(args) = fragment.arguments {
            self.arguments.push_str(args);
        }
        self.id.len() + self.name.len() + self.arguments.len() - before
    }
}

/// The tool calls of one streamed reply, being assembled from fragments,
/// within a bound on what they hold: a server that sends more fails the
/// stream with [`LlmError::ToolCallsTooLarge`] instead of growing memory.
///
/// ```
/// use klieo_provider::tool_calls::{ToolCallFragment, ToolCallParts};
///
/// let mut parts = ToolCallParts::new();
/// let start = ToolCallFragment { index: Some(0), id: Some("c1"), name: Some("add"), ..Default::default() };
/// parts.add(&start)?;
/// for piece in [r#"{"a": "#, "1}"] {
///     parts.add(&ToolCallFragment { index: Some(0), arguments: Some(piece), ..Default::default() })?;
/// }
/// let calls = parts.finish();
/// assert_eq!((calls[0].id.as_str(), calls[0].arguments()), ("c1", r#"{"a": 1}"#));
/// # Ok::<(), klieo_types::LlmError>(())
/// ```
#[derive(Debug)]
pub struct ToolCallParts {
    calls: Vec<PartialCall>,
    /// Bytes held so far, as [`TOOL_CALLS_LIMIT`] counts them.
    held: usize,
    limit: usize,
}

impl Default for ToolCallParts {
    fn default() -> Self {
        Self::new()
    }
}

impl ToolCallParts {
    /// No calls yet, holding at most [`TOOL_CALLS_LIMIT`] bytes.
    pub fn new() -> Self {
        Self::with_limit(TOOL_CALLS_LIMIT)
    }

    /// No calls yet, holding at most `limit` bytes.
    pub fn with_limit(limit: usize) -> Self {
        Self {
            calls: Vec::new(),
            held: 0,
            limit,
        }
    }

    /// Whether no fragment came.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// Adds one fragment.
    ///
    /// # Errors
    ///
    /// [`LlmError::ToolCallsTooLarge`] once the calls hold more than the limit.
    pub fn add(&mut self, fragment: &ToolCallFragment<'_>) -> Result<(), LlmError> {
        let id = fragment.id.filter(|id| !id.is_empty());
        let slot = match (fragment.index, id) {
            (Some(index), _) => self.calls.iter().position(|c| c.index == index),
            (None, Some(id)) => self.calls.iter().position(|c| c.id == id),
            (None, None) => self.calls.len().checked_sub(1),
        };
        let slot = match slot {
            Some(slot) => slot,
            None => {
                let index = fragment.index.unwrap_or_else(|| {
                    let next = self.calls.iter().map(|c| c.index.saturating_add(1)).max();
                    next.unwrap_or(0)
                });
                self.hold(std::mem::size_of::<PartialCall>())?;
                self.calls.push(PartialCall {
                    index,
                    ..PartialCall::default()
                });
                self.calls.len() - 1
            }
        };
        let fragment = ToolCallFragment { id, ..*fragment };
        let added = self.calls.get_mut(slot).map_or(0, |c| c.absorb(&fragment));
        self.hold(added)
    }

    /// Counts `bytes` more, failing once past the limit.
    fn hold(&mut self, bytes: usize) -> Result<(), LlmError> {
        self.held = self.held.saturating_add(bytes);
        if self.held > self.limit {
            return Err(LlmError::ToolCallsTooLarge { limit: self.limit });
        }
        Ok(())
    }

    /// Every assembled call in index order, a missing id filled in by
    /// position (`call_0`, `call_1`, …); the parts are empty after.
    pub fn finish(&mut self) -> Vec<ToolCall> {
        let mut calls = std::mem::take(&mut self.calls);
        calls.sort_by_key(|c| c.index);
        self.held = 0;
        calls
            .into_iter()
            .enumerate()
            .map(|(position, c)| {
                let id = if c.id.is_empty() {
                    fallback_id(position)
                } else {
                    c.id
                };
                ToolCall::from_raw(id, c.name, c.arguments)
            })
            .collect()
    }
}

/// The id given to the call at `position` of a reply when the server sent
/// none.
pub fn fallback_id(position: usize) -> String {
    format!("call_{position}")
}
