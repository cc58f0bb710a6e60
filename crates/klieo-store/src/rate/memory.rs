//! [`InMemoryRateLimiter`]: a [`RateLimiter`] for the calls of one
//! process, on tokio's clock (so a test with paused time drives it).

use super::{RateBucket, RateLimits};
use klieo_types::{async_trait, ConfigError, MemoryError, RateLimiter};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

/// Rate limits kept in memory, shared by the clones of one limiter: one
/// process's calls. For a fleet, use a store's limiter, which every
/// process opening the store shares.
///
/// ```
/// use klieo_store::InMemoryRateLimiter;
/// use klieo_store::{RateLimit, RateLimits};
/// use klieo_types::RateLimiter;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build()?.block_on(async {
/// let limits = RateLimits::new().add_scope("openai/gpt-4o", RateLimit::new().with_requests_per_minute(1));
/// let limiter = InMemoryRateLimiter::new(limits)?;
/// assert_eq!(limiter.acquire("openai/gpt-4o", 10).await?, None);
/// assert!(limiter.acquire("openai/gpt-4o", 10).await?.is_some(), "the next waits");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct InMemoryRateLimiter {
    inner: Arc<Inner>,
}

struct Inner {
    limits: RateLimits,
    epoch: Instant,
    buckets: Mutex<HashMap<String, RateBucket>>,
}

impl std::fmt::Debug for InMemoryRateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InMemoryRateLimiter")
            .field("limits", &self.inner.limits)
            .finish_non_exhaustive()
    }
}

impl InMemoryRateLimiter {
    /// A limiter of `limits`.
    ///
    /// # Errors
    /// [`ConfigError`] for a limit of 0 a minute.
    pub fn new(limits: RateLimits) -> Result<Self, ConfigError> {
        limits.validate()?;
        Ok(Self {
            inner: Arc::new(Inner {
                limits,
                epoch: Instant::now(),
                buckets: Mutex::new(HashMap::new()),
            }),
        })
    }

    fn now_ms(&self) -> i64 {
        i64::try_from(self.inner.epoch.elapsed().as_millis()).unwrap_or(i64::MAX)
    }

    fn with_bucket<T>(&self, scope: &str, f: impl FnOnce(&mut RateBucket, i64) -> T) -> T {
        let now = self.now_ms();
        let limit = self.inner.limits.limit(scope);
        let mut buckets = self
            .inner
            .buckets
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let bucket = buckets
            .entry(scope.to_owned())
            .or_insert_with(|| RateBucket::full(&limit, now));
        f(bucket, now)
    }
}

#[async_trait]
impl RateLimiter for InMemoryRateLimiter {
    async fn acquire(&self, scope: &str, tokens: u64) -> Result<Option<Duration>, MemoryError> {
        let limit = self.inner.limits.limit(scope);
        Ok(self.with_bucket(scope, |bucket, now| bucket.take(&limit, now, tokens)))
    }

    async fn pause(&self, scope: &str, pause: Duration) -> Result<(), MemoryError> {
        self.with_bucket(scope, |bucket, now| bucket.pause(now, pause));
        Ok(())
    }
}
