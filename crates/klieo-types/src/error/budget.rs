//! [`BudgetLimit`]: which limit of a run's budget a call would pass.

use std::fmt;

/// A limit of a run's budget ([`Error::BudgetExceeded`](crate::Error::BudgetExceeded)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum BudgetLimit {
    /// Tokens sent to the model, over all its calls.
    InputTokens,
    /// Tokens the model generated, over all its calls.
    OutputTokens,
    /// Input and output tokens together.
    TotalTokens,
    /// Model calls.
    ModelCalls,
    /// Tool calls.
    ToolCalls,
    /// The cost of the model calls, in millionths of a US dollar.
    Cost,
    /// The time the run spent working, in milliseconds.
    Time,
}

impl BudgetLimit {
    /// The limit's name, in snake case, as episodes and traces spell it
    /// (`"total_tokens"`, `"cost"`).
    ///
    /// ```
    /// use klieo_types::BudgetLimit;
    ///
    /// assert_eq!(BudgetLimit::TotalTokens.as_str(), "total_tokens");
    /// assert_eq!(serde_json::to_value(BudgetLimit::Cost)?, "cost");
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::InputTokens => "input_tokens",
            Self::OutputTokens => "output_tokens",
            Self::TotalTokens => "total_tokens",
            Self::ModelCalls => "model_calls",
            Self::ToolCalls => "tool_calls",
            Self::Cost => "cost",
            Self::Time => "time",
        }
    }
}

impl fmt::Display for BudgetLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InputTokens => "input tokens",
            Self::OutputTokens => "output tokens",
            Self::TotalTokens => "tokens",
            Self::ModelCalls => "model calls",
            Self::ToolCalls => "tool calls",
            Self::Cost => "millionths of a US dollar",
            Self::Time => "milliseconds of work",
        })
    }
}
