//! The retry policy: how many retries, how far apart, and when to give up.

use std::time::Duration;

use crate::jitter::Jitter;

/// How often and how far apart [`retry`](crate::retry) tries again.
///
/// The delay before retry `n` (counting from 0) is
/// `min(max_delay, base_delay * factor^n)`, then [`Jitter`] picks a
/// delay inside `[0, d]` or `[d/2, d]`, so no computed delay ever exceeds
/// `max_delay`. [`Backoff`](crate::Backoff) yields these delays.
///
/// # Default
///
/// - `max_retries`: 3 (so at most 4 attempts)
/// - `base_delay`: 100 ms
/// - `factor`: 2.0
/// - `max_delay`: 30 s
/// - `jitter`: [`Jitter::None`]
/// - `jitter_seed`: `None` (each schedule is seeded from the standard
///   library's `RandomState`)
/// - `max_server_delay`: 60 s
/// - `total_budget`: `None` (no limit)
///
/// The default schedule is therefore exactly 100 ms, 200 ms, 400 ms:
/// 700 ms of waiting in all, so a transient failure recovers within a
/// second.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use klieo_retry::{Jitter, RetryPolicy};
///
/// let policy = RetryPolicy::new()
///     .with_max_retries(5)
///     .with_base_delay(Duration::from_millis(250))
///     .with_factor(1.5)?
///     .with_max_delay(Duration::from_secs(5))
///     .with_jitter(Jitter::Equal)
///     .with_total_budget(Some(Duration::from_secs(20)));
/// assert_eq!(policy.max_retries(), 5);
/// assert_eq!(policy.factor(), 1.5);
/// # Ok::<(), klieo_retry::PolicyError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    max_retries: u32,
    base_delay: Duration,
    factor: f64,
    max_delay: Duration,
    jitter: Jitter,
    jitter_seed: Option<u64>,
    max_server_delay: Duration,
    total_budget: Option<Duration>,
}

/// An invalid [`RetryPolicy`] setting.
///
/// ```
/// use klieo_retry::{PolicyError, RetryPolicy};
///
/// let err = RetryPolicy::new().with_factor(0.5).unwrap_err();
/// assert_eq!(err, PolicyError::InvalidFactor { factor: 0.5 });
/// ```
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The growth factor was NaN, infinite, or below 1.0.
    #[error("backoff factor must be finite and at least 1.0, got {factor}")]
    InvalidFactor {
        /// The rejected factor.
        factor: f64,
    },
}

impl RetryPolicy {
    /// The default policy; see the "# Default" list on [`RetryPolicy`].
    ///
    /// ```
    /// use klieo_retry::RetryPolicy;
    ///
    /// assert_eq!(RetryPolicy::new(), RetryPolicy::default());
    /// ```
    pub const fn new() -> Self {
        Self {
            max_retries: 3,
            base_delay: Duration::from_millis(100),
            factor: 2.0,
            max_delay: Duration::from_secs(30),
            jitter: Jitter::None,
            jitter_seed: None,
            max_server_delay: Duration::from_secs(60),
            total_budget: None,
        }
    }

    /// A policy that never retries: one attempt, and its error is returned.
    ///
    /// ```
    /// use klieo_retry::RetryPolicy;
    ///
    /// assert_eq!(RetryPolicy::none().max_retries(), 0);
    /// ```
    pub const fn none() -> Self {
        Self::new().with_max_retries(0)
    }

    /// Sets how many retries follow the first attempt.
    ///
    /// ```
    /// use klieo_retry::RetryPolicy;
    ///
    /// assert_eq!(RetryPolicy::new().with_max_retries(7).max_retries(), 7);
    /// ```
    #[must_use]
    pub const fn with_max_retries(mut self, max_retries: u32) -> Self {
        self.max_retries = max_retries;
        self
    }

    /// Sets the delay before the first retry.
    ///
    /// ```
    /// use std::time::Duration;
    /// use klieo_retry::RetryPolicy;
    ///
    /// let policy = RetryPolicy::new().with_base_delay(Duration::from_secs(1));
    /// assert_eq!(policy.base_delay(), Duration::from_secs(1));
    /// ```
    #[must_use]
    pub const fn with_base_delay(mut self, base_delay: Duration) -> Self {
        self.base_delay = base_delay;
        self
    }

    /// Sets the growth factor between consecutive delays.
    ///
    /// # Errors
    ///
    /// [`PolicyError::InvalidFactor`] if `factor` is NaN, infinite or
    /// below 1.0 (a shrinking schedule is not a backoff).
    ///
    /// ```
    /// use klieo_retry::RetryPolicy;
    ///
    /// assert!(RetryPolicy::new().with_factor(1.0).is_ok());
    /// assert!(RetryPolicy::new().with_factor(f64::NAN).is_err());
    /// ```
    pub fn with_factor(mut self, factor: f64) -> Result<Self, PolicyError> {
        if !factor.is_finite() || factor < 1.0 {
            return Err(PolicyError::InvalidFactor { factor });
        }
        self.factor = factor;
        Ok(self)
    }

