//! [`Listening`]: a worker's hold on its store's wake-ups, listened to
//! again after a while when they stop (a server unreachable for longer
//! than the listener waits), so one outage does not leave the worker only
//! polling for the rest of its life.

use futures_util::{FutureExt, StreamExt};
use klieo_types::{RunQueue, Wakeups};
use tokio::time::{Duration, Instant};

/// How long after its wake-ups stopped (or could not start) a worker
/// asks the store for them again.
const LISTEN_AGAIN_AFTER: Duration = Duration::from_secs(30);

/// The store's wake-ups as a worker holds them.
pub(super) enum Listening {
    /// Listening.
    On(Wakeups),
    /// Not listening; ask again at this time.
    Off(Instant),
    /// The store has no wake-ups: the worker only polls.
    Never,
}

impl Listening {
    /// Not listening yet: ask at once.
    pub(super) fn new() -> Self {
        Self::Off(Instant::now())
    }

    /// Asks the store for its wake-ups when it is time to.
    pub(super) async fn renew(&mut self, queue: &dyn RunQueue, holder: &str) {
        let Self::Off(at) = *self else {
            return;
        };
        if Instant::now() < at {
            return;
        }
        *self = match queue.wakeups().await {
            Ok(Some(wakeups)) => Self::On(wakeups),
            Ok(None) => Self::Never,
            Err(e) => {
                tracing::warn!(holder, error = %e, "cannot be woken by the store; polling, and asking again later");
                Self::Off(Instant::now() + LISTEN_AGAIN_AFTER)
            }
        };
    }

    /// Waits for a wake-up (never, when not listening) and takes every
    /// other one already there, so a burst of submits costs one claim.
    /// When the wake-ups end, returns and stops listening until
    /// [`LISTEN_AGAIN_AFTER`] has passed.
    pub(super) async fn woken(&mut self, holder: &str) {
        let Self::On(each) = self else {
            return std::future::pending().await;
        };
        let mut ended = each.next().await.is_none();
        while !ended {
            match each.next().now_or_never() {
                Some(Some(())) => {}
                Some(None) => ended = true,
                None => break,
            }
        }
        if ended {
            tracing::warn!(
                holder,
                "the store stopped waking this worker; it polls, and listens again later"
            );
            *self = Self::Off(Instant::now() + LISTEN_AGAIN_AFTER);
        }
    }
}
