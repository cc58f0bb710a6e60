//! [`JsonText`]: a JSON value kept as its text, shared rather than copied.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::sync::Arc;

/// A JSON value kept as its text: a tool call's arguments in an
/// [`Episode::ToolCall`](crate::Episode::ToolCall).
///
/// The text is shared with the [`ToolCall`](crate::ToolCall) it came from,
/// so keeping it costs no copy of the arguments, and it is always valid
/// JSON: it is built from a value, or from a call's text once that parsed
/// ([`ToolCall::take_arguments`](crate::ToolCall::take_arguments)).
/// [`to_value`](Self::to_value) parses it. It serializes as the value
/// itself (not as a string), and two texts are equal when their values
/// are, however they are spaced or their keys ordered (a store may keep
/// JSON in its own form).
///
/// ```
/// use klieo_types::JsonText;
/// use serde_json::json;
///
/// let args = JsonText::from(json!({"expression": "17*23"}));
/// assert_eq!(args.as_str(), r#"{"expression":"17*23"}"#);
/// assert_eq!(args.to_value()["expression"], "17*23");
/// assert_eq!(serde_json::to_value(&args)?, json!({"expression": "17*23"}));
/// assert_eq!(serde_json::from_str::<JsonText>(r#"{ "expression" : "17*23" }"#)?, args);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone)]
pub struct JsonText(Arc<str>);

impl JsonText {
    /// `text`, known to be valid JSON by whoever calls this (it parsed).
    pub(crate) fn trusted(text: Arc<str>) -> Self {
        Self(text)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The value the text holds. A value nested deeper than serde_json
    /// reads (128 levels), which no text parsed from a model's reply can
    /// be, reads back as `null`.
    pub fn to_value(&self) -> serde_json::Value {
        self.value().unwrap_or(serde_json::Value::Null)
    }

    /// The value, when serde_json reads it (see [`to_value`](Self::to_value)).
    fn value(&self) -> Option<serde_json::Value> {
        serde_json::from_str(&self.0).ok()
    }
}

impl From<serde_json::Value> for JsonText {
    fn from(value: serde_json::Value) -> Self {
        Self(value.to_string().into())
    }
}

impl From<&serde_json::Value> for JsonText {
    fn from(value: &serde_json::Value) -> Self {
        Self(value.to_string().into())
    }
}

/// Equal when the values are (see the type's docs).
impl PartialEq for JsonText {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0 || self.value().is_some_and(|v| other.value() == Some(v))
    }
}

impl PartialEq<serde_json::Value> for JsonText {
    fn eq(&self, other: &serde_json::Value) -> bool {
        self.value().as_ref() == Some(other)
    }
}

impl fmt::Debug for JsonText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for JsonText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Serialized as the value, so a stored episode reads as it always did.
impl Serialize for JsonText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for JsonText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        serde_json::Value::deserialize(deserializer).map(Self::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn texts_of_one_value_spaced_or_ordered_otherwise_are_equal() {
        let a = JsonText::trusted(r#"{"b": 1, "a": [true, null]}"#.into());
        let b = JsonText::from(json!({"a": [true, null], "b": 1}));
        assert_eq!(a, b);
        assert_ne!(a, JsonText::from(json!({"a": [true], "b": 1})));
        assert_eq!(a, json!({"b": 1, "a": [true, null]}));
    }

    #[test]
    fn a_text_serializes_as_its_value_not_as_a_string() {
        let text = JsonText::trusted(r#"{ "q" : "tea" }"#.into());
        assert_eq!(
            serde_json::to_string(&text).ok().as_deref(),
            Some(r#"{"q":"tea"}"#)
        );
        let string = JsonText::from(json!("not json {"));
        assert_eq!(
            serde_json::to_string(&string).ok().as_deref(),
            Some(r#""not json {""#)
        );
    }
}
