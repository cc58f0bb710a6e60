//! What a transport failure was, in words: rmcp's texts name Rust types
//! (`Send message error Transport [rmcp::transport::worker::WorkerTransport<…>]`);
//! these name what happened (the HTTP status, the connection refused).

use klieo_http::retry_after;
use klieo_types::ErrorChain;
use rmcp::service::{ClientInitializeError, ServiceError};
use rmcp::transport::streamable_http_client::StreamableHttpError;
use rmcp::transport::worker::WorkerQuitReason;
use rmcp::transport::DynamicTransportError;
use std::error::Error as StdError;
use std::time::{Duration, SystemTime};

type HttpError = StreamableHttpError<reqwest::Error>;

/// What a failed request's transport said, without type names.
pub(crate) fn service(error: &ServiceError) -> String {
    match error {
        ServiceError::TransportSend(e) => transport(e),
        ServiceError::TransportClosed => "the connection closed".to_owned(),
        other => other.to_string(),
    }
}

/// What a failed handshake's transport said, without type names.
pub(crate) fn initialize(error: &ClientInitializeError) -> String {
    match error {
        ClientInitializeError::TransportError { error, .. } => transport(error),
        other => other.to_string(),
    }
}

/// The HTTP status a handshake was refused with, when trying again would
/// not change it: 401 or 403 (with an authentication challenge or
/// without), 404 or 405 (no MCP endpoint there).
pub(crate) fn refused(error: &ClientInitializeError) -> Option<u16> {
    let error = match error {
        ClientInitializeError::TransportError { error, .. } => error,
        ClientInitializeError::LegacyFallbackFailed { fallback, .. } => return refused(fallback),
        _ => return None,
    };
    let status = match http(error.error.as_ref())? {
        StreamableHttpError::AuthRequired(_) => 401,
        StreamableHttpError::InsufficientScope(_) => 403,
        StreamableHttpError::HttpStatus(status) => status.status,
        // rmcp's words for another status: `HTTP 404 Not Found: …`.
        StreamableHttpError::UnexpectedServerResponse(text) => {
            text.strip_prefix("HTTP ")?.get(..3)?.parse().ok()?
        }
        _ => return None,
    };
    matches!(status, 401 | 403 | 404 | 405).then_some(status)
}

/// The wait before calling again a call refused with HTTP 429 whose
/// `Retry-After` asks for none (or cannot be read): the call did not run,
/// so calling it again is safe.
pub(crate) const RATE_LIMITED_WAIT: Duration = Duration::from_secs(1);

/// A request's failure that leaves its session alive.
pub(crate) enum Kept {
    /// Its reply was over the HTTP body bound (this limit): the reply is
    /// lost.
    TooLarge(usize),
    /// It was refused with HTTP 429 (rate limited), and not run; the wait
    /// its `Retry-After` asks for (seconds or a date), else
    /// [`RATE_LIMITED_WAIT`].
    RateLimited(Duration),
}

/// What a failed request's session keeps, if it lives on. Only the
/// request's own answer counts for a rate limit: a worker that quit is a
/// lost link.
pub(crate) fn kept(error: &ServiceError) -> Option<Kept> {
    let ServiceError::TransportSend(e) = error else {
        return None;
    };
    if let Some(StreamableHttpError::HttpStatus(status)) = e.error.downcast_ref::<HttpError>() {
        if status.status == 429 {
            let asked = status.retry_after.as_deref();
            let wait = asked.and_then(|after| retry_after::delay(after, SystemTime::now()));
            return Some(Kept::RateLimited(wait.unwrap_or(RATE_LIMITED_WAIT)));
        }
    }
    match http(e.error.as_ref())? {
        StreamableHttpError::ResponseBodyTooLarge { max_size } => Some(Kept::TooLarge(*max_size)),
        _ => None,
    }
}

fn http<'a>(error: &'a (dyn StdError + Send + Sync + 'static)) -> Option<&'a HttpError> {
    if let Some(e) = error.downcast_ref::<HttpError>() {
        return Some(e);
    }
    match error.downcast_ref::<WorkerQuitReason<HttpError>>()? {
        WorkerQuitReason::Fatal { error, .. } => Some(error),
        _ => None,
    }
}

fn transport(error: &DynamicTransportError) -> String {
    let inner = error.error.as_ref();
    match http(inner) {
        Some(StreamableHttpError::HttpStatus(status)) => {
            format!("the server answered HTTP {}", status.status)
        }
        Some(StreamableHttpError::ResponseBodyTooLarge { max_size }) => {
            format!("the server's reply was larger than {max_size} bytes")
        }
        Some(StreamableHttpError::Client(e)) => ErrorChain(e).to_string(),
        Some(other) => ErrorChain(other).to_string(),
        None => ErrorChain(inner).to_string(),
    }
}
