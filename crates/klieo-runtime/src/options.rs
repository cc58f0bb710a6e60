//! [`RunOptions`]: the limits and policies of a run, with their defaults.

use crate::guardrail::Guardrail;
use klieo_retry::RetryPolicy;
use klieo_types::{ConfigError, ToolChoice};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// What the next request's `tool_choice` is after a round of tool calls.
///
/// A forced tool choice that is kept makes many models call the tool
/// again and again until `max_steps`; small local models do so even with
/// `auto`, repeating a call whose result they already have. The default
/// lets the model decide until it repeats itself, then asks for the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AfterToolCalls {
    /// Send the first request's choice again.
    Keep,
    /// Let the model decide (`auto`).
    Auto,
    /// Let the model decide (`auto`) until a round of tool calls only
    /// repeats calls the run already made (same tool, same arguments);
    /// then ask for an answer in text (`none`): the model has the results.
    #[default]
    AutoUntilRepeat,
    /// Ask for an answer in text (`none`).
    None,
}

/// What a tool call the model got wrong does to the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ToolErrorPolicy {
    /// An unknown tool name or invalid arguments go back to the model as
    /// the tool's result, naming the problem (and, for an unknown tool, the
    /// tools that exist), so it can correct itself within `max_steps`.
    #[default]
    FeedBack,
    /// An unknown tool name or invalid arguments end the run.
    Strict,
}

/// Limits and policies of one run.
///
/// # Default
///
/// - `max_steps`: 16 model calls
/// - `max_history_tokens`: 8,000 (estimated) tokens of history per request
/// - `max_response_bytes`: 4 MiB of text and tool-call payload per streamed reply
/// - `guardrails`: none
/// - `retry`: [`RetryPolicy::default`] (3 retries, 100/200/400 ms, each
///   server-asked delay honoured up to 60 s) with a total budget of
///   [`DEFAULT_RETRY_BUDGET`] (80 s): one model call and all its retries
///   (for a streamed call, until its first chunk) end within it, an
///   attempt still running then ending in `LlmError::Timeout` of
///   `TimeLimit::RetryBudget`. `with_total_budget(None)` removes the bound.
/// - `tool_concurrency`: 4 tool calls of one step at once
/// - `tool_errors`: [`ToolErrorPolicy::FeedBack`]
/// - `tool_choice`: `None` (the provider's default, `auto` when tools exist)
/// - `after_tool_calls`: [`AfterToolCalls::AutoUntilRepeat`]
/// - `temperature`, `max_tokens`: `None` (the provider's defaults)
/// - `output_repairs`: 2 (a typed run asks again at most twice)
/// - `tool_timeout`: 60 s per tool call (a tool may set its own)
/// - `max_tool_result_bytes`: 16 KiB of one tool result's text (about
///   4,000 tokens, half the default history), cut beyond
/// - `tool_retries`: 2 retries of a tool call that asks for one after a
///   delay (`ToolError::Retryable` with `retry_after`), each delay at most
///   [`MAX_TOOL_RETRY_DELAY`]
/// - `lease_ttl`: 30 s (at least [`MIN_LEASE_TTL`])
/// - `capture_content`: `None` (the environment decides; off when unset)
///
/// ```
/// use klieo_runtime::{AfterToolCalls, RunOptions};
/// use klieo_types::{ConfigError, ToolChoice};
///
/// let opts = RunOptions {
///     max_steps: 4,
///     tool_choice: Some(ToolChoice::Function("calculator".into())),
///     after_tool_calls: AfterToolCalls::None,
///     ..RunOptions::default()
/// };
/// assert!(format!("{opts:?}").contains("guardrails: 0"));
/// ```
#[derive(Clone)]
pub struct RunOptions {
    /// Model calls allowed before the run fails with `MaxStepsExceeded`.
    pub max_steps: u32,
    /// Token budget of the history sent with each request.
    pub max_history_tokens: usize,
    /// Byte cap of one streamed reply.
    pub max_response_bytes: usize,
    /// Checks before and after each model call, in order.
    pub guardrails: Vec<Arc<dyn Guardrail>>,
    /// Retries of model calls (and of streams that fail before their first chunk).
    pub retry: RetryPolicy,
    /// Tool calls of one step that may run at once (0 counts as 1).
    pub tool_concurrency: usize,
    /// What an unknown tool or invalid arguments do.
    pub tool_errors: ToolErrorPolicy,
    /// `tool_choice` of the first request.
    pub tool_choice: Option<ToolChoice>,
    /// `tool_choice` after a round of tool calls.
    pub after_tool_calls: AfterToolCalls,
    /// Sampling temperature of every request.
    pub temperature: Option<f32>,
    /// Generated-token bound of every request.
    pub max_tokens: Option<u32>,
    /// How often a typed run (`Agent::run_typed`) tells the model its
    /// answer does not fit and asks again, before it fails with
    /// `Error::InvalidOutput`. Each repair is a model call within
    /// `max_steps`.
    pub output_repairs: u32,
    /// How long one tool call may take unless its tool sets its own bound
    /// (`ToolPolicy::with_timeout`, in `Tool::policy`). A call past it is stopped and becomes
    /// `ToolError::Timeout`, which goes back to the model. A tool made from
    /// a synchronous closure cannot be stopped mid-call: keep those short.
    pub tool_timeout: Duration,
    /// The most of one tool call's result (its output's text, or its
    /// error's) that enters the run: a longer one is cut at this many
    /// bytes (at a character's boundary) and ends with a note saying so,
    /// which the model reads and the event log records. A result must fit
    /// the history of a request (`max_history_tokens`, about four bytes a
    /// token) with the call that asked for it, or the run stops with
    /// `Error::NewestTurnTooLarge`. Must not be 0.
    pub max_tool_result_bytes: usize,
    /// How often a tool call that fails with `ToolError::Retryable` and a
    /// `retry_after` delay is tried again, after that delay, before the
    /// model sees the error.
    pub tool_retries: u32,
    /// How long a worker's claim on a run lasts between renewals, on a
    /// store shared by many processes (`Journal::lease`): a blocking or
    /// streamed run, a resume or an approval takes the lease first and
    /// renews it every third of this while it runs (a streamed run until
    /// its stream ends or is dropped), so a second worker cannot drive the
    /// same run, and takes over a crashed worker's run once it runs out.
    /// `None` takes no lease. Default 30 s; a lease shorter than
    /// [`MIN_LEASE_TTL`] would run out before its first renewal reached
    /// the store, and is refused ([`validate`](Self::validate)).
    pub lease_ttl: Option<Duration>,
    /// Whether traces record what is said: the messages sent to and
    /// received from the model (`gen_ai.input.messages`,
    /// `gen_ai.output.messages`) and each tool call's arguments and result.
    /// `None` (the default) leaves it to the environment variable
    /// `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT` (`true`,
    /// `span_only` or `span_and_event` turn it on); off when that is not
    /// set. Secrets are never in what is recorded (API keys and tokens are
    /// not part of messages), but what users and tools say may be private.
    pub capture_content: Option<bool>,
}

