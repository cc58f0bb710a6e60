//! [`Watched`]: a streamed body that counts its bytes and is cut when it
//! stops making progress.
//!
//! Progress is a complete line: a server that trickles bytes without ever
//! finishing a line (one byte a second, say) is as stalled as one that
//! sends nothing, and an SSE stream is lines, so a healthy one finishes a
//! line with every token or keep-alive. A line ends where the SSE decoder
//! ends one: at `\n`, `\r\n` or a lone `\r` (WHATWG allows all three).
//! The wait runs only while the stream is polled, so a slow consumer is
//! not mistaken for a slow server.

use futures_core::Stream;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// Why a watched body stopped.
#[derive(Debug)]
pub enum BodyError {
    /// Reading it failed.
    Transport(reqwest::Error),
    /// No line ended for this long while it was being read.
    Idle(Duration),
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The cause, in `source()`, names the URL; this layer's words.
            Self::Transport(_) => f.write_str("reading the reply's body failed"),
            Self::Idle(d) => write!(f, "no line of the body ended for {} ms", d.as_millis()),
        }
    }
}

impl Error for BodyError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            Self::Transport(e) => Some(e),
            Self::Idle(_) => None,
        }
    }
}

/// A body stream that counts its bytes and fails with
/// [`BodyError::Idle`] when no line ends within `idle` of being asked for
/// more (or of the last line's end, if it is read on without a pause).
pub struct Watched<S> {
    inner: Pin<Box<S>>,
    idle: Duration,
    timer: Pin<Box<Sleep>>,
    /// Whether `timer` runs for the current wait; cleared by a line's end,
    /// so the next poll starts a new wait.
    armed: bool,
    bytes: u64,
}

impl<S> Watched<S> {
    /// Watches `inner`, failing it after `idle` without a line's end.
    pub fn new(inner: S, idle: Duration) -> Self {
        Self {
            inner: Box::pin(inner),
            idle,
            timer: Box::pin(tokio::time::sleep(idle)),
            armed: false,
            bytes: 0,
        }
    }

    /// Bytes of the body read so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl<S, B> Stream for Watched<S>
where
    S: Stream<Item = Result<B, reqwest::Error>>,
    B: AsRef<[u8]>,
{
    type Item = Result<B, BodyError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if !this.armed {
            // An idle limit too long to add (`Duration::MAX`, meaning "none")
            // waits thirty years.
            let now = Instant::now();
            let deadline = now
                .checked_add(this.idle)
                .unwrap_or_else(|| now + Duration::from_secs(30 * 365 * 86_400));
            this.timer.as_mut().reset(deadline);
            this.armed = true;
        }
        match this.inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(piece))) => {
                let bytes = piece.as_ref();
                this.bytes = this.bytes.saturating_add(bytes.len() as u64);
                if memchr::memchr2(b'\n', b'\r', bytes).is_some() {
                    this.armed = false;
                }
                Poll::Ready(Some(Ok(piece)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(BodyError::Transport(e)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match this.timer.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(BodyError::Idle(this.idle)))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_transport_failure_says_this_layers_words_and_keeps_the_cause_apart() {
        let client =
            klieo_http::client::build(false, Duration::from_secs(5), Default::default(), "t")
                .unwrap();
        let failed = client
            .get("http://127.0.0.1:1/v1?key=sk-in-query")
            .send()
            .await
            .unwrap_err();
        let cause = failed.to_string();
        let error = BodyError::Transport(failed);
        let shown = error.to_string();
        assert!(
            !shown.contains(&cause) && !shown.contains("sk-in-query"),
            "{shown}"
        );
        assert_eq!(error.source().map(ToString::to_string), Some(cause));
    }
}
