//! Typed output: how a run asks for an answer of a given JSON Schema, the
//! strongest way the provider allows, and checks the answer it gets.
//!
//! - The provider honours strict JSON schema, and strict mode can hold
//!   the schema → `response_format` with the schema, made strict
//!   (`additionalProperties: false`, every property required, optional
//!   ones nullable, no `default`s, an enum's variants as `anyOf`). Strict
//!   mode cannot hold a schema whose top is not an object of named
//!   properties, an object that takes properties of any name (a map), a
//!   value of any shape, nor `allOf`, `not` or `if`: such a type is asked
//!   for as on a provider without strict schemas.
//! - It honours JSON mode, and the answer is an object → `response_format:
//!   json_object`, and the schema in the instructions (JSON mode makes an
//!   object, never a list or a string).
//! - Otherwise → the schema in the instructions, and the JSON taken from
//!   the text (a fenced block, or the outermost object or array).
//!
//! With tools, `response_format` is sent only once the model has answered
//! and the answer must be repaired, so it never keeps the model from
//! calling tools; the instructions carry the schema from the start then,
//! even on a provider that enforces it.

use crate::summary::{Answer, Typed};
use klieo_types::{Capabilities, Error, ResponseFormat};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::fmt;

mod read;

use crate::schema::schema_of;
pub(crate) use read::{parse, parse_object, value_of};

mod strict;

/// The output a typed run must end with.
#[derive(Clone)]
pub(crate) struct OutputSpec {
    /// The type's name, as the `response_format` gives it.
    name: String,
    /// The schema, as the instructions show it.
    schema: Value,
    /// The `response_format` for requests that must answer.
    format: ResponseFormat,
    /// Whether the schema goes into the instructions.
    in_instructions: bool,
    /// Checks a reply's JSON against the type.
    check: fn(&str) -> Result<(), String>,
}

impl fmt::Debug for OutputSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutputSpec")
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

impl OutputSpec {
    /// The spec for `T` on a provider that can do `caps`.
    pub(crate) fn of<T: DeserializeOwned + JsonSchema>(caps: Capabilities) -> Self {
        let name = schema_name(&T::schema_name());
        let schema = schema_of::<T>();
        let check: fn(&str) -> Result<(), String> = match strict::is_object(&schema) {
            true => |text| parse_object::<T>(text).map(drop),
            false => |text| parse::<T>(text).map(drop),
        };
        Self::shaped(name, schema, caps, check)
    }

    /// The spec of a run whose journal recorded its shape (`name`,
    /// `schema`), taken up without its type: the model is asked for the
    /// shape as before, and an answer must hold a JSON value (whether it
    /// is a `T` is for whoever reads it with its type).
    pub(crate) fn recorded(name: String, schema: Value, caps: Capabilities) -> Self {
        Self::shaped(name, schema, caps, |text| {
            parse::<serde::de::IgnoredAny>(text).map(drop)
        })
    }

    fn shaped(
        name: String,
        schema: Value,
        caps: Capabilities,
        check: fn(&str) -> Result<(), String>,
    ) -> Self {
        let strict = caps
            .json_schema()
            .then(|| strict::strict_form(&schema))
            .flatten();
        let (format, in_instructions) = if let Some(strict) = strict {
            let format = ResponseFormat::JsonSchema {
                name: name.clone(),
                schema: strict,
                strict: true,
            };
            (format, false)
        } else if caps.json_mode() && strict::is_object(&schema) {
            (ResponseFormat::JsonObject, true)
        } else {
            (ResponseFormat::Text, true)
        };
        Self {
            name,
            schema,
            format,
            in_instructions,
            check,
        }
    }

    /// The shape as a journal records it.
    pub(crate) fn shape(&self) -> (&str, &Value) {
        (&self.name, &self.schema)
    }

    /// The `response_format` of a request that must answer.
    pub(crate) fn format(&self) -> &ResponseFormat {
        &self.format
    }

    /// `instructions` with what the answer must look like, unless the
    /// provider enforces the schema itself and no `tools` keep the format
    /// from going with the first requests (see the module's docs).
    pub(crate) fn instructions(&self, instructions: &str, tools: bool) -> String {
        if !self.in_instructions && !tools {
            return instructions.to_owned();
        }
        klieo_types::schema_in_instructions(instructions, &self.schema)
    }

    /// Why `text` is not a valid answer, if it is not.
    pub(crate) fn check(&self, text: &str) -> Result<(), String> {
        (self.check)(text)
    }

    /// What the model is told when its answer does not fit.
    pub(crate) fn repair_prompt(&self, reason: &str) -> String {
        format!(
            "Your answer is not valid: {reason}. Reply again with only a JSON value (no other \
             text) that matches this JSON Schema:\n{}",
            self.schema
        )
    }
}

/// A typed run's answer with its value: `Error::InvalidOutput` when the
/// answer holds no `T` (the run checked it, so only a type that changed
/// since can fail here).
pub(crate) fn typed<T: DeserializeOwned>(answer: Answer) -> Result<Typed<T>, Error> {
    let value = parse::<T>(&answer.text).map_err(|reason| Error::InvalidOutput {
        reason,
        reply: answer.text.clone(),
        attempts: 1,
    })?;
    Ok(Typed { value, answer })
}

