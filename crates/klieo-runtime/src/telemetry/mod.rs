//! Tracing spans named and attributed after the OpenTelemetry GenAI
//! semantic conventions, so a tracing backend shows them as agent runs,
//! model calls and tool calls (docs/TELEMETRY.md lists every span and
//! attribute). Message contents only when asked for; never secrets. A
//! failed model-call attempt is an `exception` event on its `chat` span.
//!
//! `otel.name`, `otel.kind`, `otel.status_code` and
//! `otel.status_description` are the fields `tracing-opentelemetry` turns
//! into the span's name, kind and status. Integers are recorded as `i64`:
//! the bridge would turn a `u64` into text.

mod content;
mod view;

use klieo_types::{
    ChatRequest, ChatResponse, Error, JsonText, LlmClient, LlmError, Role, ToolCall, ToolOutcome,
};
use tracing::field::Empty;
use tracing::Span;

pub(crate) use content::capture;
pub(crate) use view::Tracer;

/// Whether anything could take the spans and events a run's facts make:
/// a subscriber that takes `INFO` (`tracing`'s own test before it makes a
/// span or an event), or a `log` logger that takes `INFO` (where
/// `tracing` writes them too, with its `log` feature on, which sqlx turns
/// on: when no subscriber was ever set, or always with `log-always`).
/// When nothing could, the spans' view of each fact is skipped
/// (`Run::emit`), as the macros would skip each span and event. A filter
/// lowered while a run goes on leaves the spans it had opened without
/// what their ends record; a subscriber that filters `INFO` out beside a
/// `log` logger that takes it (`tracing-log` sets the logger's level to
/// `TRACE`) has the spans' view built for nothing.
pub(crate) fn observed() -> bool {
    tracing::level_enabled!(tracing::Level::INFO) || log::max_level() >= log::LevelFilter::Info
}

/// What every span of a run says of it.
pub(crate) struct RunLabels<'a> {
    pub(crate) agent: &'a str,
    pub(crate) run_id: &'a str,
    pub(crate) thread: &'a str,
    pub(crate) llm: &'a dyn LlmClient,
}

/// The span of one run: `invoke_agent {agent}`, kind internal (the agent
/// runs in this process). With content captured, what it was asked and
/// told to do is recorded with its first model call ([`record_input`]),
/// and its answer with the reply that gives it ([`record_reply`]).
pub(crate) fn run_span(run: &RunLabels<'_>) -> Span {
    tracing::info_span!(
        "invoke_agent",
        otel.name = %format_args!("invoke_agent {}", run.agent),
        otel.kind = "internal",
        otel.status_code = Empty,
        otel.status_description = Empty,
        gen_ai.operation.name = "invoke_agent",
        gen_ai.provider.name = %run.llm.provider_name(),
        gen_ai.agent.name = %run.agent,
        gen_ai.conversation.id = %run.thread,
        gen_ai.request.model = %run.llm.model(),
        gen_ai.system_instructions = Empty,
        gen_ai.tool.definitions = Empty,
        gen_ai.input.messages = Empty,
        gen_ai.output.messages = Empty,
        error.type = Empty,
        klieo.budget.refused = Empty,
        klieo.run_id = %run.run_id,
    )
}

/// The span of one model call, with all its retries: `chat {model}`, kind
/// client. What the reply says is recorded when it is in
/// ([`record_reply`]); a failure with [`record_error`].
fn chat_span(run: &RunLabels<'_>, req: &ChatRequest, step: u32, streamed: bool) -> Span {
    let model = req.model.as_deref().unwrap_or_else(|| run.llm.model());
    let span = tracing::info_span!(
        "chat",
        otel.name = %format_args!("chat {model}"),
        otel.kind = "client",
        otel.status_code = Empty,
        otel.status_description = Empty,
        gen_ai.operation.name = "chat",
        gen_ai.provider.name = %run.llm.provider_name(),
        gen_ai.request.model = %model,
        gen_ai.conversation.id = %run.thread,
        gen_ai.request.temperature = Empty,
        gen_ai.request.max_tokens = Empty,
        gen_ai.request.stream = Empty,
        gen_ai.response.id = Empty,
        gen_ai.response.model = Empty,
        gen_ai.response.finish_reasons = Empty,
        klieo.provider.passed_over = Empty,
        klieo.rate_limit.waited_ms = Empty,
        klieo.budget.reserved_tokens = Empty,
        klieo.budget.reserved_cost_micros = Empty,
        klieo.budget.cost_micros = Empty,
        klieo.budget.estimated = Empty,
        gen_ai.usage.input_tokens = Empty,
        gen_ai.usage.output_tokens = Empty,
        gen_ai.usage.cache_read.input_tokens = Empty,
        gen_ai.usage.cache_creation.input_tokens = Empty,
        gen_ai.input.messages = Empty,
        gen_ai.output.messages = Empty,
        error.type = Empty,
        klieo.run_id = %run.run_id,
        klieo.step = i64::from(step),
    );
    if let Some(t) = req.temperature {
        span.record("gen_ai.request.temperature", shown_f64(t));
    }
    if let Some(n) = req.max_tokens {
        span.record("gen_ai.request.max_tokens", i64::from(n));
    }
    if streamed {
        span.record("gen_ai.request.stream", true);
    }
    span
}

