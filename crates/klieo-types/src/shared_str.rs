//! Reading a shared string (`Arc<str>`) in one allocation: serde's own
//! `Arc<str>` reads a `String` and copies it into a new allocation, which
//! doubled what loading a thread's tool calls cost.

use serde::de::{self, Deserializer, Visitor};
use std::fmt;
use std::sync::Arc;

struct SharedStr;

impl Visitor<'_> for SharedStr {
    type Value = Arc<str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Arc<str>, E> {
        Ok(Arc::from(text))
    }
}

/// An `Arc<str>` field (`#[serde(deserialize_with = "…")]`).
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Arc<str>, D::Error> {
    deserializer.deserialize_str(SharedStr)
}

struct OptionalSharedStr;

impl<'de> Visitor<'de> for OptionalSharedStr {
    type Value = Option<Arc<str>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserialize(deserializer).map(Some)
    }
}

/// An `Option<Arc<str>>` field (`#[serde(deserialize_with = "…")]`, with
/// `default` when it may be missing).
pub(crate) fn optional<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Arc<str>>, D::Error> {
    deserializer.deserialize_option(OptionalSharedStr)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, PartialEq, Debug)]
    struct Row {
        #[serde(deserialize_with = "deserialize")]
        id: Arc<str>,
        #[serde(default, deserialize_with = "optional")]
        of: Option<Arc<str>>,
    }

    #[test]
    fn plain_escaped_missing_and_null_strings_read_as_they_are() {
        let row: Row = serde_json::from_str(r#"{"id": "c\"1", "of": "t"}"#).unwrap();
        assert_eq!((&*row.id, row.of.as_deref()), ("c\"1", Some("t")));
        let row: Row = serde_json::from_str(r#"{"id": "c1", "of": null}"#).unwrap();
        assert_eq!(row.of, None);
        let row: Row = serde_json::from_str(r#"{"id": "c1"}"#).unwrap();
        assert_eq!(row.of, None);
        let value = serde_json::json!({"id": "c2", "of": "u"});
        let row = Row::deserialize(value).unwrap();
        assert_eq!((&*row.id, row.of.as_deref()), ("c2", Some("u")));
        assert!(serde_json::from_str::<Row>(r#"{"id": 7}"#).is_err());
    }
}
