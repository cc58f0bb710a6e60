//! [`race`]: a model call or a tool call raced against its deadline and
//! the run's cancellation, each looked at only once the call waits.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::Poll;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How a raced call ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Raced<T> {
    /// It finished with this.
    Done(T),
    /// Its deadline passed first.
    TimedOut,
    /// The token was cancelled first.
    Cancelled,
}

impl<T> Raced<T> {
    /// What the call finished with; `None` when it did not (for a race
    /// with no token, its deadline passed).
    pub(crate) fn done(self) -> Option<T> {
        match self {
            Raced::Done(done) => Some(done),
            Raced::TimedOut | Raced::Cancelled => None,
        }
    }
}

/// `call`, raced against `deadline` and `cancel` (either may be absent).
/// (`klieo_retry`'s driver races each attempt with the token alike, in a
/// copy of its own: it is a layer below this crate, and this is no item
/// for its public API.)
///
/// The call is polled first on every poll, as `tokio::time::timeout_at`
/// polls its future: one done at once (a computation, a cache, a model in
/// this process) makes no timer and no waiter on the token (made up
/// front, they cost a step about 120 instructions; see
/// docs/PERFORMANCE.md). One that waits gets them then, for the same
/// deadline, boxed (a call that waits does I/O, beside which an
/// allocation is nothing). The timer is polled outside the task's
/// cooperative budget, so a call that spends the budget on every poll
/// still times out (tokio's `Timeout` does so only once the call has
/// spent it).
///
/// A function returning the future, not an `async fn`: the layer of one
/// cost a step about 75 instructions more, on the model's call and the
/// tool's.
pub(crate) fn race<'a, F: Future>(
    mut call: Pin<&'a mut F>,
    deadline: Option<Instant>,
    cancel: Option<&'a CancellationToken>,
) -> impl Future<Output = Raced<F::Output>> + 'a {
    let mut timer = None;
    let mut cancelled = None;
    poll_fn(move |cx| {
        if let Poll::Ready(done) = call.as_mut().poll(cx) {
            return Poll::Ready(Raced::Done(done));
        }
        if let Some(deadline) = deadline {
            let timer = timer.get_or_insert_with(|| {
                Box::pin(tokio::task::unconstrained(tokio::time::sleep_until(
                    deadline,
                )))
            });
            if timer.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Raced::TimedOut);
            }
        }
        if let Some(cancel) = cancel {
            let waiter = cancelled.get_or_insert_with(|| Box::pin(cancel.cancelled()));
            if waiter.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Raced::Cancelled);
            }
        }
        Poll::Pending
    })
}

/// A token cancelled `after` from now, by a task of its own (paused time
/// moves it on), for the tests of a race.
#[cfg(test)]
pub(crate) fn cancelled_after(after: std::time::Duration) -> CancellationToken {
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        stop.cancel();
    });
    cancel
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::{pending, ready};
    use std::pin::pin;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn a_call_done_at_once_is_raced_with_nothing() {
        let cancel = CancellationToken::new();
        cancel.cancel();
        let past = Instant::now();
        tokio::time::advance(Duration::from_secs(1)).await;
        let done = race(pin!(ready(7)), Some(past), Some(&cancel)).await;
        assert_eq!(
            done,
            Raced::Done(7),
            "done on its first poll, whatever else holds"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_that_waits_is_done_when_it_wakes_before_its_deadline() {
        let began = Instant::now();
        let slow = async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            7
        };
        let deadline = began + Duration::from_secs(3);
        let done = race(pin!(slow), Some(deadline), Some(&CancellationToken::new())).await;
        assert_eq!(done, Raced::Done(7));
        assert_eq!(began.elapsed(), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_that_waits_ends_at_its_deadline() {
        let began = Instant::now();
        let deadline = began + Duration::from_secs(3);
        let waited = race(pin!(pending::<()>()), Some(deadline), None).await;
        assert_eq!(waited, Raced::TimedOut);
        assert_eq!(began.elapsed(), Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_that_waits_past_a_deadline_already_gone_ends_at_once() {
        let past = Instant::now();
        tokio::time::advance(Duration::from_secs(1)).await;
        let waited = race(pin!(pending::<()>()), Some(past), None).await;
        assert_eq!(waited, Raced::TimedOut);
    }

    /// Pending on its first poll without asking to be woken, done on any
    /// later one.
    struct Unwoken(AtomicU32);

    impl Future for &Unwoken {
        type Output = ();

        fn poll(self: Pin<&mut Self>, _: &mut std::task::Context<'_>) -> Poll<()> {
            match self.0.fetch_add(1, Ordering::Relaxed) {
                0 => Poll::Pending,
                _ => Poll::Ready(()),
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_that_waits_is_polled_again_only_when_the_task_wakes() {
        let began = Instant::now();
        let call = Unwoken(AtomicU32::new(0));
        let deadline = began + Duration::from_secs(3);
        let done = race(pin!(&call), Some(deadline), None).await;
        // Next polled when its timer woke the task, not at once: the call
        // is polled before its timer, so it is done, at the deadline.
        assert_eq!(done, Raced::Done(()));
        assert_eq!(began.elapsed(), Duration::from_secs(3));
        assert_eq!(call.0.load(Ordering::Relaxed), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_that_waits_stops_when_the_token_is_cancelled() {
        let cancel = cancelled_after(Duration::from_secs(1));
        let waited = race(pin!(pending::<()>()), None, Some(&cancel)).await;
        assert_eq!(waited, Raced::Cancelled);
    }
}
