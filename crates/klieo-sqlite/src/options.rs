//! [`SqliteOptions`]: where the store lives and how hard it syncs.

use klieo_types::ConfigError;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How a commit reaches the disk: SQLite's `synchronous` setting, in WAL
/// mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Synchronous {
    /// Every commit is synced to disk before it returns: a commit survives
    /// a power cut. One sync per commit.
    Full,
    /// Commits are synced at checkpoints: a commit survives the process
    /// being killed, but the last ones may be lost if the machine loses
    /// power (the file stays consistent either way). Faster.
    Normal,
}

/// The longest busy timeout SQLite takes: `i32::MAX` milliseconds, about
/// 24.8 days.
pub const MAX_BUSY_TIMEOUT: Duration = Duration::from_millis(i32::MAX as u64);

/// Settings of a [`SqliteStore`](crate::SqliteStore).
///
/// # Default
///
/// - `synchronous`: [`Synchronous::Full`]
/// - `busy_timeout`: 5 s, how long a write waits for another process's
///   write to finish before it fails; at most [`MAX_BUSY_TIMEOUT`] (a
///   longer one, such as `Duration::MAX`, waits that long)
/// - `max_readers`: 4 connections for reads (writes use one of their own)
/// - `create`: true: a missing file is created, a file with no klieo
///   schema is given one, and an older schema is brought up to date;
///   false (for tools that look at a store workers use) opens only a klieo
///   store of this version's schema, checked read-only first, and refuses
///   anything else with [`OpenError::NotAStore`](crate::OpenError::NotAStore),
///   [`OpenError::TooOld`](crate::OpenError::TooOld) or
///   [`OpenError::TooNew`](crate::OpenError::TooNew), writing nothing
///
/// ```
/// use klieo_sqlite::{SqliteOptions, Synchronous};
/// use std::time::Duration;
///
/// let options = SqliteOptions::new("agent.db")
///     .with_synchronous(Synchronous::Normal)
///     .with_busy_timeout(Duration::from_secs(2));
/// assert_eq!(options.path().to_str(), Some("agent.db"));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SqliteOptions {
    pub(crate) path: PathBuf,
    pub(crate) synchronous: Synchronous,
    pub(crate) busy_timeout: Duration,
    pub(crate) max_readers: u32,
    pub(crate) create: bool,
}

impl SqliteOptions {
    /// The defaults above, for the file at `path` (created if missing).
    pub fn new(path: impl AsRef<Path>) -> Self {
        Self {
            path: path.as_ref().to_owned(),
            synchronous: Synchronous::Full,
            busy_timeout: Duration::from_secs(5),
            max_readers: 4,
            create: true,
        }
    }

    /// Whether a missing file is created, a file with no klieo schema
    /// given one and an older one brought up to date (see the list
    /// above).
    pub fn with_create(mut self, create: bool) -> Self {
        self.create = create;
        self
    }

    /// Whether the store may be created or migrated.
    pub fn create(&self) -> bool {
        self.create
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How commits reach the disk.
    pub fn with_synchronous(mut self, synchronous: Synchronous) -> Self {
        self.synchronous = synchronous;
        self
    }

    /// How long a write waits for another process's write: at most
    /// [`MAX_BUSY_TIMEOUT`].
    pub fn with_busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout.min(MAX_BUSY_TIMEOUT);
        self
    }

    /// How many connections serve reads (at least one).
    pub fn with_max_readers(mut self, readers: u32) -> Self {
        self.max_readers = readers;
        self
    }

    /// Checks what [`SqliteStore::open_with`](crate::SqliteStore::open_with)
    /// checks before it opens anything: at least one reader, and a busy
    /// timeout of at least 1 ms (SQLite counts whole milliseconds). A [`ConfigError`] names the option and the
    /// fix.
    ///
    /// ```
    /// use klieo_sqlite::SqliteOptions;
    ///
    /// assert!(SqliteOptions::new("agent.db").validate().is_ok());
    /// let none = SqliteOptions::new("agent.db").with_max_readers(0);
    /// assert!(none.validate().unwrap_err().to_string().contains("max_readers"));
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_readers == 0 {
            return Err(ConfigError::invalid(
                "SqliteOptions::max_readers",
                "0 connections would serve no read: use at least 1 (the default is 4)",
            ));
        }
        if self.busy_timeout < Duration::from_millis(1) {
            // SQLite counts whole milliseconds: under one is 0, which
            // turns its wait for another writer off.
            return Err(ConfigError::invalid(
                "SqliteOptions::busy_timeout",
                "under 1 ms (SQLite counts whole milliseconds, so it is 0 s) would fail a \
                 write whenever another process writes at the same moment: use how long a \
                 write may wait (the default is 5 s)",
            ));
        }
        Ok(())
    }
}
