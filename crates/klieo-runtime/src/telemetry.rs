//! Tracing spans named and attributed after the OpenTelemetry GenAI
//! semantic conventions; never message contents or secrets.

use klieo_types::{ChatResponse, ToolCall};
use tracing::field::Empty;
use tracing::Span;

/// The span of one run: `invoke_agent`.
pub(crate) fn run_span(agent: &str, run_id: &str, model: &str) -> Span {
    tracing::info_span!(
        "invoke_agent",
        otel.name = %format_args!("invoke_agent {agent}"),
        gen_ai.operation.name = "invoke_agent",
        gen_ai.agent.name = %agent,
        gen_ai.request.model = %model,
        klieo.run_id = %run_id,
    )
}

/// The span of one model call: `chat`, with usage and finish reason
/// recorded when the reply is in.
pub(crate) fn chat_span(model: &str, run_id: &str, step: u32) -> Span {
    tracing::info_span!(
        "chat",
        otel.name = %format_args!("chat {model}"),
        gen_ai.operation.name = "chat",
        gen_ai.request.model = %model,
        klieo.run_id = %run_id,
        klieo.step = step,
        gen_ai.usage.input_tokens = Empty,
        gen_ai.usage.output_tokens = Empty,
        gen_ai.response.finish_reasons = Empty,
    )
}

/// Records what the reply says about itself on a `chat` span. Unknown
/// usage leaves the usage attributes unset.
pub(crate) fn record_reply(span: &Span, reply: &ChatResponse) {
    if let Some(usage) = reply.usage {
        span.record("gen_ai.usage.input_tokens", usage.input_tokens);
        span.record("gen_ai.usage.output_tokens", usage.output_tokens);
    }
    span.record(
        "gen_ai.response.finish_reasons",
        reply.finish_reason.as_str(),
    );
}

/// The span of one tool call: `execute_tool`.
pub(crate) fn tool_span(call: &ToolCall, run_id: &str) -> Span {
    tracing::info_span!(
        "execute_tool",
        otel.name = %format_args!("execute_tool {}", call.name),
        gen_ai.operation.name = "execute_tool",
        gen_ai.tool.name = %call.name,
        gen_ai.tool.call.id = %call.id,
        klieo.run_id = %run_id,
    )
}
