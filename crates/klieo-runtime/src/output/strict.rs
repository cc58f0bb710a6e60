//! The strict form of a schema, as OpenAI's strict mode takes it, and
//! whether strict mode can hold a schema at all.

use serde_json::{Map, Value};

/// Keywords whose value is a map of names to schemas.
const SCHEMA_MAPS: &[&str] = &[
    "properties",
    "patternProperties",
    "$defs",
    "definitions",
    "dependentSchemas",
];

/// Keywords whose value is one schema (or, for `items`, an array of them).
const SCHEMA_VALUES: &[&str] = &[
    "items",
    "additionalItems",
    "additionalProperties",
    "unevaluatedItems",
    "unevaluatedProperties",
    "contains",
    "propertyNames",
    "not",
    "if",
    "then",
    "else",
];

/// Keywords whose value is an array of schemas.
const SCHEMA_LISTS: &[&str] = &["anyOf", "allOf", "oneOf", "prefixItems"];

/// Keywords that give a schema its shape: a schema with none of them
/// takes any value.
const SHAPES: &[&str] = &["type", "enum", "const", "$ref", "anyOf", "oneOf"];

/// Keywords OpenAI's strict mode does not take.
const UNSUPPORTED: &[&str] = &[
    "allOf",
    "not",
    "if",
    "then",
    "else",
    "patternProperties",
    "dependentSchemas",
    "unevaluatedProperties",
    "unevaluatedItems",
];

/// Whether `schema` describes a JSON object (its `type` is `object`).
pub(super) fn is_object(schema: &Value) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("object")
}

/// `schema` made strict, as OpenAI's strict mode requires (no additional
/// properties, every property required, no `default`: an optional
/// property is already nullable in the schema), or `None` when strict
/// mode cannot hold it: its top is not an object of named properties, or
/// some part of it is an object that takes properties of any name (a map)
/// or a value of any shape (`true` or `{}`).
pub(super) fn strict_form(schema: &Value) -> Option<Value> {
    let top = schema.as_object()?;
    if !is_object(schema) || !top.contains_key("properties") {
        return None;
    }
    let mut strict = schema.clone();
    make_strict(&mut strict).then_some(strict)
}

/// Makes every object schema in `schema` strict; `false` when one cannot
/// be (see [`strict_form`]).
///
/// The walk follows the keywords that hold schemas, never a property's
/// name: a field called `properties` or `required` is a name like any
/// other, not a keyword.
fn make_strict(schema: &mut Value) -> bool {
    let map = match schema {
        Value::Object(map) => map,
        // `true`: a value of any shape.
        Value::Bool(true) => return false,
        _ => return true,
    };
    map.remove("default");
    // Strict mode refuses `uniqueItems` (a set's); the answer is read
    // into the set, which keeps each item once, whatever the model sent.
    map.remove("uniqueItems");
    // A schema of no shape (`{}`, a documented `serde_json::Value`'s
    // `{"description": …}`) takes a value of any shape.
    if !SHAPES.iter().any(|shape| map.contains_key(*shape)) {
        return false;
    }
    if UNSUPPORTED.iter().any(|keyword| map.contains_key(*keyword)) {
        return false;
    }
    // Strict mode takes `anyOf`, not `oneOf`; schemars writes an enum's
    // variants as `oneOf`, and they never overlap.
    if let Some(variants) = map.remove("oneOf") {
        if map.insert("anyOf".into(), variants).is_some() {
            return false;
        }
    }
    if !close(map) {
        return false;
    }
    map.iter_mut().all(|(keyword, value)| {
        let keyword = keyword.as_str();
        if SCHEMA_MAPS.contains(&keyword) {
            match value {
                Value::Object(named) => named.values_mut().all(make_strict),
                _ => true,
            }
        } else if SCHEMA_VALUES.contains(&keyword) {
            match value {
                Value::Array(list) => list.iter_mut().all(make_strict),
                // `additionalProperties: false`, set by `close`.
                Value::Bool(false) => true,
                one => make_strict(one),
            }
        } else if SCHEMA_LISTS.contains(&keyword) {
            match value {
                Value::Array(list) => list.iter_mut().all(make_strict),
                _ => true,
            }
        } else {
            true
        }
    })
}

