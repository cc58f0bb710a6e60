//! Reading bodies and telling transport failures apart: a connection that
//! could not be made ([`LlmError::Network`]), one that took too long to
//! make ([`LlmError::Timeout`]), and one that broke after the request went
//! out ([`LlmError::Interrupted`], with what had arrived). Every text names
//! URLs without their credentials and has the API key scrubbed out; the
//! transport's own error is the `source()`, never pasted into the text.

use crate::status::excerpt;
use klieo_http::secret::Hidden;
use klieo_http::url::safe_url;
use klieo_types::{LlmError, TimeLimit};
use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

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
pub async fn read_bounded(mut resp: reqwest::Response, limit: usize) -> Vec<u8> {
    let mut body = Vec::new();
    // Whether the body was cut or broke off, what came is the message.
    let _ = read_into(&mut resp, limit, &mut body).await;
    body
}

/// The whole body of a 2xx reply. Past `limit` bytes (by its
/// `content-length`, or as read) it is [`LlmError::ReplyTooLarge`]; a read
/// that breaks off is [`LlmError::Interrupted`] with the bytes read.
pub async fn read_reply(
    mut resp: reqwest::Response,
    limit: usize,
    hidden: &Hidden,
) -> Result<Vec<u8>, LlmError> {
    let too_long = |body: &[u8]| LlmError::ReplyTooLarge {
        limit,
        excerpt: excerpt(body, hidden),
    };
    let announced = resp.content_length().unwrap_or(0);
    if announced > limit as u64 {
        return Err(too_long(&[]));
    }
    let mut body = Vec::with_capacity(usize::try_from(announced).unwrap_or(0));
    match read_into(&mut resp, limit, &mut body).await {
        Ok(true) => Ok(body),
        Ok(false) => Err(too_long(&body)),
        Err(e) => Err(interrupted(e, body.len() as u64, 0, hidden)),
    }
}

/// A failure sending a request or waiting for its reply to start:
/// [`LlmError::Timeout`] of [`TimeLimit::Connect`] (`connect_timeout`
/// long) or `Network` when the connection could not be made; otherwise
/// the connection broke after the request went out (`Interrupted`, after
/// 0 bytes). The text says what was being done, and to which URL (without
/// its credentials); reqwest's error, without the URL, is the `source()`.
pub fn from_send(err: reqwest::Error, hidden: &Hidden, connect_timeout: Duration) -> LlmError {
    match (err.is_connect(), err.is_timeout()) {
        (true, true) => LlmError::timeout(TimeLimit::Connect, connect_timeout),
        (true, false) => {
            let (reason, cause) = doing("connecting to", err, hidden);
            LlmError::Network {
                reason,
                cause: Some(cause),
            }
        }
        _ => {
            let (reason, cause) = doing("waiting for the reply from", err, hidden);
            LlmError::Interrupted {
                bytes: 0,
                events: 0,
                reason,
                cause: Some(cause),
            }
        }
    }
}

/// [`LlmError::Interrupted`] after `bytes` of the body and `events` of a
/// stream, for the transport failure `err` (its `source()`).
pub fn interrupted(err: reqwest::Error, bytes: u64, events: u64, hidden: &Hidden) -> LlmError {
    let (reason, cause) = doing("reading the reply from", err, hidden);
    LlmError::Interrupted {
        bytes,
        events,
        reason,
        cause: Some(cause),
    }
}

/// `what` the URL of `err` (without credentials; the key scrubbed out),
/// and `err` without its URL as the cause: reqwest would show the URL
/// whole.
fn doing(
    what: &str,
    err: reqwest::Error,
    hidden: &Hidden,
) -> (String, Arc<dyn Error + Send + Sync>) {
    let reason = match err.url().map(safe_url) {
        Some(url) => hidden.scrub(format!("{what} {url}")),
        None => format!("{what} the model server"),
    };
    (reason, Arc::new(err.without_url()))
}
