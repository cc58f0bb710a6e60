//! [`Prices`]: what each model's tokens cost, for a [`Budget`]'s cost
//! limit.
//!
//! [`Budget`]: crate::Budget

use klieo_types::{ConfigError, Usage};
use std::sync::Arc;

/// What one model's tokens cost, in US dollars per million tokens.
///
/// # Default
/// - cached input: the input price (set [`with_cached_input`](Self::with_cached_input)
///   for a provider that charges less for prompt-cache reads)
/// - cache write: the input price (set [`with_cache_write`](Self::with_cache_write)
///   for a provider that charges more for tokens written to its prompt
///   cache: Anthropic charges 1.25 times the input price for its
///   five-minute cache, and its client asks for caching by default)
///
/// A call's bound is reserved at the dearer of the input and cache-write
/// prices, so a call that writes its whole prompt to the cache never
/// passes a cost limit.
///
/// ```
/// use klieo_runtime::ModelPrice;
///
/// let mini = ModelPrice::per_million_tokens(0.15, 0.60).with_cached_input(0.075);
/// assert_eq!(mini.cached_input(), 0.075);
/// let sonnet = ModelPrice::per_million_tokens(3.0, 15.0)
///     .with_cached_input(0.30)
///     .with_cache_write(3.75);
/// assert_eq!(sonnet.cache_write(), 3.75);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelPrice {
    input: f64,
    output: f64,
    cached_input: Option<f64>,
    cache_write: Option<f64>,
}

impl ModelPrice {
    /// `input` and `output` US dollars per million tokens sent and
    /// generated.
    pub fn per_million_tokens(input: f64, output: f64) -> Self {
        Self {
            input,
            output,
            cached_input: None,
            cache_write: None,
        }
    }

    /// Sets the price of input read from the provider's prompt cache.
    #[must_use]
    pub fn with_cached_input(mut self, usd: f64) -> Self {
        self.cached_input = Some(usd);
        self
    }

    /// Sets the price of input written to the provider's prompt cache
    /// ([`Usage::cache_creation_tokens`]).
    #[must_use]
    pub fn with_cache_write(mut self, usd: f64) -> Self {
        self.cache_write = Some(usd);
        self
    }

    /// US dollars per million input tokens.
    pub fn input(&self) -> f64 {
        self.input
    }

    /// US dollars per million output tokens.
    pub fn output(&self) -> f64 {
        self.output
    }

    /// US dollars per million input tokens read from a prompt cache.
    pub fn cached_input(&self) -> f64 {
        self.cached_input.unwrap_or(self.input)
    }

    /// US dollars per million input tokens written to a prompt cache.
    pub fn cache_write(&self) -> f64 {
        self.cache_write.unwrap_or(self.input)
    }

    /// What `usage` costs, in millionths of a US dollar, rounded up: its
    /// input read from the cache, written to it and neither, each at its
    /// price (within the input it reports).
    pub(crate) fn cost_micros(&self, usage: &Usage) -> u64 {
        let read = usage.cached_input_tokens.min(usage.input_tokens);
        let written = usage.cache_creation_tokens.min(usage.input_tokens - read);
        let fresh = f64::from(usage.input_tokens - read - written);
        let (read, written) = (f64::from(read), f64::from(written));
        let output = f64::from(usage.output_tokens);
        micros(
            fresh * self.input
                + read * self.cached_input()
                + written * self.cache_write()
                + output * self.output,
        )
    }

    /// What `input` tokens sent and `output` generated cost at most, in
    /// millionths of a US dollar: the input at the dearer of its price
    /// and the cache write's.
    pub(crate) fn bound_micros(&self, input: u64, output: u64) -> u64 {
        let input_price = self.input.max(self.cache_write());
        micros(input as f64 * input_price + output as f64 * self.output)
    }

    /// How many output tokens `micros` buys (all of them when output is
    /// free).
    pub(crate) fn output_for(&self, micros: u64) -> u64 {
        if self.output <= 0.0 {
            return u64::MAX;
        }
        (micros as f64 / self.output).floor() as u64
    }

    fn validate(&self, model: &str) -> Result<(), ConfigError> {
        let prices = [
            ("input", self.input),
            ("output", self.output),
            ("cached input", self.cached_input()),
            ("cache write", self.cache_write()),
        ];
        match prices.iter().find(|(_, p)| !p.is_finite() || *p < 0.0) {
            Some((which, price)) => Err(ConfigError::invalid(
                "Prices::add_model",
                format!(
                    "the {which} price of `{model}` is {price}: give US dollars per million \
                     tokens, 0 or more"
                ),
            )),
            None => Ok(()),
        }
    }
}

/// A price in millionths of a dollar (a price per million tokens is the
/// price of one token in millionths), rounded up so a budget never counts
/// less than was spent.
fn micros(per_token_sum: f64) -> u64 {
    per_token_sum.ceil() as u64
}

