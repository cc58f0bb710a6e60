//! Jitter modes, and the small SplitMix64 generator that draws them.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// How a computed delay `d` is randomised, so that many clients failing
/// together do not retry together.
///
/// Jitter only ever shortens a delay: the result stays inside `[0, d]`,
/// and `d` is already capped by
/// [`RetryPolicy::max_delay`](crate::RetryPolicy::max_delay).
///
/// ```
/// use std::time::Duration;
/// use klieo_retry::{Backoff, Jitter, RetryPolicy};
///
/// let policy = RetryPolicy::new()
///     .with_jitter(Jitter::Equal)
///     .with_jitter_seed(Some(7));
/// for d in Backoff::new(&policy) {
///     assert!(d >= Duration::from_millis(50) && d <= Duration::from_millis(400));
/// }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Jitter {
    /// Use `d` exactly.
    #[default]
    None,
    /// Pick uniformly from `[0, d]` ("full jitter").
    Full,
    /// Pick uniformly from `[d/2, d]` ("equal jitter"): half the delay is
    /// kept, the other half is random.
    Equal,
}

impl Jitter {
    /// Applies this jitter to `d`, drawing from `rng` only when needed.
    pub(crate) fn apply(self, d: Duration, rng: &mut SplitMix64) -> Duration {
        match self {
            Self::None => d,
            Self::Full => fraction_of(d, rng.next_u64()),
            Self::Equal => {
                let half = d / 2;
                half.saturating_add(fraction_of(d.saturating_sub(half), rng.next_u64()))
            }
        }
    }
}

/// `d * r / 2^64`: a point of `[0, d)` chosen by `r`, and 0 when `d` is 0.
fn fraction_of(d: Duration, r: u64) -> Duration {
    let nanos = d.as_nanos();
    let scaled = match u64::try_from(nanos) {
        // Exact: both factors are below 2^64, so the product fits in u128.
        Ok(n) => (u128::from(n) * u128::from(r)) >> 64,
        // Beyond ~584 years: f64 precision is plenty; clamp to stay in range.
        Err(_) => {
            let unit = (r >> 11) as f64 / (1u64 << 53) as f64;
            ((nanos as f64 * unit) as u128).min(nanos)
        }
    };
    duration_from_nanos(scaled)
}

/// Builds a [`Duration`] from nanoseconds, saturating at [`Duration::MAX`].
pub(crate) fn duration_from_nanos(nanos: u128) -> Duration {
    const NANOS_PER_SEC: u128 = 1_000_000_000;
    match u64::try_from(nanos / NANOS_PER_SEC) {
        // The remainder is below 10^9, so it fits in u32 and cannot carry.
        Ok(secs) => Duration::new(secs, (nanos % NANOS_PER_SEC) as u32),
        Err(_) => Duration::MAX,
    }
}

/// SplitMix64 (Steele, Lea and Flood): tiny, fast, and good enough to
/// spread retries apart. Not for anything that needs unpredictability.
#[derive(Clone, Debug)]
pub(crate) struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator whose sequence is fixed by `seed`.
    pub(crate) const fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// A generator seeded from the standard library's per-process random
    /// hashing keys.
    pub(crate) fn from_entropy() -> Self {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(0x6b6c_6965_6f00_0000); // any fixed input will do
        Self::new(hasher.finish())
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_matches_reference_output() {
        // First outputs of the reference C implementation seeded with 0.
        let mut rng = SplitMix64::new(0);
        assert_eq!(rng.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(rng.next_u64(), 0x6e78_9e6a_a1b9_65f4);
    }

    #[test]
    fn fraction_stays_in_range_at_the_extremes() {
        for d in [Duration::ZERO, Duration::from_nanos(1), Duration::MAX] {
            for r in [0, 1, u64::MAX / 2, u64::MAX] {
                assert!(fraction_of(d, r) <= d);
            }
        }
        assert_eq!(
            fraction_of(Duration::from_secs(2), u64::MAX / 2 + 1),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn duration_from_nanos_saturates() {
        assert_eq!(
            duration_from_nanos(1_500_000_000),
            Duration::from_millis(1500)
        );
        assert_eq!(duration_from_nanos(u128::MAX), Duration::MAX);
        assert_eq!(duration_from_nanos(Duration::MAX.as_nanos()), Duration::MAX);
    }
}
