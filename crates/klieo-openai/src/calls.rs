//! Streamed tool calls put together from fragments (by `index`, else by
//! `id`, else onto the last call), a legacy `function_call` kept aside
//! while no `tool_calls` came, and a bound on what they hold.

use crate::chunk::{FunctionFragment, ToolCallFragment};
use crate::error::decoding;
use crate::response::fallback_id;
use klieo_types::{LlmError, ToolCall};

/// Bytes the tool calls of one streamed reply may hold, 4 MiB: their
/// argument text, ids and names, and a fixed record per call. A server
/// that sends more fails the stream with [`LlmError::Decoding`] instead of
/// growing memory until its finish chunk.
pub(crate) const CALLS_LIMIT: usize = 4 * 1024 * 1024;

/// A tool call being put together from fragments.
#[derive(Debug, Default)]
struct PartialCall {
    index: u32,
    id: String,
    name: String,
    arguments: String,
}

impl PartialCall {
    /// Adds a fragment and returns the bytes it added. The first non-empty
    /// id and name win: llama.cpp's server repeats both in every fragment,
    /// OpenAI sends them once. Arguments are appended as they come.
    fn absorb(&mut self, id: Option<&str>, function: Option<&FunctionFragment<'_>>) -> usize {
        let before = self.id.len() + self.name.len() + self.arguments.len();
        if self.id.is_empty() {
            if let Some(id) = id {
                self.id.push_str(id);
            }
        }
        if let Some(f) = function {
            if self.name.is_empty() {
                if let Some(name) = f.name.as_deref() {
                    self.name.push_str(name);
                }
            }
            if let Some(args) = &f.arguments {
                self.arguments.push_str(&args.0);
            }
        }
        self.id.len() + self.name.len() + self.arguments.len() - before
    }

    fn into_call(self, position: usize) -> ToolCall {
        let id = if self.id.is_empty() {
            fallback_id(position)
        } else {
            self.id
        };
        ToolCall::from_raw(id, self.name, self.arguments)
    }
}

/// The tool calls of one streamed reply, being assembled.
#[derive(Debug)]
pub(crate) struct Calls {
    calls: Vec<PartialCall>,
    /// A legacy `function_call`, kept only while no `tool_calls` came.
    legacy: Option<PartialCall>,
    /// Bytes held so far, as [`CALLS_LIMIT`] counts them.
    held: usize,
    limit: usize,
}

impl Calls {
    /// No calls yet; at most `limit` bytes held (see [`CALLS_LIMIT`]).
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            calls: Vec::new(),
            legacy: None,
            held: 0,
            limit,
        }
    }

    /// Adds the `tool_calls` fragments of one delta. Once any came, a legacy
    /// `function_call` is dropped: `tool_calls` are the truth.
    pub(crate) fn add(&mut self, fragments: Vec<ToolCallFragment<'_>>) -> Result<(), LlmError> {
        if !fragments.is_empty() {
            self.legacy = None;
        }
        for fragment in fragments {
            let id = fragment.id.as_deref().filter(|id| !id.is_empty());
            let slot = match (fragment.index, id) {
                (Some(index), _) => self.calls.iter().position(|c| c.index == index),
                (None, Some(id)) => self.calls.iter().position(|c| c.id == id),
                (None, None) => self.calls.len().checked_sub(1),
            };
            let slot = match slot {
                Some(slot) => slot,
                None => {
                    let index = fragment.index.unwrap_or_else(|| {
                        self.calls
                            .iter()
                            .map(|c| c.index.saturating_add(1))
                            .max()
                            .unwrap_or(0)
                    });
                    self.hold(std::mem::size_of::<PartialCall>())?;
                    self.calls.push(PartialCall {
                        index,
                        ..PartialCall::default()
                    });
                    self.calls.len() - 1
                }
            };
            if let Some(call) = self.calls.get_mut(slot) {
                let added = call.absorb(id, fragment.function.as_ref());
                self.hold(added)?;
            }
        }
        Ok(())
    }

    /// Adds a legacy `function_call` fragment, unless `tool_calls` came.
    pub(crate) fn add_legacy(&mut self, function: &FunctionFragment<'_>) -> Result<(), LlmError> {
        if !self.calls.is_empty() {
            return Ok(());
        }
        let added = self
            .legacy
            .get_or_insert_with(PartialCall::default)
            .absorb(None, Some(function));
        self.hold(added)
    }

    /// Counts `bytes` more, failing once past the limit.
    fn hold(&mut self, bytes: usize) -> Result<(), LlmError> {
        self.held = self.held.saturating_add(bytes);
        if self.held > self.limit {
            let reason = format!(
                "the streamed tool calls exceeded {} bytes of arguments, ids and names",
                self.limit
            );
            return Err(decoding(reason, b"", None));
        }
        Ok(())
    }

    /// Every assembled call in index order (ids missing filled in by
    /// position), or the legacy `function_call` when it is the only one.
    pub(crate) fn finish(&mut self) -> Vec<ToolCall> {
        let mut calls = std::mem::take(&mut self.calls);
        calls.sort_by_key(|c| c.index);
        let mut calls: Vec<ToolCall> = calls
            .into_iter()
            .enumerate()
            .map(|(i, c)| c.into_call(i))
            .collect();
        if let Some(legacy) = self.legacy.take().filter(|l| !l.name.is_empty()) {
            if calls.is_empty() {
                calls.push(legacy.into_call(0));
            }
        }
        calls
    }
}
