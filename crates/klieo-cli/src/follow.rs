//! Following runs as they change, for the console's live pages and
//! `klieo runs watch`: one stream of the store's changes
//! ([`RunCatalog::changes`]: PostgreSQL's `LISTEN/NOTIFY`, SQLite's change
//! counter) shared by every follower through a [`Hub`], each follower
//! woken when a change concerns its run. The store is still asked every
//! [`CHECK`] (every [`POLL`] when it tells no changes, or a follow could
//! not be recorded), so a lost notification delays a page, never stops it.
//!
//! [`RunCatalog::changes`]: klieo::types::RunCatalog::changes

use futures_util::StreamExt;
use klieo::types::{RunCatalog, RunChange, RunId};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How often a follower asks the store when nothing tells it of changes.
pub(crate) const POLL: Duration = Duration::from_secs(1);
/// How often a follower asks the store anyway, when changes are told.
pub(crate) const CHECK: Duration = Duration::from_secs(10);
/// How long a follow is recorded for; renewed at half of it.
const FOLLOW_FOR: Duration = Duration::from_secs(600);
/// Changes kept for a follower that has not looked yet; one that falls
/// further behind looks at its run at once.
const BACKLOG: usize = 256;

/// How long the store may take to answer one ask (open its change
/// stream, record a follow, read a run for a watch): past it, a follower
/// polls (as with a store that tells of no change), a watch counts the
/// read as failed, and a silent store holds up no watch or page.
pub(crate) const ASK_WAIT: Duration = Duration::from_secs(15);

/// The store's changes, passed on to every follower.
pub(crate) struct Hub {
    /// A receiver to copy for each follower; the task passing changes
    /// holds the only sender, so followers see the channel close when the
    /// store's stream ends.
    changes: Option<broadcast::Receiver<RunChange>>,
}

impl Hub {
    /// Takes the store's stream of changes and passes each on, in a task
    /// of its own, until `stopping` is cancelled or the stream ends; a
    /// store that tells none (or fails to) leaves followers polling.
    pub(crate) async fn start(store: &dyn RunCatalog, stopping: CancellationToken) -> Self {
        let Ok(Ok(Some(mut changes))) = tokio::time::timeout(ASK_WAIT, store.changes()).await
        else {
            return Self { changes: None };
        };
        let (passing, receiver) = broadcast::channel(BACKLOG);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    change = changes.next() => match change {
                        // No follower now is not an error.
                        Some(change) => drop(passing.send(change)),
                        None => return,
                    },
                    () = stopping.cancelled() => return,
                }
            }
        });
        Self {
            changes: Some(receiver),
        }
    }

    /// Follows `run`: records the follow in the store and listens.
    pub(crate) async fn follow(&self, store: &dyn RunCatalog, run: RunId) -> Following {
        let mut following = Following {
            run,
            changes: self.changes.as_ref().map(broadcast::Receiver::resubscribe),
            renew_at: Instant::now(),
            told: false,
        };
        following.renew(store).await;
        following
    }
}

/// One follower of one run.
pub(crate) struct Following {
    run: RunId,
    changes: Option<broadcast::Receiver<RunChange>>,
    /// When the follow is to be recorded again.
    renew_at: Instant,
    /// Whether the store tells this follower of its run's changes.
    told: bool,
}

impl Following {
    /// Returns when the run may have changed: a change concerning it was
    /// told, or the store is due to be asked anyway.
    pub(crate) async fn changed(&mut self, store: &dyn RunCatalog) {
        if Instant::now() >= self.renew_at {
            self.renew(store).await;
        }
        let every = if self.told { CHECK } else { POLL };
        let due = tokio::time::sleep(every);
        tokio::pin!(due);
        let told = self.told;
        let Some(changes) = self.changes.as_mut().filter(|_| told) else {
            due.await;
            return;
        };
        let closed = loop {
            tokio::select! {
                () = &mut due => return,
                change = changes.recv() => match change {
                    Ok(change) if !change.concerns(self.run) => {}
                    // Fallen behind: something may have been missed.
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => return,
                    Err(broadcast::error::RecvError::Closed) => break true,
                },
            }
        };
        if closed {
            // The store's stream ended: from now on, poll.
            self.changes = None;
            self.told = false;
        }
    }

    /// Records the follow for [`FOLLOW_FOR`] more; a store that refuses
    /// leaves this follower polling until the next try.
    async fn renew(&mut self, store: &dyn RunCatalog) {
        let following = tokio::time::timeout(ASK_WAIT, store.follow(self.run, FOLLOW_FOR));
        let recorded = matches!(following.await, Ok(Ok(())));
        self.told = recorded && self.changes.is_some();
        self.renew_at = Instant::now() + FOLLOW_FOR / 2;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use klieo::store::InMemoryJournal;
    use klieo::types::{Commit, Episode, Journal, RunQueue, Submission, ThreadId};

    async fn started(store: &InMemoryJournal, run: RunId) {
        let started = Episode::Started {
            agent: "support".into(),
        };
        let commit = Commit::new(run, ThreadId::new("t")).with_episodes(vec![started]);
        store.commit(commit).await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_follower_wakes_at_its_runs_change_and_sleeps_through_others() {
        let store = InMemoryJournal::new();
        let run = store
            .submit(&Submission::new("support", "hi"))
            .await
            .unwrap();
        let stopping = CancellationToken::new();
        let hub = Hub::start(&store, stopping.clone()).await;
        let mut following = hub.follow(&store, run).await;
        assert!(following.told, "the in-memory store tells its changes");

        // Nothing happens: the follower looks anyway at CHECK, not before.
        let quiet = tokio::time::timeout(CHECK / 2, following.changed(&store)).await;
        assert!(quiet.is_err(), "woken with nothing changed");
        started(&store, run).await;
        let woken = tokio::time::timeout(CHECK / 2, following.changed(&store)).await;
        assert!(
            woken.is_ok(),
            "a change of the run wakes its follower at once"
        );
        stopping.cancel();
    }

    #[tokio::test(start_paused = true)]
    async fn a_follower_of_a_store_that_tells_nothing_polls() {
        let store = InMemoryJournal::new();
        let run = RunId::new();
        let hub = Hub { changes: None };
        let mut following = hub.follow(&store, run).await;
        assert!(!following.told);
        let polled = tokio::time::timeout(POLL * 2, following.changed(&store)).await;
        assert!(polled.is_ok(), "it looks every POLL");
    }
}
