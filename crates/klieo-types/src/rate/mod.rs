//! Rate limits shared by every process that calls a provider: the trait
//! a shared limiter implements ([`RateLimiter`]) and what a call that
//! waited says of it ([`RateWait`]). The limits, the arithmetic and the
//! limiters themselves are the store kit's (`klieo_store::RateLimits`,
//! `RateBucket`, `InMemoryRateLimiter`) and the stores'.
//!
//! A scope names what a limit applies to, usually a provider's model
//! (`"openai/gpt-4o-mini"`). A server's own "slow down" (a 429, 503 or
//! 529 with `retry-after`) pauses the whole scope for every process
//! sharing the limiter.

use crate::error::MemoryError;
use async_trait::async_trait;
use std::time::Duration;

/// A limiter shared by the processes that call a provider: each call asks
/// it first, and a server's own "slow down" pauses the scope for all.
/// The in-memory one serves one process; a store's serves every process
/// that opens the store.
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Takes one request and `tokens` from `scope`'s allowance: `None`
    /// when the call may go now, else how long to wait before asking
    /// again (nothing is taken then).
    async fn acquire(&self, scope: &str, tokens: u64) -> Result<Option<Duration>, MemoryError>;

    /// Holds every call of `scope` back for `pause` from now (a server
    /// asked for it); a longer pause already set stays.
    async fn pause(&self, scope: &str, pause: Duration) -> Result<(), MemoryError>;
}

/// How long a call waited for a rate limit before it was sent (on a
/// reply's [`ReplyInfo`](crate::ReplyInfo)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateWait {
    /// The scope it waited on.
    pub scope: String,
    /// How long.
    pub waited: Duration,
}

impl RateWait {
    /// A wait of `waited` on `scope`.
    pub fn new(scope: impl Into<String>, waited: Duration) -> Self {
        Self {
            scope: scope.into(),
            waited,
        }
    }
}
