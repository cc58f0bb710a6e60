//! Errors: the top-level [`Error`] and one enum per domain ([`LlmError`],
//! [`ToolError`], [`MemoryError`], [`ConfigError`]), each variant a distinct
//! thing a caller can act on, each classifying itself as retryable or not.

use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;

fn with_status(status: &Option<u16>) -> String {
    status.map(|s| format!(" (HTTP {s})")).unwrap_or_default()
}

fn server_text(status: &Option<u16>, message: &str, cause: &Option<Arc<Error>>) -> String {
    match cause {
        Some(_) => message.to_owned(),
        None => format!("the model server failed{}: {message}", with_status(status)),
    }
}

fn after(delay: &Option<Duration>) -> String {
    match delay {
        Some(d) => format!("; the server asks to wait {} ms", d.as_millis()),
        None => String::new(),
    }
}

/// Why a call to a model failed.
///
/// [`retryable`](Self::retryable) says whether trying again may help:
/// network failures, timeouts, rate limits and server errors are
/// transient; the rest are not.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum LlmError {
    /// The server could not be reached, or the connection broke.
    #[error("could not reach the model server: {0}; check the base URL and that the server is up")]
    Network(String),
    /// The call did not finish within its deadline.
    #[error("the model did not answer in time; raise the request timeout or retry later")]
    Timeout,
    /// The provider is throttling us.
    #[error("rate limited by the provider{}", after(.retry_after))]
    RateLimit {
        /// How long the server asked us to wait, when it said.
        retry_after: Option<Duration>,
    },
    /// The credentials were missing, wrong or lack permission.
    #[error("the provider rejected the credentials: {0}; check the API key")]
    Unauthorized(String),
    /// The provider rejected the request itself; sending it again will not help.
    #[error("the provider rejected the request{}: {message}", with_status(.status))]
    BadRequest {
        /// HTTP status, when the failure came from one.
        status: Option<u16>,
        /// The server's own explanation.
        message: String,
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
    /// let item = LlmError::Server {
    ///     status: None,
    ///     message: "max steps exceeded: 4".into(),
    ///     cause: Some(Arc::new(Error::MaxStepsExceeded { steps: 4 })),
    /// };
    /// assert!(!item.retryable());
    /// assert!(matches!(item.cause(), Some(Error::MaxStepsExceeded { steps: 4 })));
    /// assert_eq!(item.to_string(), "max steps exceeded: 4");
    /// ```
    #[error("{}", server_text(.status, .message, .cause))]
    Server {
        /// HTTP status, when the failure came from one.
        status: Option<u16>,
        /// The server's own explanation, or the run's text for its ending.
        message: String,
        /// The run's own error, when the run (not the provider) ended it.
        #[source]
        cause: Option<Arc<Error>>,
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
    /// A [`LlmError::BadRequest`] with no HTTP status.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest {
            status: None,
            message: message.into(),
        }
    }

    /// A [`LlmError::Server`] with no HTTP status.
    pub fn server(message: impl Into<String>) -> Self {
        Self::Server {
            status: None,
            message: message.into(),
            cause: None,
        }
    }

    /// Whether trying the same call again may succeed. A `Server` error
    /// with a [`cause`](Self::cause) is as retryable as its cause.
    pub fn retryable(&self) -> bool {
        match self {
            Self::Server {
                cause: Some(cause), ..
            } => cause.retryable(),
            Self::Network(_) | Self::Timeout | Self::RateLimit { .. } | Self::Server { .. } => true,
            _ => false,
        }
    }

    /// The run's own error behind a streamed run's terminal item (see
    /// [`LlmError::Server`]); `None` for a provider's error.
    pub fn cause(&self) -> Option<&Error> {
        match self {
            Self::Server {
                cause: Some(cause), ..
            } => Some(cause),
            _ => None,
        }
    }

    /// The delay the server asked for before the next attempt, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimit { retry_after } => *retry_after,
            _ => None,
        }
    }
}

