//! An upper bound of the tokens a request sends, with no tokenizer.

use klieo_types::{ChatRequest, ResponseFormat, Role};

/// Markers a chat template adds to each message (role, start and end).
const PER_MESSAGE: u64 = 8;
/// What a template adds to a request: the reply's opening, and a little.
const PER_REQUEST: u64 = 32;
/// What a template adds around each tool's definition.
const PER_TOOL: u64 = 32;

/// An upper bound of the tokens `req` sends: a token a byte (no tokenizer
/// makes a token of less than one), each tool's definition and the
/// answer's schema as JSON (providers bill a schema they enforce as
/// input), and the markers of a chat template. About four times the real
/// count for English, so a run corrects it with the usage its calls report
/// (see `Spend`'s calibration). Returned with the part of it that is not
/// the request's history: its system messages (the instructions), its
/// tools, its answer's schema and the request's markers.
pub(super) fn bounds(req: &ChatRequest) -> (u64, u64) {
    let messages: usize = req
        .messages
        .iter()
        .map(|m| {
            let calls: usize = m
                .tool_calls
                .iter()
                .map(|c| c.id.len() + c.name.len() + c.arguments().len() + 8)
                .sum();
            // A tool result quotes its call's id.
            let answers = m.tool_call_id.as_deref().map_or(0, str::len);
            m.content.len() + calls + answers
        })
        .sum();
    let tools: usize = req
        .tools
        .iter()
        .map(|t| t.name.len() + t.description.len() + t.parameters.to_string().len())
        .sum();
    let schema = match &req.response_format {
        ResponseFormat::JsonSchema { name, schema, .. } => {
            name.len() + schema.to_string().len() + PER_TOOL as usize
        }
        _ => 0,
    };
    let count = |n: usize| n as u64;
    let instructions: usize = req
        .messages
        .iter()
        .filter(|m| m.role == Role::System)
        .map(|m| m.content.len() + PER_MESSAGE as usize)
        .sum();
    let besides =
        count(instructions + tools + schema) + PER_TOOL * count(req.tools.len()) + PER_REQUEST;
    let whole = count(messages + tools + schema)
        + PER_MESSAGE * count(req.messages.len())
        + PER_TOOL * count(req.tools.len())
        + PER_REQUEST;
    (whole, besides)
}

#[cfg(test)]
mod tests {
    use super::*;
    use klieo_types::Message;
    use serde_json::json;

    #[test]
    fn a_tool_results_call_id_counts_as_input() {
        let bound = |id: &str| bounds(&ChatRequest::new(vec![Message::tool_result(id, "")])).0;
        let id = "toolu_01A09q90qw90lq917835lq9x";
        assert_eq!(bound(id) - bound(""), id.len() as u64);
    }

    #[test]
    fn the_answers_schema_counts_as_input() {
        let mut req = ChatRequest::new(vec![Message::user("hi")]);
        let plain = bounds(&req).0;
        req.response_format = ResponseFormat::JsonSchema {
            name: "a".into(),
            schema: json!({"description": "x".repeat(4_000)}),
            strict: true,
        };
        let (whole, besides) = bounds(&req);
        assert!(whole >= plain + 4_000, "{whole}");
        assert!(besides >= 4_000, "a schema is not history: {besides}");
    }
}
