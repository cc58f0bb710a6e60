//! Anthropic's errors as [`LlmError`]s: an error status with its
//! `{"type": "error", "error": {"type", "message"}}` body, and the same
//! object sent as an `error` event mid-stream. Each message names the
//! request id (from the `request-id` header or the body) for support, and
//! has the API key scrubbed out.

use klieo_http::secret::Hidden;
use klieo_provider::status::{status_error, ErrorReply, MESSAGE_LIMIT};
use klieo_types::{LlmError, RetryHint};
use serde::Deserialize;

/// An error body or event.
#[derive(Deserialize, Default)]
pub(crate) struct WireError {
    #[serde(default)]
    pub(crate) error: Option<ErrorObject>,
    #[serde(default)]
    pub(crate) request_id: Option<String>,
}

/// The `error` object.
#[derive(Deserialize, Default)]
pub(crate) struct ErrorObject {
    #[serde(default, rename = "type")]
    pub(crate) kind: Option<String>,
    #[serde(default)]
    pub(crate) message: Option<String>,
}

/// `message`, with the request id after it when there is one (scrubbed
/// and cut like a header's: it is the server's text).
fn with_request_id(message: String, request_id: Option<&str>, hidden: &Hidden) -> String {
    match request_id {
        Some(id) => format!("{message} (request-id {})", hidden.redacted(id.trim(), 200)),
        None => message,
    }
}

/// The `type` of Anthropic's error for an account out of credit.
const BILLING: &str = "billing_error";

/// The error a non-2xx response stands for, by its status (see
/// [`status_error`]: 401/403 `Unauthorized`, 402 `QuotaExhausted`, 429
/// `RateLimit`, 3xx and the other 4xx but 408 and 409 `BadRequest`, 408,
/// 409, 5xx and 529 `Server`), or `QuotaExhausted` for a `billing_error`
/// whatever the status, with the server's message, the request id and the
/// retry headers. An unauthorized reply to a request sent without an API
/// key (`keyed` false) says to set one.
pub(crate) async fn from_response(
    resp: reqwest::Response,
    hidden: &Hidden,
    keyed: bool,
) -> LlmError {
    let reply = ErrorReply::read(resp).await;
    let wire: WireError = serde_json::from_slice(&reply.body).unwrap_or_default();
    let text = wire
        .error
        .as_ref()
        .and_then(|e| e.message.as_deref())
        .map(str::trim)
        .filter(|m| !m.is_empty());
    let mut message = match text {
        Some(text) => hidden.redacted(text, MESSAGE_LIMIT),
        None => reply.body_text(hidden),
    };
    match reply.status {
        401 | 403 if !keyed => message.push_str(
            "; no API key was sent: set ANTHROPIC_API_KEY or call AnthropicClientBuilder::with_api_key",
        ),
        404 if wire.error.is_none() => message.push_str(&format!(
            "; nothing answers at {}: the base URL (ANTHROPIC_BASE_URL) is the server's root, \
             without /v1, as in https://api.anthropic.com",
            reply.url
        )),
        _ => {}
    }
    message.extend(reply.redirect_note());
    let request_id = reply.request_id.as_deref().or(wire.request_id.as_deref());
    let message = with_request_id(message, request_id, hidden);
    let kind = wire.error.as_ref().and_then(|e| e.kind.as_deref());
    if kind == Some(BILLING) {
        return LlmError::QuotaExhausted { message };
    }
    status_error(reply.status, message, reply.hint)
}

/// The typed error of an `error` event, by its `type`:
/// `authentication_error` and `permission_error` → `Unauthorized`,
/// `rate_limit_error` → `RateLimit`, `billing_error` → `QuotaExhausted`,
/// `invalid_request_error`,
/// `not_found_error` and `request_too_large` → `BadRequest`, anything else
/// (`overloaded_error`, `api_error`) → a retryable `Server` error.
///
/// The request id is the event's, else `request_id` (its reply's header).
pub(crate) fn from_event(data: &str, request_id: Option<&str>, hidden: &Hidden) -> LlmError {
    let wire: WireError = serde_json::from_str(data).unwrap_or_default();
    let error = wire.error.unwrap_or_default();
    let kind = error.kind.as_deref().unwrap_or("unknown");
    let message = match error.message.as_deref().map(str::trim) {
        Some(m) if !m.is_empty() => hidden.redacted(m, MESSAGE_LIMIT),
        _ => hidden.redacted(&format!("error event in the stream: {data}"), MESSAGE_LIMIT),
    };
    let request_id = wire.request_id.as_deref().or(request_id);
    let message = with_request_id(message, request_id, hidden);
    let hint = RetryHint::new();
    match kind {
        BILLING => LlmError::QuotaExhausted { message },
        "authentication_error" | "permission_error" => LlmError::Unauthorized { message, hint },
        "rate_limit_error" => LlmError::RateLimit { message, hint },
        "invalid_request_error" | "not_found_error" | "request_too_large" => {
            LlmError::bad_request(message)
        }
        _ => LlmError::server(format!("{}: {message}", hidden.redacted(kind, 100))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_events_are_typed_by_their_type() {
        let event = |kind: &str| {
            let data = format!(r#"{{"type":"error","error":{{"type":"{kind}","message":"m"}}}}"#);
            from_event(&data, None, &Hidden::default())
        };
        assert!(matches!(event("overloaded_error"), LlmError::Server { .. }));
        assert!(event("overloaded_error").retryable());
        assert!(event("api_error").retryable());
        assert!(matches!(
            event("rate_limit_error"),
            LlmError::RateLimit { .. }
        ));
        assert!(matches!(
            event("authentication_error"),
            LlmError::Unauthorized { .. }
        ));
        assert!(matches!(
            event("invalid_request_error"),
            LlmError::BadRequest { .. }
        ));
        assert!(!event("invalid_request_error").retryable());
        assert!(matches!(
            event("billing_error"),
            LlmError::QuotaExhausted { .. }
        ));
        assert!(!event("billing_error").retryable());
    }

    #[test]
    fn an_events_request_id_and_type_are_scrubbed_and_cut() {
        use klieo_http::secret::Secret;
        let key = Secret::new("sk-ant-event-SECRET-1".to_owned());
        let long = format!("req_{}sk-ant-event-SECRET-1", "x".repeat(100_000));
        let data = serde_json::json!({
            "type": "error",
            "error": {"type": format!("odd_{long}"), "message": "m"},
            "request_id": long,
        })
        .to_string();
        let shown = from_event(&data, None, &Hidden::new(Some(&key), None)).to_string();
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.len() < 2_000, "{} bytes", shown.len());
    }

    #[test]
    fn the_request_id_of_an_event_is_kept() {
        let data = r#"{"type":"error","error":{"type":"api_error","message":"boom"},"request_id":"req_9"}"#;
        assert!(from_event(data, None, &Hidden::default())
            .to_string()
            .contains("req_9"));
    }
}
