//! Tests of the SSE stream adapter: events then `None`, transport errors,
//! an unfinished event at the end, the line bound, and fairness.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::VecDeque;
use std::error::Error as _;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use futures_core::stream::{FusedStream, Stream};
use klieo_stream::{SseDecoder, SseError, SseStream};

use crate::sse::{ev, sample, sample_events};

// ---- SseStream ----

/// A byte stream from a list; it fails the test if polled after its end.
pub(crate) struct Chunks {
    items: VecDeque<Result<Vec<u8>, io::Error>>,
    ended: bool,
}

pub(crate) fn chunks(items: Vec<Result<&[u8], io::Error>>) -> Chunks {
    Chunks {
        items: items
            .into_iter()
            .map(|item| item.map(<[u8]>::to_vec))
            .collect(),
        ended: false,
    }
}

impl Stream for Chunks {
    type Item = Result<Vec<u8>, io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        assert!(!self.ended, "polled after its end");
        let item = self.items.pop_front();
        self.ended = matches!(item, None | Some(Err(_)));
        Poll::Ready(item)
    }
}

async fn next<S: Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
    std::future::poll_fn(|cx| Pin::new(&mut *stream).poll_next(cx)).await
}

#[tokio::test]
async fn sse_stream_yields_the_events_then_none() {
    let input = sample();
    let (a, b) = input.split_at(input.len() / 3);
    let mut stream = SseStream::new(chunks(vec![Ok(a), Ok(b"")]).chain_ok(b));
    for expected in sample_events() {
        assert_eq!(next(&mut stream).await.unwrap().unwrap(), expected);
    }
    assert!(next(&mut stream).await.is_none());
    assert!(stream.is_terminated());
    assert!(next(&mut stream).await.is_none());
    assert_eq!(stream.decoder().last_event_id(), Some("8"));
}

#[tokio::test]
async fn sse_stream_surfaces_a_transport_error_and_ends() {
    let mut stream = SseStream::new(chunks(vec![
        Ok(b"data: a\n\ndata: b"),
        Err(io::Error::other("connection reset")),
        Ok(b"\n\n"),
    ]));
    assert_eq!(
        next(&mut stream).await.unwrap().unwrap(),
        ev(None, "a", None)
    );
    let err = next(&mut stream).await.unwrap().unwrap_err();
    assert!(matches!(err, SseError::Transport(_)), "{err:?}");
    assert_eq!(err.source().unwrap().to_string(), "connection reset");
    assert!(next(&mut stream).await.is_none());
    assert!(next(&mut stream).await.is_none());
}

#[tokio::test]
async fn sse_stream_ending_mid_event_discards_it() {
    let mut stream = SseStream::new(chunks(vec![Ok(b"data: a\n\n"), Ok(b"data: b\n")]));
    assert_eq!(
        next(&mut stream).await.unwrap().unwrap(),
        ev(None, "a", None)
    );
    assert!(next(&mut stream).await.is_none());
}

#[tokio::test]
async fn sse_stream_ends_after_a_line_too_long() {
    let decoder = SseDecoder::with_max_line_len(8);
    let body = chunks(vec![Ok(b"data: a\n\ndata: 1234"), Ok(b"5678\n\n")]);
    let mut stream = SseStream::with_decoder(body, decoder);
    assert_eq!(
        next(&mut stream).await.unwrap().unwrap(),
        ev(None, "a", None)
    );
    let err = next(&mut stream).await.unwrap().unwrap_err();
    assert!(matches!(err, SseError::LineTooLong { limit: 8 }), "{err:?}");
    assert!(next(&mut stream).await.is_none());
}

#[test]
fn sse_stream_lets_other_tasks_run_during_a_long_run_of_keep_alives() {
    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let count = Arc::new(Count(AtomicUsize::new(0)));
    let waker = Waker::from(count.clone());
    let mut cx = Context::from_waker(&waker);
    let mut items: Vec<Result<&[u8], io::Error>> = (0..100).map(|_| Ok(&b": ka\n"[..])).collect();
    items.push(Ok(b"data: a\n\n"));
    let mut stream = SseStream::new(chunks(items));
    let mut pending = 0;
    let event = loop {
        match Pin::new(&mut stream).poll_next(&mut cx) {
            Poll::Ready(item) => break item,
            Poll::Pending => pending += 1,
        }
    };
    assert_eq!(event.unwrap().unwrap(), ev(None, "a", None));
    assert!(pending >= 2, "{pending}");
    assert_eq!(count.0.load(Ordering::SeqCst), pending);
}

impl Chunks {
    fn chain_ok(mut self, more: &[u8]) -> Self {
        self.items.push_back(Ok(more.to_vec()));
        self
    }
}