/// Records, when content is captured, the request's messages on its
/// `chat` span; and for the `first` model call of the run's part (of a
/// fresh run, or of the agent a team's run was handed to), on the run's
/// span: its system prompt (`gen_ai.system_instructions`), its tools
/// (`gen_ai.tool.definitions`) and the other messages, the conversation
/// the run was given (`gen_ai.input.messages`).
fn record_input(run: &Span, chat: &Span, req: &ChatRequest, first: bool) {
    chat.record(
        "gen_ai.input.messages",
        content::input_messages(req.messages.iter()),
    );
    if !first {
        return;
    }
    if let Some(instructions) = content::system_instructions(req.messages.iter()) {
        run.record("gen_ai.system_instructions", instructions);
    }
    if !req.tools.is_empty() {
        run.record(
            "gen_ai.tool.definitions",
            content::tool_definitions(&req.tools),
        );
    }
    let said = req.messages.iter().filter(|m| m.role != Role::System);
    run.record("gen_ai.input.messages", content::input_messages(said));
}

/// Records what the reply says about itself on its `chat` span (and, when
/// `capture`, the reply itself). Unknown usage leaves the usage
/// attributes unset. The run's own span has the answer once the run
/// takes it (`Fact::Answered`): a reply a guardrail refuses, or one a
/// typed run asks again for, is none.
fn record_reply(span: &Span, reply: &ChatResponse, capture: bool) {
    if let Some(usage) = reply.usage {
        span.record("gen_ai.usage.input_tokens", i64::from(usage.input_tokens));
        span.record("gen_ai.usage.output_tokens", i64::from(usage.output_tokens));
        if usage.cached_input_tokens > 0 {
            span.record(
                "gen_ai.usage.cache_read.input_tokens",
                i64::from(usage.cached_input_tokens),
            );
        }
        if usage.cache_creation_tokens > 0 {
            span.record(
                "gen_ai.usage.cache_creation.input_tokens",
                i64::from(usage.cache_creation_tokens),
            );
        }
    }
    if let Some(info) = &reply.info {
        if let Some(id) = &info.id {
            span.record("gen_ai.response.id", label(id).as_ref());
        }
        if let Some(model) = &info.model {
            span.record("gen_ai.response.model", label(model).as_ref());
        }
        // A client of several providers names the one that answered.
        if let Some(provider) = &info.provider {
            span.record("gen_ai.provider.name", provider.as_str());
        }
        if let Some(wait) = &info.rate_wait {
            let waited = i64::try_from(wait.waited.as_millis()).unwrap_or(i64::MAX);
            span.record("klieo.rate_limit.waited_ms", waited);
        }
        if !info.switches.is_empty() {
            let passed: Vec<&str> = info.switches.iter().map(|s| s.from.as_str()).collect();
            span.record("klieo.provider.passed_over", passed.join(", "));
        }
    }
    span.record(
        "gen_ai.response.finish_reasons",
        reply.finish_reason.as_str(),
    );
    if capture {
        span.record("gen_ai.output.messages", content::output_messages(reply));
    }
}

/// Marks `span` failed: `error.type` the error's kind, the status an error
/// with its message (see [`described`]).
fn record_error(span: &Span, error: &Error, capture: bool) {
    span.record("error.type", error.kind());
    span.record("otel.status_code", "ERROR");
    span.record(
        "otel.status_description",
        described(error, capture).as_str(),
    );
}

/// The most characters of an error's text a span keeps.
const DESCRIPTION_LIMIT: usize = 1_024;

/// `error`'s text for a span, at most [`DESCRIPTION_LIMIT`] characters.
/// What carries content (a tool's failure says what the tool said, an
/// answer that does not fit quotes it, a reply that cannot be read shows
/// its start) is told by its kind only, unless `capture`.
fn described(error: &Error, capture: bool) -> String {
    let text = match error {
        Error::Tool(_) if !capture => format!("a tool call failed ({})", error.kind()),
        Error::InvalidOutput { attempts, .. } if !capture => format!(
            "the model's answer does not fit the requested output after {attempts} answer(s)"
        ),
        Error::Llm(e) if !capture => llm_described(e),
        other => other.to_string(),
    };
    bounded(&text)
}

