//! [`KeyBudget`]: what the runs of one key (a tenant, a session, a user)
//! may spend together in a period, on every worker that shares the store.

use super::budget::{check_dollars, micros_of};
use klieo_types::{ConfigError, KeyLimits};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Limits on what all the runs of one key spend together in a period:
/// tokens, model calls and money, counted in the ledger of the run's
/// journal ([`Journal::ledger`](klieo_types::Journal::ledger)), which
/// every worker on the store shares. Set on a run's [`Budget`] with
/// [`Budget::with_key`]; every run that names the key should give it
/// the same limits.
///
/// Before each model call the run reserves, in the ledger, the most the
/// call may spend (its input's bound and the `max_tokens` the key's
/// allowance leaves, which lowers the request's); the reservation is
/// refused when the key's settled spend, its other runs' live
/// reservations and this call would pass a limit, and the run ends with
/// [`Error::KeyBudgetExceeded`]. The journal commit that records the
/// call settles its spend in the same transaction, so what the ledger
/// says a key spent is what its runs' journals hold, whatever process
/// dies when. A call whose worker dies before the commit holds its
/// reservation until it lapses ([`reservation_ttl`](Self::reservation_ttl)).
/// A blocking call, or a stream not yet begun, still running then is cut
/// off, since its spend is no longer held; a commit that would settle
/// spend against a lapsed reservation (a streamed reply read for longer)
/// is refused with `MemoryError::Conflict`, and the run stops, to be
/// resumed.
///
/// Money is counted at the [`Budget`]'s [`Prices`](crate::Prices)
/// ([`Budget::with_prices`]), as the run's own cost limit is.
///
/// # Default
/// - `period`: none, the key's runs are counted over all time
/// - `reservation_ttl`: 15 minutes (at least 1 ms, at most a day)
///
/// ```
/// use klieo_runtime::{Budget, KeyBudget, RunOptions};
/// use std::time::Duration;
///
/// let tenant = KeyBudget::new("tenant-42")
///     .with_total_tokens(2_000_000)
///     .with_period(Duration::from_secs(24 * 3600));
/// let opts = RunOptions::default().with_budget(Budget::new().with_key(tenant));
/// assert!(opts.validate().is_ok());
/// let none = RunOptions::default().with_budget(Budget::new().with_key(KeyBudget::new("")));
/// assert!(none.validate().is_err());
/// ```
///
/// [`Budget`]: crate::Budget
/// [`Budget::with_key`]: crate::Budget::with_key
/// [`Budget::with_prices`]: crate::Budget::with_prices
/// [`Error::KeyBudgetExceeded`]: klieo_types::Error::KeyBudgetExceeded
#[derive(Debug, Clone, PartialEq)]
pub struct KeyBudget {
    key: String,
    total_tokens: Option<u64>,
    model_calls: Option<u64>,
    cost_usd: Option<f64>,
    period: Option<Duration>,
    reservation_ttl: Duration,
}

/// The default [`KeyBudget::reservation_ttl`].
const DEFAULT_RESERVATION_TTL: Duration = Duration::from_secs(15 * 60);

/// The longest [`KeyBudget::reservation_ttl`]: a day.
const MAX_RESERVATION_TTL: Duration = Duration::from_secs(24 * 3600);