/// Why a tool call failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ToolError {
    /// The model asked for a tool that does not exist.
    #[error("the model called an unknown tool `{name}`; available tools: {}", available.join(", "))]
    UnknownTool {
        /// The name the model used.
        name: String,
        /// The tools that do exist.
        available: Vec<String>,
    },
    /// The arguments are not valid JSON or do not fit the tool's schema.
    #[error("invalid arguments for tool `{tool}`: {reason}")]
    InvalidArgs {
        /// The tool called.
        tool: String,
        /// What is wrong with the arguments.
        reason: String,
    },
    /// A transient failure; the same call may succeed later.
    #[error("{message} (it may succeed if retried{})", after(.retry_after))]
    Retryable {
        /// What went wrong.
        message: String,
        /// How long to wait first, when known.
        retry_after: Option<Duration>,
    },
    /// A failure that retrying will not fix; the text says what failed.
    #[error("{0}")]
    Permanent(String),
    /// The tool did not finish within its deadline.
    #[error("tool `{tool}` did not finish within {} ms", after.as_millis())]
    Timeout {
        /// The tool called.
        tool: String,
        /// The deadline it missed.
        after: Duration,
    },
}

impl ToolError {
    /// Whether the same call may succeed later.
    pub fn retryable(&self) -> bool {
        matches!(self, Self::Retryable { .. } | Self::Timeout { .. })
    }
}

/// Why a memory backend failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum MemoryError {
    /// The backend itself failed (connection, storage, lock).
    #[error("memory backend failed: {0}")]
    Backend(String),
    /// Stored data could not be encoded or decoded.
    #[error("memory data could not be (de)serialized: {0}")]
    Serialization(String),
    /// The thing asked for does not exist.
    #[error("not found in memory: {0}")]
    NotFound(String),
}

/// A setting is missing or invalid.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A required setting was not given.
    #[error("missing setting `{name}`: {hint}")]
    Missing {
        /// The setting (an option or environment variable).
        name: String,
        /// How to provide it.
        hint: String,
    },
    /// A setting has a value that cannot work.
    #[error("invalid value for `{name}`: {reason}")]
    Invalid {
        /// The setting.
        name: String,
        /// Why the value cannot work.
        reason: String,
    },
}