/// A name for the schema, as strict providers require: the type's name,
/// its letters, digits and underscores only, or `output`.
fn schema_name(type_name: &str) -> String {
    let name: String = type_name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    if name.is_empty() {
        "output".to_owned()
    } else {
        name
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize, JsonSchema, PartialEq)]
    struct Total {
        amount: i64,
        note: Option<String>,
    }

    /// Fields named like the keywords a strict schema adds.
    #[derive(Debug, Deserialize, JsonSchema, PartialEq)]
    #[allow(dead_code)]
    struct Keywords {
        properties: Vec<String>,
        required: bool,
        nested: Inner,
    }

    #[derive(Debug, Deserialize, JsonSchema, PartialEq)]
    #[allow(dead_code)]
    struct Inner {
        #[serde(rename = "additionalProperties")]
        additional: Option<u32>,
    }

    #[test]
    fn a_recorded_shapes_answer_must_hold_json_that_parses() {
        let spec = OutputSpec::recorded(
            "V".into(),
            json!({"type": "object"}),
            Capabilities::default(),
        );
        assert_eq!(spec.check(r#"Here: {"holds": true}"#), Ok(()));
        assert_eq!(spec.check("```json\n[1, 2]\n```"), Ok(()));
        for not_json in ["I'd say {holds: yes}", "```\nnot json\n```", "no braces"] {
            assert!(spec.check(not_json).is_err(), "{not_json}");
        }
    }

    #[test]
    fn fields_named_like_keywords_stay_fields() {
        let strict = Capabilities::default().with_json_schema(true);
        let spec = OutputSpec::of::<Keywords>(strict);
        let ResponseFormat::JsonSchema { schema, .. } = spec.format() else {
            panic!("{:?}", spec.format());
        };
        let props = schema["properties"].as_object().unwrap();
        let names: Vec<&str> = props.keys().map(String::as_str).collect();
        assert_eq!(names, ["nested", "properties", "required"]);
        assert_eq!(
            schema["required"],
            json!(["nested", "properties", "required"])
        );
        assert_eq!(schema["additionalProperties"], json!(false));
        // The field `properties` keeps its own schema: an array of strings.
        assert_eq!(props["properties"]["type"], json!("array"));
        assert_eq!(props["properties"]["items"], json!({"type": "string"}));
        // The nested struct (inlined) is strict too, and keeps its field.
        let inner = props["nested"].as_object().unwrap();
        assert_eq!(inner["required"], json!(["additionalProperties"]));
        assert_eq!(inner["additionalProperties"], json!(false));
        let inner_props = inner["properties"].as_object().unwrap();
        assert_eq!(inner_props.len(), 1, "{inner_props:?}");
    }

    #[test]
    fn the_strongest_format_the_provider_has() {
        let strict = Capabilities::default().with_json_schema(true);
        let spec = OutputSpec::of::<Total>(strict);
        match spec.format() {
            ResponseFormat::JsonSchema { schema, strict, .. } => {
                assert!(*strict);
                assert_eq!(schema["required"], json!(["amount", "note"]));
                assert_eq!(schema["additionalProperties"], json!(false));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(spec.instructions("Be brief.", false), "Be brief.");

        let json = OutputSpec::of::<Total>(Capabilities::default().with_json_mode(true));
        assert_eq!(json.format(), &ResponseFormat::JsonObject);
        assert!(json.instructions("Be brief.", false).contains("\"amount\""));

        let text = OutputSpec::of::<Total>(Capabilities::default());
        assert_eq!(text.format(), &ResponseFormat::Text);
        assert!(text.instructions("", false).starts_with("When you give"));
    }

    /// Scores by name: a map, which strict mode cannot hold.
    #[derive(Debug, Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct Scores {
        scores: std::collections::HashMap<String, f64>,
    }

    #[test]
    fn a_type_strict_mode_cannot_hold_is_asked_for_in_the_instructions() {
        let both = Capabilities::default()
            .with_json_schema(true)
            .with_json_mode(true);
        let map = OutputSpec::of::<Scores>(both);
        assert_eq!(map.format(), &ResponseFormat::JsonObject);
        assert!(map.instructions("", false).contains("\"scores\""));
        // JSON mode makes an object: a list is asked for as text.
        let list = OutputSpec::of::<Vec<Total>>(both);
        assert_eq!(list.format(), &ResponseFormat::Text);
        assert!(list.instructions("", false).contains("\"amount\""));
        let strict_only = Capabilities::default().with_json_schema(true);
        let map = OutputSpec::of::<Scores>(strict_only);
        assert_eq!(map.format(), &ResponseFormat::Text);
    }

    #[test]
    fn what_does_not_fit_says_why() {
        let spec = OutputSpec::of::<Total>(Capabilities::default());
        assert!(spec.check(r#"{"amount": 3}"#).is_ok());
        let missing = spec.check(r#"{"total": 3}"#).unwrap_err();
        assert!(missing.contains("missing field `amount`"), "{missing}");
        assert_eq!(spec.check("no idea").unwrap_err(), "it holds no JSON value");
        let wrong = spec.check(r#"{"amount": "three"}"#).unwrap_err();
        assert!(wrong.contains("invalid type"), "{wrong}");
    }
}
