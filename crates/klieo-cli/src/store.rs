//! [`Store`]: the store `--store` names, opened as it is (never created,
//! never given a klieo schema).

use crate::error::CliError;
use klieo::postgres::{PostgresOptions, PostgresStore};
use klieo::sqlite::{SqliteOptions, SqliteStore};
use klieo::types::{Journal, RunQueue};

/// An open klieo store.
pub(crate) enum Store {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

impl Store {
    /// Opens `spec`: `sqlite://PATH`, or a `postgres://` (or
    /// `postgresql://`) URL.
    pub(crate) async fn open(spec: &str) -> Result<Self, CliError> {
        if let Some(path) = spec.strip_prefix("sqlite://") {
            let options = SqliteOptions::new(path).with_create(false);
            let store = SqliteStore::open_with(options)
                .await
                .map_err(CliError::Sqlite)?;
            return Ok(Self::Sqlite(store));
        }
        if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
            let options = PostgresOptions::new(spec)
                .with_create(false)
                .with_max_connections(2);
            let store = PostgresStore::connect_with(options)
                .await
                .map_err(CliError::Postgres)?;
            return Ok(Self::Postgres(store));
        }
        let scheme = match spec.split_once("://") {
            Some((scheme, _)) => scheme.to_owned(),
            None => spec.chars().take(12).collect(),
        };
        Err(CliError::UnknownStore { scheme })
    }

    /// The store's journal: runs' records and logs.
    pub(crate) fn journal(&self) -> &dyn Journal {
        match self {
            Self::Sqlite(store) => store,
            Self::Postgres(store) => store,
        }
    }

    /// The store's queue: runs' states, and cancelling.
    pub(crate) fn queue(&self) -> &dyn RunQueue {
        match self {
            Self::Sqlite(store) => store,
            Self::Postgres(store) => store,
        }
    }
}