/// Everything that can end an agent run.
///
/// Domain errors convert into it with `?`. [`retryable`](Self::retryable)
/// delegates to the domain error.
///
/// ```
/// use klieo_types::{Error, LlmError};
///
/// let e: Error = LlmError::Timeout.into();
/// assert!(e.retryable());
/// let e: Error = LlmError::Unauthorized("bad key".into()).into();
/// assert!(!e.retryable());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Error {
    /// A model call failed.
    #[error(transparent)]
    Llm(#[from] LlmError),
    /// A tool call failed.
    #[error("a tool call failed: {0}")]
    Tool(#[from] ToolError),
    /// A memory backend failed.
    #[error(transparent)]
    Memory(#[from] MemoryError),
    /// The configuration is missing something or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The run used its step budget without the model answering.
    #[error("the run reached its limit of {steps} steps without an answer; raise max_steps or change the tool-choice policy")]
    MaxStepsExceeded {
        /// The limit that was reached.
        steps: u32,
    },
    /// The run was cancelled.
    #[error("the run was cancelled")]
    Cancelled,
    /// The model's reply cannot be used (for example, it is empty).
    #[error("the model's reply cannot be used: {0}")]
    BadResponse(String),
    /// The model's answer did not fit the requested output type, and
    /// asking again did not help.
    #[error("the model's answer does not fit the requested output ({reason}) after {attempts} answer(s); allow more repairs (RunOptions::output_repairs), simplify the output type, or use a stronger model")]
    InvalidOutput {
        /// Why the last answer does not fit.
        reason: String,
        /// The last answer, as the model wrote it.
        reply: String,
        /// Answers the model gave.
        attempts: u32,
    },
    /// A guardrail refused to continue.
    #[error("a guardrail refused: {reason}")]
    Refused {
        /// The guardrail's reason.
        reason: String,
    },
    /// A guardrail handed the conversation to another agent.
    #[error("a guardrail handed off to agent `{agent}`: {reason}")]
    Handoff {
        /// The agent to continue with.
        agent: String,
        /// The guardrail's reason.
        reason: String,
    },
}

impl Error {
    /// Whether trying the failed operation again may succeed.
    pub fn retryable(&self) -> bool {
        match self {
            Self::Llm(e) => e.retryable(),
            Self::Tool(e) => e.retryable(),
            Self::Memory(_)
            | Self::Config(_)
            | Self::MaxStepsExceeded { .. }
            | Self::Cancelled
            | Self::BadResponse(_)
            | Self::InvalidOutput { .. }
            | Self::Refused { .. }
            | Self::Handoff { .. } => false,
        }
    }

    /// The delay a server asked for before the next attempt, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Llm(e) => e.retry_after(),
            Self::Tool(ToolError::Retryable { retry_after, .. }) => *retry_after,
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync + 'static>() {}

    #[test]
    fn errors_are_send_sync() {
        assert_send_sync::<Error>();
        assert_send_sync::<LlmError>();
        assert_send_sync::<ToolError>();
    }

    #[test]
    fn llm_classification_matches_the_seed() {
        let retryable = [
            LlmError::Network("reset".into()),
            LlmError::Timeout,
            LlmError::RateLimit { retry_after: None },
            LlmError::server("503"),
        ];
        let permanent = [
            LlmError::Unauthorized("no key".into()),
            LlmError::bad_request("bad"),
            LlmError::Decoding {
                reason: "eof".into(),
                excerpt: String::new(),
            },
            LlmError::Unsupported("embeddings".into()),
            LlmError::Cancelled,
        ];
        for e in retryable {
            assert!(Error::from(e.clone()).retryable(), "{e:?} should retry");
        }
        for e in permanent {
            assert!(
                !Error::from(e.clone()).retryable(),
                "{e:?} should not retry"
            );
        }
    }

    #[test]
    fn tool_and_other_classification() {
        let retry = ToolError::Retryable {
            message: "busy".into(),
            retry_after: Some(Duration::from_millis(250)),
        };
        let e = Error::from(retry);
        assert!(e.retryable());
        assert_eq!(e.retry_after(), Some(Duration::from_millis(250)));
        let timeout = ToolError::Timeout {
            tool: "t".into(),
            after: Duration::from_secs(1),
        };
        assert!(timeout.retryable());
        assert!(!Error::from(ToolError::Permanent("x".into())).retryable());
        assert!(!Error::from(ToolError::InvalidArgs {
            tool: "t".into(),
            reason: "r".into()
        })
        .retryable());
        assert!(!Error::Cancelled.retryable());
        assert!(!Error::MaxStepsExceeded { steps: 3 }.retryable());
        assert!(!Error::from(MemoryError::Backend("down".into())).retryable());
        assert!(!Error::from(ConfigError::Missing {
            name: "k".into(),
            hint: "h".into()
        })
        .retryable());
    }

    #[test]
    fn rate_limit_keeps_sub_second_delay() {
        let e = LlmError::RateLimit {
            retry_after: Some(Duration::from_millis(1500)),
        };
        assert_eq!(e.retry_after(), Some(Duration::from_millis(1500)));
        assert_eq!(
            e.to_string(),
            "rate limited by the provider; the server asks to wait 1500 ms"
        );
    }

    #[test]
    fn display_texts_name_the_problem() {
        let unknown = ToolError::UnknownTool {
            name: "calc".into(),
            available: vec!["calculator".into(), "now".into()],
        };
        assert_eq!(
            unknown.to_string(),
            "the model called an unknown tool `calc`; available tools: calculator, now"
        );
        let bad = LlmError::BadRequest {
            status: Some(422),
            message: "messages: field required".into(),
        };
        assert_eq!(
            bad.to_string(),
            "the provider rejected the request (HTTP 422): messages: field required"
        );
        let wrapped = Error::from(LlmError::Timeout);
        assert_eq!(wrapped.to_string(), LlmError::Timeout.to_string());
    }
}
