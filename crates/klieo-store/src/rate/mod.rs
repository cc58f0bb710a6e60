//! Rate limits kept by a store: the limits of each scope ([`RateLimit`],
//! [`RateLimits`]), the state a store keeps of a scope ([`RateBucket`],
//! the one place the arithmetic lives) and the limiter of one process
//! ([`InMemoryRateLimiter`]); a database store's limiter shares the
//! bucket through its tables.
//!
//! Each scope is a pair of token buckets, one of requests and one of
//! tokens, each holding a minute's allowance and refilled evenly over the
//! minute; a call takes one request and its estimated tokens, or is told
//! how long to wait.

mod bucket;
mod memory;

pub use bucket::RateBucket;
pub use memory::InMemoryRateLimiter;

use klieo_types::ConfigError;
use std::collections::HashMap;

/// Per-minute limits of one scope. Unset limits do not apply.
///
/// ```
/// use klieo_store::RateLimit;
///
/// let tier = RateLimit::new().with_requests_per_minute(500).with_tokens_per_minute(200_000);
/// assert_eq!(tier.requests_per_minute(), Some(500));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimit {
    requests_per_minute: Option<u32>,
    tokens_per_minute: Option<u64>,
}

impl RateLimit {
    /// No limits (a scope that only a server's pause holds back).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`requests_per_minute`](Self::requests_per_minute).
    #[must_use]
    pub fn with_requests_per_minute(mut self, max: u32) -> Self {
        self.requests_per_minute = Some(max);
        self
    }

    /// Model calls a minute.
    pub fn requests_per_minute(&self) -> Option<u32> {
        self.requests_per_minute
    }

    /// Sets [`tokens_per_minute`](Self::tokens_per_minute).
    #[must_use]
    pub fn with_tokens_per_minute(mut self, max: u64) -> Self {
        self.tokens_per_minute = Some(max);
        self
    }

    /// Tokens a minute, counted as each call's estimated input and its
    /// `max_tokens`.
    pub fn tokens_per_minute(&self) -> Option<u64> {
        self.tokens_per_minute
    }
}

/// The limits of each scope a limiter keeps.
///
/// # Default
/// - no limits for any scope: only a server's pause holds calls back
///
/// ```
/// use klieo_store::{RateLimit, RateLimits};
///
/// let limits = RateLimits::new()
///     .add_scope("openai/gpt-4o-mini", RateLimit::new().with_requests_per_minute(500))
///     .with_default(RateLimit::new().with_requests_per_minute(60));
/// assert!(limits.validate().is_ok());
/// assert_eq!(limits.limit("local/smollm2").requests_per_minute(), Some(60));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateLimits {
    scopes: HashMap<String, RateLimit>,
    default: RateLimit,
}

impl RateLimits {
    /// No limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the limit of `scope`.
    #[must_use]
    pub fn add_scope(mut self, scope: impl Into<String>, limit: RateLimit) -> Self {
        self.scopes.insert(scope.into(), limit);
        self
    }

    /// Sets the limit of every scope not added.
    #[must_use]
    pub fn with_default(mut self, limit: RateLimit) -> Self {
        self.default = limit;
        self
    }

    /// The limit of `scope`.
    pub fn limit(&self, scope: &str) -> RateLimit {
        self.scopes.get(scope).copied().unwrap_or(self.default)
    }

    /// `ConfigError::Invalid` for a limit of 0, which would hold every
    /// call back for ever (leave it unset for no limit).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let all = self
            .scopes
            .iter()
            .map(|(s, l)| (s.as_str(), l))
            .chain([("the default", &self.default)]);
        for (scope, limit) in all {
            let zero = limit.requests_per_minute == Some(0) || limit.tokens_per_minute == Some(0);
            if zero {
                return Err(ConfigError::invalid(
                    "RateLimits",
                    format!(
                        "the limit of {scope} is 0 a minute, which lets no call through: leave \
                         it unset for no limit"
                    ),
                ));
            }
        }
        Ok(())
    }
}
