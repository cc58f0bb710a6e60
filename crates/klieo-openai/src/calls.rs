//! OpenAI's streamed tool calls, assembled by klieo-provider's
//! [`ToolCallParts`]: `tool_calls` fragments by `index` (else by `id`, else
//! onto the last call), and a legacy `function_call` kept aside while no
//! `tool_calls` came.

use crate::chunk::{Fragments, FunctionFragment};
use klieo_provider::tool_calls::{ToolCallFragment as Fragment, ToolCallParts, TOOL_CALLS_LIMIT};
use klieo_types::{LlmError, ToolCall};

/// The tool calls of one streamed reply, being assembled.
#[derive(Debug)]
pub(crate) struct Calls {
    calls: ToolCallParts,
    /// A legacy `function_call`, kept only while no `tool_calls` came.
    legacy: Option<ToolCallParts>,
    limit: usize,
}

impl Default for Calls {
    fn default() -> Self {
        Self::with_limit(TOOL_CALLS_LIMIT)
    }
}

fn piece<'a>(
    index: Option<u32>,
    id: Option<&'a str>,
    function: Option<&'a FunctionFragment<'_>>,
) -> Fragment<'a> {
    Fragment {
        index,
        id,
        name: function.and_then(|f| f.name.as_deref()),
        arguments: function.and_then(|f| f.arguments.as_ref().map(|a| &*a.0)),
    }
}

impl Calls {
    /// No calls yet, holding at most `limit` bytes (see
    /// [`TOOL_CALLS_LIMIT`]).
    pub(crate) fn with_limit(limit: usize) -> Self {
        Self {
            calls: ToolCallParts::with_limit(limit),
            legacy: None,
            limit,
        }
    }

    /// Adds the `tool_calls` fragments of one delta. Once any came, a legacy
    /// `function_call` is dropped: `tool_calls` are the truth.
    ///
    /// # Errors
    ///
    /// [`LlmError::ToolCallsTooLarge`] once the calls hold more than the
    /// limit, or the delta brought more fragments than its list keeps.
    pub(crate) fn add(&mut self, fragments: Fragments<'_>) -> Result<(), LlmError> {
        if fragments.over {
            return Err(LlmError::ToolCallsTooLarge { limit: self.limit });
        }
        if !fragments.list.is_empty() {
            self.legacy = None;
        }
        for fragment in &fragments.list {
            let id = fragment.id.as_deref();
            self.calls
                .add(&piece(fragment.index, id, fragment.function.as_ref()))?;
        }
        Ok(())
    }

    /// Adds a legacy `function_call` fragment, unless `tool_calls` came.
    pub(crate) fn add_legacy(&mut self, function: &FunctionFragment<'_>) -> Result<(), LlmError> {
        if !self.calls.is_empty() {
            return Ok(());
        }
        let limit = self.limit;
        let legacy = self
            .legacy
            .get_or_insert_with(|| ToolCallParts::with_limit(limit));
        legacy.add(&piece(Some(0), None, Some(function)))
    }

    /// Every assembled call in index order (ids missing filled in by
    /// position), or the legacy `function_call` when it is the only one.
    pub(crate) fn finish(&mut self) -> Vec<ToolCall> {
        let calls = self.calls.finish();
        match self.legacy.take() {
            Some(mut legacy) if calls.is_empty() => legacy
                .finish()
                .into_iter()
                .filter(|c| !c.name.is_empty())
                .collect(),
            _ => calls,
        }
    }
}
