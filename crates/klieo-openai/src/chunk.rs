//! Streamed chunks on the wire: one `chat.completion.chunk` event, read
//! with borrowed strings and without allocating a list of choices.

use crate::error::ErrorField;
use crate::response::{RawText, WireUsage};
use klieo_provider::tool_calls::TOOL_CALLS_LIMIT;
use serde::de::{Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use std::borrow::Cow;
use std::fmt;

/// One `chat.completion.chunk`, read with borrowed strings.
#[derive(Deserialize)]
pub(crate) struct WireChunk<'a> {
    #[serde(borrow, default)]
    pub(crate) choices: FirstChoice<'a>,
    #[serde(default)]
    pub(crate) usage: Option<WireUsage>,
    #[serde(borrow, default)]
    pub(crate) error: Option<ErrorField<'a>>,
}

/// The reply's id and model, read from the first chunks only: reading
/// them from every chunk cost about 10% of the stream's parse rate. Any
/// JSON value is taken (as its text), so an odd one never fails a reply.
#[derive(Deserialize)]
pub(crate) struct ChunkInfo<'a> {
    #[serde(borrow, default)]
    pub(crate) id: Option<RawText<'a>>,
    #[serde(borrow, default)]
    pub(crate) model: Option<RawText<'a>>,
}

/// The choice with index 0 (or without an index) of a `choices` list;
/// others are skipped without allocating a list.
#[derive(Default)]
pub(crate) struct FirstChoice<'a>(pub(crate) Option<ChunkChoice<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for FirstChoice<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FirstChoiceVisitor)
    }
}

struct FirstChoiceVisitor;

impl<'de> Visitor<'de> for FirstChoiceVisitor {
    type Value = FirstChoice<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of choices")
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(FirstChoice(None))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut kept = None;
        while let Some(choice) = seq.next_element::<ChunkChoice<'de>>()? {
            if kept.is_none() && choice.index.unwrap_or(0) == 0 {
                kept = Some(choice);
            }
        }
        Ok(FirstChoice(kept))
    }
}

#[derive(Deserialize)]
pub(crate) struct ChunkChoice<'a> {
    #[serde(default)]
    pub(crate) index: Option<u32>,
    #[serde(borrow, default)]
    pub(crate) delta: Option<Delta<'a>>,
    #[serde(borrow, default)]
    pub(crate) finish_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
pub(crate) struct Delta<'a> {
    #[serde(borrow, default)]
    pub(crate) content: Option<Cow<'a, str>>,
    /// A piece of the model's refusal (structured outputs).
    #[serde(borrow, default)]
    pub(crate) refusal: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(crate) tool_calls: Option<Fragments<'a>>,
    #[serde(borrow, default)]
    pub(crate) function_call: Option<FunctionFragment<'a>>,
}

/// A delta's `tool_calls`, read within the tool calls' bound: each
/// fragment takes some 80 bytes read, and an empty one (`{}`) three on
/// the wire, so a list of them is kept only up to
/// [`TOOL_CALLS_LIMIT`] bytes of fragments; past it the rest are read and
/// dropped, and the list is `over`.
#[derive(Default)]
pub(crate) struct Fragments<'a> {
    pub(crate) list: Vec<ToolCallFragment<'a>>,
    pub(crate) over: bool,
}

/// The most fragments a delta's list keeps.
const MAX_FRAGMENTS: usize = TOOL_CALLS_LIMIT / std::mem::size_of::<ToolCallFragment<'static>>();

impl<'de: 'a, 'a> Deserialize<'de> for Fragments<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FragmentsVisitor)
    }
}

struct FragmentsVisitor;

impl<'de> Visitor<'de> for FragmentsVisitor {
    type Value = Fragments<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of tool-call fragments")
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Fragments::default())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut fragments = Fragments::default();
        while let Some(fragment) = seq.next_element::<ToolCallFragment<'de>>()? {
            match fragments.list.len() < MAX_FRAGMENTS {
                true => fragments.list.push(fragment),
                false => fragments.over = true,
            }
        }
        Ok(fragments)
    }
}

#[derive(Deserialize)]
pub(crate) struct ToolCallFragment<'a> {
    #[serde(default)]
    pub(crate) index: Option<u32>,
    #[serde(borrow, default)]
    pub(crate) id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(crate) function: Option<FunctionFragment<'a>>,
}

#[derive(Deserialize)]
pub(crate) struct FunctionFragment<'a> {
    #[serde(borrow, default)]
    pub(crate) name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(crate) arguments: Option<RawText<'a>>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::calls::Calls;
    use klieo_types::LlmError;

    fn delta_of(fragments: usize) -> String {
        let list = vec!["{}"; fragments].join(",");
        format!(r#"{{"choices":[{{"delta":{{"tool_calls":[{list}]}}}}]}}"#)
    }

    #[test]
    fn a_delta_of_more_empty_fragments_than_the_bound_keeps_no_more() {
        let event = delta_of(MAX_FRAGMENTS + 1);
        let chunk: WireChunk<'_> = serde_json::from_str(&event).unwrap();
        let fragments = chunk.choices.0.and_then(|c| c.delta?.tool_calls).unwrap();
        assert!(fragments.over);
        assert_eq!(fragments.list.len(), MAX_FRAGMENTS);
        let refused = Calls::default().add(fragments);
        assert!(
            matches!(refused, Err(LlmError::ToolCallsTooLarge { limit }) if limit == TOOL_CALLS_LIMIT),
            "{refused:?}"
        );
    }

    #[test]
    fn a_delta_within_the_bound_keeps_every_fragment() {
        let event = delta_of(3);
        let chunk: WireChunk<'_> = serde_json::from_str(&event).unwrap();
        let fragments = chunk.choices.0.and_then(|c| c.delta?.tool_calls).unwrap();
        assert!(!fragments.over);
        assert_eq!(fragments.list.len(), 3);
    }
}
