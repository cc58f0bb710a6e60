//! An upper bound of the tokens a request sends, with no tokenizer.

use klieo_types::ChatRequest;

/// Markers a chat template adds to each message (role, start and end).
const PER_MESSAGE: u64 = 8;
/// What a template adds to a request: the reply's opening, and a little.
const PER_REQUEST: u64 = 32;
/// What a template adds around each tool's definition.
const PER_TOOL: u64 = 32;

/// An upper bound of the tokens `req` sends: a token a byte (no tokenizer
/// makes a token of less than one), each tool's definition as JSON, and
/// the markers of a chat template. About four times the real count for
/// English, so a run corrects it with the usage its calls report (see
/// `Spend`'s calibration).
pub(super) fn input_bound(req: &ChatRequest) -> u64 {
    let messages: usize = req
        .messages
        .iter()
        .map(|m| {
            let calls: usize = m
                .tool_calls
                .iter()
                .map(|c| c.id.len() + c.name.len() + c.arguments().len() + 8)
                .sum();
            m.content.len() + calls
        })
        .sum();
    let tools: usize = req
        .tools
        .iter()
        .map(|t| t.name.len() + t.description.len() + t.parameters.to_string().len())
        .sum();
    let count = |n: usize| n as u64;
    count(messages + tools)
        + PER_MESSAGE * count(req.messages.len())
        + PER_TOOL * count(req.tools.len())
        + PER_REQUEST
}
