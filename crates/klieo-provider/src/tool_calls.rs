//! [`ToolCallParts`]: streamed tool calls put together from fragments, by
//! index, whatever the wire format that carries them.

use klieo_types::{LlmError, ToolCall};
use serde_json::Value;
use std::borrow::Cow;

/// Bytes the tool calls of one streamed reply may hold by default, 4 MiB:
/// their argument text, ids and names, [`CALL_RECORD`] a call and
/// [`FRAGMENT_RECORD`] a fragment.
pub const TOOL_CALLS_LIMIT: usize = 4 * 1024 * 1024;

/// What a call counts for against the limit besides its text: at most
/// 1,024 calls a reply under [`TOOL_CALLS_LIMIT`], however small, so that
/// the work of placing each fragment among them stays bounded.
pub const CALL_RECORD: usize = 4 * 1024;

/// What a fragment counts for against the limit besides its text: a
/// server cannot send empty fragments without end.
pub const FRAGMENT_RECORD: usize = 8;

/// One piece of a streamed tool call, as a provider's wire format gives it.
#[derive(Debug, Clone, Copy, Default)]
pub struct ToolCallFragment<'a> {
    /// Which call of the reply this is a piece of (OpenAI's `index`,
    /// Anthropic's content block `index`), unless it names a tool and
    /// carries an id other than that call's (a server that gives parallel
    /// calls one index): then it starts a call. Without an index, the call with this
    /// fragment's id, else the last call, unless this piece names a tool
    /// and carries an id other than the last call's, or names a tool and
    /// brings arguments while the last call's are whole JSON or name
    /// another tool (whole calls sent several to a delta): then it starts
    /// a call.
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
    /// The arguments' structure, read as they come.
    shape: Shape,
}

/// The structure of a call's argument text so far, read once a byte as
/// pieces come: whether it is one value whose objects and arrays all
/// closed, so that it may be whole JSON. Only such a text is parsed to
/// tell (see [`PartialCall::is_followed_by`]): parsing every piece's
/// text would cost the square of its length, and a server can send a
/// call in millions of pieces.
#[derive(Debug, Default, Clone, Copy)]
struct Shape {
    /// Objects and arrays open, outside strings.
    depth: u32,
    in_string: bool,
    /// The last byte was a backslash inside a string.
    escaped: bool,
    /// An object or array was opened.
    opened: bool,
    /// A mark closed nothing, or a second value began after the first
    /// closed: the text can never be one value.
    broken: bool,
}

impl Shape {
    fn read(&mut self, text: &str) {
        for &byte in text.as_bytes() {
            if self.in_string {
                match (self.escaped, byte) {
                    (true, _) => self.escaped = false,
                    (false, b'\\') => self.escaped = true,
                    (false, b'"') => self.in_string = false,
                    _ => {}
                }
                continue;
            }
            match byte {
                b'"' => self.in_string = true,
                b'{' | b'[' => {
                    self.broken |= self.opened && self.depth == 0;
                    self.opened = true;
                    self.depth = self.depth.saturating_add(1);
                }
                b'}' | b']' => match self.depth.checked_sub(1) {
                    Some(depth) => self.depth = depth,
                    None => self.broken = true,
                },
                _ => {}
            }
        }
    }

    /// Whether the text may be one whole value: opened, all closed.
    fn closed(&self) -> bool {
        self.opened && self.depth == 0 && !self.in_string && !self.broken
    }
}

impl PartialCall {
    /// Whether a piece with the id `id` belongs to this call: it has no id
    /// yet, or this one.
    fn takes_id(&self, id: &str) -> bool {
        self.id.is_empty() || self.id == id
    }

    /// Whether `fragment`, without an id, starts a call after this one
    /// rather than adding to it: it names a tool and brings arguments,
    /// and this call has its name and either another one or whole
    /// arguments already (a server that sends whole calls, several to a
    /// delta, with no index or all at one).
    fn is_followed_by(&self, fragment: &ToolCallFragment<'_>) -> bool {
        let (Some(name), Some(args)) = (fragment.name, fragment.arguments) else {
            return false;
        };
        if name.is_empty() || args.is_empty() || self.name.is_empty() {
            return false;
        }
        // Whole arguments end an object, all closed, and the piece starts
        // one; only then are they parsed, so pieces that repeat the name
        // cost no parse of what came before. A piece added after a failed
        // parse opens a second value, so no text is parsed twice.
        let whole = args.trim_start().starts_with('{')
            && self.shape.closed()
            && self.arguments.trim_end().ends_with('}')
            && serde_json::from_str::<serde_json::Value>(&self.arguments).is_ok();
        self.name != name || whole
    }

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
            self.shape.read(args);
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
/// assert_eq!((&*calls[0].id, calls[0].arguments()), ("c1", r#"{"a": 1}"#));
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

