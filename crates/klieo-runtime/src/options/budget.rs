//! [`Budget`]: what one run may spend, in tokens and calls.

use klieo_types::ConfigError;

/// Limits on what one run spends: tokens sent and generated, model calls
/// and tool calls. Unset limits do not apply; the default has none.
///
/// The run counts its spend in its journal's episodes (each model call's
/// reported usage, each tool call), so a run resumed in another process
/// goes on from what it spent, neither losing it nor counting it twice.
/// Before each model call it reserves the request's estimated size and
/// the most the reply may generate (`max_tokens`, which a token limit
/// lowers to what is left), and a call that would pass a limit is not
/// made: the run ends with [`Error::BudgetExceeded`], naming the limit,
/// the spend and what the call needed. Tool calls are checked before a
/// reply's calls run. Usage a server does not report is estimated from
/// the request and the reply; after a resume, only reported usage is
/// counted again.
///
/// Checked by [`RunOptions::validate`](crate::RunOptions::validate): a
/// limit of 0 is refused (leave it unset for no limit).
///
/// ```
/// use klieo_runtime::{Budget, RunOptions};
///
/// let opts = RunOptions::default().with_budget(
///     Budget::new().with_total_tokens(20_000).with_tool_calls(10),
/// );
/// assert_eq!(opts.budget().total_tokens(), Some(20_000));
/// assert!(opts.validate().is_ok());
/// let none = RunOptions::default().with_budget(Budget::new().with_model_calls(0));
/// assert!(none.validate().is_err());
/// ```
///
/// [`Error::BudgetExceeded`]: klieo_types::Error::BudgetExceeded
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Budget {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    total_tokens: Option<u64>,
    model_calls: Option<u64>,
    tool_calls: Option<u64>,
}

impl Budget {
    /// No limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`input_tokens`](Self::input_tokens).
    pub fn with_input_tokens(mut self, max: u64) -> Self {
        self.input_tokens = Some(max);
        self
    }

    /// Tokens sent to the model, over the run's calls.
    pub fn input_tokens(&self) -> Option<u64> {
        self.input_tokens
    }

    /// Sets [`output_tokens`](Self::output_tokens).
    pub fn with_output_tokens(mut self, max: u64) -> Self {
        self.output_tokens = Some(max);
        self
    }

    /// Tokens the model generates, over the run's calls.
    pub fn output_tokens(&self) -> Option<u64> {
        self.output_tokens
    }

    /// Sets [`total_tokens`](Self::total_tokens).
    pub fn with_total_tokens(mut self, max: u64) -> Self {
        self.total_tokens = Some(max);
        self
    }

    /// Input and output tokens together.
    pub fn total_tokens(&self) -> Option<u64> {
        self.total_tokens
    }

    /// Sets [`model_calls`](Self::model_calls).
    pub fn with_model_calls(mut self, max: u64) -> Self {
        self.model_calls = Some(max);
        self
    }

    /// Model calls (output repairs included).
    pub fn model_calls(&self) -> Option<u64> {
        self.model_calls
    }

    /// Sets [`tool_calls`](Self::tool_calls).
    pub fn with_tool_calls(mut self, max: u64) -> Self {
        self.tool_calls = Some(max);
        self
    }

    /// Tool calls run.
    pub fn tool_calls(&self) -> Option<u64> {
        self.tool_calls
    }

    /// Whether any token limit is set.
    pub(crate) fn limits_tokens(&self) -> bool {
        self.input_tokens.is_some() || self.output_tokens.is_some() || self.total_tokens.is_some()
    }

    /// `ConfigError::Invalid` for a limit of 0.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let limits = [
            ("input_tokens", self.input_tokens),
            ("output_tokens", self.output_tokens),
            ("total_tokens", self.total_tokens),
            ("model_calls", self.model_calls),
            ("tool_calls", self.tool_calls),
        ];
        match limits.into_iter().find(|(_, max)| *max == Some(0)) {
            Some((name, _)) => Err(ConfigError::invalid(
                format!("Budget::{name}"),
                "a limit of 0 would let the run do nothing: leave it unset for no limit",
            )),
            None => Ok(()),
        }
    }
}