/// Closes an object schema of named properties (every one required, no
/// other); `false` for an object that takes properties of any name.
fn close(map: &mut Map<String, Value>) -> bool {
    let takes_any_name = !matches!(
        map.get("additionalProperties"),
        None | Some(Value::Bool(false))
    );
    match map.get("properties") {
        Some(Value::Object(props)) if !takes_any_name => {
            let keys: Vec<Value> = props.keys().cloned().map(Value::String).collect();
            map.insert("required".into(), Value::Array(keys));
            map.insert("additionalProperties".into(), Value::Bool(false));
            true
        }
        Some(_) => false,
        None => !takes_any_name && !may_be_an_object(map),
    }
}

/// Whether a schema's `type` is `object`, or a list that holds it
/// (`["object", "null"]`).
fn may_be_an_object(map: &Map<String, Value>) -> bool {
    match map.get("type") {
        Some(Value::String(kind)) => kind == "object",
        Some(Value::Array(kinds)) => kinds.iter().any(|k| k == "object"),
        _ => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Every `key` anywhere in `value`, as a property name or a keyword.
    fn holds_key(value: &Value, key: &str) -> bool {
        match value {
            Value::Object(map) => map.contains_key(key) || map.values().any(|v| holds_key(v, key)),
            Value::Array(list) => list.iter().any(|v| holds_key(v, key)),
            _ => false,
        }
    }

    #[test]
    fn a_strict_schema_has_no_defaults_and_closes_every_object() {
        let schema = json!({
            "type": "object",
            "properties": {
                "tags": {"type": "array", "items": {"type": "string"}, "default": []},
                "place": {"anyOf": [
                    {"type": "object", "properties": {"city": {"type": "string"}}},
                    {"type": "null"}
                ]}
            },
            "required": ["place"]
        });
        let strict = strict_form(&schema).unwrap();
        assert!(!holds_key(&strict, "default"), "{strict}");
        assert_eq!(strict["required"], json!(["place", "tags"]));
        let place = &strict["properties"]["place"]["anyOf"][0];
        assert_eq!(place["additionalProperties"], json!(false));
        assert_eq!(place["required"], json!(["city"]));
    }

    #[test]
    fn a_sets_unique_items_are_left_to_the_set() {
        let schema = json!({
            "type": "object",
            "properties": {
                "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": true}
            }
        });
        let strict = strict_form(&schema).unwrap();
        assert!(!holds_key(&strict, "uniqueItems"), "{strict}");
        assert_eq!(
            strict["properties"]["tags"]["items"],
            json!({"type": "string"})
        );
    }

    #[test]
    fn strict_mode_cannot_hold_a_map_a_value_of_any_shape_or_a_top_that_is_no_object() {
        let map = json!({"type": "object", "additionalProperties": {"type": "number"}});
        let in_a_field = |field: Value| json!({"type": "object", "properties": {"field": field}});
        for schema in [
            in_a_field(map.clone()),
            in_a_field(json!(true)),
            in_a_field(json!({})),
            in_a_field(json!({"description": "anything"})),
            in_a_field(json!({"default": null})),
            in_a_field(json!({"type": "object"})),
            in_a_field(json!({"type": ["object", "null"]})),
            in_a_field(json!({"allOf": [{"type": "string"}]})),
            json!({"type": "array", "items": {"type": "string"}}),
            json!({"type": "string", "enum": ["a", "b"]}),
            json!({"oneOf": [{"type": "string"}, {"type": "number"}]}),
            map,
        ] {
            assert_eq!(strict_form(&schema), None, "{schema}");
        }
        let named = in_a_field(json!({"type": "object", "properties": {}}));
        assert!(strict_form(&named).is_some());
    }

    #[test]
    fn an_enums_variants_are_asked_as_any_of() {
        let variants = json!({"oneOf": [
            {"type": "string", "enum": ["none"]},
            {"type": "object", "properties": {"some": {"type": "integer"}}}
        ]});
        let schema = json!({"type": "object", "properties": {"choice": variants}});
        let strict = strict_form(&schema).unwrap();
        let choice = &strict["properties"]["choice"];
        assert!(choice.get("oneOf").is_none(), "{choice}");
        assert_eq!(choice["anyOf"][1]["additionalProperties"], json!(false));
    }
}
