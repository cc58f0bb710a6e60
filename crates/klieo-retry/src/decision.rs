//! What a classifier says about one failed attempt.

use std::time::Duration;

/// A classifier's verdict on an error from one attempt.
///
/// The classifier is the only place that knows the error type, so it is
/// where a server's `Retry-After` (or a provider's "retry in N seconds")
/// is read and handed back as [`RetryAfter`](Self::RetryAfter).
///
/// ```
/// use std::time::Duration;
/// use klieo_retry::RetryDecision;
///
/// enum HttpError { Status(u16), RateLimited { retry_after_secs: u64 } }
///
/// fn classify(e: &HttpError) -> RetryDecision {
///     match e {
///         HttpError::Status(500..=599) => RetryDecision::Retry,
///         HttpError::Status(_) => RetryDecision::Stop,
///         HttpError::RateLimited { retry_after_secs } => {
///             RetryDecision::RetryAfter(Duration::from_secs(*retry_after_secs))
///         }
///     }
/// }
///
/// assert_eq!(classify(&HttpError::Status(503)), RetryDecision::Retry);
/// assert_eq!(classify(&HttpError::Status(401)), RetryDecision::Stop);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RetryDecision {
    /// Do not retry: return this error now.
    Stop,
    /// Retry after the next delay of the backoff schedule.
    Retry,
    /// Retry after exactly this delay, suggested by the server, instead of
    /// the scheduled one. It still uses up one retry. A delay above
    /// [`RetryPolicy::max_server_delay`](crate::RetryPolicy::max_server_delay)
    /// returns the error at once instead.
    RetryAfter(Duration),
}
