//! What an [`AgentTool`](super::AgentTool) takes and gives: a task in
//! words and the answer's text, or a value of the agent's input type and
//! the JSON of an answer of its output type.

use crate::output::{value_of, OutputSpec};
use crate::schema::schema_of;
use klieo_types::{Capabilities, ToolError};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

/// How an agent tool reads its call and its child's answer.
#[derive(Clone, Copy)]
pub(super) enum Shape {
    /// `{"input": "…"}`, a task in words; the answer's text.
    Words,
    /// A value of the input type (checked by `input`), sent as its JSON;
    /// the child asked for an answer of the output type (`output`),
    /// handed back as its JSON value.
    Typed {
        input: fn(&Value) -> Result<(), String>,
        output: fn(Capabilities) -> OutputSpec,
        /// The JSON value of the output type in the child's answer.
        answer: fn(&str) -> Result<Value, String>,
    },
}

impl Shape {
    /// A typed shape: input `I`, output `O`.
    pub(super) fn typed<I, O>() -> Self
    where
        I: DeserializeOwned + JsonSchema,
        O: DeserializeOwned + JsonSchema,
    {
        Self::Typed {
            input: fits::<I>,
            output: OutputSpec::of::<O>,
            answer: value_of::<O>,
        }
    }

    /// The tool's parameters: `{"input": string}`, or `I`'s schema.
    pub(super) fn words_parameters() -> Value {
        json!({
            "type": "object",
            "properties": {
                "input": {
                    "type": "string",
                    "description": "The task for this agent, in words, whole: it does not see this conversation."
                }
            },
            "required": ["input"],
            "additionalProperties": false
        })
    }

    /// The parameters of input type `I`.
    pub(super) fn typed_parameters<I: JsonSchema>() -> Value {
        schema_of::<I>()
    }

    /// The child's prompt for a call of `tool` with `args`.
    pub(super) fn prompt(self, tool: &str, args: &Value) -> Result<String, ToolError> {
        let invalid = |reason: String| ToolError::InvalidArgs {
            tool: tool.to_owned(),
            reason,
        };
        match self {
            Self::Words => match args.get("input").and_then(Value::as_str) {
                Some(input) => Ok(input.to_owned()),
                None => Err(invalid(
                    "`input` must be a string: the task for the agent".into(),
                )),
            },
            Self::Typed { input, .. } => {
                crate::typed_tool::refuse_a_list(tool, args)?;
                match input(args) {
                    Ok(()) => Ok(args.to_string()),
                    Err(reason) => Err(invalid(format!(
                        "the arguments are not the agent's input: {reason}; send one JSON \
                         object that matches the tool's parameters"
                    ))),
                }
            }
        }
    }

    /// The output a child run is asked for, given its model's
    /// capabilities.
    pub(super) fn output(self) -> Option<fn(Capabilities) -> OutputSpec> {
        match self {
            Self::Words => None,
            Self::Typed { output, .. } => Some(output),
        }
    }

    /// The call's result of the child's `answer`.
    pub(super) fn result(self, tool: &str, answer: String) -> Result<Value, ToolError> {
        match self {
            Self::Words => Ok(Value::String(answer)),
            Self::Typed { answer: read, .. } => read(&answer).map_err(|reason| ToolError::Failed {
                tool: tool.to_owned(),
                message: format!("the agent's answer is not of its output type: {reason}"),
            }),
        }
    }
}

/// Whether `args` are an `I` (read as a typed tool reads its arguments).
fn fits<I: DeserializeOwned>(args: &Value) -> Result<(), String> {
    crate::schema::read_as::<I>(args.clone()).map(drop)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, schemars::JsonSchema)]
    #[allow(dead_code)]
    struct Order {
        id: u64,
        cents: i64,
    }

    #[test]
    fn a_typed_agent_tool_refuses_arguments_sent_as_a_list() {
        let shape = Shape::typed::<Order, Order>();
        let refused = shape.prompt("order", &json!([7, 1200])).unwrap_err();
        assert!(
            refused.to_string().contains("a list, not an object"),
            "{refused}"
        );
        let named = shape.prompt("order", &json!({"id": 7, "cents": 1200}));
        let sent: Value = serde_json::from_str(&named.unwrap()).unwrap();
        assert_eq!(sent, json!({"id": 7, "cents": 1200}));
    }
}
