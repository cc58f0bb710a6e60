//! JSON Schemas of Rust types, in the shape models and servers read best:
//! sub-schemas inline (no `$ref` unless a type is recursive), no `$schema`
//! or `title` keys.

use schemars::generate::SchemaSettings;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::{Number, Value};

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

/// A JSON value read as a `T`, as its schema says: a whole number written
/// as a float (`2.0`, which JSON Schema counts an integer, and models
/// write) read as the integer, and an error that names where the value
/// did not fit (`at \`cents\`: invalid type: string "1200", expected
/// u32`), for the model to mend.
pub(crate) fn read_as<T: DeserializeOwned>(mut value: Value) -> Result<T, String> {
    whole_numbers(&mut value);
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match path.as_str() {
            "." => inner.to_string(),
            _ => format!("at `{path}`: {inner}"),
        }
    })
}

/// Each float in `value` with nothing after its point, within `i64` or
/// `u64`, made that integer (a float field still reads an integer).
fn whole_numbers(value: &mut Value) {
    match value {
        Value::Number(n) if n.is_f64() => {
            let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0) else {
                return;
            };
            // Within them (both bounds are exact floats), a whole float
            // converts exactly.
            let whole = if (i64::MIN as f64..i64::MAX as f64).contains(&f) {
                Some(Number::from(f as i64))
            } else if (0.0..u64::MAX as f64).contains(&f) {
                Some(Number::from(f as u64))
            } else {
                None
            };
            if let Some(whole) = whole {
                *n = whole;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_numbers),
        Value::Object(fields) => fields.values_mut().for_each(whole_numbers),
        _ => {}
    }
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

    #[derive(Debug, Deserialize, PartialEq)]
    struct Refund {
        order_id: u64,
        cents: u32,
        rate: f64,
    }

    #[test]
    fn whole_floats_read_as_integers_and_a_misfit_names_its_field() {
        let read = read_as::<Refund>(json!({"order_id": 7.0, "cents": 1200, "rate": 2}));
        assert_eq!(
            read,
            Ok(Refund {
                order_id: 7,
                cents: 1200,
                rate: 2.0
            })
        );
        let fraction = read_as::<Refund>(json!({"order_id": 7.5, "cents": 1, "rate": 1.5}));
        assert!(fraction.is_err_and(|e| e.starts_with("at `order_id`")));
        let wrong = read_as::<Refund>(json!({"order_id": 7, "cents": "1200", "rate": 1}));
        assert!(
            wrong
                .as_ref()
                .is_err_and(|e| e.starts_with("at `cents`: invalid type")),
            "{wrong:?}"
        );
    }
}