/// The prices of the models a run may call, by name. A model is found by
/// its name, or else by the longest name given that its name begins with
/// followed by `-`, `:`, `@` or `/` (so `gpt-4o-mini` prices
/// `gpt-4o-mini-2024-07-18`, and `gpt-4` does not price `gpt-4o`).
///
/// ```
/// use klieo_runtime::{ModelPrice, Prices};
///
/// let prices = Prices::new()
///     .add_model("gpt-4", ModelPrice::per_million_tokens(30.0, 60.0))
///     .add_model("gpt-4o-mini", ModelPrice::per_million_tokens(0.15, 0.60));
/// assert_eq!(prices.price("gpt-4o-mini-2024-07-18").map(|p| p.input()), Some(0.15));
/// assert!(prices.price("gpt-4o").is_none(), "not a dated gpt-4");
/// assert!(prices.price("claude-sonnet").is_none());
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Prices {
    models: Arc<Vec<(String, ModelPrice)>>,
}

impl Prices {
    /// No prices.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the price of `model`.
    #[must_use]
    pub fn add_model(mut self, model: impl Into<String>, price: ModelPrice) -> Self {
        let model = model.into();
        let models = Arc::make_mut(&mut self.models);
        models.retain(|(name, _)| *name != model);
        models.push((model, price));
        self
    }

    /// The price of `model`: its own, or that of the longest name it
    /// begins with, up to a `-`, `:`, `@` or `/`.
    pub fn price(&self, model: &str) -> Option<&ModelPrice> {
        let names = |name: &str| match model.strip_prefix(name) {
            Some(rest) => rest.is_empty() || rest.starts_with(['-', ':', '@', '/']),
            None => false,
        };
        self.models
            .iter()
            .filter(|(name, _)| names(name))
            .max_by_key(|(name, _)| name.len())
            .map(|(_, price)| price)
    }

    /// The dearest input and output prices of `models` (each of any of
    /// them) as the table prices them: what a call that any of them may
    /// answer costs at most. `None` when none has a price.
    pub(crate) fn dearest_of(&self, models: &[String]) -> Option<ModelPrice> {
        let mut prices = models.iter().filter_map(|model| self.price(model));
        let first = *prices.next()?;
        Some(prices.fold(first, |most, p| ModelPrice {
            input: most.input.max(p.input),
            output: most.output.max(p.output),
            cached_input: Some(most.cached_input().max(p.cached_input())),
            cache_write: Some(most.cache_write().max(p.cache_write())),
        }))
    }

    /// `ConfigError::Invalid` for a price that is negative or not a
    /// number.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        self.models
            .iter()
            .try_for_each(|(model, price)| price.validate(model))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn usage_is_priced_per_million_with_cached_input_apart() {
        let price = ModelPrice::per_million_tokens(2.0, 8.0).with_cached_input(0.5);
        // 1,000 input (400 cached) and 100 output tokens:
        // 600 × 2 + 400 × 0.5 + 100 × 8 = 2,200 millionths.
        let usage = Usage::new(1_000, 100).with_cache(400, 0);
        assert_eq!(price.cost_micros(&usage), 2_200);
        assert_eq!(price.output_for(2_200), 275);
    }

    #[test]
    fn cache_writes_are_priced_at_their_own_rate_and_bound_a_call_at_it() {
        let price = ModelPrice::per_million_tokens(3.0, 15.0)
            .with_cached_input(0.3)
            .with_cache_write(3.75);
        // 1,000,000 input, all written to the cache: 3.75 dollars.
        let written = Usage::new(1_000_000, 0).with_cache(0, 1_000_000);
        assert_eq!(price.cost_micros(&written), 3_750_000);
        // 1,000 input (200 read, 300 written, 500 neither) and 10 output:
        // 200 × 0.3 + 300 × 3.75 + 500 × 3 + 10 × 15 = 2,835 millionths.
        let mixed = Usage::new(1_000, 10).with_cache(200, 300);
        assert_eq!(price.cost_micros(&mixed), 2_835);
        // A call is bound at the cache write's price, the dearer.
        assert_eq!(price.bound_micros(1_000, 0), 3_750);
        // Unset, a cache write costs the input price.
        let plain = ModelPrice::per_million_tokens(3.0, 15.0);
        assert_eq!(plain.cost_micros(&written), 3_000_000);
        let bad = Prices::new().add_model("m", plain.with_cache_write(f64::NAN));
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("cache write"));
    }

    #[test]
    fn a_negative_or_nan_price_is_refused_naming_the_model() {
        let bad = Prices::new().add_model("m", ModelPrice::per_million_tokens(-1.0, 1.0));
        let e = bad.validate().unwrap_err().to_string();
        assert!(e.contains("input price of `m` is -1"), "{e}");
        let nan = Prices::new().add_model("m", ModelPrice::per_million_tokens(1.0, f64::NAN));
        assert!(nan.validate().is_err());
    }
}
