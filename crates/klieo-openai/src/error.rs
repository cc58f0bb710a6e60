//! From HTTP to [`LlmError`]: error statuses with their bodies and retry
//! headers, undecodable replies, and in-stream error objects (transport
//! failures are in `body`). Every message surfaced here has the API key scrubbed out, and
//! URLs lose their credentials.

use crate::body::read_bounded;
use crate::redact::{redacted, safe_url, Secret};
use crate::retry_after::{retry_after, should_retry};
use klieo_types::{LlmError, RetryHint};
use serde::Deserialize;
use std::borrow::Cow;
use std::time::SystemTime;

/// Bytes of an error body read at most; the rest is left unread.
const ERROR_BODY_LIMIT: usize = 64 * 1024;
/// Bytes of a successful reply (a completion, an embeddings batch, a JSON
/// answer to a stream request) read at most, 16 MiB: a longer reply is a
/// [`LlmError::Decoding`] rather than memory the server decides on.
/// Streamed replies are bounded per event by the SSE decoder instead.
pub(crate) const REPLY_LIMIT: usize = 16 * 1024 * 1024;
/// Characters of a server message kept in an error (a `…` marks a cut).
pub(crate) const MESSAGE_LIMIT: usize = 1000;
/// Characters of an undecodable reply kept in [`LlmError::Decoding`]'s
/// excerpt; with the `…` that marks a cut, an excerpt has at most 200.
const EXCERPT_LIMIT: usize = 199;

/// The error a non-2xx response stands for. Reads at most
/// [`ERROR_BODY_LIMIT`] bytes of its body.
///
/// Classification: 401 and 403 are `Unauthorized`; 429 is `RateLimit`, or
/// `QuotaExhausted` when the body's error code or type is
/// `insufficient_quota`; 400, 404, 422 and any other 4xx are `BadRequest`;
/// 408, 409, 5xx and anything else are `Server`. Every kind but
/// `QuotaExhausted` carries the [`RetryHint`] of the headers: the delay of
/// `retry-after-ms` or `retry-after`, and `x-should-retry`, which
/// overrides what the kind implies while the kind and status stay true.
pub(crate) async fn from_response(resp: reqwest::Response, secret: Option<&Secret>) -> LlmError {
    let status = resp.status().as_u16();
    let hint = RetryHint::new()
        .with_retry_after(retry_after(resp.headers(), SystemTime::now()))
        .with_should_retry(should_retry(resp.headers()));
    let url = safe_url(resp.url());
    let body = read_bounded(resp, ERROR_BODY_LIMIT).await;
    let (mut message, code) = error_message(&body, status, secret);
    // An API's own 404 (`{"error": …}`, say for an unknown model) is left
    // alone; a bare one means no API lives at the URL.
    let api_error =
        serde_json::from_slice::<serde_json::Value>(&body).is_ok_and(|v| v.get("error").is_some());
    match status {
        404 if !api_error => message.push_str(&format!(
            "; nothing answers at {url}: does the base URL (OPENAI_BASE_URL) end in the API \
             version, as in http://127.0.0.1:8080/v1?"
        )),
        401 | 403 if secret.is_none() => message.push_str(
            "; no API key was sent: set OPENAI_API_KEY or call OpenAiClientBuilder::api_key",
        ),
        _ => {}
    }
    classify(status, message, code.as_deref(), hint)
}

fn classify(status: u16, message: String, code: Option<&str>, hint: RetryHint) -> LlmError {
    let status = Some(status);
    match status {
        Some(401 | 403) => LlmError::Unauthorized { message, hint },
        Some(429) if code == Some(QUOTA) => LlmError::QuotaExhausted { message },
        Some(429) => LlmError::RateLimit { message, hint },
        Some(400..=407 | 410..=499) => LlmError::BadRequest {
            status,
            message,
            hint,
        },
        _ => LlmError::Server {
            status,
            message,
            hint,
            cause: None,
        },
    }
}

/// OpenAI's code (and type) for an account whose quota is used up.
const QUOTA: &str = "insufficient_quota";

