//! Waking idle workers with `LISTEN/NOTIFY`: a submit, or a lease given up
//! before its run ended, notifies the channel in its own statement (sent
//! when it commits); each worker listens on a connection of its own.

use crate::error::backend;
use crate::PostgresStore;
use futures_util::stream;
use klieo_types::{MemoryError, Wakeups};
use sqlx::postgres::{PgListener, PgPoolOptions};
use std::time::Duration;

/// The channel the store notifies and its workers listen on.
pub(crate) const WAKEUP_CHANNEL: &str = "klieo_runs";

/// How long listening waits for its connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

impl PostgresStore {
    /// A stream with an item per notification on [`WAKEUP_CHANNEL`], on a
    /// connection of its own (not one of the pool's, which drive runs).
    /// A lost connection is made again and counts as a wake-up (a
    /// notification may have been missed); the stream ends only when
    /// the server cannot be reached again.
    pub(crate) async fn listen(&self) -> Result<Wakeups, MemoryError> {
        let listener = self
            .listener(WAKEUP_CHANNEL, "listening for submitted runs")
            .await?;
        // An error here is the server gone past the pool's wait: the
        // stream ends and the worker, which says so, polls.
        let each = stream::unfold(listener, |mut listener| async move {
            listener.try_recv().await.ok().map(|_| ((), listener))
        });
        Ok(Box::pin(each))
    }

    /// A listener on `channel`, on a connection of its own.
    pub(crate) async fn listener(
        &self,
        channel: &str,
        doing: &str,
    ) -> Result<PgListener, MemoryError> {
        let options = (*self.pool.connect_options()).clone();
        let own = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_lazy_with(options);
        let mut listener = PgListener::connect_with(&own)
            .await
            .map_err(|e| backend(doing, e))?;
        listener
            .listen(channel)
            .await
            .map_err(|e| backend(doing, e))?;
        Ok(listener)
    }
}
