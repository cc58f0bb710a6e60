//! Following runs with `LISTEN/NOTIFY` (schema v9): while a run's
//! `followed_until` is to come, every change of its row notifies
//! [`CHANGES_CHANNEL`] with its id (a trigger on `klieo_runs`); a follower listens
//! on a connection of its own. Runs no one follows notify no one.

use crate::error::backend;
use crate::PostgresStore;
use futures_util::stream;
use klieo_store::StoreRows;
use klieo_types::{MemoryError, RunChange, RunChanges, RunId};
use std::str::FromStr;
use std::time::Duration;

/// The channel a followed run's changes are notified on.
pub(crate) const CHANGES_CHANNEL: &str = "klieo_run_changes";

impl PostgresStore {
    /// A stream of the followed runs' changes; a lost connection is made
    /// again and counts as [`RunChange::Any`] (a notification may have
    /// been missed). It ends when the server cannot be reached again.
    pub(crate) async fn run_changes(&self) -> Result<RunChanges, MemoryError> {
        let listener = self
            .listener(CHANGES_CHANNEL, "listening for runs' changes")
            .await?;
        let each = stream::unfold(listener, |mut listener| async move {
            let change = match listener.try_recv().await.ok()? {
                Some(told) => {
                    RunId::from_str(told.payload()).map_or(RunChange::Any, RunChange::Run)
                }
                None => RunChange::Any,
            };
            Some((change, listener))
        });
        Ok(Box::pin(each))
    }

    /// Follows `run` for `ttl` from now (or longer, when someone else
    /// follows it longer). A run the store does not have yet is not
    /// followed.
    pub(crate) async fn follow_run(&self, run: RunId, ttl: Duration) -> Result<(), MemoryError> {
        let ttl_ms = StoreRows::millis(ttl) as f64;
        sqlx::query(concat!(
            "UPDATE klieo_runs SET followed_until = \
             GREATEST(followed_until, now() + $2 * interval '1 millisecond') FROM ",
            bounded_waits!(),
            " WHERE run = $1"
        ))
        .bind(run.to_string())
        .bind(ttl_ms)
        .execute(&self.pool)
        .await
        .map_err(|e| backend("following a run", e))?;
        Ok(())
    }
}
