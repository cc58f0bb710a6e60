//! [`RetryHint`]: what a server (or klieo's own rate limit) said about
//! trying a failed call again.

use std::fmt;
use std::time::Duration;

/// What a server said about trying a failed call again: a delay
/// (`retry-after-ms`, `retry-after`) and an explicit verdict
/// (`x-should-retry`). Both are optional; the default says nothing. A
/// delay klieo's own shared rate limit gave is marked
/// [`from_limiter`](Self::from_limiter).
///
/// The verdict overrides the one the error's kind implies (see
/// [`LlmError::retryable`](crate::LlmError::retryable)); the delay is honoured by the runtime's retry
/// driver, under its ceiling on server delays.
///
/// ```
/// use klieo_types::RetryHint;
/// use std::time::Duration;
///
/// let hint = RetryHint::new().with_retry_after(Some(Duration::from_secs(2)));
/// assert_eq!(hint.retry_after, Some(Duration::from_secs(2)));
/// assert_eq!(hint.should_retry, None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub struct RetryHint {
    /// How long the server (or the rate limit, see `from_limiter`) asked
    /// to wait before the next attempt.
    pub retry_after: Option<Duration>,
    /// The server's own verdict on retrying, when it gave one.
    pub should_retry: Option<bool>,
    /// The delay is klieo's own shared rate limit's (a `RateLimited`
    /// client's, whose scope lets no call through for that long), not a
    /// server's: a `RateLimited` around it pauses no scope for it.
    pub from_limiter: bool,
}

impl RetryHint {
    /// A hint that says nothing.
    pub const fn new() -> Self {
        Self {
            retry_after: None,
            should_retry: None,
            from_limiter: false,
        }
    }

    /// The delay the server asked for.
    #[must_use]
    pub const fn with_retry_after(mut self, retry_after: Option<Duration>) -> Self {
        self.retry_after = retry_after;
        self
    }

    /// The server's verdict on retrying.
    #[must_use]
    pub const fn with_should_retry(mut self, should_retry: Option<bool>) -> Self {
        self.should_retry = should_retry;
        self
    }

    /// Whether the delay is klieo's own rate limit's, not a server's
    /// (see [`from_limiter`](Self::from_limiter)).
    #[must_use]
    pub const fn with_from_limiter(mut self, from_limiter: bool) -> Self {
        self.from_limiter = from_limiter;
        self
    }
}

/// `; the server asks to wait N ms` and `; the server says (not) to retry`,
/// or nothing, as the tail of an error's text.
impl fmt::Display for RetryHint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.retry_after, self.from_limiter) {
            (Some(d), false) => write!(f, "; the server asks to wait {} ms", d.as_millis())?,
            (Some(d), true) => write!(
                f,
                "; the rate limit lets a call through in {} ms",
                d.as_millis()
            )?,
            (None, _) => {}
        }
        match self.should_retry {
            Some(true) => f.write_str("; the server says to retry"),
            Some(false) => f.write_str("; the server says not to retry"),
            None => Ok(()),
        }
    }
}
