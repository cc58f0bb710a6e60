//! [`RunOptions`]' setters and getters, one pair per option; the
//! option's meaning is documented on its getter.

use super::RunOptions;
use crate::guardrail::Guardrail;
use crate::options::{AfterToolCalls, Budget, ToolErrorPolicy};
use klieo_retry::RetryPolicy;
use klieo_types::ToolChoice;
use std::sync::Arc;
use std::time::Duration;

impl RunOptions {
    /// Sets [`budget`](Self::budget).
    pub fn with_budget(mut self, budget: Budget) -> Self {
        self.budget = budget;
        self
    }

    /// What the run may spend (see [`Budget`]).
    pub fn budget(&self) -> &Budget {
        &self.budget
    }

    /// Sets [`compaction`](Self::compaction): the thread is compacted as
    /// it grows (see [`Compaction`](crate::compaction::Compaction)).
    pub fn with_compaction(mut self, compaction: crate::compaction::Compaction) -> Self {
        self.compaction = Some(compaction);
        self
    }

    /// How the run compacts its thread, if it does.
    pub fn compaction(&self) -> Option<&crate::compaction::Compaction> {
        self.compaction.as_ref()
    }

    /// Sets [`max_steps`](Self::max_steps).
    pub fn with_max_steps(mut self, max_steps: u32) -> Self {
        self.max_steps = max_steps;
        self
    }

    /// Model calls allowed before the run fails with `MaxStepsExceeded`.
    pub fn max_steps(&self) -> u32 {
        self.max_steps
    }

    /// Sets [`max_history_tokens`](Self::max_history_tokens).
    pub fn with_max_history_tokens(mut self, max_history_tokens: usize) -> Self {
        self.max_history_tokens = max_history_tokens;
        self
    }

    /// Token budget of the history sent with each request.
    pub fn max_history_tokens(&self) -> usize {
        self.max_history_tokens
    }

    /// Sets [`max_response_bytes`](Self::max_response_bytes).
    pub fn with_max_response_bytes(mut self, max_response_bytes: usize) -> Self {
        self.max_response_bytes = max_response_bytes;
        self
    }

    /// Byte cap of one streamed reply.
    pub fn max_response_bytes(&self) -> usize {
        self.max_response_bytes
    }

    /// Adds a guardrail: it checks each request before it is sent and
    /// each reply before the run acts on it, after the ones added before.
    pub fn add_guardrail(mut self, guardrail: Arc<dyn Guardrail>) -> Self {
        self.guardrails.push(guardrail);
        self
    }

    /// The guardrails, in the order they check.
    pub fn guardrails(&self) -> &[Arc<dyn Guardrail>] {
        &self.guardrails
    }

    /// Sets [`retry`](Self::retry).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Retries of model calls (and of streams that fail before their first chunk).
    pub fn retry(&self) -> &RetryPolicy {
        &self.retry
    }

    /// Sets [`tool_concurrency`](Self::tool_concurrency).
    pub fn with_tool_concurrency(mut self, tool_concurrency: usize) -> Self {
        self.tool_concurrency = tool_concurrency;
        self
    }

    /// Tool calls of one step that may run at once; at least 1.
    pub fn tool_concurrency(&self) -> usize {
        self.tool_concurrency
    }

    /// Sets [`tool_errors`](Self::tool_errors).
    pub fn with_tool_errors(mut self, tool_errors: ToolErrorPolicy) -> Self {
        self.tool_errors = tool_errors;
        self
    }

    /// What an unknown tool or invalid arguments do.
    pub fn tool_errors(&self) -> ToolErrorPolicy {
        self.tool_errors
    }

    /// Sets [`tool_choice`](Self::tool_choice).
    pub fn with_tool_choice(mut self, tool_choice: Option<ToolChoice>) -> Self {
        self.tool_choice = tool_choice;
        self
    }

    /// `tool_choice` of the first request.
    pub fn tool_choice(&self) -> Option<&ToolChoice> {
        self.tool_choice.as_ref()
    }

    /// Sets [`after_tool_calls`](Self::after_tool_calls).
    pub fn with_after_tool_calls(mut self, after_tool_calls: AfterToolCalls) -> Self {
        self.after_tool_calls = after_tool_calls;
        self
    }

    /// `tool_choice` after a round of tool calls.
    pub fn after_tool_calls(&self) -> AfterToolCalls {
        self.after_tool_calls
    }

    /// Sets [`temperature`](Self::temperature).
    pub fn with_temperature(mut self, temperature: Option<f32>) -> Self {
        self.temperature = temperature;
        self
    }

