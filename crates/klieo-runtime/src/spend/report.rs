//! What a run spent, as its user reads it ([`BudgetSpend`], on
//! [`RunEvent::BudgetSpent`](crate::RunEvent::BudgetSpent)).

/// What a run with a budget has spent so far, after a model call.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[non_exhaustive]
pub struct BudgetSpend {
    /// Input tokens (reported, or estimated where a server reported
    /// none).
    pub input_tokens: u64,
    /// Output tokens, likewise.
    pub output_tokens: u64,
    /// Model calls made.
    pub model_calls: u64,
    /// Tool calls run.
    pub tool_calls: u64,
    /// US dollars, when the budget has a cost limit.
    pub cost_usd: Option<f64>,
}
