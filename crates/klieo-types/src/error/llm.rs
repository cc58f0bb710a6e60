//! [`LlmError`], why a call to a model failed, with what the server said
//! about trying again ([`RetryHint`]) and, for a timeout, which limit
//! passed ([`TimeLimit`]).

use super::time_limit::timeout_text;
use super::Error as RunError;
use super::{RetryHint, TimeLimit};
use crate::failover::{all_failed_text, ProviderFailure};
use std::error::Error as StdError;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;

fn with_status(status: &Option<u16>) -> String {
    status.map(|s| format!(" (HTTP {s})")).unwrap_or_default()
}

fn server_text(
    status: &Option<u16>,
    message: &str,
    hint: &RetryHint,
    cause: &Option<Arc<RunError>>,
) -> String {
    match cause {
        Some(_) => message.to_owned(),
        None => format!(
            "the model server failed{}: {message}{hint}",
            with_status(status)
        ),
    }
}

fn interrupted_text(bytes: &u64, events: &u64, reason: &str) -> String {
    let events = match events {
        0 => String::new(),
        1 => " and 1 event".to_owned(),
        n => format!(" and {n} events"),
    };
    format!(
        "the connection to the model server broke before the reply was complete, after \
         {bytes} bytes{events}: {reason}"
    )
}

/// The lower-level error behind an [`LlmError`] (the transport's, the
/// parser's), shared so that the error stays `Clone`.
type Cause = Arc<dyn StdError + Send + Sync>;

