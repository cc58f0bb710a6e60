//! From HTTP to [`LlmError`]: status codes, error bodies (read with a size
//! bound), transport failures, undecodable replies, and in-stream error
//! objects. Every message surfaced here has the API key scrubbed out.

use crate::config::{scrub, Secret};
use crate::retry_after::{retry_after, should_retry};
use klieo_types::LlmError;
use serde::Deserialize;
use std::borrow::Cow;
use std::time::SystemTime;

/// Bytes of an error body read at most; the rest is left unread.
pub(crate) const ERROR_BODY_LIMIT: usize = 64 * 1024;
/// Characters of a plain-text error body kept in a message.
const MESSAGE_LIMIT: usize = 1000;
/// Characters of an undecodable reply kept in [`LlmError::Decoding`].
pub(crate) const EXCERPT_LIMIT: usize = 200;

/// The error a non-2xx response stands for. Reads at most
/// [`ERROR_BODY_LIMIT`] bytes of its body.
///
/// Classification: 401 and 403 are `Unauthorized`; 429 is `RateLimit` with
/// the delay from `retry-after-ms` or `retry-after`; 400, 404, 422 and any
/// other 4xx are `BadRequest`; 408, 409, 5xx and anything else are `Server`.
/// Then `x-should-retry` overrides: `true` turns a non-retryable error into
/// `Server` (retryable), `false` turns a retryable one into `BadRequest`
/// (not retryable); the real status is kept in `status` either way.
pub(crate) async fn from_response(resp: reqwest::Response, secret: Option<&Secret>) -> LlmError {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = read_bounded(resp, ERROR_BODY_LIMIT).await;
    let message = scrub(secret, error_message(&body, status));
    let error = classify(
        status,
        message.clone(),
        retry_after(&headers, SystemTime::now()),
    );
    match should_retry(&headers) {
        Some(true) if !error.retryable() => LlmError::Server {
            status: Some(status),
            message,
        },
        Some(false) if error.retryable() => LlmError::BadRequest {
            status: Some(status),
            message,
        },
        _ => error,
    }
}

fn classify(status: u16, message: String, delay: Option<std::time::Duration>) -> LlmError {
    match status {
        401 | 403 => LlmError::Unauthorized(message),
        429 => LlmError::RateLimit { retry_after: delay },
        408 | 409 => LlmError::Server {
            status: Some(status),
            message,
        },
        400..=499 => LlmError::BadRequest {
            status: Some(status),
            message,
        },
        _ => LlmError::Server {
            status: Some(status),
            message,
        },
    }
}

/// Reads up to `limit` bytes of the body; a read error ends it early.
async fn read_bounded(mut resp: reqwest::Response, limit: usize) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < limit {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                let take = chunk.len().min(limit - body.len());
                body.extend_from_slice(chunk.get(..take).unwrap_or_default());
            }
            Ok(None) | Err(_) => break,
        }
    }
    body
}

#[derive(Deserialize)]
struct ErrorEnvelope<'a> {
    #[serde(borrow)]
    error: Option<ErrorField<'a>>,
    #[serde(borrow)]
    message: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum ErrorField<'a> {
    Object(#[serde(borrow)] WireError<'a>),
    Text(#[serde(borrow)] Cow<'a, str>),
}

/// The `error` object of a reply or of a stream event.
#[derive(Deserialize, Default)]
pub(crate) struct WireError<'a> {
    #[serde(borrow, default)]
    pub(crate) message: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "type")]
    pub(crate) kind: Option<Cow<'a, str>>,
    #[serde(default)]
    pub(crate) code: Option<serde_json::Value>,
}

/// The server's explanation: `error.message` (or `error` as text, or a
/// top-level `message`) of a JSON body, else the body as text, bounded.
fn error_message(body: &[u8], status: u16) -> String {
    if let Ok(env) = serde_json::from_slice::<ErrorEnvelope<'_>>(body) {
        let text = match env.error {
            Some(ErrorField::Object(e)) => e.message,
            Some(ErrorField::Text(t)) => Some(t),
            None => None,
        }
        .or(env.message);
        if let Some(text) = text.filter(|t| !t.trim().is_empty()) {
            return bounded(text.trim(), MESSAGE_LIMIT);
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        format!("HTTP {status} with an empty body")
    } else {
        bounded(text, MESSAGE_LIMIT)
    }
}

