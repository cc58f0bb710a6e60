//! From an HTTP status and its headers to [`LlmError`], the bounds on what
//! is read of a reply, and the error for a reply that cannot be read.

use crate::body::read_bounded;
use crate::hint::retry_hint;
use klieo_http::secret::Hidden;
use klieo_http::url::safe_url;
use klieo_types::{ErrorChain, LlmError, RetryHint};
use reqwest::Url;
use std::error::Error;
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

/// Bytes of an error body read at most, 64 KiB; the rest is left unread.
pub const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// Bytes of a successful reply read at most, 16 MiB: a longer reply is
/// [`LlmError::ReplyTooLarge`] rather than memory the server decides on.
/// Streamed replies are bounded per event by the SSE decoder instead.
pub const REPLY_LIMIT: usize = 16 * 1024 * 1024;

/// Characters of a server message kept in an error (a `…` marks a cut).
pub const MESSAGE_LIMIT: usize = 1000;

/// Characters of an undecodable reply kept in [`LlmError::Decoding`]'s
/// excerpt; with the `…` that marks a cut, an excerpt has at most 200.
const EXCERPT_LIMIT: usize = 199;

/// A non-2xx reply, read: what a provider needs to build its error.
/// `Debug` shows the body's length, not the body: a server may echo the
/// key in it.
#[non_exhaustive]
pub struct ErrorReply {
    /// The status code.
    pub status: u16,
    /// What the headers said of retrying.
    pub hint: RetryHint,
    /// The URL asked, without credentials, query or fragment.
    pub url: Url,
    /// The request id the server gave the reply (`request-id` or
    /// `x-request-id`), for support.
    pub request_id: Option<String>,
    /// At most [`ERROR_BODY_LIMIT`] bytes of the body.
    pub body: Vec<u8>,
    /// Where a redirect (`3xx`) pointed, without credentials, query or
    /// fragment: klieo's clients follow none (see
    /// [`klieo_http::client::build`]).
    pub location: Option<Url>,
}

impl fmt::Debug for ErrorReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ErrorReply")
            .field("status", &self.status)
            .field("hint", &self.hint)
            .field("url", &self.url.as_str())
            .field("request_id", &self.request_id)
            .field("body_bytes", &self.body.len())
            .field("location", &self.location.as_ref().map(Url::as_str))
            .finish()
    }
}

/// The request id a server gave its reply (`request-id` or
/// `x-request-id`), cut to 200 characters, for support.
///
/// ```
/// use reqwest::header::{HeaderMap, HeaderValue};
///
/// let mut headers = HeaderMap::new();
/// headers.insert("request-id", HeaderValue::from_static(" req_1 "));
/// assert_eq!(klieo_provider::status::request_id(&headers).as_deref(), Some("req_1"));
/// assert_eq!(klieo_provider::status::request_id(&HeaderMap::new()), None);
/// ```
pub fn request_id(headers: &reqwest::header::HeaderMap) -> Option<String> {
    ["request-id", "x-request-id"]
        .iter()
        .find_map(|name| headers.get(*name)?.to_str().ok())
        .map(|id| klieo_types::text::bounded(id.trim(), 200))
}

impl ErrorReply {
    /// A reply of `status` from `url`, with no hint, request id or body
    /// (for tests of a provider's error parsing).
    pub fn new(status: u16, url: Url) -> Self {
        Self {
            status,
            hint: RetryHint::new(),
            url,
            request_id: None,
            body: Vec::new(),
            location: None,
        }
    }

    /// Reads a non-2xx reply: its status, retry headers, request id and at
    /// most [`ERROR_BODY_LIMIT`] bytes of its body.
    pub async fn read(resp: reqwest::Response) -> Self {
        let status = resp.status().as_u16();
        let hint = retry_hint(resp.headers(), SystemTime::now());
        let request_id = request_id(resp.headers());
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|to| to.to_str().ok())
            .and_then(|to| resp.url().join(to).ok())
            .map(|to| safe_url(&to));
        let url = safe_url(resp.url());
        let body = read_bounded(resp, ERROR_BODY_LIMIT).await;
        Self {
            status,
            hint,
            url,
            request_id,
            body,
            location,
        }
    }

    /// For a redirect (`3xx`), what to add to its error's message: where
    /// it pointed and what to do, since klieo follows none (a key sent in
    /// a header would go on to wherever it points); `None` otherwise.
    pub fn redirect_note(&self) -> Option<String> {
        if !(300..400).contains(&self.status) {
            return None;
        }
        let to = match &self.location {
            Some(to) => format!("to {}", klieo_types::text::bounded(to.as_str(), 200)),
            None => "without saying where".to_owned(),
        };
        Some(format!(
            "; {} redirected {to}: klieo follows no redirect, which would carry the API key \
             elsewhere, so set the base URL to the address the API answers at",
            self.url
        ))
    }

    /// The body as text, trimmed, with the key scrubbed out and cut to
    /// [`MESSAGE_LIMIT`]; `HTTP {status} with an empty body` for none.
    pub fn body_text(&self, hidden: &Hidden) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let text = text.trim();
        if text.is_empty() {
            format!("HTTP {} with an empty body", self.status)
        } else {
            hidden.redacted(text, MESSAGE_LIMIT)
        }
    }
}