/// Why a call to a model failed.
///
/// `Display` says what went wrong in this layer's words; the lower-level
/// error behind it, when there is one, is its `source()` and never
/// repeated in the text. Equality ignores that cause: two errors of the
/// same kind and fields are equal whatever failed beneath them.
///
/// A size limit that was passed is a variant of its own carrying the
/// limit ([`ReplyTooLarge`](Self::ReplyTooLarge),
/// [`LineTooLong`](Self::LineTooLong), [`EventTooLong`](Self::EventTooLong),
/// [`ToolCallsTooLarge`](Self::ToolCallsTooLarge)); none is retryable.
///
/// [`retryable`](Self::retryable) says whether trying again may help:
/// network failures, broken connections, timeouts, rate limits and server
/// errors are transient; the rest are not, and a server's explicit
/// [`RetryHint::should_retry`] overrides either way.
#[derive(Debug, Clone, Error)]
#[non_exhaustive]
pub enum LlmError {
    /// The server could not be reached (the connection could not be made).
    #[error(
        "could not reach the model server: {reason}; check the base URL and that the server is up"
    )]
    Network {
        /// What was being done (connecting to which URL, without its
        /// credentials).
        reason: String,
        /// The transport's error, when there is one.
        #[source]
        cause: Option<Cause>,
    },
    /// The connection broke (or the body ended) after the request went out
    /// and before the reply was complete: counts of what had arrived, and
    /// why it stopped.
    #[error("{}", interrupted_text(.bytes, .events, .reason))]
    Interrupted {
        /// Bytes of the reply's body received before the break.
        bytes: u64,
        /// Events of a streamed reply received before the break.
        events: u64,
        /// What was being done when it broke, or why the body ended.
        reason: String,
        /// The transport's error, when there is one.
        #[source]
        cause: Option<Cause>,
    },
    /// A time limit passed before the call finished.
    #[error("{}", timeout_text(.limit, .after))]
    Timeout {
        /// The limit that passed.
        limit: TimeLimit,
        /// Its length.
        after: Duration,
    },
    /// The provider is throttling us.
    #[error("rate limited by the provider: {message}{hint}")]
    RateLimit {
        /// The server's own explanation.
        message: String,
        /// What the server said about retrying (its delay, mainly).
        hint: RetryHint,
    },
    /// The account's quota is used up (OpenAI's `insufficient_quota`):
    /// waiting does not help, so this is never retried.
    #[error("the provider's quota for this account is used up: {message}; add credit or raise the limit, retrying will not help")]
    QuotaExhausted {
        /// The server's own explanation.
        message: String,
    },
    /// The credentials were missing, wrong or lack permission.
    #[error("the provider rejected the credentials: {message}; check the API key{hint}")]
    Unauthorized {
        /// The server's own explanation.
        message: String,
        /// What the server said about retrying.
        hint: RetryHint,
    },
    /// The provider rejected the request itself; sending it again will not
    /// help, unless the server says otherwise.
    #[error("the provider rejected the request{}: {message}{hint}", with_status(.status))]
    BadRequest {
        /// HTTP status, when the failure came from one.
        status: Option<u16>,
        /// The server's own explanation.
        message: String,
        /// What the server said about retrying.
        hint: RetryHint,
    },
    /// The provider failed while handling a valid request, or (with a
    /// `cause`) a streamed run ended for a reason of its own.
    ///
    /// A streamed run reports every ending as an `LlmError` (the
    /// [`ChunkStream`](crate::ChunkStream) item type), and the endings that
    /// are not the provider's (max steps, a tool failure, a refusal) as
    /// `Server` with the run's text in `message` and the run's own [`Error`](enum@crate::Error)
    /// in `cause`. [`retryable`](LlmError::retryable) then follows the
    /// cause, and [`cause`](LlmError::cause) (or `source()`) hands it out:
    ///
    /// ```
    /// use klieo_types::{Error, LlmError};
    /// use std::sync::Arc;
    ///
    /// let item = LlmError::ended("max steps exceeded: 4", Error::MaxStepsExceeded { steps: 4 });
    /// assert!(!item.retryable());
    /// assert!(matches!(item.cause(), Some(Error::MaxStepsExceeded { steps: 4 })));
    /// assert_eq!(item.to_string(), "max steps exceeded: 4");
    /// ```
    #[error("{}", server_text(.status, .message, .hint, .cause))]
    Server {
        /// HTTP status, when the failure came from one.
        status: Option<u16>,
        /// The server's own explanation, or the run's text for its ending.
        message: String,
        /// What the server said about retrying.
        hint: RetryHint,
        /// The run's own error, when the run (not the provider) ended it.
        #[source]
        cause: Option<Arc<RunError>>,
    },
    /// The reply could not be understood.
    #[error("could not decode the model server's reply: {reason} (reply began: {excerpt:?})")]
    Decoding {
        /// What was wrong with it.
        reason: String,
        /// The start of the offending text, bounded in length.
        excerpt: String,
        /// The parser's error, when there is one.
        #[source]
        cause: Option<Cause>,
    },
    /// A whole reply was longer than the bound on it.
    #[error("the model server's reply exceeded {limit} bytes (reply began: {excerpt:?})")]
    ReplyTooLarge {
        /// The bound, in bytes.
        limit: usize,
        /// The start of the reply, bounded in length.
        excerpt: String,
    },
    /// A line of a streamed reply grew past the bound on it before it
    /// ended: the server is not sending an event stream, or sends longer
    /// lines than expected.
    #[error("a line of the model server's streamed reply exceeded {limit} bytes")]
    LineTooLong {
        /// The bound, in bytes, not counting the line end.
        limit: usize,
    },
    /// An event of a streamed reply grew past the bound on it before it
    /// ended.
    #[error("an event of the model server's streamed reply exceeded {limit} bytes")]
    EventTooLong {
        /// The bound, in bytes, on the event's data and type together.
        limit: usize,
    },
    /// The tool calls of a streamed reply (their arguments, ids and names)
    /// grew past the bound on them.
    #[error("the streamed tool calls exceeded {limit} bytes of arguments, ids and names")]
    ToolCallsTooLarge {
        /// The bound, in bytes.
        limit: usize,
    },
    /// The provider cannot do what was asked (streaming, embeddings, ...).
    #[error("not supported by this provider: {0}")]
    Unsupported(String),
    /// The call was cancelled by the caller.
    #[error("the model call was cancelled")]
    Cancelled,
    /// Every provider of a fallback list failed, each with an error that
    /// moves a call on to the next (see `klieo_provider::Fallback`);
    /// `failures` lists them in the order they were tried. Retryable
    /// when one of them is, after the shortest delay the retryable ones
    /// asked for (none when one of them asked for none).
    #[error("{}", all_failed_text(.failures))]
    AllProvidersFailed {
        /// Each provider's failure, in order.
        failures: Vec<ProviderFailure>,
    },
}

