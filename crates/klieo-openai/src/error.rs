//! OpenAI's errors as [`LlmError`]s: an error status with its body (the
//! status, headers and bounds are klieo-provider's), and in-stream error
//! objects. Every message surfaced here has the API key scrubbed out, and
//! URLs lose their credentials.

use klieo_http::secret::Hidden;
use klieo_provider::status::{status_error, ErrorReply, MESSAGE_LIMIT};
use klieo_types::LlmError;
use serde::Deserialize;
use std::borrow::Cow;

/// The error a non-2xx response stands for. Reads at most
/// [`ERROR_BODY_LIMIT`](klieo_provider::status::ERROR_BODY_LIMIT) bytes of its body.
///
/// Classification: 401 and 403 are `Unauthorized`; 402 is
/// `QuotaExhausted`; 429 is `RateLimit`, or `QuotaExhausted` when the
/// body's error code or type is `insufficient_quota`; a redirect (3xx, not
/// followed), 400, 404, 422 and the other 4xx are `BadRequest`; 408, 409,
/// 5xx and anything else are `Server`. Every kind but
/// `QuotaExhausted` carries the [`RetryHint`](klieo_types::RetryHint) of the headers: the delay of
/// `retry-after-ms` or `retry-after`, and `x-should-retry`, which
/// overrides what the kind implies while the kind and status stay true.
/// Without `x-should-retry`, a request over a model's tokens-a-minute
/// limit (429 "Request too large") and a 500 listing the request's
/// validation errors (llama-cpp-python) are not retried: the same request
/// is refused again.
/// An unauthorized reply to a request sent without an API key (`keyed`
/// false) says to set one.
pub(crate) async fn from_response(
    resp: reqwest::Response,
    hidden: &Hidden,
    keyed: bool,
) -> LlmError {
    let reply = ErrorReply::read(resp).await;
    let (mut message, quota) = error_message(&reply, hidden);
    // An API's own 404 (`{"error": …}`, say for an unknown model) is left
    // alone; a bare one means no API lives at the URL.
    let api_error = serde_json::from_slice::<serde_json::Value>(&reply.body)
        .is_ok_and(|v| v.get("error").is_some());
    match reply.status {
        404 if !api_error => message.push_str(&format!(
            "; nothing answers at {}: does the base URL (OPENAI_BASE_URL) end in the API \
             version, as in http://127.0.0.1:8080/v1?",
            reply.url
        )),
        401 | 403 if !keyed => message.push_str(
            "; no API key was sent: set OPENAI_API_KEY or call OpenAiClientBuilder::api_key",
        ),
        _ => {}
    }
    let mut hint = reply.hint;
    if hint.should_retry.is_none() && refused_as_sent(reply.status, &message) {
        hint = hint.with_should_retry(Some(false));
    }
    message.extend(reply.redirect_note());
    if reply.status == 429 && quota {
        return LlmError::QuotaExhausted { message };
    }
    status_error(reply.status, message, hint)
}

