//! [`OpenError`]: why a store could not be opened.

use std::path::PathBuf;

/// Why [`SqliteStore::open`](crate::SqliteStore::open) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// An option cannot work (see
    /// [`SqliteOptions::validate`](crate::SqliteOptions::validate)); nothing
    /// was opened.
    #[error("the SQLite store's options cannot work: fix the option the cause names")]
    Config {
        /// The option and what is wrong with it.
        #[source]
        source: klieo_types::ConfigError,
    },
    /// The database file could not be opened or created.
    #[error(
        "could not open the SQLite database `{}`: check that its directory \
         exists and is writable, and that no other program holds it locked",
        path.display()
    )]
    Open {
        /// The file.
        path: PathBuf,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// The store's writer (a thread with a connection of its own) could
    /// not open the file or start.
    #[error(
        "could not open the SQLite database `{}` for writing: check that the file \
         and its directory are writable, and that the process may start a thread",
        path.display()
    )]
    Writer {
        /// The file.
        path: PathBuf,
        /// What failed: SQLite's error, or the thread's.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The file is not a klieo store (missing, or with no klieo schema),
    /// and the options said not to make it one
    /// ([`SqliteOptions::with_create`](crate::SqliteOptions::with_create)).
    /// Nothing was written.
    #[error(
        "`{}` is not a klieo store: {reason}; check the path (a store is made \
         by an agent or worker that opens it)",
        path.display()
    )]
    NotAStore {
        /// The file.
        path: PathBuf,
        /// Why not.
        reason: String,
    },
    /// The file is a klieo store of an older schema, and the options said
    /// not to bring it up to date
    /// ([`SqliteOptions::with_create`](crate::SqliteOptions::with_create)):
    /// the processes that use it may be of that older version. Nothing
    /// was written.
    #[error(
        "the SQLite store `{}` has schema version {found}, older than the {known} \
         this klieo-sqlite writes: open it once with this version's agents or \
         workers, which bring it up to date, or use the matching older version",
        path.display()
    )]
    TooOld {
        /// The file.
        path: PathBuf,
        /// The schema version in the file.
        found: i64,
        /// The version this crate writes.
        known: i64,
    },
    /// The file was written by a newer klieo-sqlite, whose schema this
    /// version does not know.
    #[error(
        "the SQLite database `{}` has schema version {found}, newer than the \
         {known} this klieo-sqlite knows: open it with a newer klieo-sqlite",
        path.display()
    )]
    TooNew {
        /// The file.
        path: PathBuf,
        /// The schema version in the file.
        found: i64,
        /// The newest version this crate can migrate to.
        known: i64,
    },
    /// Bringing the schema up to date failed; the file is left at the
    /// version it had (the migrations it lacked are one transaction).
    #[error(
        "could not migrate the SQLite database `{}` to schema version {version}",
        path.display()
    )]
    Migrate {
        /// The file.
        path: PathBuf,
        /// The version whose migration failed.
        version: i64,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
}

impl OpenError {
    /// Whether SQLite refused because another connection held the file
    /// locked (`SQLITE_BUSY`, any extended code).
    pub(crate) fn is_busy(&self) -> bool {
        let source = match self {
            Self::Open { source, .. } | Self::Migrate { source, .. } => source,
            Self::Config { .. }
            | Self::TooNew { .. }
            | Self::TooOld { .. }
            | Self::Writer { .. }
            | Self::NotAStore { .. } => return false,
        };
        source
            .as_database_error()
            .and_then(|e| e.code())
            .and_then(|code| code.parse::<i32>().ok())
            .is_some_and(|code| code & 0xff == 5)
    }
}

/// A driver error as a [`MemoryError`](klieo_types::MemoryError) saying
/// what was being done, the driver's error as its source.
pub(crate) fn backend(
    doing: &str,
    e: impl std::error::Error + Send + Sync + 'static,
) -> klieo_types::MemoryError {
    crate::memory::ROWS.backend(doing, e)
}
