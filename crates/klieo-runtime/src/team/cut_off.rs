//! A child run cut off by its caller: its call past its time, or the
//! calling run cancelled. The child is cancelled too and finishes: it
//! records its end (`Failed`, "cancelled") and gives up its lease, and a
//! cancelled caller waits for that before it records its own end. A
//! call dropped otherwise (its process stopping, or its run losing its
//! lease to another worker, as far as the child can tell) leaves the
//! child as a crash does, to be taken up again.

use crate::agent::ChildEnd;
use crate::spend::Cover;
use crate::summary::Relay;
use klieo_types::Error;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long a child run cut off by its caller has to record its end.
pub(crate) const CUT_OFF_GRACE: Duration = Duration::from_secs(10);

/// A child run as its call drives it.
pub(crate) type Running = Pin<Box<dyn Future<Output = Result<ChildEnd, Error>> + Send>>;

/// What a run hands each of its tool calls (in their `ToolContext`): its own
/// cancellation (not its lease's), the children cut off by it, which it
/// waits for before it records its end, its budget's cover, and its queue
/// of events when it queues them.
pub(crate) struct Caller {
    cancel: CancellationToken,
    cut_off: Mutex<Vec<JoinHandle<()>>>,
    /// Its budget, covering its children.
    cover: Option<Cover>,
    /// Where a child run relays its events (`RunEvent::Child`).
    relay: Option<Relay>,
    /// How deep the run is in its tree (0 for a root).
    depth: usize,
}

impl Caller {
    pub(crate) fn new(
        cancel: CancellationToken,
        cover: Option<Cover>,
        relay: Option<Relay>,
        depth: usize,
    ) -> Self {
        Self {
            cancel,
            cut_off: Mutex::default(),
            cover,
            relay,
            depth,
        }
    }

    /// How deep the run is in its tree (0 for a root).
    pub(crate) fn depth(&self) -> usize {
        self.depth
    }

    /// Its budget, covering the children its calls start.
    pub(crate) fn cover(&self) -> Option<&Cover> {
        self.cover.as_ref()
    }

    /// Its queue of events, into which a child run its call starts relays
    /// its own, when it queues events.
    pub(crate) fn relay(&self) -> Option<&Relay> {
        self.relay.as_ref()
    }

    fn cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    fn finishing(&self, child: JoinHandle<()>) {
        let mut cut_off = self.cut_off.lock().unwrap_or_else(PoisonError::into_inner);
        cut_off.push(child);
    }

    /// Waits until every child cut off by this run's cancellation has
    /// recorded its end (each within [`CUT_OFF_GRACE`]).
    pub(crate) async fn children_ended(&self) {
        let cut_off =
            std::mem::take(&mut *self.cut_off.lock().unwrap_or_else(PoisonError::into_inner));
        for child in cut_off {
            let _ = child.await;
        }
    }
}

/// A child run driven by its call: cancelled by `stop` (its agent's
/// token), and by `calling`'s cancellation when the call is dropped for
/// it.
pub(crate) struct ChildCall {
    running: Option<Running>,
    stop: CancellationToken,
    calling: Option<Arc<Caller>>,
}

impl ChildCall {
    pub(crate) fn new(
        running: Running,
        stop: CancellationToken,
        calling: Option<Arc<Caller>>,
    ) -> Self {
        Self {
            running: Some(running),
            stop,
            calling,
        }
    }

    /// Drives the child to its end within `limit`. Past it, cancels the
    /// child and gives it [`CUT_OFF_GRACE`] to record its end: `None`,
    /// unless it answered meanwhile.
    pub(crate) async fn within(mut self, limit: Duration) -> Option<Result<ChildEnd, Error>> {
        let running = self.running.as_mut()?;
        if let Ok(ended) = tokio::time::timeout(limit, running.as_mut()).await {
            self.running = None;
            return Some(ended);
        }
        self.stop.cancel();
        let late = tokio::time::timeout(CUT_OFF_GRACE, running.as_mut()).await;
        self.running = None;
        match late {
            Ok(Ok(answered @ ChildEnd::Answered(_))) => Some(Ok(answered)),
            _ => None,
        }
    }
}

impl Drop for ChildCall {
    /// A call dropped mid-child because its run (or the child's agent) was
    /// cancelled lets the child, cancelled too, record its end on the
    /// current tokio runtime; the calling run waits for it.
    fn drop(&mut self) {
        let Some(running) = self.running.take() else {
            return;
        };
        let calling_cancelled = self.calling.as_ref().is_some_and(|c| c.cancelled());
        if !(calling_cancelled || self.stop.is_cancelled()) {
            return;
        }
        self.stop.cancel();
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let child = handle.spawn(async move {
            let _ = tokio::time::timeout(CUT_OFF_GRACE, running).await;
        });
        if let Some(calling) = &self.calling {
            calling.finishing(child);
        }
    }
}