/// A model call's error for a span with content left out: a reply that
/// cannot be read by its kind, not its start.
fn llm_described(error: &LlmError) -> String {
    match error {
        LlmError::Decoding { .. } | LlmError::ReplyTooLarge { .. } => {
            format!(
                "the model server's reply could not be read ({})",
                error.kind()
            )
        }
        other => other.to_string(),
    }
}

/// `text` cut to [`DESCRIPTION_LIMIT`] characters, a `…` marking the cut.
pub(super) fn bounded(text: &str) -> String {
    klieo_types::text::bounded(text, DESCRIPTION_LIMIT)
}

/// The most characters of a name or id a model or server gave (a tool's
/// name, a call's id, a reply's id and model) recorded on a span: any
/// length may come, and a collector refuses a batch too large, losing
/// every other run's spans in it.
const LABEL_CHARS: usize = 256;

/// `text` as a span's label: cut to [`LABEL_CHARS`] characters (a `…`
/// marking the cut), copied only then.
fn label(text: &str) -> std::borrow::Cow<'_, str> {
    klieo_types::text::cut(text, LABEL_CHARS)
}

/// An `exception` event on the current (`chat`) span for one failed
/// attempt of a model call: `exception.type` the error's kind,
/// `exception.message` its text (as [`described`] tells it), and
/// `retryable` whether another attempt follows it (`false` for the
/// attempt the call gives up after).
fn attempt_failed(error: &LlmError, retried: bool, capture: bool) {
    let message = match capture {
        true => error.to_string(),
        false => llm_described(error),
    };
    let message = bounded(&message);
    tracing::info!(
        exception.type = error.kind(),
        exception.message = message.as_str(),
        retryable = retried,
        "exception"
    );
}

/// The span of one compaction before cycle `step`: `compaction`, kind
/// internal, with the range it replaced, or its error.
fn compaction_span(run: &RunLabels<'_>, step: u32) -> Span {
    tracing::info_span!(
        "compaction",
        otel.kind = "internal",
        otel.status_code = Empty,
        otel.status_description = Empty,
        gen_ai.agent.name = %run.agent,
        gen_ai.conversation.id = %run.thread,
        gen_ai.usage.input_tokens = Empty,
        gen_ai.usage.output_tokens = Empty,
        error.type = Empty,
        klieo.step = i64::from(step),
        klieo.compaction.from = Empty,
        klieo.compaction.through = Empty,
        klieo.run_id = %run.run_id,
    )
}

/// The span of one tool call: `execute_tool {name}`, kind internal; its
/// end is recorded with [`record_tool_end`].
fn tool_span(run: &RunLabels<'_>, call: &ToolCall) -> Span {
    tracing::info_span!(
        "execute_tool",
        otel.name = %format_args!("execute_tool {}", label(&call.name)),
        otel.kind = "internal",
        otel.status_code = Empty,
        otel.status_description = Empty,
        gen_ai.operation.name = "execute_tool",
        gen_ai.provider.name = %run.llm.provider_name(),
        gen_ai.agent.name = %run.agent,
        gen_ai.conversation.id = %run.thread,
        gen_ai.tool.name = %label(&call.name),
        gen_ai.tool.call.id = %label(&call.id),
        gen_ai.tool.type = "function",
        gen_ai.tool.call.arguments = Empty,
        gen_ai.tool.call.result = Empty,
        error.type = Empty,
        klieo.run_id = %run.run_id,
    )
}

/// Records how a tool call ended on its span: an error's kind and status,
/// and, when `capture`, the arguments and the result.
fn record_tool_end(
    span: &Span,
    args: &JsonText,
    outcome: &ToolOutcome,
    error_kind: Option<&'static str>,
    capture: bool,
) {
    if capture {
        span.record("gen_ai.tool.call.arguments", &*content::part(args.as_str()));
    }
    match outcome {
        ToolOutcome::Ok { output } if capture => {
            let result = output.to_string();
            span.record("gen_ai.tool.call.result", &*content::part(&result));
        }
        ToolOutcome::Error { message } => {
            let kind = error_kind.unwrap_or("_OTHER");
            span.record("error.type", kind);
            span.record("otel.status_code", "ERROR");
            // The message is the tool's own words: content.
            if capture {
                span.record("otel.status_description", bounded(message).as_str());
            } else {
                let description = format!("the tool call failed ({kind})");
                span.record("otel.status_description", description.as_str());
            }
        }
        ToolOutcome::Cancelled => {
            span.record("error.type", "cancelled");
            span.record("otel.status_code", "ERROR");
        }
        _ => {}
    }
}

/// `value` as the `f64` its shortest text reads as: `0.7`, not the
/// `0.699999988079071` its bits widen to.
fn shown_f64(value: f32) -> f64 {
    value.to_string().parse().unwrap_or(f64::from(value))
}
