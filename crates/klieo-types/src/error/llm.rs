//! [`LlmError`], why a call to a model failed, with what the server said
//! about trying again ([`RetryHint`]) and, for a timeout, which limit
//! passed ([`TimeLimit`]).

use super::time_limit::timeout_text;
use super::Error as RunError;
use super::{RetryHint, TimeLimit};
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

/// Why a call to a model failed.
///
/// [`retryable`](Self::retryable) says whether trying again may help:
/// network failures, broken connections, timeouts, rate limits and server
/// errors are transient; the rest are not, and a server's explicit
/// [`RetryHint::should_retry`] overrides either way.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum LlmError {
    /// The server could not be reached (the connection could not be made).
    #[error("could not reach the model server: {0}; check the base URL and that the server is up")]
    Network(String),
    /// The connection broke (or the body ended) after the request went out
    /// and before the reply was complete: counts of what had arrived, and
    /// why it stopped.
    #[error("{}", interrupted_text(.bytes, .events, .reason))]
    Interrupted {
        /// Bytes of the reply's body received before the break.
        bytes: u64,
        /// Events of a streamed reply received before the break.
        events: u64,
        /// What broke (the transport's own text).
        reason: String,
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
    },
    /// The provider cannot do what was asked (streaming, embeddings, ...).
    #[error("not supported by this provider: {0}")]
    Unsupported(String),
    /// The call was cancelled by the caller.
    #[error("the model call was cancelled")]
    Cancelled,
}

impl LlmError {
    /// The kind of failure, in snake case (`"rate_limit"`, `"timeout"`):
    /// low-cardinality, for traces (`error.type`) and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Network(_) => "network",
            Self::Interrupted { .. } => "interrupted",
            Self::Timeout { .. } => "timeout",
            Self::RateLimit { .. } => "rate_limit",
            Self::QuotaExhausted { .. } => "quota_exhausted",
            Self::Unauthorized { .. } => "unauthorized",
            Self::BadRequest { .. } => "bad_request",
            Self::Server { .. } => "server",
            Self::Decoding { .. } => "decoding",
            Self::Unsupported(_) => "unsupported",
            Self::Cancelled => "cancelled",
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
        if let Some(verdict) = self.hint().and_then(|h| h.should_retry) {
            return verdict;
        }
        matches!(
            self,
            Self::Network(_)
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
        self.hint().and_then(|h| h.retry_after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_follows_kind_then_server_verdict() {
        let retryable = [
            LlmError::Network("refused".into()),
            LlmError::Interrupted {
                bytes: 10,
                events: 1,
                reason: "reset".into(),
            },
            LlmError::timeout(TimeLimit::Idle, Duration::from_secs(1)),
            LlmError::rate_limit("slow down", None),
            LlmError::server("503"),
        ];
        let permanent = [
            LlmError::unauthorized("no key"),
            LlmError::bad_request("bad"),
            LlmError::QuotaExhausted {
                message: "insufficient_quota".into(),
            },
            LlmError::Decoding {
                reason: "eof".into(),
                excerpt: String::new(),
            },
            LlmError::Unsupported("embeddings".into()),
            LlmError::Cancelled,
        ];
        for e in retryable {
            assert!(RunError::from(e.clone()).retryable(), "{e:?} should retry");
        }
        for e in permanent {
            assert!(!RunError::from(e.clone()).retryable(), "{e:?} should not");
        }
        let told = |should| RetryHint::new().with_should_retry(Some(should));
        let bad = LlmError::BadRequest {
            status: Some(400),
            message: "m".into(),
            hint: told(true),
        };
        assert!(bad.retryable(), "x-should-retry: true keeps the kind");
        let limited = LlmError::RateLimit {
            message: "m".into(),
            hint: told(false),
        };
        assert!(!limited.retryable());
    }

    #[test]
    fn every_hinted_kind_hands_out_its_delay() {
        let wait = RetryHint::new().with_retry_after(Some(Duration::from_millis(1500)));
        let server = LlmError::Server {
            status: Some(503),
            message: "busy".into(),
            hint: wait,
            cause: None,
        };
        assert_eq!(server.retry_after(), Some(Duration::from_millis(1500)));
        assert_eq!(
            server.to_string(),
            "the model server failed (HTTP 503): busy; the server asks to wait 1500 ms"
        );
        let limited = LlmError::rate_limit("slow down", Some(Duration::from_millis(1500)));
        assert_eq!(limited.retry_after(), Some(Duration::from_millis(1500)));
        assert_eq!(
            limited.to_string(),
            "rate limited by the provider: slow down; the server asks to wait 1500 ms"
        );
        assert_eq!(LlmError::Cancelled.retry_after(), None);
    }

    #[test]
    fn texts_say_what_happened() {
        let bad = LlmError::BadRequest {
            status: Some(422),
            message: "messages: field required".into(),
            hint: RetryHint::new().with_should_retry(Some(true)),
        };
        assert_eq!(
            bad.to_string(),
            "the provider rejected the request (HTTP 422): messages: field required; \
             the server says to retry"
        );
        let cut = LlmError::Interrupted {
            bytes: 120,
            events: 2,
            reason: "connection reset".into(),
        };
        assert_eq!(
            cut.to_string(),
            "the connection to the model server broke before the reply was complete, after \
             120 bytes and 2 events: connection reset"
        );
        let idle = LlmError::timeout(TimeLimit::Idle, Duration::from_secs(60));
        assert!(idle.to_string().contains("nothing more came for 60000 ms"));
        let budget = LlmError::timeout(TimeLimit::RetryBudget, Duration::from_secs(80));
        assert!(budget.to_string().contains("RunOptions::retry"));
    }
}
