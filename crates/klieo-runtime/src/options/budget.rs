//! [`Budget`]: what one run may spend, in tokens, calls, money and time.

use super::key_budget::KeyBudget;
use super::prices::Prices;
use klieo_types::ConfigError;
use std::time::Duration;

/// Limits on what one run spends: tokens sent and generated, model calls,
/// tool calls, money (from the models' [`Prices`]) and working time.
/// Unset limits do not apply; the default has none.
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
/// the request and the reply, and the log keeps the estimate: a resumed
/// run counts each call as its log recorded it.
///
/// A cost limit counts each call's reported usage at its model's price
/// (the model the reply names, else the client's), and reserves a call's
/// bound at the dearest price of the client's models (a client of several
/// providers may answer with any of its models, `LlmClient::models`), not
/// of the whole table (which a fleet may share with dearer models): a run whose client may
/// answer from a model with no price (its own, or any of a fallback's
/// providers', [`LlmClient::models`](klieo_types::LlmClient::models)) is
/// refused when the agent is built or the run starts, since its calls
/// could not be counted. The time limit counts the time the
/// run spent working: its model and tool calls as logged, and the time of
/// the process driving it now (not the time it waited for a person or
/// for a worker). A model call is cut off when it runs out (the client's
/// own request timeout still bounds it, shorter or not). It is counted in
/// milliseconds: a limit under 1 ms is refused.
///
/// A [`KeyBudget`] adds limits shared by every run of one key (a tenant,
/// a user) on every worker of the store, counted in the journal's ledger.
///
/// Checked by [`RunOptions::validate`](crate::RunOptions::validate): a
/// limit of 0 is refused (leave it unset for no limit), and so is a cost
/// that is not a positive number or a price that is negative.
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
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Budget {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    total_tokens: Option<u64>,
    model_calls: Option<u64>,
    tool_calls: Option<u64>,
    cost_usd: Option<f64>,
    prices: Prices,
    time: Option<Duration>,
    key: Option<KeyBudget>,
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

    /// Sets [`cost_usd`](Self::cost_usd), counted at `prices` (which
    /// replace the [`prices`](Self::prices) set before).
    pub fn with_cost_usd(mut self, max: f64, prices: Prices) -> Self {
        self.cost_usd = Some(max);
        self.prices = prices;
        self
    }

    /// Sets [`prices`](Self::prices) alone: for a [`KeyBudget`]'s cost
    /// limit when the run has none of its own.
    pub fn with_prices(mut self, prices: Prices) -> Self {
        self.prices = prices;
        self
    }

    /// US dollars the model calls may cost, at [`prices`](Self::prices).
    pub fn cost_usd(&self) -> Option<f64> {
        self.cost_usd
    }

    /// Sets [`key`](Self::key): the run's spend also counts against the
    /// limits of its key, shared by the key's runs on every worker.
    pub fn with_key(mut self, key: KeyBudget) -> Self {
        self.key = Some(key);
        self
    }

    /// The key whose limits the run's model calls also count against.
    pub fn key(&self) -> Option<&KeyBudget> {
        self.key.as_ref()
    }

    /// Whether the run or its key has a cost limit: calls are priced.
    pub(crate) fn counts_cost(&self) -> bool {
        self.cost_usd.is_some() || self.key.as_ref().is_some_and(|k| k.cost_usd().is_some())
    }

    /// The models' prices a cost limit counts by.
    pub fn prices(&self) -> &Prices {
        &self.prices
    }

    /// The cost limit in millionths of a dollar, as
    /// [`BudgetLimit::Cost`](klieo_types::BudgetLimit::Cost) counts it.
    pub(crate) fn cost_micros(&self) -> Option<u64> {
        self.cost_usd.map(micros_of)
    }

    /// Sets [`time`](Self::time).
    pub fn with_time(mut self, max: Duration) -> Self {
        self.time = Some(max);
        self
    }

    /// The time the run may spend working (see the type's docs).
    pub fn time(&self) -> Option<Duration> {
        self.time
    }

    /// `ConfigError::Invalid` when a cost limit cannot count the calls of
    /// `llm`: one of the models its replies may come from
    /// ([`LlmClient::models`](klieo_types::LlmClient::models)) has no
    /// price.
    pub(crate) fn check_client(&self, llm: &dyn klieo_types::LlmClient) -> Result<(), ConfigError> {
        if !self.counts_cost() {
            return Ok(());
        }
        llm.models()
            .iter()
            .try_for_each(|model| self.check_model(model))
    }

    /// `ConfigError::Invalid` when a cost limit cannot count the calls of
    /// `model`: it has no price.
    fn check_model(&self, model: &str) -> Result<(), ConfigError> {
        if !self.counts_cost() || self.prices.price(model).is_some() {
            return Ok(());
        }
        let setting = match self.cost_usd {
            Some(_) => "Budget::cost_usd",
            None => "KeyBudget::cost_usd",
        };
        Err(ConfigError::invalid(
            setting,
            format!(
                "the model `{model}` has no price, so its calls could not be counted: add it \
                 with Prices::add_model"
            ),
        ))
    }

    /// The limits that cover a run's children (agents used as tools):
    /// its token, call and cost limits, not its time or its key's; none
    /// when it has none of those.
    pub(crate) fn for_children(&self) -> Option<Budget> {
        let limits = self.limits_tokens()
            || self.model_calls.is_some()
            || self.tool_calls.is_some()
            || self.cost_usd.is_some();
        limits.then(|| Budget {
            time: None,
            key: None,
            ..self.clone()
        })
    }

    /// Whether any token limit is set.
    pub(crate) fn limits_tokens(&self) -> bool {
        self.input_tokens.is_some() || self.output_tokens.is_some() || self.total_tokens.is_some()
    }

    /// `ConfigError::Invalid` for a limit of 0, a cost that is not a
    /// positive number, or a price that is negative.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if let Some(usd) = self.cost_usd {
            check_dollars("Budget::cost_usd", usd)?;
        }
        self.prices.validate()?;
        if let Some(key) = &self.key {
            key.validate()?;
        }
        if let Some(time) = self.time.filter(|t| *t < COUNTED_IN) {
            return Err(ConfigError::invalid(
                "Budget::time",
                format!(
                    "{time:?} is under the millisecond working time is counted in, so it \
                     leaves the run no time to work: give at least 1 ms, or leave it unset \
                     for no limit"
                ),
            ));
        }
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

/// The unit working time and reservations are counted in: a limit under
/// it would count as 0.
pub(super) const COUNTED_IN: Duration = Duration::from_millis(1);

/// `usd` in millionths of a dollar, as costs are counted.
pub(super) fn micros_of(usd: f64) -> u64 {
    (usd * 1e6).round() as u64
}

/// `ConfigError::Invalid` for the cost limit `setting` of `usd` dollars
/// when it is not a positive number, or under the millionth of a dollar
/// costs are counted in.
pub(super) fn check_dollars(setting: &str, usd: f64) -> Result<(), ConfigError> {
    if !(usd.is_finite() && usd > 0.0) {
        return Err(ConfigError::invalid(
            setting,
            format!("{usd} US dollars cannot be spent: give a positive amount"),
        ));
    }
    if micros_of(usd) == 0 {
        return Err(ConfigError::invalid(
            setting,
            format!(
                "{usd} US dollars is under the millionth of a dollar costs are counted in: \
                 give at least 0.000001"
            ),
        ));
    }
    Ok(())
}
