//! [`RunOptions`]: the limits and policies of a run, with their defaults.

mod accessors;
mod budget;
mod key_budget;
mod prices;

pub use budget::Budget;
pub use key_budget::KeyBudget;
pub use prices::{ModelPrice, Prices};

use crate::compaction::Compaction;
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

/// Limits and policies of one run: set each with its `with_*` method
/// (guardrails are added with [`add_guardrail`](Self::add_guardrail)),
/// read it with the method of its name. Values that cannot work are
/// refused by [`validate`](Self::validate), which every run and
/// `AgentBuilder::build` call, with a [`ConfigError`] naming the option,
/// the value and the fix.
///
/// # Default
///
/// - `max_steps`: 16 model calls (at least 1)
/// - `max_history_tokens`: 8,000 (estimated) tokens of history per request
/// - `max_response_bytes`: 4 MiB of text and tool-call payload per streamed reply
/// - `guardrails`: none
/// - `retry`: [`RetryPolicy::default`] (3 retries, 100/200/400 ms, each
///   server-asked delay honoured up to 60 s) with a total budget of
///   [`DEFAULT_RETRY_BUDGET`] (80 s): one model call and all its retries
///   (for a streamed call, until its first chunk) end within it, an
///   attempt still running then ending in `LlmError::Timeout` of
///   `TimeLimit::RetryBudget`. `with_total_budget(None)` removes the bound.
/// - `tool_concurrency`: 4 tool calls of one step at once (at least 1)
/// - `tool_errors`: [`ToolErrorPolicy::FeedBack`]
/// - `tool_choice`: `None` (the provider's default, `auto` when tools exist)
/// - `after_tool_calls`: [`AfterToolCalls::AutoUntilRepeat`]
/// - `temperature`, `max_tokens`: `None` (the provider's defaults)
/// - `output_repairs`: 2 (a typed run asks again at most twice)
/// - `tool_timeout`: 60 s per tool call (a tool may set its own; not zero)
/// - `max_tool_result_bytes`: 16 KiB of one tool result's text (about
///   4,000 tokens, half the default history), cut beyond
/// - `tool_retries`: 2 retries of a tool call that asks for one after a
///   delay (`ToolError::Retryable` with `retry_after`), each delay at most
///   [`MAX_TOOL_RETRY_DELAY`]
/// - `lease_ttl`: 30 s (at least [`MIN_LEASE_TTL`])
/// - `capture_content`: `None` (the environment decides; off when unset)
/// - `budget`: [`Budget::new`], no limits
/// - `compaction`: `None` (the thread's oldest messages are left out of a
///   request that cannot hold them; see [`Compaction`])
///
/// ```
/// use klieo_runtime::{AfterToolCalls, RunOptions};
/// use klieo_types::{ConfigError, ToolChoice};
///
/// let opts = RunOptions::default()
///     .with_max_steps(4)
///     .with_tool_choice(Some(ToolChoice::Function("calculator".into())))
///     .with_after_tool_calls(AfterToolCalls::None);
/// assert_eq!(opts.max_steps(), 4);
/// assert!(format!("{opts:?}").contains("guardrails: 0"));
///
/// let none = RunOptions::default().with_tool_concurrency(0);
/// assert!(matches!(none.validate(), Err(ConfigError::Invalid { .. })));
/// ```
#[derive(Clone)]
pub struct RunOptions {
    /// See [`max_steps`](Self::max_steps).
    pub(crate) max_steps: u32,
    /// See [`max_history_tokens`](Self::max_history_tokens).
    pub(crate) max_history_tokens: usize,
    /// See [`max_response_bytes`](Self::max_response_bytes).
    pub(crate) max_response_bytes: usize,
    /// See [`guardrails`](Self::guardrails).
    pub(crate) guardrails: Vec<Arc<dyn Guardrail>>,
    /// See [`retry`](Self::retry).
    pub(crate) retry: RetryPolicy,
    /// See [`tool_concurrency`](Self::tool_concurrency).
    pub(crate) tool_concurrency: usize,
    /// See [`tool_errors`](Self::tool_errors).
    pub(crate) tool_errors: ToolErrorPolicy,
    /// See [`tool_choice`](Self::tool_choice).
    pub(crate) tool_choice: Option<ToolChoice>,
    /// See [`after_tool_calls`](Self::after_tool_calls).
    pub(crate) after_tool_calls: AfterToolCalls,
    /// See [`temperature`](Self::temperature).
    pub(crate) temperature: Option<f32>,
    /// See [`max_tokens`](Self::max_tokens).
    pub(crate) max_tokens: Option<u32>,
    /// See [`output_repairs`](Self::output_repairs).
    pub(crate) output_repairs: u32,
    /// See [`tool_timeout`](Self::tool_timeout).
    pub(crate) tool_timeout: Duration,
    /// See [`max_tool_result_bytes`](Self::max_tool_result_bytes).
    pub(crate) max_tool_result_bytes: usize,
    /// See [`tool_retries`](Self::tool_retries).
    pub(crate) tool_retries: u32,
    /// See [`lease_ttl`](Self::lease_ttl).
    pub(crate) lease_ttl: Option<Duration>,
    /// See [`capture_content`](Self::capture_content).
    pub(crate) capture_content: Option<bool>,
    /// See [`budget`](Self::budget).
    pub(crate) budget: Budget,
    /// See [`compaction`](Self::compaction).
    pub(crate) compaction: Option<Compaction>,
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
            budget: Budget::default(),
            compaction: None,
        }
    }
}

