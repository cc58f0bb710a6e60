//! The spans' view of a run's [`Fact`]s: a model call or tool call that
//! begins opens its span, and what it ended with is recorded on it.

use super::{
    attempt_failed, bounded, chat_span, compaction_span, record_error, record_input, record_reply,
    record_tool_end, tool_span, RunLabels,
};
use crate::fact::Fact;
use tracing::Span;

/// What the spans of one run need to know of it.
pub(crate) struct Tracer<'a> {
    pub(crate) labels: RunLabels<'a>,
    /// The run's own span.
    pub(crate) span: &'a Span,
    /// Whether what is said is recorded.
    pub(crate) capture: bool,
}

impl Tracer<'_> {
    /// Records `fact` on its span; a fact that opens one (a model call or
    /// tool call that begins) returns it, for the work to run under.
    pub(crate) fn observe(&self, fact: &Fact<'_>) -> Option<Span> {
        match fact {
            Fact::ModelCallBegan {
                step,
                req,
                streamed,
                first,
            } => {
                let span = chat_span(&self.labels, req, *step, *streamed);
                if self.capture {
                    record_input(self.span, &span, req, *first);
                }
                return Some(span);
            }
            Fact::AttemptFailed { error, retried } => {
                attempt_failed(error, *retried, self.capture);
            }
            Fact::ModelCallEnded { reply, span, .. } => {
                record_reply(span, reply, self.capture);
            }
            Fact::ModelCallFailed { error, span } => record_error(span, error, self.capture),
            Fact::ToolCallBegan { call } => return Some(tool_span(&self.labels, call)),
            Fact::CompactionBegan { step } => {
                return Some(compaction_span(&self.labels, *step));
            }
            Fact::Compacted {
                summary,
                usage,
                span,
                ..
            } => {
                // Signed, as OpenTelemetry's integers are: an unsigned one
                // is exported as its text.
                let int = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
                span.record("klieo.compaction.from", int(summary.from));
                span.record("klieo.compaction.through", int(summary.through));
                if let Some(usage) = usage {
                    let input = i64::from(usage.input_tokens);
                    span.record("gen_ai.usage.input_tokens", input);
                    span.record("gen_ai.usage.output_tokens", i64::from(usage.output_tokens));
                }
            }
            Fact::CompactionFailed { error, span, .. } => {
                span.record("error.type", error.kind());
                span.record("otel.status_code", "ERROR");
                // The causes may quote a strategy's or a store's text:
                // recorded only when content is.
                let description = match self.capture {
                    true => bounded(&crate::compaction::reason(error)),
                    false => format!("compaction failed ({})", error.kind()),
                };
                span.record("otel.status_description", description.as_str());
            }
            Fact::ToolCallEnded(end) => {
                if let Some(span) = end.span {
                    record_tool_end(span, &end.args, &end.outcome, end.error_kind, self.capture);
                }
            }
            // A suspended run has not failed: it waits for a person.
            Fact::Failed { error, .. } if !error.waits_for_person() => {
                record_error(self.span, error, self.capture);
            }
            // A run still waiting for a person is not refused, as a
            // suspended one has not failed.
            Fact::NotStarted { error } if !error.waits_for_person() => {
                record_error(self.span, error, self.capture);
            }
            Fact::BudgetSettled { settled, span, .. } => {
                // `CallSpend`: what the call was counted as.
                if let Some(cost) = settled.cost_micros {
                    span.record(
                        "klieo.budget.cost_micros",
                        i64::try_from(cost).unwrap_or(i64::MAX),
                    );
                }
                if settled.estimated {
                    span.record("klieo.budget.estimated", true);
                }
            }
            Fact::BudgetReserved {
                tokens,
                cost_micros,
                span,
                ..
            } => {
                span.record(
                    "klieo.budget.reserved_tokens",
                    i64::try_from(*tokens).unwrap_or(i64::MAX),
                );
                if let Some(cost) = cost_micros {
                    span.record(
                        "klieo.budget.reserved_cost_micros",
                        i64::try_from(*cost).unwrap_or(i64::MAX),
                    );
                }
            }
            Fact::BudgetRefused { limit, .. } => {
                self.span.record("klieo.budget.refused", limit.as_str());
            }
            // The run ends failed in its log: so does its span.
            Fact::ConsumerDropped => {
                self.span
                    .record("error.type", crate::stream::CONSUMER_DROPPED);
                self.span.record("otel.status_code", "ERROR");
                let said = "the stream's consumer went away before the run's end";
                self.span.record("otel.status_description", said);
            }
            Fact::Answered { text, finish, .. } => {
                if self.capture {
                    let answer = super::content::answer_messages(text, *finish);
                    self.span.record("gen_ai.output.messages", answer);
                }
            }
            // Nothing of it is recorded, but its span is exported: it
            // does not say the run went well.
            Fact::Dropped => {
                self.span.record("error.type", crate::stream::DROPPED);
                self.span.record("otel.status_code", "ERROR");
                let said = "the run was dropped before its end (its future was not polled on)";
                self.span.record("otel.status_description", said);
            }
            // The chat span names them, from the reply (`record_reply`).
            Fact::ProviderSwitched { .. } | Fact::RateLimitWaited { .. } => {}
            Fact::Started { .. }
            | Fact::Shaped { .. }
            | Fact::PromptAt { .. }
            | Fact::Resumed { .. }
            | Fact::HandedOff { .. }
            | Fact::ChildOf { .. }
            | Fact::WaitingOnChild { .. }
            | Fact::ToolResultRead { .. }
            | Fact::Suspended { .. }
            | Fact::InDoubt { .. }
            | Fact::Decided { .. }
            | Fact::Failed { .. }
            | Fact::NotStarted { .. } => {}
        }
        None
    }
}
