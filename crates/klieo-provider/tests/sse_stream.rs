//! Tests of the SSE stream adapter: events then `None`, transport errors,
//! an unfinished event at the end, the line and event bounds, and fairness.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::error::Error as _;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use futures_core::stream::{FusedStream, Stream};
use klieo_provider::sse::{SseDecoder, SseError, SseStream};
use klieo_types::testing::next;

use crate::support::{chunks, ev, sample, sample_events};

#[tokio::test]
async fn sse_stream_yields_the_events_then_none() {
    let input = sample();
    let (a, b) = input.split_at(input.len() / 3);
    let mut stream = SseStream::new(chunks(vec![Ok(a), Ok(b""), Ok(b)]));
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

#[tokio::test]
async fn sse_stream_ends_after_an_event_too_long() {
    let decoder = SseDecoder::new().with_max_event_len(8);
    let body = chunks(vec![
        Ok(b"data: a\n\ndata: 1234\n"),
        Ok(b"data: 5678\n\n"),
        Ok(b"data: b\n\n"),
    ]);
    let mut stream = SseStream::with_decoder(body, decoder);
    assert_eq!(
        next(&mut stream).await.unwrap().unwrap(),
        ev(None, "a", None)
    );
    let err = next(&mut stream).await.unwrap().unwrap_err();
    assert!(
        matches!(err, SseError::EventTooLong { limit: 8 }),
        "{err:?}"
    );
    assert!(next(&mut stream).await.is_none());
    assert!(stream.is_terminated());
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