impl RunOptions {
    /// Checks the options: `AgentBuilder::build` checks them, and every run
    /// before it does anything (takes a lease, writes, calls the model),
    /// failing with `Error::Config` when they cannot work: `max_steps`,
    /// `tool_concurrency`, `max_tool_result_bytes`, `max_history_tokens`
    /// or `max_response_bytes` of 0, a `tool_timeout` of zero, a retry
    /// policy whose total budget is zero, a `lease_ttl` under
    /// [`MIN_LEASE_TTL`], a `max_tokens` of `Some(0)`, a `temperature`
    /// below 0 or not finite. Call it to check options where they are made.
    ///
    /// ```
    /// use klieo_runtime::RunOptions;
    /// use std::time::Duration;
    ///
    /// assert!(RunOptions::default().validate().is_ok());
    /// let zero = RunOptions::default().with_lease_ttl(Some(Duration::ZERO));
    /// let error = zero.validate().unwrap_err();
    /// assert!(error.to_string().contains("lease_ttl"), "{error}");
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.budget.validate()?;
        if let Some(compaction) = &self.compaction {
            compaction.validate()?;
        }
        let invalid = |name: &str, reason: String| {
            Err(ConfigError::invalid(format!("RunOptions::{name}"), reason))
        };
        if self.max_steps == 0 {
            return invalid(
                "max_steps",
                "0 allows no model call, so no run could answer: use at least 1 (the \
                 default is 16)"
                    .into(),
            );
        }
        if self.tool_concurrency == 0 {
            return invalid(
                "tool_concurrency",
                "0 would run no tool call: use at least 1 (the default is 4)".into(),
            );
        }
        if self.tool_timeout.is_zero() {
            return invalid(
                "tool_timeout",
                "0 s would time every tool call out before it starts: use the longest a \
                 tool call may take (the default is 60 s)"
                    .into(),
            );
        }
        if let Some(ttl) = self.lease_ttl.filter(|ttl| *ttl < MIN_LEASE_TTL) {
            return invalid(
                "lease_ttl",
                format!(
                    "{ttl:?} is shorter than the {} s minimum (the lease would run out \
                     before its first renewal): use at least {} s, or `None` to take no lease",
                    MIN_LEASE_TTL.as_secs(),
                    MIN_LEASE_TTL.as_secs()
                ),
            );
        }
        if self.max_tool_result_bytes == 0 {
            return invalid(
                "max_tool_result_bytes",
                "0 would leave the model no result of any tool call: use at least \
                 a few hundred bytes (the default is 16384)"
                    .into(),
            );
        }
        if self.max_history_tokens == 0 {
            return invalid(
                "max_history_tokens",
                "0 leaves no room for the newest turn, so every run would stop before \
                 its first model call: use the tokens a request's history may hold (the \
                 default is 8000)"
                    .into(),
            );
        }
        if self.max_response_bytes == 0 {
            return invalid(
                "max_response_bytes",
                "0 would end every streamed run at its first chunk: use the most a \
                 reply may hold (the default is 4194304, 4 MiB)"
                    .into(),
            );
        }
        if self.max_tokens == Some(0) {
            return invalid(
                "max_tokens",
                "0 leaves the model no token to reply with, and providers refuse it: use \
                 the most a reply may take, or `None` for the provider's default"
                    .into(),
            );
        }
        if let Some(t) = self.temperature.filter(|t| !t.is_finite() || *t < 0.0) {
            return invalid(
                "temperature",
                format!(
                    "{t} is not a sampling temperature (providers take 0 and up, most at \
                     most 2): use a number from 0, or `None` for the provider's default"
                ),
            );
        }
        if self
            .retry
            .total_budget()
            .is_some_and(|budget| budget.is_zero())
        {
            return invalid(
                "retry",
                "a total budget of 0 s would time every model call out before it is \
                 sent: use the longest a call and its retries may take (the default is \
                 80 s), or no budget (RetryPolicy::with_total_budget(None))"
                    .into(),
            );
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
            .field("budget", &self.budget)
            .field("compaction", &self.compaction)
            .finish()
    }
}

#[cfg(test)]
mod tests;
