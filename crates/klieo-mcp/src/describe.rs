//! What a transport failure was, in words: rmcp's texts name Rust types
//! (`Send message error Transport [rmcp::transport::worker::WorkerTransport<…>]`);
//! these name what happened (the HTTP status, the connection refused).

use klieo_types::ErrorChain;
use rmcp::service::{ClientInitializeError, ServiceError};
use rmcp::transport::streamable_http_client::StreamableHttpError;
use rmcp::transport::worker::WorkerQuitReason;
use rmcp::transport::DynamicTransportError;
use std::error::Error as StdError;
use std::time::Duration;

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

/// The limit, when the failure was a reply over the HTTP body bound.
pub(crate) fn too_large(error: &ServiceError) -> Option<usize> {
    let ServiceError::TransportSend(e) = error else {
        return None;
    };
    match http(e.error.as_ref())? {
        StreamableHttpError::ResponseBodyTooLarge { max_size } => Some(*max_size),
        _ => None,
    }
}

/// When a request was refused with HTTP 429 (rate limited) and the
/// session lives on, the wait its `Retry-After` asks for, in seconds (a
/// date, or a value that is not a number, asks for none). Only the
/// request's own answer counts: a worker that quit is a lost link.
pub(crate) fn rate_limited(error: &ServiceError) -> Option<Option<Duration>> {
    let ServiceError::TransportSend(e) = error else {
        return None;
    };
    match e.error.downcast_ref::<HttpError>()? {
        StreamableHttpError::HttpStatus(status) if status.status == 429 => Some(
            status
                .retry_after
                .as_deref()
                .and_then(|after| after.trim().parse::<u64>().ok())
                .map(Duration::from_secs),
        ),
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
