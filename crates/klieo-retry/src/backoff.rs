//! The backoff schedule: a pure iterator over a policy's retry delays.

use std::iter::FusedIterator;
use std::time::Duration;

use crate::jitter::{duration_from_nanos, Jitter, SplitMix64};
use crate::policy::RetryPolicy;

/// The delays a [`RetryPolicy`] waits before each retry, in order.
///
/// Yields exactly [`max_retries`](RetryPolicy::max_retries) delays, then
/// `None`. Delay `n` (from 0) is `d = min(max_delay, base_delay * factor^n)`
/// with [`Jitter`] then applied inside `[0, d]`, so no delay exceeds
/// `max_delay`. The arithmetic saturates: no policy makes it panic.
///
/// Nothing here sleeps; [`retry`](crate::retry) does that.
///
/// ```
/// use std::time::Duration;
/// use klieo_retry::{Backoff, RetryPolicy};
///
/// let delays: Vec<Duration> = Backoff::new(&RetryPolicy::default()).collect();
/// assert_eq!(
///     delays,
///     [100, 200, 400].map(Duration::from_millis),
/// );
/// ```
#[derive(Clone, Debug)]
pub struct Backoff {
    /// `base_delay * factor^n` in nanoseconds, uncapped; may reach +inf.
    next_nanos: f64,
    factor: f64,
    max_delay: Duration,
    jitter: Jitter,
    remaining: u32,
    rng: SplitMix64,
}

impl Backoff {
    /// The schedule of `policy`, with jitter drawn from its
    /// [`jitter_seed`](RetryPolicy::jitter_seed), or from a random seed
    /// when it has none.
    pub fn new(policy: &RetryPolicy) -> Self {
        let rng = match policy.jitter_seed() {
            Some(seed) => SplitMix64::new(seed),
            None => SplitMix64::from_entropy(),
        };
        Self::from_parts(policy, rng)
    }

    /// The schedule of `policy`, with jitter drawn from `seed` whatever the
    /// policy's own seed: equal seeds give equal sequences. For tests and
    /// reproducible runs; `Backoff::new(&policy.with_jitter_seed(Some(seed)))`
    /// is the same schedule.
    ///
    /// ```
    /// use klieo_retry::{Backoff, Jitter, RetryPolicy};
    ///
    /// let policy = RetryPolicy::new().with_jitter(Jitter::Full);
    /// assert!(Backoff::with_seed(&policy, 42).eq(Backoff::with_seed(&policy, 42)));
    /// ```
    pub fn with_seed(policy: &RetryPolicy, seed: u64) -> Self {
        Self::from_parts(policy, SplitMix64::new(seed))
    }

    fn from_parts(policy: &RetryPolicy, rng: SplitMix64) -> Self {
        Self {
            next_nanos: policy.base_delay().as_nanos() as f64,
            factor: policy.factor(),
            max_delay: policy.max_delay(),
            jitter: policy.jitter(),
            remaining: policy.max_retries(),
            rng,
        }
    }

    /// The current uncapped delay, capped at `max_delay`.
    fn capped(&self) -> Duration {
        // `next_nanos` is finite and non-negative or +inf (the factor is
        // finite and >= 1), so this comparison also catches overflow.
        if self.next_nanos >= self.max_delay.as_nanos() as f64 {
            self.max_delay
        } else {
            duration_from_nanos(self.next_nanos.round() as u128).min(self.max_delay)
        }
    }
}

impl Iterator for Backoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        self.remaining = self.remaining.checked_sub(1)?;
        let delay = self.capped();
        self.next_nanos *= self.factor;
        Some(self.jitter.apply(delay, &mut self.rng))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = usize::try_from(self.remaining).unwrap_or(usize::MAX);
        (n, Some(n))
    }
}

impl ExactSizeIterator for Backoff {}

impl FusedIterator for Backoff {}