    /// Sampling temperature of every request.
    pub fn temperature(&self) -> Option<f32> {
        self.temperature
    }

    /// Sets [`max_tokens`](Self::max_tokens).
    pub fn with_max_tokens(mut self, max_tokens: Option<u32>) -> Self {
        self.max_tokens = max_tokens;
        self
    }

    /// Generated-token bound of every request.
    pub fn max_tokens(&self) -> Option<u32> {
        self.max_tokens
    }

    /// Sets [`output_repairs`](Self::output_repairs).
    pub fn with_output_repairs(mut self, output_repairs: u32) -> Self {
        self.output_repairs = output_repairs;
        self
    }

    /// How often a typed run (`Agent::run_typed`) tells the model its
    /// answer does not fit and asks again, before it fails with
    /// `Error::InvalidOutput`. Each repair is a model call within
    /// `max_steps`.
    pub fn output_repairs(&self) -> u32 {
        self.output_repairs
    }

    /// Sets [`tool_timeout`](Self::tool_timeout).
    pub fn with_tool_timeout(mut self, tool_timeout: Duration) -> Self {
        self.tool_timeout = tool_timeout;
        self
    }

    /// How long one tool call may take unless its tool sets its own bound
    /// (`ToolPolicy::with_timeout`, in `Tool::policy`). A call past it is stopped and becomes
    /// `ToolError::Timeout`, which goes back to the model. A tool made from
    /// a synchronous closure cannot be stopped mid-call: keep those short.
    pub fn tool_timeout(&self) -> Duration {
        self.tool_timeout
    }

    /// Sets [`max_tool_result_bytes`](Self::max_tool_result_bytes).
    pub fn with_max_tool_result_bytes(mut self, max_tool_result_bytes: usize) -> Self {
        self.max_tool_result_bytes = max_tool_result_bytes;
        self
    }

    /// The most of one tool call's result (its output's text, or its
    /// error's) that enters the run: a longer one is cut at this many
    /// bytes (at a character's boundary) and ends with a note saying so,
    /// which the model reads and the event log records. A result must fit
    /// the history of a request (`max_history_tokens`, about four bytes a
    /// token) with the call that asked for it, or the run stops with
    /// `Error::NewestTurnTooLarge`. Must not be 0.
    pub fn max_tool_result_bytes(&self) -> usize {
        self.max_tool_result_bytes
    }

    /// Sets [`tool_retries`](Self::tool_retries).
    pub fn with_tool_retries(mut self, tool_retries: u32) -> Self {
        self.tool_retries = tool_retries;
        self
    }

    /// How often a tool call that fails with `ToolError::Retryable` and a
    /// `retry_after` delay is tried again, after that delay, before the
    /// model sees the error.
    pub fn tool_retries(&self) -> u32 {
        self.tool_retries
    }

    /// Sets [`lease_ttl`](Self::lease_ttl).
    pub fn with_lease_ttl(mut self, lease_ttl: Option<Duration>) -> Self {
        self.lease_ttl = lease_ttl;
        self
    }

    /// How long a worker's claim on a run lasts between renewals, on a
    /// store shared by many processes (`Journal::lease`): a blocking or
    /// streamed run, a resume or an approval takes the lease first and
    /// renews it every third of this while it runs (a streamed run until
    /// its stream ends or is dropped), so a second worker cannot drive the
    /// same run, and takes over a crashed worker's run once it runs out.
    /// `None` takes no lease. Default 30 s; a lease shorter than
    /// [`MIN_LEASE_TTL`](super::MIN_LEASE_TTL) would run out before its first renewal reached
    /// the store, and is refused ([`validate`](Self::validate)).
    pub fn lease_ttl(&self) -> Option<Duration> {
        self.lease_ttl
    }

    /// Sets [`capture_content`](Self::capture_content).
    pub fn with_capture_content(mut self, capture_content: Option<bool>) -> Self {
        self.capture_content = capture_content;
        self
    }

    /// Whether traces record what is said: the messages sent to and
    /// received from the model (`gen_ai.input.messages`,
    /// `gen_ai.output.messages`) and each tool call's arguments and result.
    /// `None` (the default) leaves it to the environment variable
    /// `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT` (`true`,
    /// `span_only` or `span_and_event` turn it on); off when that is not
    /// set. Secrets are never in what is recorded (API keys and tokens are
    /// not part of messages), but what users and tools say may be private.
    pub fn capture_content(&self) -> Option<bool> {
        self.capture_content
    }
}
