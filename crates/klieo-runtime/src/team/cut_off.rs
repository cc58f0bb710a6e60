//! A child run cut off by its caller: its call past its time, or the
//! calling run cancelled. The child is cancelled too and finishes: it
//! records its end (`Failed`, "cancelled") and gives up its lease,
//! rather than being left `running` without one. A call whose future is
//! dropped otherwise (its process stopping, as far as the child can
//! tell) leaves the child as a crash does, to be taken up again.

use crate::agent::ChildEnd;
use klieo_types::Error;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long a child run cut off by its caller has to record its end.
pub(crate) const CUT_OFF_GRACE: Duration = Duration::from_secs(10);

/// A child run as its call drives it.
pub(crate) type Running = Pin<Box<dyn Future<Output = Result<ChildEnd, Error>> + Send>>;

/// A child run driven by its call, cancelled by `stop`.
pub(crate) struct ChildCall {
    running: Option<Running>,
    stop: CancellationToken,
}

impl ChildCall {
    pub(crate) fn new(running: Running, stop: CancellationToken) -> Self {
        Self {
            running: Some(running),
            stop,
        }
    }

    /// Drives the child to its end within `limit`. Past it, cancels the
    /// child and gives it [`CUT_OFF_GRACE`] to record its end, then
    /// `None`.
    pub(crate) async fn within(mut self, limit: Duration) -> Option<Result<ChildEnd, Error>> {
        let running = self.running.as_mut()?;
        if let Ok(ended) = tokio::time::timeout(limit, running.as_mut()).await {
            self.running = None;
            return Some(ended);
        }
        self.stop.cancel();
        let _ = tokio::time::timeout(CUT_OFF_GRACE, running.as_mut()).await;
        self.running = None;
        None
    }
}

impl Drop for ChildCall {
    /// A call dropped mid-child because its run was cancelled lets the
    /// child, cancelled with it, record its end on the current tokio
    /// runtime (within [`CUT_OFF_GRACE`]).
    fn drop(&mut self) {
        let Some(running) = self.running.take() else {
            return;
        };
        if !self.stop.is_cancelled() {
            return;
        }
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let _ = tokio::time::timeout(CUT_OFF_GRACE, running).await;
            });
        }
    }
}