/// Whether the reply refuses the request as it was sent, so that sending
/// it again cannot help, though its status says to wait and try again: a
/// request over the model's tokens-a-minute limit whatever the minute
/// (OpenAI's 429 "Request too large"), or the request's own validation
/// errors answered with a 500 (llama-cpp-python's "N validation errors").
/// Their kind and status stay as they are (a `Fallback` moves on from
/// them as from any such error); they are only not retried.
fn refused_as_sent(status: u16, message: &str) -> bool {
    match status {
        429 => message.starts_with("Request too large"),
        500 => {
            let digits = message.bytes().take_while(u8::is_ascii_digit).count();
            digits > 0
                && message[digits..].starts_with(" validation error")
                && message.contains("('body',")
        }
        _ => false,
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
    /// FastAPI's `detail` (llama-cpp-python, vLLM).
    #[serde(borrow)]
    detail: Option<Detail<'a>>,
}

/// FastAPI's `detail`: a text (`{"detail": "Not Found"}`), or the
/// request's validation errors (a 422), each a place in the request and
/// what is wrong there. Their `input`, the value refused (the user's
/// prompt, at times), is not kept: the message reaches errors and spans
/// that never show content.
#[derive(Deserialize)]
#[serde(untagged)]
enum Detail<'a> {
    Text(#[serde(borrow)] Cow<'a, str>),
    Issues(#[serde(borrow)] Vec<Issue<'a>>),
}

#[derive(Deserialize)]
struct Issue<'a> {
    #[serde(default)]
    loc: Option<Vec<serde_json::Value>>,
    #[serde(borrow, default)]
    msg: Option<Cow<'a, str>>,
}

impl<'a> Detail<'a> {
    fn into_text(self) -> Cow<'a, str> {
        let issues = match self {
            Detail::Text(text) => return text,
            Detail::Issues(issues) => issues,
        };
        let said: Vec<String> = issues
            .iter()
            .map(|issue| {
                let place: Vec<String> = issue
                    .loc
                    .iter()
                    .flatten()
                    .map(|part| match part {
                        serde_json::Value::String(name) => name.clone(),
                        other => other.to_string(),
                    })
                    .collect();
                format!(
                    "{}: {}",
                    place.join("."),
                    issue.msg.as_deref().unwrap_or("invalid")
                )
            })
            .collect();
        Cow::Owned(said.join("; "))
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum ErrorField<'a> {
    Object(#[serde(borrow)] WireError<'a>),
    Text(#[serde(borrow)] Cow<'a, str>),
}

impl ErrorField<'_> {
    /// The error this field reports (see [`from_stream_error`]).
    pub(crate) fn into_error(self, hidden: &Hidden) -> LlmError {
        let error = match self {
            ErrorField::Object(e) => e,
            ErrorField::Text(t) => WireError {
                message: Some(t),
                ..WireError::default()
            },
        };
        from_stream_error(&error, hidden)
    }
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
/// With it, whether `insufficient_quota` is the error's code or type.
fn error_message(reply: &ErrorReply, hidden: &Hidden) -> (String, bool) {
    if let Ok(env) = serde_json::from_slice::<ErrorEnvelope<'_>>(&reply.body) {
        let mut quota = false;
        let text = match env.error {
            Some(ErrorField::Object(e)) => {
                quota = e.is_quota();
                e.message
            }
            Some(ErrorField::Text(t)) => Some(t),
            None => None,
        }
        .or(env.message)
        .or(env.detail.map(Detail::into_text));
        if let Some(text) = text.filter(|t| !t.trim().is_empty()) {
            return (hidden.redacted(text.trim(), MESSAGE_LIMIT), quota);
        }
        if quota {
            return (QUOTA.to_owned(), true);
        }
    }
    (without_input(reply.body_text(hidden)), false)
}

/// A body that did not parse as an error (cut at the bound it is read
/// to, say), up to a FastAPI validation error's first `"input"`: the
/// value refused, which may be the user's prompt, is not shown.
fn without_input(mut text: String) -> String {
    if let Some(at) = text.find("\"input\"") {
        text.truncate(at);
        text.push('…');
    }
    text
}

impl WireError<'_> {
    /// Whether the code or type says the account's quota is used up.
    fn is_quota(&self) -> bool {
        let code = matches!(&self.code, Some(serde_json::Value::String(c)) if c == QUOTA);
        code || self.kind.as_deref() == Some(QUOTA)
    }
}

/// The typed error of an `{"error": {...}}` object sent as a stream event,
/// classified by its `type` and `code`: rate limits → `RateLimit`,
/// authentication or permission → `Unauthorized`, invalid requests →
/// `BadRequest`, anything else → `Server`.
pub(crate) fn from_stream_error(error: &WireError<'_>, hidden: &Hidden) -> LlmError {
    let kind = error.kind.as_deref().unwrap_or_default();
    let code = match &error.code {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let message = match error.message.as_deref().map(str::trim) {
        Some(m) if !m.is_empty() => hidden.redacted(m, MESSAGE_LIMIT),
        _ => hidden.redacted(
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

    fn reply(body: &[u8], status: u16) -> ErrorReply {
        let url = reqwest::Url::parse("http://127.0.0.1/v1").expect("a URL");
        let mut reply = ErrorReply::new(status, url);
        reply.body = body.to_vec();
        reply
    }

    #[test]
    fn messages_come_from_json_or_bounded_text() {
        let json = br#"{"error":{"message":"bad model","type":"invalid_request_error"}}"#;
        let text = |body: &[u8], status| error_message(&reply(body, status), &Hidden::default()).0;
        assert_eq!(text(json, 400), "bad model");
        assert_eq!(text(br#"{"error":"nope"}"#, 400), "nope");
        assert_eq!(text(br#"{"detail":"x"}"#, 400), "x");
        let listed = br#"{"detail":[{"loc":["body",0],"msg":"field required","input":"x"}]}"#;
        assert_eq!(
            text(listed, 422),
            "body.0: field required",
            "a validation list says where and what, not the input"
        );
        let cut = br#"{"detail":[{"loc":null,"msg":"too long","input":"my prompt, and more"#;
        assert_eq!(
            text(cut, 422),
            r#"{"detail":[{"loc":null,"msg":"too long",…"#
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
        let rl = from_stream_error(
            &e("requests", "rate_limit_exceeded".into()),
            &Hidden::default(),
        );
        assert!(matches!(rl, LlmError::RateLimit { .. }));
        let auth = from_stream_error(
            &e("authentication_error", serde_json::Value::Null),
            &Hidden::default(),
        );
        assert!(matches!(auth, LlmError::Unauthorized { .. }));
        let bad = from_stream_error(&e("invalid_request_error", 400.into()), &Hidden::default());
        assert!(matches!(bad, LlmError::BadRequest { .. }));
        let other = from_stream_error(&e("server_error", 500.into()), &Hidden::default());
        assert!(matches!(other, LlmError::Server { .. }));
    }
}
