//! [`PostgresOptions`]: where the database is, and how many connections
//! the store keeps to it.

use std::fmt;
use std::time::Duration;

/// Settings of a [`PostgresStore`](crate::PostgresStore).
///
/// # Default
///
/// - `max_connections`: 8. Each run being written holds one for a commit;
///   a [`Worker`](https://docs.rs/klieo-runtime) driving N runs at once
///   wants about N + 2 (its claims and leases use the pool too). The
///   server's `max_connections` bounds the sum over every process.
/// - `acquire_timeout`: 10 s, how long a write waits for a free
///   connection before it fails.
/// - `create`: true: a database with no klieo schema is given one, and an
///   older schema is brought up to date (a store of this version is only
///   read, so a role that may not create tables connects); false (for tools that look at a
///   store workers use) only reads the schema's version (no lock, no DDL)
///   and refuses anything but this version's with
///   [`OpenError::NotAStore`](crate::OpenError::NotAStore),
///   [`OpenError::TooOld`](crate::OpenError::TooOld) or
///   [`OpenError::TooNew`](crate::OpenError::TooNew).
///
/// A write waits at most 30 s for a run's, a thread's or a rate limit's
/// lock (10 s for a budget key's; `lock_timeout`, set for its transaction
/// only, so a pooler such as PgBouncer sees no session setting), and the
/// server ends a transaction that sits idle 60 s holding one (a claim's
/// and a key reservation's too): a client that stalls does not hold up
/// every writer behind it for good; a write that waits too long fails as
/// a store error, and its run is resumed.
///
/// `Debug` never shows the URL: it may carry a password.
///
/// ```
/// use klieo_postgres::PostgresOptions;
/// use std::time::Duration;
///
/// let options = PostgresOptions::new("postgres://klieo:secret@db:5432/agents")
///     .with_max_connections(34)
///     .with_acquire_timeout(Duration::from_secs(5));
/// assert_eq!(options.max_connections(), 34);
/// assert!(!format!("{options:?}").contains("secret"));
/// ```
#[derive(Clone)]
pub struct PostgresOptions {
    pub(crate) url: String,
    max_connections: u32,
    acquire_timeout: Duration,
    create: bool,
}

impl fmt::Debug for PostgresOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresOptions")
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("create", &self.create)
            .finish_non_exhaustive()
    }
}

impl PostgresOptions {
    /// The defaults above, for the database at `url`
    /// (`postgres://user:password@host:port/database`).
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 8,
            acquire_timeout: Duration::from_secs(10),
            create: true,
        }
    }

    /// Keeps at most `n` connections (at least 1).
    pub fn with_max_connections(mut self, n: u32) -> Self {
        self.max_connections = n;
        self
    }

    /// Waits at most `timeout` for a free connection (more than zero).
    pub fn with_acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// Whether a database with no klieo schema is given one (see the list
    /// above).
    pub fn with_create(mut self, create: bool) -> Self {
        self.create = create;
        self
    }

    /// Whether a database with no klieo schema is given one.
    pub fn create(&self) -> bool {
        self.create
    }

    /// The most connections kept.
    pub fn max_connections(&self) -> u32 {
        self.max_connections
    }

    /// How long a write waits for a free connection.
    pub fn acquire_timeout(&self) -> Duration {
        self.acquire_timeout
    }

    /// Checks the options can work: `ConfigError::Invalid` naming the
    /// field otherwise.
    pub(crate) fn validate(&self) -> Result<(), klieo_types::ConfigError> {
        use klieo_types::ConfigError;
        if self.max_connections == 0 {
            return Err(ConfigError::invalid(
                "PostgresOptions::max_connections",
                "0 would leave no connection to write with: use at least 1 (the default is 8)",
            ));
        }
        if self.acquire_timeout.is_zero() {
            return Err(ConfigError::invalid(
                "PostgresOptions::acquire_timeout",
                "0 s would fail every write that waits for a connection: use how long a write \
                 may wait (the default is 10 s)",
            ));
        }
        Ok(())
    }
}