/// The default time budget of one model call and its retries: a stalled
/// or trickling server ends a call with a typed timeout within it.
pub const DEFAULT_RETRY_BUDGET: Duration = Duration::from_secs(80);

/// The default bound of one tool result's text: 16 KiB.
pub const DEFAULT_MAX_TOOL_RESULT_BYTES: usize = 16 * 1024;

/// The shortest `lease_ttl` a run accepts: a lease is renewed every third
/// of its length, and each renewal is a round trip to the store.
pub const MIN_LEASE_TTL: Duration = Duration::from_secs(1);

/// The longest a tool's requested retry delay is honoured for; a longer
/// request waits this long.
pub const MAX_TOOL_RETRY_DELAY: Duration = Duration::from_secs(30);

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            max_steps: 16,
            max_history_tokens: 8_000,
            max_response_bytes: 4 * 1024 * 1024,
            guardrails: Vec::new(),
            retry: RetryPolicy::default().with_total_budget(Some(DEFAULT_RETRY_BUDGET)),
            tool_concurrency: 4,
            tool_errors: ToolErrorPolicy::default(),
            tool_choice: None,
            after_tool_calls: AfterToolCalls::default(),
            temperature: None,
            max_tokens: None,
            output_repairs: 2,
            tool_timeout: Duration::from_secs(60),
            max_tool_result_bytes: DEFAULT_MAX_TOOL_RESULT_BYTES,
            tool_retries: 2,
            lease_ttl: Some(Duration::from_secs(30)),
            capture_content: None,
        }
    }
}