/// At most `limit` characters of `text`, marked with `…` when cut.
pub(crate) fn bounded(text: &str, limit: usize) -> String {
    match text.char_indices().nth(limit) {
        Some((end, _)) => format!("{}…", text.get(..end).unwrap_or_default()),
        None => text.to_owned(),
    }
}

/// A [`LlmError::Decoding`] for `body`, with an excerpt of at most
/// [`EXCERPT_LIMIT`] characters.
pub(crate) fn decoding(
    reason: impl Into<String>,
    body: &[u8],
    secret: Option<&Secret>,
) -> LlmError {
    let text = String::from_utf8_lossy(body);
    let excerpt: String = text.chars().take(EXCERPT_LIMIT).collect();
    LlmError::Decoding {
        reason: scrub(secret, reason.into()),
        excerpt: scrub(secret, excerpt),
    }
}

/// A transport failure: `Timeout` when a deadline passed, `Network`
/// otherwise, with the causes chained into the message.
pub(crate) fn from_reqwest(err: &reqwest::Error, secret: Option<&Secret>) -> LlmError {
    if err.is_timeout() {
        return LlmError::Timeout;
    }
    LlmError::Network(scrub(secret, chain(err)))
}

/// A failure reading a stream's body, as the SSE decoder passes it on.
pub(crate) fn from_stream_transport(
    cause: &(dyn std::error::Error + Send + Sync + 'static),
    secret: Option<&Secret>,
) -> LlmError {
    match cause.downcast_ref::<reqwest::Error>() {
        Some(err) => from_reqwest(err, secret),
        None => LlmError::Network(scrub(secret, chain(cause))),
    }
}

/// `err` and its sources, joined by `: `.
pub(crate) fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}

/// The typed error of an `{"error": {...}}` object sent as a stream event,
/// classified by its `type` and `code`: rate limits → `RateLimit`,
/// authentication or permission → `Unauthorized`, invalid requests →
/// `BadRequest`, anything else → `Server`.
pub(crate) fn from_stream_error(error: &WireError<'_>, secret: Option<&Secret>) -> LlmError {
    let kind = error.kind.as_deref().unwrap_or_default();
    let code = match &error.code {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let message = error
        .message
        .as_deref()
        .map(|m| bounded(m.trim(), MESSAGE_LIMIT))
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| format!("error event in the stream (type {kind:?}, code {code:?})"));
    let message = scrub(secret, message);
    let has = |needle: &str| kind.contains(needle) || code.contains(needle);
    if has("rate_limit") || code == "429" {
        LlmError::RateLimit { retry_after: None }
    } else if has("auth") || has("api_key") || has("permission") || code == "401" || code == "403" {
        LlmError::Unauthorized(message)
    } else if has("invalid_request") || code == "400" || code == "422" {
        LlmError::bad_request(message)
    } else {
        LlmError::server(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_come_from_json_or_bounded_text() {
        let json = br#"{"error":{"message":"bad model","type":"invalid_request_error"}}"#;
        assert_eq!(error_message(json, 400), "bad model");
        assert_eq!(error_message(br#"{"error":"nope"}"#, 400), "nope");
        assert_eq!(
            error_message(br#"{"detail":"x"}"#, 400),
            r#"{"detail":"x"}"#
        );
        assert_eq!(error_message(b"", 502), "HTTP 502 with an empty body");
        let long = "é".repeat(5000);
        let cut = error_message(long.as_bytes(), 500);
        assert_eq!(cut.chars().count(), MESSAGE_LIMIT + 1);
    }

    #[test]
    fn stream_errors_are_typed() {
        let e = |kind: &str, code: serde_json::Value| WireError {
            message: Some("m".into()),
            kind: Some(Cow::Owned(kind.to_owned())),
            code: Some(code),
        };
        let rl = from_stream_error(&e("requests", "rate_limit_exceeded".into()), None);
        assert!(matches!(rl, LlmError::RateLimit { .. }));
        let auth = from_stream_error(&e("authentication_error", serde_json::Value::Null), None);
        assert!(matches!(auth, LlmError::Unauthorized(_)));
        let bad = from_stream_error(&e("invalid_request_error", 400.into()), None);
        assert!(matches!(bad, LlmError::BadRequest { .. }));
        let other = from_stream_error(&e("server_error", 500.into()), None);
        assert!(matches!(other, LlmError::Server { .. }));
    }

    #[test]
    fn bounded_respects_char_boundaries() {
        assert_eq!(bounded("héllo", 2), "hé…");
        assert_eq!(bounded("hi", 2), "hi");
    }
}
