//! JSON Schemas of Rust types, in the shape models and servers read best:
//! sub-schemas inline (no `$ref` unless a type is recursive), no `$schema`
//! or `title` keys.

use schemars::generate::SchemaSettings;
use schemars::JsonSchema;
use serde_json::Value;

/// The schema of what `T` deserializes from.
pub(crate) fn schema_of<T: JsonSchema>() -> Value {
    let settings = SchemaSettings::draft2020_12()
        .with(|s| {
            s.meta_schema = None;
            s.inline_subschemas = true;
        })
        .for_deserialize();
    let mut schema = settings.into_generator().into_root_schema_for::<T>();
    schema.remove("title");
    schema.to_value()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Deserialize, JsonSchema)]
    #[allow(dead_code)]
    enum Unit {
        Km,
        Mile,
    }

    /// A distance to convert.
    #[derive(Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct Convert {
        /// How far.
        value: f64,
        from: Unit,
        to: Option<Unit>,
    }

    #[test]
    fn nested_types_are_inline_and_doc_comments_describe_fields() {
        let schema = schema_of::<Convert>();
        assert_eq!(schema["type"], "object");
        assert_eq!(schema["properties"]["value"]["description"], "How far.");
        assert_eq!(schema["properties"]["from"]["enum"], json!(["Km", "Mile"]));
        assert_eq!(schema["required"], json!(["value", "from"]));
        let text = schema.to_string();
        assert!(
            !text.contains("$ref") && !text.contains("$schema"),
            "{text}"
        );
        assert!(schema.get("title").is_none());
    }
}