impl RunOptions {
    /// Checks the options: every run checks them before it does anything
    /// (takes a lease, writes, calls the model), and fails with
    /// `Error::Config` when they cannot work. Call it to check options
    /// where they are made.
    ///
    /// ```
    /// use klieo_runtime::RunOptions;
    /// use std::time::Duration;
    ///
    /// assert!(RunOptions::default().validate().is_ok());
    /// let zero = RunOptions { lease_ttl: Some(Duration::ZERO), ..RunOptions::default() };
    /// let error = zero.validate().unwrap_err();
    /// assert!(error.to_string().contains("lease_ttl"), "{error}");
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(ttl) = self.lease_ttl.filter(|ttl| *ttl < MIN_LEASE_TTL) {
            return Err(ConfigError::Invalid {
                name: "RunOptions::lease_ttl".into(),
                reason: format!(
                    "{ttl:?} is shorter than the {} s minimum (the lease would run out \
                     before its first renewal): use at least {} s, or `None` to take no lease",
                    MIN_LEASE_TTL.as_secs(),
                    MIN_LEASE_TTL.as_secs()
                ),
            });
        }
        if self.max_tool_result_bytes == 0 {
            return Err(ConfigError::Invalid {
                name: "RunOptions::max_tool_result_bytes".into(),
                reason: "0 would leave the model no result of any tool call: use at least \
                         a few hundred bytes (the default is 16384)"
                    .into(),
            });
        }
        Ok(())
    }

    /// The `tool_choice` of the request of cycle `step` (counting from 1),
    /// `repeated` saying whether the last round of tool calls only
    /// repeated calls the run had made before.
    pub fn tool_choice_for(&self, step: u32, repeated: bool) -> Option<ToolChoice> {
        if step <= 1 {
            return self.tool_choice.clone();
        }
        match self.after_tool_calls {
            AfterToolCalls::Keep => self.tool_choice.clone(),
            AfterToolCalls::Auto => Some(ToolChoice::Auto),
            AfterToolCalls::AutoUntilRepeat if repeated => Some(ToolChoice::None),
            AfterToolCalls::AutoUntilRepeat => Some(ToolChoice::Auto),
            AfterToolCalls::None => Some(ToolChoice::None),
        }
    }
}

impl fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunOptions")
            .field("max_steps", &self.max_steps)
            .field("max_history_tokens", &self.max_history_tokens)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("guardrails", &self.guardrails.len())
            .field("retry", &self.retry)
            .field("tool_concurrency", &self.tool_concurrency)
            .field("tool_errors", &self.tool_errors)
            .field("tool_choice", &self.tool_choice)
            .field("after_tool_calls", &self.after_tool_calls)
            .field("temperature", &self.temperature)
            .field("max_tokens", &self.max_tokens)
            .field("output_repairs", &self.output_repairs)
            .field("tool_timeout", &self.tool_timeout)
            .field("max_tool_result_bytes", &self.max_tool_result_bytes)
            .field("tool_retries", &self.tool_retries)
            .field("lease_ttl", &self.lease_ttl)
            .field("capture_content", &self.capture_content)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documented_list() {
        let o = RunOptions::default();
        assert_eq!(o.max_steps, 16);
        assert_eq!(o.max_history_tokens, 8_000);
        assert_eq!(o.max_response_bytes, 4 * 1024 * 1024);
        assert_eq!(o.tool_concurrency, 4);
        assert_eq!(
            o.retry,
            RetryPolicy::default().with_total_budget(Some(DEFAULT_RETRY_BUDGET))
        );
        assert_eq!(o.after_tool_calls, AfterToolCalls::AutoUntilRepeat);
        assert_eq!(o.output_repairs, 2);
        assert_eq!(o.tool_timeout, Duration::from_secs(60));
        assert_eq!(o.tool_retries, 2);
        assert_eq!(o.max_tool_result_bytes, 16 * 1024);
    }

    #[test]
    fn tool_choice_policy_across_steps() {
        let forced = Some(ToolChoice::Function("calculator".into()));
        let mut o = RunOptions {
            tool_choice: forced.clone(),
            ..RunOptions::default()
        };
        assert_eq!(o.tool_choice_for(1, false), forced);
        assert_eq!(o.tool_choice_for(2, false), Some(ToolChoice::Auto));
        assert_eq!(o.tool_choice_for(2, true), Some(ToolChoice::None));
        o.after_tool_calls = AfterToolCalls::Auto;
        assert_eq!(o.tool_choice_for(2, true), Some(ToolChoice::Auto));
        o.after_tool_calls = AfterToolCalls::Keep;
        assert_eq!(o.tool_choice_for(3, false), forced);
        o.after_tool_calls = AfterToolCalls::None;
        assert_eq!(o.tool_choice_for(2, false), Some(ToolChoice::None));
    }
}
