//! The behaviour every shared [`RateLimiter`] must show, as checks a
//! store's tests call with two limiters over one fresh store (as two
//! processes see it), both of [`limits`];
//! [`rate_limiter_suite!`](crate::testing::rate::rate_limiter_suite) makes
//! one named test per scenario. The store's clock runs: waits are checked
//! within a range, never slept.

#![allow(clippy::panic, reason = "a failed check is a panic, like assert!")]

use crate::{RateLimit, RateLimits};
use klieo_types::RateLimiter;
use std::time::Duration;

/// The limits the scenarios expect: scope `rpm` 3 requests a minute,
/// scope `tpm` 1,000 tokens a minute, every other scope unlimited.
pub fn limits() -> RateLimits {
    RateLimits::new()
        .add_scope("rpm", RateLimit::new().with_requests_per_minute(3))
        .add_scope("tpm", RateLimit::new().with_tokens_per_minute(1_000))
}

async fn acquire(limiter: &dyn RateLimiter, scope: &str, tokens: u64) -> Option<Duration> {
    match limiter.acquire(scope, tokens).await {
        Ok(wait) => wait,
        Err(e) => panic!("acquire({scope}, {tokens}) failed: {e}"),
    }
}

fn within(wait: Option<Duration>, low: Duration, high: Duration, what: &str) {
    match wait {
        Some(wait) if wait > low && wait <= high => {}
        other => panic!("{what}: expected a wait in ({low:?}, {high:?}], got {other:?}"),
    }
}

/// The requests of a minute are shared by both limiters: the fourth call
/// waits for the first to come back (20 s at 3 a minute).
pub async fn requests_a_minute_are_shared(a: &dyn RateLimiter, b: &dyn RateLimiter) {
    assert_eq!(acquire(a, "rpm", 1).await, None);
    assert_eq!(acquire(b, "rpm", 1).await, None);
    assert_eq!(acquire(a, "rpm", 1).await, None);
    let wait = acquire(b, "rpm", 1).await;
    within(
        wait,
        Duration::from_secs(15),
        Duration::from_secs(20),
        "a fourth call",
    );
}

/// Tokens are counted: 600 then 600 of 1,000 a minute, the second waits
/// for the 200 it lacks (12 s).
pub async fn tokens_a_minute_are_counted(a: &dyn RateLimiter, b: &dyn RateLimiter) {
    assert_eq!(acquire(a, "tpm", 600).await, None);
    let wait = acquire(b, "tpm", 600).await;
    within(
        wait,
        Duration::from_secs(8),
        Duration::from_secs(12),
        "600 more tokens",
    );
    assert_eq!(acquire(b, "tpm", 300).await, None, "300 fit now");
}

/// A pause one limiter sets holds the other's calls back until it ends,
/// on a scope with no limits of its own; a shorter pause does not cut it.
pub async fn a_pause_holds_back_every_limiter(a: &dyn RateLimiter, b: &dyn RateLimiter) {
    if let Err(e) = a.pause("paused", Duration::from_secs(30)).await {
        panic!("pause failed: {e}");
    }
    if let Err(e) = b.pause("paused", Duration::from_secs(1)).await {
        panic!("pause failed: {e}");
    }
    let wait = acquire(b, "paused", 1).await;
    within(
        wait,
        Duration::from_secs(25),
        Duration::from_secs(30),
        "a paused scope",
    );
    assert_eq!(acquire(a, "open", 1).await, None, "other scopes go on");
}

/// Scopes are apart: one used up leaves the others as they were.
pub async fn scopes_are_apart(a: &dyn RateLimiter, b: &dyn RateLimiter) {
    for _ in 0..3 {
        assert_eq!(acquire(a, "rpm", 1).await, None);
    }
    assert!(acquire(b, "rpm", 1).await.is_some(), "rpm is used up");
    assert_eq!(acquire(b, "tpm", 1_000).await, None, "tpm is whole");
    assert_eq!(acquire(b, "unlimited", u64::MAX).await, None);
}

/// One test per scenario of this module, each on a fresh pair from
/// `$fresh` (an expression giving a tuple of two things that deref to a
/// `RateLimiter`, over one store, of [`limits`]), with the attributes
/// given after it.
///
/// ```ignore
/// mod rate {
///     klieo_store::testing::rate::rate_limiter_suite!({
///         let limiter = klieo_store::InMemoryRateLimiter::new(klieo_store::testing::rate::limits()).unwrap();
///         (Box::new(limiter.clone()), Box::new(limiter))
///     });
/// }
/// ```
#[doc(hidden)]
#[macro_export]
macro_rules! __klieo_store_rate_limiter_suite {
    ($fresh:expr $(, #[$attr:meta])* $(,)?) => {
        $crate::__klieo_store_rate_limiter_scenarios!([$(#[$attr])*] $fresh;
            requests_a_minute_are_shared,
            tokens_a_minute_are_counted,
            a_pause_holds_back_every_limiter,
            scopes_are_apart,
        );
    };
}

/// One test per named rate-limiter scenario.
#[doc(hidden)]
#[macro_export]
macro_rules! __klieo_store_rate_limiter_scenarios {
    (@one [$(#[$attr:meta])*] $fresh:expr; $scenario:ident) => {
        $(#[$attr])*
        #[tokio::test]
        async fn $scenario() {
            let (a, b) = $fresh;
            $crate::testing::rate::$scenario(&*a, &*b).await;
        }
    };
    ($attrs:tt $fresh:expr; $($scenario:ident),* $(,)?) => {
        $(
            $crate::__klieo_store_rate_limiter_scenarios!(@one $attrs $fresh; $scenario);
        )*
    };
}

#[doc(inline)]
pub use crate::__klieo_store_rate_limiter_suite as rate_limiter_suite;
