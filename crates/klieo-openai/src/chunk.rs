//! Streamed chunks on the wire: one `chat.completion.chunk` event, read
//! with borrowed strings and without allocating a list of choices.

use crate::error::ErrorField;
use crate::response::{RawText, WireUsage};
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
    #[serde(borrow, default)]
    pub(crate) tool_calls: Option<Vec<ToolCallFragment<'a>>>,
    #[serde(borrow, default)]
    pub(crate) function_call: Option<FunctionFragment<'a>>,
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