    /// Sets the cap on each computed delay, jitter included.
    ///
    /// ```
    /// use std::time::Duration;
    /// use klieo_retry::RetryPolicy;
    ///
    /// let policy = RetryPolicy::new().with_max_delay(Duration::from_secs(2));
    /// assert_eq!(policy.max_delay(), Duration::from_secs(2));
    /// ```
    #[must_use]
    pub const fn with_max_delay(mut self, max_delay: Duration) -> Self {
        self.max_delay = max_delay;
        self
    }

    /// Sets how each computed delay is randomised.
    ///
    /// ```
    /// use klieo_retry::{Jitter, RetryPolicy};
    ///
    /// let policy = RetryPolicy::new().with_jitter(Jitter::Full);
    /// assert_eq!(policy.jitter(), Jitter::Full);
    /// ```
    #[must_use]
    pub const fn with_jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// Sets the seed jitter is drawn from: with `Some(seed)`, every
    /// [`Backoff`](crate::Backoff) of this policy, and so every call of
    /// [`retry`](crate::retry) with it, waits the same sequence of delays,
    /// for tests and reproducible runs. With `None`, each schedule is
    /// seeded from the standard library's `RandomState`, so clients
    /// failing together spread apart. Without jitter the seed changes
    /// nothing.
    ///
    /// ```
    /// use klieo_retry::{Backoff, Jitter, RetryPolicy};
    ///
    /// let policy = RetryPolicy::new()
    ///     .with_jitter(Jitter::Full)
    ///     .with_jitter_seed(Some(42));
    /// assert_eq!(policy.jitter_seed(), Some(42));
    /// assert!(Backoff::new(&policy).eq(Backoff::new(&policy)));
    /// ```
    #[must_use]
    pub const fn with_jitter_seed(mut self, jitter_seed: Option<u64>) -> Self {
        self.jitter_seed = jitter_seed;
        self
    }

    /// Sets the longest server-suggested delay
    /// ([`RetryDecision::RetryAfter`](crate::RetryDecision::RetryAfter))
    /// that will be waited out. A longer suggestion ends the retries at
    /// once with the error that carried it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use klieo_retry::RetryPolicy;
    ///
    /// let policy = RetryPolicy::new().with_max_server_delay(Duration::from_secs(5));
    /// assert_eq!(policy.max_server_delay(), Duration::from_secs(5));
    /// ```
    #[must_use]
    pub const fn with_max_server_delay(mut self, max_server_delay: Duration) -> Self {
        self.max_server_delay = max_server_delay;
        self
    }

    /// Sets a limit on the whole call; `None` removes it. No retry is
    /// started whose delay would end past the budget (measured from the
    /// first attempt); attempts in flight are not interrupted.
    ///
    /// ```
    /// use std::time::Duration;
    /// use klieo_retry::RetryPolicy;
    ///
    /// let policy = RetryPolicy::new().with_total_budget(Some(Duration::from_secs(10)));
    /// assert_eq!(policy.total_budget(), Some(Duration::from_secs(10)));
    /// ```
    #[must_use]
    pub const fn with_total_budget(mut self, total_budget: Option<Duration>) -> Self {
        self.total_budget = total_budget;
        self
    }

    /// How many retries follow the first attempt.
    pub const fn max_retries(&self) -> u32 {
        self.max_retries
    }

    /// The delay before the first retry, before capping and jitter.
    pub const fn base_delay(&self) -> Duration {
        self.base_delay
    }

    /// The growth factor between consecutive delays (finite, at least 1.0).
    pub const fn factor(&self) -> f64 {
        self.factor
    }

    /// The cap on each computed delay, jitter included.
    pub const fn max_delay(&self) -> Duration {
        self.max_delay
    }

    /// How each computed delay is randomised.
    pub const fn jitter(&self) -> Jitter {
        self.jitter
    }

    /// The seed jitter is drawn from; `None` for a random one per schedule.
    pub const fn jitter_seed(&self) -> Option<u64> {
        self.jitter_seed
    }

    /// The longest server-suggested delay that will be waited out.
    pub const fn max_server_delay(&self) -> Duration {
        self.max_server_delay
    }

    /// The limit on the whole call, if any.
    pub const fn total_budget(&self) -> Option<Duration> {
        self.total_budget
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documented_list() {
        let p = RetryPolicy::default();
        assert_eq!(p.max_retries(), 3);
        assert_eq!(p.base_delay(), Duration::from_millis(100));
        assert_eq!(p.factor(), 2.0);
        assert_eq!(p.max_delay(), Duration::from_secs(30));
        assert_eq!(p.jitter(), Jitter::None);
        assert_eq!(p.jitter_seed(), None);
        assert_eq!(p.max_server_delay(), Duration::from_secs(60));
        assert_eq!(p.total_budget(), None);
    }

    #[test]
    fn factor_rejects_nan_infinite_and_shrinking() {
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.999, 0.0, -2.0] {
            let err = RetryPolicy::new().with_factor(bad);
            assert!(
                matches!(err, Err(PolicyError::InvalidFactor { factor }) if factor.to_bits() == bad.to_bits()),
                "{bad} should be rejected, got {err:?}"
            );
        }
        assert_eq!(
            RetryPolicy::new().with_factor(1e300).map(|p| p.factor()),
            Ok(1e300)
        );
    }
}
