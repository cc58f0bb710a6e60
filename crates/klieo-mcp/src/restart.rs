//! [`Restarts`]: the live connection of a server, started again when it
//! died, one start at a time, with backoff after failed starts.
//!
//! The state is behind a plain mutex that is never held across an
//! `.await`: a start runs in its own task, the caller that asked for it
//! and every caller that comes while it runs wait on its outcome, each
//! bounded by its own timeout and cancellation (dropping a wait leaves the
//! start running, so its failure always counts towards the backoff), and
//! `close` never waits behind a start: it ends it.

use klieo_types::ToolError;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::AbortHandle;
use tokio::time::Instant;

/// The first wait before starting a server again after a failed start.
const BACKOFF_FIRST: Duration = Duration::from_secs(1);
/// The longest wait between two starts.
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// A connection, as far as restarts need to know it.
pub(crate) trait Alive: Send + Sync + 'static {
    /// Whether it still works.
    fn is_open(&self) -> bool;

    /// Ends it now, whoever still holds it (a call in flight).
    fn stop(&self);
}

/// Why a start failed, as the model is told (with the server's last
/// stderr lines, when there are any).
pub(crate) type StartFailed = String;

/// What a start ends with, as its waiters see it.
type Outcome<L> = Option<Result<Arc<L>, ToolError>>;

/// One server's connection, and its starts.
pub(crate) struct Restarts<L> {
    server: String,
    state: Arc<Mutex<State<L>>>,
}

struct State<L> {
    phase: Phase<L>,
    /// Counts `close` calls: a start begun before one is not taken in.
    epoch: u64,
}

enum Phase<L> {
    Live(Arc<L>),
    Starting {
        done: watch::Receiver<Outcome<L>>,
        task: AbortHandle,
    },
    Down(Down),
}

/// A server that is not connected: why, and when to try again.
struct Down {
    why: String,
    failed_starts: u32,
    retry_at: Instant,
}

