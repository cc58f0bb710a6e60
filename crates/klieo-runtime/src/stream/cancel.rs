//! [`CancelWatch`]: a cancellation token that can be looked at for every
//! chunk, at the cost of one atomic load.
//!
//! `CancellationToken::is_cancelled` takes a lock, which is a fifth of what
//! relaying a chunk costs. The watch registers one waiting future with the
//! token, woken by a waker of its own: the wake raises a flag (and wakes the
//! consumer, if it is waiting). The flag means "look again", so a look at
//! the token happens only after the token's waiters were woken.
//! `CancellationToken::cancel` wakes its waiters before it returns, so any
//! check that starts after `cancel()` returned sees it.

use futures_util::task::AtomicWaker;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// Watches one token; see the module docs.
pub(crate) struct CancelWatch {
    wait: Pin<Box<WaitForCancellationFutureOwned>>,
    signal: Arc<Signal>,
    cancelled: bool,
}

/// What the token's waiting future wakes.
struct Signal {
    /// Raised by every wake; starts raised so the first check registers.
    woken: AtomicBool,
    /// The consumer waiting in [`CancelWatch::poll_cancelled`], if any.
    consumer: AtomicWaker,
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.consumer.wake();
    }
}

impl CancelWatch {
    pub(crate) fn new(token: CancellationToken) -> Self {
        Self {
            wait: Box::pin(token.cancelled_owned()),
            signal: Arc::new(Signal {
                woken: AtomicBool::new(true),
                consumer: AtomicWaker::new(),
            }),
            cancelled: false,
        }
    }

    /// Whether the token has fired. One atomic load unless the token's
    /// waiters were woken since the last look.
    pub(crate) fn is_cancelled(&mut self) -> bool {
        if !self.cancelled && self.signal.woken.load(Ordering::Acquire) {
            // Lowered before looking, so a wake during the look is kept.
            self.signal.woken.store(false, Ordering::Release);
            let waker = Waker::from(Arc::clone(&self.signal));
            let mut cx = Context::from_waker(&waker);
            self.cancelled = self.wait.as_mut().poll(&mut cx).is_ready();
        }
        self.cancelled
    }

    /// Ready once the token has fired; until then `cx` is woken when it does.
    pub(crate) fn poll_cancelled(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        // Registered before the look: a wake after it reaches `cx`, one
        // before it raised the flag the look reads.
        self.signal.consumer.register(cx.waker());
        if self.is_cancelled() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[derive(Default)]
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_token_cancelled_before_the_watch_is_seen_at_once() {
        let token = CancellationToken::new();
        token.cancel();
        assert!(CancelWatch::new(token).is_cancelled());
    }

    #[test]
    fn a_cancel_is_seen_by_the_first_check_after_it() {
        let token = CancellationToken::new();
        let mut watch = CancelWatch::new(token.clone());
        for _ in 0..3 {
            assert!(!watch.is_cancelled());
        }
        token.cancel();
        assert!(watch.is_cancelled());
        assert!(watch.is_cancelled(), "cancelled stays cancelled");
    }

    #[test]
    fn a_parent_cancel_reaches_a_child_token_watch() {
        let parent = CancellationToken::new();
        let mut watch = CancelWatch::new(parent.child_token());
        assert!(!watch.is_cancelled());
        parent.cancel();
        assert!(watch.is_cancelled());
    }

    #[test]
    fn a_waiting_consumer_is_woken_by_the_cancel() {
        let token = CancellationToken::new();
        let mut watch = CancelWatch::new(token.clone());
        let count = Arc::new(Count::default());
        let waker = Waker::from(Arc::clone(&count));
        let mut cx = Context::from_waker(&waker);
        assert!(watch.poll_cancelled(&mut cx).is_pending());
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
        token.cancel();
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "woken by cancel()");
        assert!(watch.poll_cancelled(&mut cx).is_ready());
    }

    #[test]
    fn a_cancel_from_another_thread_is_seen_once_it_returned() {
        let token = CancellationToken::new();
        let mut watch = CancelWatch::new(token.clone());
        assert!(!watch.is_cancelled());
        std::thread::spawn(move || token.cancel())
            .join()
            .expect("the cancelling thread ends");
        assert!(watch.is_cancelled());
    }
}
