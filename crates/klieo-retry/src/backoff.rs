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
/// Nothing here sleeps; [`retry_with_backoff`](crate::retry_with_backoff)
/// does that.
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
    /// The schedule of `policy`, with jitter drawn from a per-process
    /// random seed.
    pub fn new(policy: &RetryPolicy) -> Self {
        Self::from_parts(policy, SplitMix64::from_entropy())
    }

    /// The schedule of `policy`, with jitter drawn from `seed`: equal seeds
    /// give equal sequences. For tests and reproducible runs.
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn ms(list: &[u64]) -> Vec<Duration> {
        list.iter().copied().map(Duration::from_millis).collect()
    }

    #[test]
    fn default_schedule_is_100_200_400_ms() {
        let mut b = Backoff::new(&RetryPolicy::default());
        assert_eq!(b.len(), 3);
        assert_eq!(b.by_ref().collect::<Vec<_>>(), ms(&[100, 200, 400]));
        assert_eq!(b.next(), None);
        assert_eq!(b.next(), None);
    }

    #[test]
    fn cap_applies_to_every_later_delay() {
        let p = RetryPolicy::new()
            .with_max_retries(6)
            .with_max_delay(Duration::from_millis(500));
        let got: Vec<_> = Backoff::new(&p).collect();
        assert_eq!(got, ms(&[100, 200, 400, 500, 500, 500]));
    }

    #[test]
    fn base_above_cap_is_capped() {
        let p = RetryPolicy::new()
            .with_base_delay(Duration::from_secs(10))
            .with_max_delay(Duration::from_secs(1));
        assert_eq!(Backoff::new(&p).collect::<Vec<_>>(), ms(&[1000; 3]));
    }

    #[test]
    fn factor_one_is_constant_and_fractional_factor_grows() {
        let p = RetryPolicy::new()
            .with_max_retries(4)
            .with_factor(1.0)
            .unwrap();
        assert_eq!(Backoff::new(&p).collect::<Vec<_>>(), ms(&[100; 4]));
        let p = p.with_factor(1.5).unwrap();
        let micros = [100_000, 150_000, 225_000, 337_500].map(Duration::from_micros);
        assert_eq!(Backoff::new(&p).collect::<Vec<_>>(), micros);
    }

    #[test]
    fn zero_retries_yields_nothing() {
        let mut b = Backoff::new(&RetryPolicy::none());
        assert_eq!(b.len(), 0);
        assert_eq!(b.next(), None);
    }

    #[test]
    fn huge_inputs_saturate_without_panicking() {
        let p = RetryPolicy::new()
            .with_max_retries(u32::MAX)
            .with_base_delay(Duration::MAX)
            .with_factor(f64::MAX)
            .unwrap()
            .with_max_delay(Duration::MAX)
            .with_jitter(Jitter::Full);
        let mut b = Backoff::with_seed(&p, 1);
        assert_eq!(b.len(), u32::MAX as usize);
        for d in b.by_ref().take(2_000) {
            assert!(d <= Duration::MAX);
        }
        let p = p
            .with_jitter(Jitter::None)
            .with_base_delay(Duration::from_nanos(1));
        let last = Backoff::new(&p).take(2_000).last().unwrap();
        assert_eq!(last, Duration::MAX);
        let zero = p.with_base_delay(Duration::ZERO);
        assert!(Backoff::new(&zero).take(100).all(|d| d == Duration::ZERO));
    }

    #[test]
    fn full_jitter_stays_within_zero_and_the_delay() {
        let p = RetryPolicy::new()
            .with_max_retries(8)
            .with_max_delay(Duration::from_secs(3))
            .with_jitter(Jitter::Full);
        let plain: Vec<_> = Backoff::new(&p.clone().with_jitter(Jitter::None)).collect();
        for seed in 0..500 {
            for (got, cap) in Backoff::with_seed(&p, seed).zip(&plain) {
                assert!(got <= *cap, "seed {seed}: {got:?} > {cap:?}");
            }
        }
    }

    #[test]
    fn equal_jitter_stays_within_half_and_the_delay() {
        let p = RetryPolicy::new()
            .with_max_retries(8)
            .with_max_delay(Duration::from_secs(3))
            .with_jitter(Jitter::Equal);
        let plain: Vec<_> = Backoff::new(&p.clone().with_jitter(Jitter::None)).collect();
        for seed in 0..500 {
            for (got, cap) in Backoff::with_seed(&p, seed).zip(&plain) {
                assert!(
                    got >= *cap / 2 && got <= *cap,
                    "seed {seed}: {got:?} vs {cap:?}"
                );
            }
        }
    }

    #[test]
    fn jitter_actually_varies_and_seeds_reproduce() {
        let p = RetryPolicy::new().with_jitter(Jitter::Full);
        let a: Vec<_> = Backoff::with_seed(&p, 1).collect();
        assert_eq!(a, Backoff::with_seed(&p, 1).collect::<Vec<_>>());
        assert_ne!(a, Backoff::with_seed(&p, 2).collect::<Vec<_>>());
        assert_ne!(a, ms(&[100, 200, 400]));
    }
}