#[derive(Deserialize)]
struct ErrorEnvelope<'a> {
    #[serde(borrow)]
    error: Option<ErrorField<'a>>,
    #[serde(borrow)]
    message: Option<Cow<'a, str>>,
    /// FastAPI's `{"detail": "Not Found"}` (llama-cpp-python, vLLM).
    #[serde(borrow)]
    detail: Option<Cow<'a, str>>,
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
/// top-level `message`) of a JSON body, else the body as text; redacted.
/// With it, `insufficient_quota` when that is the error's code or type.
fn error_message(body: &[u8], status: u16, secret: Option<&Secret>) -> (String, Option<String>) {
    if let Ok(env) = serde_json::from_slice::<ErrorEnvelope<'_>>(body) {
        let mut code = None;
        let text = match env.error {
            Some(ErrorField::Object(e)) => {
                code = e.is_quota().then(|| QUOTA.to_owned());
                e.message
            }
            Some(ErrorField::Text(t)) => Some(t),
            None => None,
        }
        .or(env.message)
        .or(env.detail);
        if let Some(text) = text.filter(|t| !t.trim().is_empty()) {
            return (redacted(secret, text.trim(), MESSAGE_LIMIT), code);
        }
        if code.is_some() {
            return (QUOTA.to_owned(), code);
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let text = if text.is_empty() {
        format!("HTTP {status} with an empty body")
    } else {
        redacted(secret, text, MESSAGE_LIMIT)
    };
    (text, None)
}

impl WireError<'_> {
    /// Whether the code or type says the account's quota is used up.
    fn is_quota(&self) -> bool {
        let code = matches!(&self.code, Some(serde_json::Value::String(c)) if c == QUOTA);
        code || self.kind.as_deref() == Some(QUOTA)
    }
}

/// A [`LlmError::Decoding`] for `body`, with an excerpt of at most 200
/// characters; both texts redacted.
pub(crate) fn decoding(
    reason: impl Into<String>,
    body: &[u8],
    secret: Option<&Secret>,
) -> LlmError {
    LlmError::Decoding {
        reason: redacted(secret, &reason.into(), MESSAGE_LIMIT),
        excerpt: redacted(secret, &String::from_utf8_lossy(body), EXCERPT_LIMIT),
    }
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
    let message = match error.message.as_deref().map(str::trim) {
        Some(m) if !m.is_empty() => redacted(secret, m, MESSAGE_LIMIT),
        _ => redacted(
            secret,
            &format!("error event in the stream (type {kind:?}, code {code:?})"),
            MESSAGE_LIMIT,
        ),
    };
    let has = |needle: &str| kind.contains(needle) || code.contains(needle);
    if error.is_quota() {
        LlmError::QuotaExhausted { message }
    } else if has("rate_limit") || code == "429" {
        LlmError::rate_limit(message, None)
    } else if has("auth") || has("api_key") || has("permission") || code == "401" || code == "403" {
        LlmError::unauthorized(message)
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
        let text = |body: &[u8], status| error_message(body, status, None).0;
        assert_eq!(text(json, 400), "bad model");
        assert_eq!(text(br#"{"error":"nope"}"#, 400), "nope");
        assert_eq!(text(br#"{"detail":"x"}"#, 400), "x");
        let listed = br#"{"detail":[{"loc":["body"],"msg":"field required"}]}"#;
        assert_eq!(
            text(listed, 422),
            String::from_utf8_lossy(listed),
            "a validation list is kept whole"
        );
        assert_eq!(text(b"", 502), "HTTP 502 with an empty body");
        let long = "é".repeat(5000);
        let cut = text(long.as_bytes(), 500);
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
        assert!(matches!(auth, LlmError::Unauthorized { .. }));
        let bad = from_stream_error(&e("invalid_request_error", 400.into()), None);
        assert!(matches!(bad, LlmError::BadRequest { .. }));
        let other = from_stream_error(&e("server_error", 500.into()), None);
        assert!(matches!(other, LlmError::Server { .. }));
    }
}