impl LlmError {
    /// The kind of failure, in snake case (`"rate_limit"`, `"timeout"`):
    /// low-cardinality, for traces (`error.type`) and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Network { .. } => "network",
            Self::Interrupted { .. } => "interrupted",
            Self::Timeout { .. } => "timeout",
            Self::RateLimit { .. } => "rate_limit",
            Self::QuotaExhausted { .. } => "quota_exhausted",
            Self::Unauthorized { .. } => "unauthorized",
            Self::BadRequest { .. } => "bad_request",
            Self::Server { .. } => "server",
            Self::Decoding { .. } => "decoding",
            Self::ReplyTooLarge { .. }
            | Self::LineTooLong { .. }
            | Self::EventTooLong { .. }
            | Self::ToolCallsTooLarge { .. } => "too_large",
            Self::Unsupported(_) => "unsupported",
            Self::Cancelled => "cancelled",
            Self::AllProvidersFailed { .. } => "all_providers_failed",
        }
    }

    /// A [`LlmError::Network`] saying `reason`, with no cause.
    pub fn network(reason: impl Into<String>) -> Self {
        Self::Network {
            reason: reason.into(),
            cause: None,
        }
    }

    /// A [`LlmError::BadRequest`] with no HTTP status nor hint.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest {
            status: None,
            message: message.into(),
            hint: RetryHint::new(),
        }
    }

    /// A [`LlmError::Server`] with no HTTP status, hint nor cause.
    pub fn server(message: impl Into<String>) -> Self {
        Self::Server {
            status: None,
            message: message.into(),
            hint: RetryHint::new(),
            cause: None,
        }
    }

    /// The terminal item of a streamed run that `cause` ended, shown as
    /// `message` (see [`LlmError::Server`]).
    pub fn ended(message: impl Into<String>, cause: RunError) -> Self {
        Self::Server {
            status: None,
            message: message.into(),
            hint: RetryHint::new(),
            cause: Some(Arc::new(cause)),
        }
    }

    /// A [`LlmError::Unauthorized`] with no hint.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::Unauthorized {
            message: message.into(),
            hint: RetryHint::new(),
        }
    }

    /// A [`LlmError::RateLimit`] asking to wait `retry_after`, when given.
    pub fn rate_limit(message: impl Into<String>, retry_after: Option<Duration>) -> Self {
        Self::RateLimit {
            message: message.into(),
            hint: RetryHint::new().with_retry_after(retry_after),
        }
    }

    /// A [`LlmError::Timeout`] of `limit`, `after` long.
    pub fn timeout(limit: TimeLimit, after: Duration) -> Self {
        Self::Timeout { limit, after }
    }

    /// What the server said about retrying, for the kinds that carry it.
    pub fn hint(&self) -> Option<&RetryHint> {
        match self {
            Self::RateLimit { hint, .. }
            | Self::Unauthorized { hint, .. }
            | Self::BadRequest { hint, .. }
            | Self::Server { hint, .. } => Some(hint),
            _ => None,
        }
    }

    /// Whether trying the same call again may succeed.
    ///
    /// A `Server` error with a [`cause`](Self::cause) is as retryable as
    /// its cause. Otherwise the server's [`RetryHint::should_retry`] decides
    /// when it gave one; else the kind does: `Network`, `Interrupted`,
    /// `Timeout`, `RateLimit` and `Server` are retryable.
    ///
    /// ```
    /// use klieo_types::{LlmError, RetryHint};
    ///
    /// assert!(LlmError::server("overloaded").retryable());
    /// let told_not_to = LlmError::Server {
    ///     status: Some(503),
    ///     message: "down for maintenance".into(),
    ///     hint: RetryHint::new().with_should_retry(Some(false)),
    ///     cause: None,
    /// };
    /// assert!(!told_not_to.retryable());
    /// ```
    pub fn retryable(&self) -> bool {
        if let Some(cause) = self.cause() {
            return cause.retryable();
        }
        if let Self::AllProvidersFailed { failures } = self {
            return failures.iter().any(|f| f.error.retryable());
        }
        if let Some(verdict) = self.hint().and_then(|h| h.should_retry) {
            return verdict;
        }
        matches!(
            self,
            Self::Network { .. }
                | Self::Interrupted { .. }
                | Self::Timeout { .. }
                | Self::RateLimit { .. }
                | Self::Server { .. }
        )
    }

    /// The run's own error behind a streamed run's terminal item (see
    /// [`LlmError::Server`]); `None` for a provider's error.
    pub fn cause(&self) -> Option<&RunError> {
        match self {
            Self::Server {
                cause: Some(cause), ..
            } => Some(cause),
            _ => None,
        }
    }

    /// The delay the server asked for before the next attempt, whatever
    /// the kind of error, if it asked.
    pub fn retry_after(&self) -> Option<Duration> {
        if let Self::AllProvidersFailed { failures } = self {
            // The soonest any provider may answer again: none asked when
            // one that may recover gave no delay.
            let mut hints = failures.iter().filter(|f| f.error.retryable());
            return hints.try_fold(None, |soonest: Option<Duration>, f| {
                let hint = f.error.retry_after()?;
                Some(Some(soonest.map_or(hint, |s| s.min(hint))))
            })?;
        }
        self.hint().and_then(|h| h.retry_after)
    }
}

mod eq;
#[cfg(test)]
mod tests;
