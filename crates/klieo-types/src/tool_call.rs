//! [`ToolCall`]: a tool invocation the model asks for, its arguments kept
//! as the text the model sent and, when it was built from one, as a value.

use crate::json_text::JsonText;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A tool invocation requested by the model.
///
/// Its arguments are JSON text exactly as the model produced it
/// ([`arguments`](Self::arguments)). Models, small ones especially,
/// sometimes produce text that is not valid JSON; the runtime then tells
/// the model so instead of failing the whole reply, which is why the raw
/// text is kept rather than a parsed value.
///
/// A call built from a value ([`ToolCall::new`]: a provider whose wire
/// sends arguments as an object, or a scripted model) keeps that value
/// beside its text, so the runtime hands it to the tool without parsing
/// the text again. The kept value is not part of the call's identity: it
/// is not compared, serialized, shown by `Debug` or copied by `Clone` (a
/// copy parses its text when asked). The text is private so that the two
/// cannot disagree; [`set_arguments`](Self::set_arguments) replaces the
/// text and drops the kept value.
///
/// ```
/// use klieo_types::ToolCall;
///
/// let call = ToolCall::new("call_1", "calculator", serde_json::json!({"expression": "17*23"}));
/// assert_eq!(call.arguments(), r#"{"expression":"17*23"}"#);
/// assert_eq!(call.parse_arguments()?["expression"], "17*23");
///
/// let broken = ToolCall::from_raw("call_2", "calculator", "{\"expression\": ");
/// assert!(broken.parse_arguments().is_err());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Serialize, Deserialize)]
pub struct ToolCall {
    /// Provider-assigned id; the tool's result message quotes it.
    #[serde(deserialize_with = "crate::shared_str::deserialize")]
    pub id: Arc<str>,
    /// Name of the tool to run.
    #[serde(deserialize_with = "crate::shared_str::deserialize")]
    pub name: Arc<str>,
    /// The arguments as JSON text, unparsed; shared with the
    /// [`JsonText`] a run keeps of them.
    #[serde(deserialize_with = "crate::shared_str::deserialize")]
    arguments: Arc<str>,
    /// The value `arguments` was rendered from, when the call was built
    /// from one: the same arguments, parsed.
    #[serde(skip)]
    parsed: Option<serde_json::Value>,
}

impl ToolCall {
    /// The id a call at `place` (from 0) of a reply is given when it came
    /// without one (or with one no ticket can name): `call_<place>`, the
    /// same wherever it is filled in (a provider's reply, the runtime).
    ///
    /// ```
    /// assert_eq!(klieo_types::ToolCall::fallback_id(2), "call_2");
    /// ```
    pub fn fallback_id(place: usize) -> String {
        format!("call_{place}")
    }

    /// A call whose arguments are the given JSON value (kept, and rendered
    /// as the call's text).
    pub fn new(
        id: impl Into<Arc<str>>,
        name: impl Into<Arc<str>>,
        args: serde_json::Value,
    ) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            arguments: args.to_string().into(),
            parsed: Some(args),
        }
    }

    /// A call whose arguments are raw text, valid JSON or not.
    pub fn from_raw(
        id: impl Into<Arc<str>>,
        name: impl Into<Arc<str>>,
        arguments: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            arguments: arguments.into().into(),
            parsed: None,
        }
    }

    /// The arguments as JSON text, exactly as the model produced them
    /// (valid JSON or not).
    pub fn arguments(&self) -> &str {
        &self.arguments
    }

    /// Replaces the arguments with raw text, valid JSON or not.
    ///
    /// ```
    /// use klieo_types::ToolCall;
    ///
    /// let mut call = ToolCall::new("c1", "search", serde_json::json!({"q": "tea"}));
    /// call.set_arguments(r#"{"q": "coffee"}"#);
    /// assert_eq!(call.parse_arguments()?["q"], "coffee");
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn set_arguments(&mut self, arguments: impl Into<String>) {
        self.arguments = arguments.into().into();
        self.parsed = None;
    }

    /// The arguments as a JSON value: the value the call was built from,
    /// else its text parsed. Empty text counts as `{}`, since some servers
    /// send no arguments for a tool that takes none.
    pub fn parse_arguments(&self) -> Result<serde_json::Value, serde_json::Error> {
        match &self.parsed {
            Some(value) => Ok(value.clone()),
            None => parse_text(&self.arguments),
        }
    }

    /// The arguments as a run records them (an episode's `args`): their
    /// text, shared, when it is JSON (`{}` when empty), else the raw text
    /// as a JSON string.
    ///
    /// ```
    /// use klieo_types::ToolCall;
    ///
    /// let call = ToolCall::from_raw("c1", "search", r#"{"q": "tea"}"#);
    /// assert_eq!(call.recorded_arguments().as_str(), r#"{"q": "tea"}"#);
    /// let broken = ToolCall::from_raw("c2", "search", "{\"q\": ");
    /// assert_eq!(broken.recorded_arguments().to_value(), "{\"q\": ");
    /// ```
    pub fn recorded_arguments(&self) -> JsonText {
        let text = &self.arguments;
        if text.trim().is_empty() {
            return JsonText::from(serde_json::Value::Object(serde_json::Map::new()));
        }
        let valid =
            self.parsed.is_some() || serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok();
        match valid {
            true => JsonText::trusted(Arc::clone(text)),
            false => JsonText::from(serde_json::Value::String(text.to_string())),
        }
    }

    /// The arguments as a JSON value, as [`parse_arguments`](Self::parse_arguments)
    /// gives them, with their text as [`JsonText`], shared with the call
    /// rather than copied. The value the call was built from is taken,
    /// not copied: the call keeps its text, and parses it when asked
    /// again. For whoever runs the call once and keeps a record of it.
    ///
    /// ```
    /// use klieo_types::ToolCall;
    ///
    /// let mut call = ToolCall::new("c1", "search", serde_json::json!({"q": "tea"}));
    /// let (value, text) = call.take_arguments()?;
    /// assert_eq!(value["q"], "tea");
    /// assert_eq!(text.as_str(), call.arguments());
    /// assert_eq!(call.parse_arguments()?["q"], "tea");
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn take_arguments(&mut self) -> Result<(serde_json::Value, JsonText), serde_json::Error> {
        let value = match self.parsed.take() {
            Some(value) => value,
            None => parse_text(&self.arguments)?,
        };
        // Empty text counts as `{}`: the record says what the tool got.
        let text = if self.arguments.trim().is_empty() {
            JsonText::from(&value)
        } else {
            JsonText::trusted(Arc::clone(&self.arguments))
        };
        Ok((value, text))
    }
}

