//! [`SseStream`]: a byte stream decoded into a stream of [`SseEvent`]s.

use std::error::Error;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::stream::{FusedStream, Stream};
use pin_project_lite::pin_project;

use super::{SseDecoder, SseError, SseEvent};

/// How many chunks one poll reads without finding an event before it lets
/// other tasks run (a stream of keep-alives that is always ready must not
/// hog its thread).
const CHUNKS_PER_POLL: usize = 32;

pin_project! {
    /// A stream of [`SseEvent`]s decoded from a stream of byte chunks, such
    /// as reqwest's `Response::bytes_stream()`.
    ///
    /// Chunks may be any `AsRef<[u8]>` (`Bytes`, `Vec<u8>`, `&[u8]`), and
    /// the stream's error anything that converts into
    /// `Box<dyn Error + Send + Sync>` (any `Error + Send + Sync` type does).
    /// The events are those of an [`SseDecoder`] fed with the chunks; see
    /// there for the rules. When the byte stream ends, an event not ended by
    /// a blank line is discarded and the stream ends.
    ///
    /// An error, from the byte stream ([`SseError::Transport`]) or the
    /// decoder ([`SseError::LineTooLong`], [`SseError::EventTooLong`]), is
    /// yielded once, and the stream ends after it: it yields `None` from
    /// then on and does not poll the byte stream again.
    ///
    /// # Example
    ///
    /// ```
    /// use klieo_provider::sse::{SseEvent, SseStream};
    /// # use klieo_types::testing::next;
    /// # use std::collections::VecDeque;
    /// # use std::pin::Pin;
    /// # use std::task::{Context, Poll};
    /// # use futures_core::Stream;
    /// # struct Chunks(VecDeque<Result<&'static [u8], std::io::Error>>);
    /// # impl Stream for Chunks {
    /// #     type Item = Result<&'static [u8], std::io::Error>;
    /// #     fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
    /// #         Poll::Ready(self.0.pop_front())
    /// #     }
    /// # }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// // With reqwest: `SseStream::new(response.bytes_stream())`.
    /// let body = Chunks(VecDeque::from([
    ///     Ok(&b"data: {\"delta\":\"Hel"[..]),
    ///     Ok(b"lo\"}\n\n: keep-alive\n\ndata: [DONE]\n\n"),
    /// ]));
    /// let mut events = SseStream::new(body);
    /// let mut data = Vec::new();
    /// while let Some(event) = next(&mut events).await {
    ///     let event: SseEvent = event?;
    ///     if event.data == "[DONE]" {
    ///         break;
    ///     }
    ///     data.push(event.data);
    /// }
    /// assert_eq!(data, ["{\"delta\":\"Hello\"}"]);
    /// # Ok(())
    /// # }
    /// ```
    #[derive(Debug)]
    pub struct SseStream<S> {
        #[pin]
        inner: S,
        decoder: SseDecoder,
        state: State,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading the byte stream.
    Reading,
    /// The byte stream ended; draining the decoder.
    Finishing,
    /// Ended, by the byte stream's end or an error.
    Done,
}

impl<S> SseStream<S> {
    /// Decodes `inner` with a default [`SseDecoder`] (lines up to 1 MiB,
    /// events up to 16 MiB).
    pub fn new(inner: S) -> Self {
        Self::with_decoder(inner, SseDecoder::new())
    }

    /// Decodes `inner` with `decoder`, for other bounds on line and event
    /// length ([`SseDecoder::with_max_line_len`],
    /// [`SseDecoder::with_max_event_len`]).
    pub fn with_decoder(inner: S, decoder: SseDecoder) -> Self {
        SseStream {
            inner,
            decoder,
            state: State::Reading,
        }
    }

    /// The decoder, for the stream's [`last_event_id`] and [`retry`] as of
    /// the last event yielded.
    ///
    /// [`last_event_id`]: SseDecoder::last_event_id
    /// [`retry`]: SseDecoder::retry
    pub fn decoder(&self) -> &SseDecoder {
        &self.decoder
    }

    /// The byte stream being decoded, for what a wrapper of it counts.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, B, E> Stream for SseStream<S>
where
    S: Stream<Item = Result<B, E>>,
    B: AsRef<[u8]>,
    E: Into<Box<dyn Error + Send + Sync>>,
{
    type Item = Result<SseEvent, SseError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        let mut chunks = 0;
        loop {
            let decoded = match *this.state {
                State::Done => return Poll::Ready(None),
                State::Finishing => this.decoder.finish(),
                State::Reading => this.decoder.next_event(),
            };
            match decoded {
                Ok(Some(event)) => return Poll::Ready(Some(Ok(event))),
                Ok(None) if *this.state == State::Finishing => {
                    *this.state = State::Done;
                    return Poll::Ready(None);
                }
                Ok(None) => {}
                Err(err) => {
                    *this.state = State::Done;
                    return Poll::Ready(Some(Err(err)));
                }
            }
            if chunks == CHUNKS_PER_POLL {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            match this.inner.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(bytes))) => {
                    this.decoder.push(bytes.as_ref());
                    chunks += 1;
                }
                Poll::Ready(Some(Err(err))) => {
                    *this.state = State::Done;
                    return Poll::Ready(Some(Err(SseError::Transport(err.into()))));
                }
                Poll::Ready(None) => *this.state = State::Finishing,
            }
        }
    }
}

impl<S, B, E> FusedStream for SseStream<S>
where
    S: Stream<Item = Result<B, E>>,
    B: AsRef<[u8]>,
    E: Into<Box<dyn Error + Send + Sync>>,
{
    fn is_terminated(&self) -> bool {
        self.state == State::Done
    }
}
