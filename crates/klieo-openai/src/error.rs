//! From HTTP to [`LlmError`]: status codes, bodies (read with a size
//! bound), transport failures, undecodable replies, and in-stream error
//! objects. Every message surfaced here has the API key scrubbed out, and
//! URLs lose their credentials.

use crate::redact::{redacted, safe_url, scrub, Secret};
use crate::retry_after::{retry_after, should_retry};
use klieo_types::LlmError;
use serde::Deserialize;
use std::borrow::Cow;
use std::error::Error;
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
/// Classification: 401 and 403 are `Unauthorized`; 429 is `RateLimit` with
/// the delay from `retry-after-ms` or `retry-after`; 400, 404, 422 and any
/// other 4xx are `BadRequest`; 408, 409, 5xx and anything else are `Server`.
/// Then `x-should-retry` overrides: `true` turns a non-retryable error into
/// `Server` (retryable), `false` turns a retryable one into `BadRequest`
/// (not retryable); the real status is kept in `status` either way.
pub(crate) async fn from_response(resp: reqwest::Response, secret: Option<&Secret>) -> LlmError {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let url = safe_url(resp.url());
    let body = read_bounded(resp, ERROR_BODY_LIMIT).await;
    let mut message = error_message(&body, status, secret);
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
    let error = classify(
        status,
        message.clone(),
        retry_after(&headers, SystemTime::now()),
    );
    match should_retry(&headers) {
        Some(true) if !error.retryable() => LlmError::Server {
            status: Some(status),
            message,
            cause: None,
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
            cause: None,
        },
        400..=499 => LlmError::BadRequest {
            status: Some(status),
            message,
        },
        _ => LlmError::Server {
            status: Some(status),
            message,
            cause: None,
        },
    }
}

/// Reads the body into `body` until it ends (`Ok(true)`) or would pass
/// `limit` bytes (`Ok(false)`, keeping only what fits).
async fn read_into(
    resp: &mut reqwest::Response,
    limit: usize,
    body: &mut Vec<u8>,
) -> Result<bool, reqwest::Error> {
    while let Some(chunk) = resp.chunk().await? {
        let room = limit.saturating_sub(body.len());
        if chunk.len() > room {
            body.extend_from_slice(chunk.get(..room).unwrap_or_default());
            return Ok(false);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(true)
}

/// Up to `limit` bytes of an error body; the rest is left unread, and a
/// failed read keeps what came before it.
async fn read_bounded(mut resp: reqwest::Response, limit: usize) -> Vec<u8> {
    let mut body = Vec::new();
    // Whether the body was cut or broke off, what came is the message.
    let _ = read_into(&mut resp, limit, &mut body).await;
    body
}

/// The whole body of a 2xx reply. Past `limit` bytes (by its
/// `content-length`, or as read) it is a [`LlmError::Decoding`] saying so; a
/// failed read is the transport error.
pub(crate) async fn read_reply(
    mut resp: reqwest::Response,
    limit: usize,
    secret: Option<&Secret>,
) -> Result<Vec<u8>, LlmError> {
    let too_long = |body: &[u8]| {
        let reason = format!("the reply exceeded {limit} bytes");
        decoding(reason, body, secret)
    };
    let announced = resp.content_length().unwrap_or(0);
    if announced > limit as u64 {
        return Err(too_long(&[]));
    }
    let mut body = Vec::with_capacity(usize::try_from(announced).unwrap_or(0));
    match read_into(&mut resp, limit, &mut body).await {
        Ok(true) => Ok(body),
        Ok(false) => Err(too_long(&body)),
        Err(e) => Err(from_reqwest(e, secret)),
    }
}

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
fn error_message(body: &[u8], status: u16, secret: Option<&Secret>) -> String {
    if let Ok(env) = serde_json::from_slice::<ErrorEnvelope<'_>>(body) {
        let text = match env.error {
            Some(ErrorField::Object(e)) => e.message,
            Some(ErrorField::Text(t)) => Some(t),
            None => None,
        }
        .or(env.message)
        .or(env.detail);
        if let Some(text) = text.filter(|t| !t.trim().is_empty()) {
            return redacted(secret, text.trim(), MESSAGE_LIMIT);
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        format!("HTTP {status} with an empty body")
    } else {
        redacted(secret, text, MESSAGE_LIMIT)
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

/// A transport failure: `Network` when connecting failed (a connect
/// timeout included), `Timeout` when the call's deadline passed, `Network`
/// otherwise. The message chains the causes and names the URL without its
/// credentials (reqwest's own text would show it whole).
pub(crate) fn from_reqwest(err: reqwest::Error, secret: Option<&Secret>) -> LlmError {
    if !err.is_connect() && err.is_timeout() {
        return LlmError::Timeout;
    }
    let url = err.url().map(safe_url);
    let err = err.without_url();
    let mut text = err.to_string();
    if let Some(url) = url {
        text = format!("{text} for url ({url})");
    }
    LlmError::Network(scrub(secret, chain_onto(text, err.source())))
}

/// A failure reading a stream's body, as the SSE decoder passes it on.
pub(crate) fn from_stream_transport(
    cause: Box<dyn Error + Send + Sync>,
    secret: Option<&Secret>,
) -> LlmError {
    match cause.downcast::<reqwest::Error>() {
        Ok(err) => from_reqwest(*err, secret),
        Err(cause) => LlmError::Network(scrub(secret, chain(&*cause))),
    }
}

/// `err` and its sources, joined by `: `.
pub(crate) fn chain(err: &dyn Error) -> String {
    chain_onto(err.to_string(), err.source())
}

/// `text`, then `source` and its own sources, joined by `: `.
fn chain_onto(mut text: String, mut source: Option<&dyn Error>) -> String {
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
    let message = match error.message.as_deref().map(str::trim) {
        Some(m) if !m.is_empty() => redacted(secret, m, MESSAGE_LIMIT),
        _ => redacted(
            secret,
            &format!("error event in the stream (type {kind:?}, code {code:?})"),
            MESSAGE_LIMIT,
        ),
    };
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
        assert_eq!(error_message(json, 400, None), "bad model");
        assert_eq!(error_message(br#"{"error":"nope"}"#, 400, None), "nope");
        assert_eq!(error_message(br#"{"detail":"x"}"#, 400, None), "x");
        let listed = br#"{"detail":[{"loc":["body"],"msg":"field required"}]}"#;
        assert_eq!(
            error_message(listed, 422, None),
            String::from_utf8_lossy(listed),
            "a validation list is kept whole"
        );
        assert_eq!(error_message(b"", 502, None), "HTTP 502 with an empty body");
        let long = "é".repeat(5000);
        let cut = error_message(long.as_bytes(), 500, None);
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
}
