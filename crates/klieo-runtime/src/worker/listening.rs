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

    /// Asks the store for its wake-ups when it is time to, waiting at
    /// most `answer` for them: a store that does not answer (a half-open
    /// connection) is asked again later, and the worker polls meanwhile.
    pub(super) async fn renew(&mut self, queue: &dyn RunQueue, holder: &str, answer: Duration) {
        let Self::Off(at) = *self else {
            return;
        };
        if Instant::now() < at {
            return;
        }
        *self = match tokio::time::timeout(answer, queue.wakeups()).await {
            Ok(Ok(Some(wakeups))) => Self::On(wakeups),
            Ok(Ok(None)) => Self::Never,
            Ok(Err(e)) => {
                tracing::warn!(holder, error = %e, "cannot be woken by the store; polling, and asking again later");
                Self::Off(Instant::now() + LISTEN_AGAIN_AFTER)
            }
            Err(_) => {
                let waited = answer.as_millis();
                tracing::warn!(holder, "the store did not answer an ask for wake-ups within {waited} ms; polling, and asking again later");
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

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use futures_util::stream;
    use klieo_types::{
        Claimed, Commit, Episode, EpisodicMemory, Journal, MemoryError, Message, RunId, RunRecord,
        RunState, ShortTermMemory, Submission, ThreadId, Transcript,
    };
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A queue whose wake-ups end at once the first time they are asked
    /// for, cannot be had the second time, and last the third.
    #[derive(Default)]
    struct Flaky {
        asked: AtomicUsize,
    }

    #[async_trait]
    impl ShortTermMemory for Flaky {
        async fn append(&self, _: &ThreadId, _: Vec<Message>) -> Result<(), MemoryError> {
            Ok(())
        }
        async fn load(&self, _: &ThreadId, _: usize) -> Result<Transcript, MemoryError> {
            Ok(Transcript::new())
        }
        async fn clear(&self, _: &ThreadId) -> Result<(), MemoryError> {
            Ok(())
        }
    }

    #[async_trait]
    impl EpisodicMemory for Flaky {
        async fn record(&self, _: RunId, _: Episode) -> Result<(), MemoryError> {
            Ok(())
        }
        async fn replay(&self, _: RunId) -> Result<Vec<Episode>, MemoryError> {
            Ok(Vec::new())
        }
        async fn list_runs(&self) -> Result<Vec<RunId>, MemoryError> {
            Ok(Vec::new())
        }
    }

    #[async_trait]
    impl Journal for Flaky {
        async fn commit(&self, _: Commit) -> Result<(), MemoryError> {
            Ok(())
        }
        async fn run(&self, _: RunId) -> Result<Option<RunRecord>, MemoryError> {
            Ok(None)
        }
    }

    #[async_trait]
    impl RunQueue for Flaky {
        async fn submit(&self, _: &Submission) -> Result<RunId, MemoryError> {
            Ok(RunId::new())
        }
        async fn claim(
            &self,
            _: &str,
            _: &[String],
            _: usize,
            _: Duration,
        ) -> Result<Vec<Claimed>, MemoryError> {
            Ok(Vec::new())
        }
        async fn state(&self, _: RunId) -> Result<Option<RunState>, MemoryError> {
            Ok(None)
        }
        async fn cancel(&self, _: RunId, _: &str) -> Result<Option<RunState>, MemoryError> {
            Ok(None)
        }
        async fn assign(&self, _: RunId, _: &str) -> Result<Option<RunState>, MemoryError> {
            Ok(None)
        }
        async fn wakeups(&self) -> Result<Option<Wakeups>, MemoryError> {
            match self.asked.fetch_add(1, Ordering::SeqCst) {
                0 => Ok(Some(Box::pin(stream::empty()))),
                1 => Err(MemoryError::backend("the server is down")),
                _ => Ok(Some(Box::pin(stream::pending()))),
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn wake_ups_that_stop_or_fail_are_asked_for_again_after_a_while() {
        let queue = Flaky::default();
        let asked = || queue.asked.load(Ordering::SeqCst);
        let mut listening = Listening::new();
        listening.renew(&queue, "w", Duration::from_secs(10)).await;
        assert!(matches!(listening, Listening::On(_)));
        listening.woken("w").await;
        assert!(matches!(listening, Listening::Off(_)), "the stream ended");
        listening.renew(&queue, "w", Duration::from_secs(10)).await;
        assert_eq!(asked(), 1, "not asked again at once");

        tokio::time::advance(LISTEN_AGAIN_AFTER).await;
        listening.renew(&queue, "w", Duration::from_secs(10)).await;
        assert_eq!(asked(), 2);
        assert!(
            matches!(listening, Listening::Off(_)),
            "it could not listen"
        );

        tokio::time::advance(LISTEN_AGAIN_AFTER).await;
        listening.renew(&queue, "w", Duration::from_secs(10)).await;
        assert_eq!(asked(), 3);
        assert!(matches!(listening, Listening::On(_)), "listening again");
    }
}
