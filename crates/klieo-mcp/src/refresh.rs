//! The task that lists a server's tools again when it announces a change:
//! one listing at a time, at most one more queued however many changes
//! come, each bounded by the connect timeout; a listing that fails keeps
//! the last good list.

use crate::catalogue::Catalogue;
use crate::listing::ListError;
use crate::scrub::Secrets;
use rmcp::service::{Peer, RoleClient};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// What the refresher needs.
pub(crate) struct Refresher {
    pub(crate) server: String,
    pub(crate) peer: Peer<RoleClient>,
    pub(crate) catalogue: Arc<Catalogue>,
    pub(crate) secrets: Secrets,
    /// The bound on one listing.
    pub(crate) bound: Duration,
}

impl Refresher {
    /// Lists the tools again each time `changed` is notified, until the
    /// task is aborted (with its link).
    pub(crate) async fn run(self, changed: Arc<Notify>) {
        loop {
            // A permit is kept while a listing runs: the changes announced
            // meanwhile make one more listing.
            changed.notified().await;
            let listing = self.catalogue.refresh(&self.peer, &self.secrets);
            let reason = match tokio::time::timeout(self.bound, listing).await {
                Ok(Ok(())) => continue,
                Ok(Err(ListError::Fault(fault))) => fault.to_string(),
                Ok(Err(ListError::Service(e))) => {
                    self.secrets.shown(&crate::describe::service(&e), 500)
                }
                Err(_) => format!("it took longer than {} ms", self.bound.as_millis()),
            };
            tracing::warn!(
                server = %self.server,
                %reason,
                "an MCP server changed its tools but did not list them; the last list is kept"
            );
        }
    }
}