impl KeyBudget {
    /// No limits yet on the runs of `key`.
    pub fn new(key: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            total_tokens: None,
            model_calls: None,
            cost_usd: None,
            period: None,
            reservation_ttl: DEFAULT_RESERVATION_TTL,
        }
    }

    /// The key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Sets [`total_tokens`](Self::total_tokens).
    pub fn with_total_tokens(mut self, max: u64) -> Self {
        self.total_tokens = Some(max);
        self
    }

    /// Input and output tokens of the key's model calls in a period.
    pub fn total_tokens(&self) -> Option<u64> {
        self.total_tokens
    }

    /// Sets [`model_calls`](Self::model_calls).
    pub fn with_model_calls(mut self, max: u64) -> Self {
        self.model_calls = Some(max);
        self
    }

    /// Model calls of the key's runs in a period.
    pub fn model_calls(&self) -> Option<u64> {
        self.model_calls
    }

    /// Sets [`cost_usd`](Self::cost_usd).
    pub fn with_cost_usd(mut self, max: f64) -> Self {
        self.cost_usd = Some(max);
        self
    }

    /// US dollars the key's model calls may cost in a period.
    pub fn cost_usd(&self) -> Option<f64> {
        self.cost_usd
    }

    /// Sets [`period`](Self::period).
    pub fn with_period(mut self, period: Duration) -> Self {
        self.period = Some(period);
        self
    }

    /// The length of the periods the key is counted in, from the Unix
    /// epoch (a day's start at midnight UTC); `None` counts all time.
    pub fn period(&self) -> Option<Duration> {
        self.period
    }

    /// Sets [`reservation_ttl`](Self::reservation_ttl).
    pub fn with_reservation_ttl(mut self, ttl: Duration) -> Self {
        self.reservation_ttl = ttl;
        self
    }

    /// How long a call's reservation holds the key's allowance: a call
    /// still running then is cut off.
    pub fn reservation_ttl(&self) -> Duration {
        self.reservation_ttl
    }

    /// The limits, as the ledger counts them.
    pub(crate) fn limits(&self) -> KeyLimits {
        let mut limits = KeyLimits::new();
        if let Some(max) = self.total_tokens {
            limits = limits.with_tokens(max);
        }
        if let Some(max) = self.model_calls {
            limits = limits.with_model_calls(max);
        }
        if let Some(max) = self.cost_micros() {
            limits = limits.with_cost_micros(max);
        }
        limits
    }

    /// The cost limit in millionths of a dollar.
    pub(crate) fn cost_micros(&self) -> Option<u64> {
        self.cost_usd.map(micros_of)
    }

    /// The start of the period `now` falls in, in seconds since the Unix
    /// epoch (0 when the key is counted over all time).
    pub(crate) fn period_at(&self, now: SystemTime) -> u64 {
        let Some(length) = self.period.map(|p| p.as_secs().max(1)) else {
            return 0;
        };
        let seconds = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        seconds - seconds % length
    }

    /// `ConfigError::Invalid` for an empty key, a limit of 0, a cost that
    /// is not a positive number, a period under a second or a
    /// reservation that holds for no time.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.key.is_empty() {
            return Err(ConfigError::invalid(
                "KeyBudget::key",
                "an empty key names no one: give the tenant's, session's or user's id",
            ));
        }
        if let Some(usd) = self.cost_usd {
            check_dollars("KeyBudget::cost_usd", usd)?;
        }
        if self.period.is_some_and(|p| p.as_secs() == 0) {
            return Err(ConfigError::invalid(
                "KeyBudget::period",
                "a period under a second cannot be counted: give whole seconds, or leave it \
                 unset to count all time",
            ));
        }
        if self.reservation_ttl < super::budget::COUNTED_IN {
            return Err(ConfigError::invalid(
                "KeyBudget::reservation_ttl",
                format!(
                    "{:?} is under the millisecond stores count reservations in, so the \
                     reservation would lapse as it is made and cover no call: give the \
                     longest a model call may take",
                    self.reservation_ttl
                ),
            ));
        }
        if self.reservation_ttl > MAX_RESERVATION_TTL {
            return Err(ConfigError::invalid(
                "KeyBudget::reservation_ttl",
                format!(
                    "{:?} would hold a dead worker's reservation for longer than a day: give \
                     at most 24 hours",
                    self.reservation_ttl
                ),
            ));
        }
        let limits = [
            ("total_tokens", self.total_tokens),
            ("model_calls", self.model_calls),
        ];
        match limits.into_iter().find(|(_, max)| *max == Some(0)) {
            Some((name, _)) => Err(ConfigError::invalid(
                format!("KeyBudget::{name}"),
                "a limit of 0 would let the key's runs do nothing: leave it unset for no limit",
            )),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn periods_start_at_whole_multiples_of_their_length_from_the_epoch() {
        let day = KeyBudget::new("k").with_period(Duration::from_secs(86_400));
        let noon = UNIX_EPOCH + Duration::from_secs(3 * 86_400 + 43_200);
        assert_eq!(day.period_at(noon), 3 * 86_400);
        assert_eq!(KeyBudget::new("k").period_at(noon), 0, "all time");
    }

    #[test]
    fn bad_limits_are_refused_naming_the_setting() {
        let cases = [
            (
                KeyBudget::new("k").with_total_tokens(0),
                "KeyBudget::total_tokens",
            ),
            (
                KeyBudget::new("k").with_model_calls(0),
                "KeyBudget::model_calls",
            ),
            (
                KeyBudget::new("k").with_cost_usd(-1.0),
                "KeyBudget::cost_usd",
            ),
            (
                KeyBudget::new("k").with_cost_usd(f64::NAN),
                "KeyBudget::cost_usd",
            ),
            (
                KeyBudget::new("k").with_period(Duration::from_millis(500)),
                "KeyBudget::period",
            ),
            (
                KeyBudget::new("k").with_reservation_ttl(Duration::ZERO),
                "KeyBudget::reservation_ttl",
            ),
            (
                KeyBudget::new("k").with_reservation_ttl(Duration::from_micros(500)),
                "KeyBudget::reservation_ttl",
            ),
            (KeyBudget::new(""), "KeyBudget::key"),
            (
                KeyBudget::new("k").with_reservation_ttl(Duration::MAX),
                "KeyBudget::reservation_ttl",
            ),
            (
                KeyBudget::new("k").with_cost_usd(1e-9),
                "KeyBudget::cost_usd",
            ),
        ];
        for (budget, setting) in cases {
            let error = budget.validate().unwrap_err();
            assert!(error.to_string().contains(setting), "{error}");
        }
        assert!(KeyBudget::new("k").with_cost_usd(0.5).validate().is_ok());
    }
}