    /// No calls yet, holding at most `limit` bytes: a call takes
    /// [`CALL_RECORD`] and each fragment [`FRAGMENT_RECORD`] of them
    /// besides its text, so a limit under those holds no call.
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
        self.hold(FRAGMENT_RECORD)?;
        let id = fragment.id.filter(|id| !id.is_empty());
        // A tool's name: with an id other than a call's, the piece starts
        // a call.
        let starts = fragment.name.is_some_and(|name| !name.is_empty());
        let slot = match (fragment.index, id) {
            // The latest call of the index, unless this piece starts another
            // (a tool's name and another id, or, without an id, a tool's
            // name and arguments after whole ones): a server that gives
            // every parallel call index 0 starts each with its own id and
            // name, or sends each whole without one, while some send a new
            // id on each piece of one call.
            (Some(index), _) => self
                .calls
                .iter()
                .rposition(|c| c.index == index)
                .filter(|&slot| {
                    let call = &self.calls[slot];
                    match id {
                        Some(id) => !starts || call.takes_id(id),
                        None => !call.is_followed_by(fragment),
                    }
                }),
            // The call with this id; else, as a piece without an id, the
            // last call, unless this piece starts another (as with an
            // index: a tool's name and an id other than that call's).
            (None, Some(id)) => self.calls.iter().position(|c| c.id == id).or_else(|| {
                self.calls.len().checked_sub(1).filter(|&last| {
                    let call = &self.calls[last];
                    (!starts || call.takes_id(id)) && !call.is_followed_by(fragment)
                })
            }),
            (None, None) => self
                .calls
                .len()
                .checked_sub(1)
                .filter(|&last| !self.calls[last].is_followed_by(fragment)),
        };
        let slot = match slot {
            Some(slot) => slot,
            None => {
                let index = fragment.index.unwrap_or_else(|| {
                    let next = self.calls.iter().map(|c| c.index.saturating_add(1)).max();
                    next.unwrap_or(0)
                });
                self.hold(CALL_RECORD)?;
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
                    ToolCall::fallback_id(position)
                } else {
                    c.id
                };
                ToolCall::from_raw(id, c.name, c.arguments)
            })
            .collect()
    }
}

/// A tool's parameters as the model APIs take them: an object's schema
/// with its `type` and its `properties` written out. A tool of no
/// arguments is often `{"type": "object"}` (MCP servers list them so) or
/// `{}`: OpenAI refuses both (400, "object schema missing properties"),
/// failing every request that offers the tool, and Anthropic refuses a
/// schema without `type`. A schema of one of several shapes at its top
/// (`anyOf`) is no object to fill in, and is left as it is.
///
/// ```
/// use klieo_provider::tool_calls::object_schema;
/// use serde_json::json;
///
/// let empty = json!({"type": "object", "properties": {}});
/// assert_eq!(*object_schema(&json!({"type": "object"})), empty);
/// assert_eq!(*object_schema(&json!({})), empty);
/// ```
pub fn object_schema(schema: &Value) -> Cow<'_, Value> {
    let Value::Object(fields) = schema else {
        return Cow::Borrowed(schema);
    };
    let object = fields
        .get("type")
        .is_none_or(|kind| kind.as_str() == Some("object"));
    let shapes = ["anyOf", "oneOf", "allOf"]
        .iter()
        .any(|key| fields.contains_key(*key));
    let written = fields.contains_key("type") && fields.contains_key("properties");
    if !object || shapes || written {
        return Cow::Borrowed(schema);
    }
    let mut filled = fields.clone();
    filled
        .entry("type")
        .or_insert_with(|| Value::String("object".into()));
    filled
        .entry("properties")
        .or_insert_with(|| Value::Object(serde_json::Map::new()));
    Cow::Owned(Value::Object(filled))
}

#[cfg(test)]
mod tests;
