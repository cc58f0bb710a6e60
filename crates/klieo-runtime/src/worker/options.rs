//! [`WorkerOptions`]: how many runs a worker drives at once, how long its
//! leases last, how often an idle worker looks for work, and how long it
//! drains on shutdown.

use crate::options::MIN_LEASE_TTL;
use klieo_types::ConfigError;
use std::time::Duration;

/// How a [`Worker`](crate::Worker) drives runs.
///
/// Defaults: 8 runs at once (`concurrency`), leases of 30 s
/// (`lease_ttl`, at least [`MIN_LEASE_TTL`](crate::MIN_LEASE_TTL): a
/// stopped worker's runs are taken over after at most that), a look for due runs every second while it has room
/// (`poll_interval`; a store with wake-ups, PostgreSQL's, also wakes it
/// at once when a run is submitted or given up), and 30 s to drain (`drain_deadline`: on shutdown,
/// runs still going after it are stopped and their leases given up, so
/// another worker takes them over at once). Checked by
/// [`WorkerBuilder::build`](crate::WorkerBuilder::build).
///
/// ```
/// use klieo_runtime::WorkerOptions;
/// use std::time::Duration;
///
/// let options = WorkerOptions::new()
///     .with_concurrency(32)
///     .with_lease_ttl(Duration::from_secs(10));
/// assert_eq!(options.concurrency(), 32);
/// assert_eq!(options.drain_deadline(), Duration::from_secs(30));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerOptions {
    concurrency: usize,
    lease_ttl: Duration,
    poll_interval: Duration,
    drain_deadline: Duration,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self {
            concurrency: 8,
            lease_ttl: Duration::from_secs(30),
            poll_interval: Duration::from_secs(1),
            drain_deadline: Duration::from_secs(30),
        }
    }
}

impl WorkerOptions {
    /// The defaults (see the type's docs).
    pub fn new() -> Self {
        Self::default()
    }

    /// Drives at most `n` runs at once.
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n;
        self
    }

    /// Leases runs for `ttl`, renewed every third of it.
    pub fn with_lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl;
        self
    }

    /// Looks for due runs this often while it has room for more: runs
    /// whose `not_before` came or whose lease ran out, and, on a store
    /// without wake-ups ([`RunQueue::wakeups`](klieo_types::RunQueue::wakeups)),
    /// submitted ones.
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// On shutdown, waits this long for its runs to end before stopping
    /// them and giving their leases up.
    pub fn with_drain_deadline(mut self, deadline: Duration) -> Self {
        self.drain_deadline = deadline;
        self
    }

    /// Runs driven at once, at most.
    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// How long a lease lasts past its last renewal.
    pub fn lease_ttl(&self) -> Duration {
        self.lease_ttl
    }

    /// How often an idle worker looks for queued runs.
    pub fn poll_interval(&self) -> Duration {
        self.poll_interval
    }

    /// How long a shutdown waits for running runs.
    pub fn drain_deadline(&self) -> Duration {
        self.drain_deadline
    }

    /// Checks the options can work: `ConfigError::Invalid` naming the
    /// field, the value and the fix otherwise.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |name: &str, reason: String| {
            Err(ConfigError::invalid(
                format!("WorkerOptions::{name}"),
                reason,
            ))
        };
        if self.concurrency == 0 {
            return invalid(
                "concurrency",
                "0 would drive no run: use at least 1 (the default is 8)".into(),
            );
        }
        if self.lease_ttl < MIN_LEASE_TTL {
            return invalid(
                "lease_ttl",
                format!(
                    "{:?} is shorter than the {} s minimum (the lease would run out between \
                     renewals): use at least that (the default is 30 s)",
                    self.lease_ttl,
                    MIN_LEASE_TTL.as_secs()
                ),
            );
        }
        if self.poll_interval.is_zero() {
            return invalid(
                "poll_interval",
                "0 s would query the store without pause: use how long a queued run may wait \
                 for an idle worker (the default is 1 s)"
                    .into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_that_cannot_work_are_named() {
        let field = |options: WorkerOptions| match options.validate() {
            Err(ConfigError::Invalid { name, .. }) => name,
            other => format!("{other:?}"),
        };
        let base = WorkerOptions::new;
        assert!(base().validate().is_ok());
        assert_eq!(
            field(base().with_concurrency(0)),
            "WorkerOptions::concurrency"
        );
        assert_eq!(
            field(base().with_lease_ttl(Duration::from_millis(200))),
            "WorkerOptions::lease_ttl"
        );
        assert_eq!(
            field(base().with_poll_interval(Duration::ZERO)),
            "WorkerOptions::poll_interval"
        );
    }
}