impl<L: Alive> Restarts<L> {
    /// `link`, live, for the server called `server`.
    pub(crate) fn new(server: &str, link: Arc<L>) -> Self {
        Self {
            server: server.to_owned(),
            state: Arc::new(Mutex::new(State {
                phase: Phase::Live(link),
                epoch: 0,
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<L>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The live connection; when there is none, the outcome of the start
    /// under way, or of one begun now with `start` if the backoff has
    /// passed.
    pub(crate) async fn get<F, Fut>(&self, start: F) -> Result<Arc<L>, ToolError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Arc<L>, StartFailed>> + Send + 'static,
    {
        let mut done = {
            let mut state = self.lock();
            let failed_starts = match &state.phase {
                Phase::Live(link) if link.is_open() => return Ok(Arc::clone(link)),
                Phase::Live(_) => Some(0),
                Phase::Starting { .. } => None,
                Phase::Down(down) => {
                    let now = Instant::now();
                    if now < down.retry_at {
                        return Err(down.unavailable(&self.server, down.retry_at - now));
                    }
                    Some(down.failed_starts)
                }
            };
            match (failed_starts, &state.phase) {
                (None, Phase::Starting { done, .. }) => done.clone(),
                (failed_starts, _) => {
                    self.begin(&mut state, failed_starts.unwrap_or_default(), start())
                }
            }
        };
        let outcome = done.wait_for(Option::is_some).await;
        match outcome.as_deref() {
            Ok(Some(outcome)) => outcome.clone(),
            // The start was ended by `close`.
            _ => Err(ToolError::Retryable {
                message: format!(
                    "MCP server `{}` was closed while it was being started",
                    self.server
                ),
                retry_after: None,
            }),
        }
    }

    /// Starts `start` in its own task, and marks the state as starting.
    fn begin(
        &self,
        state: &mut State<L>,
        failed_starts: u32,
        start: impl Future<Output = Result<Arc<L>, StartFailed>> + Send + 'static,
    ) -> watch::Receiver<Outcome<L>> {
        let (tx, done) = watch::channel(None);
        let mut report = Report {
            tx,
            shared: Arc::clone(&self.state),
            server: self.server.clone(),
            epoch: state.epoch,
            failed_starts,
            armed: false,
        };
        let task = tokio::spawn(async move {
            // Armed once polled: a task dropped unpolled (its runtime
            // shutting down, inside `spawn`, while this thread holds the
            // state's lock) reports nothing, rather than wait on that lock.
            report.armed = true;
            let started = start.await;
            report.outcome(
                started.map_err(|failed| format!("it could not be started again: {failed}")),
            );
        });
        state.phase = Phase::Starting {
            done: done.clone(),
            task: task.abort_handle(),
        };
        done
    }

    /// Marks `link` dead, if it is still the live one.
    pub(crate) fn lost(&self, link: &Arc<L>) {
        let mut state = self.lock();
        if matches!(&state.phase, Phase::Live(live) if Arc::ptr_eq(live, link)) {
            state.phase = Phase::Down(Down::new("it stopped"));
        }
    }

    /// Drops the connection, and ends a start under way, at once; returns
    /// the connection it stopped, if one was live. The next call starts
    /// the server again.
    pub(crate) fn close(&self) -> Option<Arc<L>> {
        let mut state = self.lock();
        state.epoch = state.epoch.wrapping_add(1);
        if let Phase::Starting { task, .. } = &state.phase {
            task.abort();
        }
        // Stopped and dropped outside the lock: a call in flight holds a
        // clone of the link, which would keep its server running.
        let old = std::mem::replace(&mut state.phase, Phase::Down(Down::new("it was closed")));
        drop(state);
        match old {
            Phase::Live(link) => {
                link.stop();
                Some(link)
            }
            _ => None,
        }
    }

    #[cfg(test)]
    fn failed_starts(&self) -> u32 {
        match &self.lock().phase {
            Phase::Live(_) | Phase::Starting { .. } => 0,
            Phase::Down(down) => down.failed_starts,
        }
    }
}

/// What a start's task reports to its waiters and the state, once: its
/// outcome, or, should the task end without one (its start panicked, or
/// its runtime stopped), a failed start, so that no caller waits on it
/// for good.
struct Report<L: Alive> {
    tx: watch::Sender<Outcome<L>>,
    shared: Arc<Mutex<State<L>>>,
    server: String,
    epoch: u64,
    failed_starts: u32,
    /// Whether the task began (see `Restarts::begin`).
    armed: bool,
}

impl<L: Alive> Report<L> {
    /// Takes `started` in (unless `close` came meanwhile: the new link is
    /// dropped, and stopped) and tells the waiters.
    fn outcome(&mut self, started: Result<Arc<L>, String>) {
        let mut state = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        if state.epoch != self.epoch {
            return;
        }
        let outcome = match started {
            Ok(link) => {
                tracing::info!(server = %self.server, "MCP server started again");
                state.phase = Phase::Live(Arc::clone(&link));
                Ok(link)
            }
            Err(why) => {
                let failed_starts = self.failed_starts.saturating_add(1);
                let wait = backoff(failed_starts);
                // From the failure, not from the attempt: a slow start
                // must not use up its own backoff.
                let down = Down {
                    why,
                    failed_starts,
                    retry_at: Instant::now() + wait,
                };
                let error = down.unavailable(&self.server, wait);
                state.phase = Phase::Down(down);
                Err(error)
            }
        };
        drop(state);
        self.tx.send_replace(Some(outcome));
    }
}

impl<L: Alive> Drop for Report<L> {
    fn drop(&mut self) {
        if self.armed && self.tx.borrow().is_none() {
            self.outcome(Err("its start ended without an outcome".to_owned()));
        }
    }
}

impl Down {
    /// Down for `why`, to be started again at the next call.
    fn new(why: &str) -> Self {
        Self {
            why: why.to_owned(),
            failed_starts: 0,
            retry_at: Instant::now(),
        }
    }

    fn unavailable(&self, server: &str, wait: Duration) -> ToolError {
        ToolError::Retryable {
            message: format!(
                "MCP server `{server}` is not running: {}; klieo tries again in {} ms",
                self.why,
                wait.as_millis()
            ),
            retry_after: Some(wait),
        }
    }
}

/// The wait after the `n`th failed start in a row: 1 s, 2 s, 4 s, ... 30 s.
fn backoff(n: u32) -> Duration {
    let doubled = BACKOFF_FIRST.saturating_mul(2u32.saturating_pow(n.saturating_sub(1)));
    doubled.min(BACKOFF_MAX)
}

#[cfg(test)]
#[path = "restart_tests.rs"]
mod tests;
