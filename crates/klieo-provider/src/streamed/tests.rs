//! The event stream read into chunks: its ending, quiet events, and
//! what `Debug` shows of a body.

use super::*;
use klieo_types::testing::next;

/// A body of these pieces, then its end.
struct Pieces(Vec<&'static [u8]>);

impl Stream for Pieces {
    type Item = Result<&'static [u8], reqwest::Error>;
    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Poll::Ready((!self.0.is_empty()).then(|| Ok(self.0.remove(0))))
    }
}

/// A reader that makes nothing of the events and has nothing at the
/// end: a provider's reader of its own may answer so.
struct Idle;

impl EventReader for Idle {
    fn on_event(&mut self, _: &SseEvent) -> Step {
        Step::Continue
    }
    fn on_error(&mut self, error: LlmError) -> Step {
        Step::Fail(error)
    }
    fn on_end(&mut self, _: Progress) -> Step {
        Step::Continue
    }
}

/// A body of `left` events that yield nothing, each its own piece,
/// always ready; how many were served is in `served`.
struct Quiet {
    left: usize,
    served: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Stream for Quiet {
    type Item = Result<&'static [u8], reqwest::Error>;
    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        self.left -= 1;
        self.served
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Poll::Ready(Some(Ok(b"data: {}\n\n")))
    }
}

#[tokio::test]
async fn events_that_yield_nothing_let_the_task_go_now_and_then() {
    let served = std::sync::Arc::default();
    let body = Quiet {
        left: 100_000,
        served: std::sync::Arc::clone(&served),
    };
    let mut chunks = EventChunks {
        events: Box::pin(SseStream::new(Watched::new(body, Duration::from_secs(5)))),
        reader: Idle,
        hidden: Hidden::default(),
        count: 0,
        state: State::Reading,
    };
    let waker = std::task::Waker::noop();
    let mut cx = Context::from_waker(waker);
    let polled = Pin::new(&mut chunks).poll_next(&mut cx);
    assert!(polled.is_pending(), "one poll read every event");
    let read = served.load(std::sync::atomic::Ordering::Relaxed);
    assert!(read <= QUIET_EVENTS_PER_POLL, "{read} events in one poll");
    // Polled on, it reads them all and ends.
    assert!(next(&mut chunks).await.is_none());
    assert_eq!(served.load(std::sync::atomic::Ordering::Relaxed), 100_000);
}

#[test]
fn a_stream_bodys_debug_shows_no_url() {
    use reqwest::ResponseBuilderExt;
    let url = reqwest::Url::parse("http://127.0.0.1:9/v1/chat?api-key=sk-SECRET-1").expect("a URL");
    let resp = http::Response::builder()
        .url(url)
        .body("data: {}\n\n")
        .expect("a reply");
    let shown = format!("{:?}", StreamBody::Events(reqwest::Response::from(resp)));
    assert!(!shown.contains("SECRET"), "{shown}");
    assert!(shown.contains("200"), "{shown}");
    let whole = format!("{:?}", StreamBody::Whole(b"sk-SECRET-1".to_vec()));
    assert!(!whole.contains("SECRET"), "{whole}");
}

#[tokio::test]
async fn a_reader_with_nothing_at_the_end_ends_the_stream() {
    let body = Watched::new(Pieces(vec![b"data: a\n\n"]), Duration::from_secs(5));
    let mut chunks = EventChunks {
        events: Box::pin(SseStream::new(body)),
        reader: Idle,
        hidden: Hidden::default(),
        count: 0,
        state: State::Reading,
    };
    assert!(next(&mut chunks).await.is_none());
    assert!(next(&mut chunks).await.is_none());
}