/// Arguments' text parsed; empty text is `{}`.
fn parse_text(text: &str) -> Result<serde_json::Value, serde_json::Error> {
    if text.trim().is_empty() {
        return Ok(serde_json::Value::Object(serde_json::Map::new()));
    }
    serde_json::from_str(text)
}

/// A copy of the call's id, name and text; the value it was built from is
/// not copied (the copy parses its text when asked).
impl Clone for ToolCall {
    fn clone(&self) -> Self {
        Self {
            id: self.id.clone(),
            name: self.name.clone(),
            arguments: self.arguments.clone(),
            parsed: None,
        }
    }
}

/// Calls are equal when their ids, names and argument texts are.
impl PartialEq for ToolCall {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id && self.name == other.name && self.arguments == other.arguments
    }
}

impl Eq for ToolCall {}

impl std::fmt::Debug for ToolCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolCall")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("arguments", &self.arguments)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_of_a_call_parses_its_text() {
        let call = ToolCall::new("c", "search", serde_json::json!({"q": "tea"}));
        let copy = call.clone();
        assert!(copy.parsed.is_none());
        assert_eq!(copy, call);
        assert_eq!(copy.parse_arguments().ok(), call.parse_arguments().ok());
    }

    #[test]
    fn a_float_argument_parses_back_from_its_text_as_the_same_float() {
        // Floats spread over the whole range by their bits: the kept value
        // and the text it was rendered as must give the tool one number.
        let mut bits: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            bits = bits.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let x = f64::from_bits(bits);
            if !x.is_finite() {
                continue;
            }
            let call = ToolCall::new("c", "f", serde_json::json!({ "x": x }));
            let parsed = call.clone().parse_arguments().ok();
            assert_eq!(parsed, call.parse_arguments().ok(), "{x:e}");
        }
    }

    #[test]
    fn set_arguments_replaces_the_kept_value() {
        let mut call = ToolCall::new("c", "search", serde_json::json!({"q": "tea"}));
        call.set_arguments("{\"q\": ");
        assert!(call.take_arguments().is_err());
        assert_eq!(call.arguments(), "{\"q\": ");
    }

    #[test]
    fn a_taken_value_leaves_the_text_to_parse() {
        let mut call = ToolCall::new("c", "search", serde_json::json!({"q": "tea"}));
        let taken = call.take_arguments().ok();
        assert!(call.parsed.is_none());
        assert_eq!(call.take_arguments().ok(), taken);
        let text = taken.map(|(_, text)| text.as_str().to_owned());
        assert_eq!(text.as_deref(), Some(r#"{"q":"tea"}"#));
    }

    #[test]
    fn empty_arguments_are_recorded_as_the_empty_object_the_tool_gets() {
        let mut call = ToolCall::from_raw("c", "now", " ");
        let taken = call.take_arguments().ok();
        let (value, text) = taken.unzip();
        assert_eq!(value, Some(serde_json::json!({})));
        assert_eq!(text.as_ref().map(JsonText::as_str), Some("{}"));
    }

    #[test]
    fn the_kept_value_is_not_serialized() {
        let call = ToolCall::new("c", "search", serde_json::json!({"q": "tea"}));
        let json = serde_json::to_value(&call).ok();
        let expected =
            serde_json::json!({"id": "c", "name": "search", "arguments": "{\"q\":\"tea\"}"});
        assert_eq!(json, Some(expected));
    }

    #[test]
    fn empty_arguments_parse_as_empty_object() {
        let call = ToolCall::from_raw("c", "now", "  ");
        assert_eq!(call.parse_arguments().ok(), Some(serde_json::json!({})));
    }
}