/// The error an HTTP status stands for, with the server's `message` and
/// retry `hint`: 401 and 403 are `Unauthorized`; 402 (payment required:
/// an account out of credit) is `QuotaExhausted`; 429 is `RateLimit`; a
/// redirect (300 to 399, which klieo does not follow), 400 to 407 and 410
/// to 499 are `BadRequest`; 408, 409, 5xx (529, overloaded, among them)
/// and anything else are `Server`. The hint's `should_retry`
/// decides `retryable()` while the kind and status stay true.
///
/// ```
/// use klieo_types::{LlmError, RetryHint};
///
/// let e = klieo_provider::status::status_error(529, "overloaded".into(), RetryHint::new());
/// assert!(matches!(e, LlmError::Server { status: Some(529), .. }));
/// assert!(e.retryable());
/// ```
pub fn status_error(status: u16, message: String, hint: RetryHint) -> LlmError {
    match status {
        401 | 403 => LlmError::Unauthorized { message, hint },
        402 => LlmError::QuotaExhausted { message },
        429 => LlmError::RateLimit { message, hint },
        300..=399 | 400..=407 | 410..=499 => LlmError::BadRequest {
            status: Some(status),
            message,
            hint,
        },
        _ => LlmError::Server {
            status: Some(status),
            message,
            hint,
            cause: None,
        },
    }
}

/// A [`LlmError::Decoding`] for `body`, with an excerpt of at most 200
/// characters; both texts redacted.
pub fn decoding(reason: impl Into<String>, body: &[u8], hidden: &Hidden) -> LlmError {
    LlmError::Decoding {
        reason: hidden.redacted(&reason.into(), MESSAGE_LIMIT),
        excerpt: excerpt(body, hidden),
        cause: None,
    }
}

/// [`decoding`] with the parser's error `cause` as the `source()`, its
/// text redacted too (a parser may quote the body, and the body may echo
/// the key).
pub fn decoding_from(
    reason: impl Into<String>,
    cause: &dyn Error,
    body: &[u8],
    hidden: &Hidden,
) -> LlmError {
    LlmError::Decoding {
        reason: hidden.redacted(&reason.into(), MESSAGE_LIMIT),
        excerpt: excerpt(body, hidden),
        cause: Some(Arc::new(Redacted(
            hidden.redacted(&ErrorChain(cause).to_string(), MESSAGE_LIMIT),
        ))),
    }
}

/// At most 200 characters of `body`, as text, the key scrubbed out.
pub(crate) fn excerpt(body: &[u8], hidden: &Hidden) -> String {
    hidden.redacted(&String::from_utf8_lossy(body), EXCERPT_LIMIT)
}

/// A parser's error text, redacted, standing for that error as a cause.
#[derive(Debug)]
struct Redacted(String);

impl fmt::Display for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Error for Redacted {}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_kinds() {
        let kind = |status| status_error(status, "m".into(), RetryHint::new());
        assert!(matches!(kind(401), LlmError::Unauthorized { .. }));
        assert!(matches!(kind(403), LlmError::Unauthorized { .. }));
        assert!(matches!(kind(429), LlmError::RateLimit { .. }));
        assert!(matches!(kind(402), LlmError::QuotaExhausted { .. }));
        for bad in [301, 307, 308, 400, 404, 413, 422] {
            assert!(matches!(kind(bad), LlmError::BadRequest { .. }), "{bad}");
            assert!(!kind(bad).retryable(), "{bad}");
        }
        for server in [408, 409, 500, 503, 529] {
            assert!(matches!(kind(server), LlmError::Server { .. }), "{server}");
        }
    }

    #[test]
    fn debug_shows_no_body() {
        let url = Url::parse("http://127.0.0.1/v1").unwrap();
        let mut reply = ErrorReply::new(401, url);
        reply.body = b"Incorrect API key provided: sk-live-123456".to_vec();
        let shown = format!("{reply:?}");
        assert!(!shown.contains("sk-live"), "{shown}");
        assert!(shown.contains("body_bytes: 42"), "{shown}");
    }

    #[test]
    fn excerpts_are_bounded() {
        let body = "x".repeat(500);
        let error = decoding("r", body.as_bytes(), &Hidden::default());
        let excerpt = match &error {
            LlmError::Decoding { excerpt, .. } => excerpt.chars().count(),
            _ => 0,
        };
        assert_eq!(excerpt, 200, "{error:?}");
    }
}
