//! [`OpenError`]: why a store could not be opened.

/// Why [`PostgresStore::connect`](crate::PostgresStore::connect) failed.
/// No variant shows the connection URL: it may carry a password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// A setting cannot work (see [`PostgresOptions`](crate::PostgresOptions)).
    #[error(transparent)]
    Config(#[from] klieo_types::ConfigError),
    /// The URL is not one the driver understands. Its text is not shown.
    #[error(
        "the PostgreSQL URL is not valid: write it as postgres://user:password@host:port/database"
    )]
    BadUrl,
    /// The server could not be reached or refused the connection.
    #[error(
        "could not connect to the PostgreSQL server: check the URL's host, port, user and \
         database, and that the server accepts connections from here"
    )]
    Connect {
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// The database was written by a newer klieo-postgres.
    #[error(
        "the database has klieo schema version {found}, newer than the {known} this \
         klieo-postgres knows: use a newer klieo-postgres"
    )]
    TooNew {
        /// The schema version in the database.
        found: i64,
        /// The newest version this crate can migrate to.
        known: i64,
    },
    /// Bringing the schema up to date failed; the database is left at the
    /// version it had (each migration is one transaction).
    #[error("could not migrate the database to klieo schema version {version}")]
    Migrate {
        /// The version whose migration failed.
        version: i64,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
}

/// A driver error as a [`MemoryError`](klieo_types::MemoryError) saying
/// what was being done, the driver's error as its source.
pub(crate) fn backend(doing: &str, e: sqlx::Error) -> klieo_types::MemoryError {
    crate::memory::ROWS.backend(doing, e)
}
