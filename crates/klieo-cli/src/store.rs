//! [`Store`]: the store `--store` names, opened as it is (never created,
//! never given a klieo schema).

use crate::error::CliError;
use klieo::postgres::{PostgresOptions, PostgresStore};
use klieo::sqlite::{SqliteOptions, SqliteStore};
use klieo::types::{Journal, RunCatalog, RunQueue, ShortTermMemory};
use std::time::Duration;

/// The longest the command waits for the store's connections to close
/// once it is done.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

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
        Err(CliError::UnknownStore {
            scheme: scheme(spec),
        })
    }

    /// Closes the store's connections, waiting for them at most
    /// [`CLOSE_WAIT`].
    pub(crate) async fn close(&self) {
        let closing = async {
            match self {
                Self::Sqlite(store) => store.close().await,
                Self::Postgres(store) => store.close().await,
            }
        };
        // Bounded: a connection whose server stopped answering (a query
        // given up on by a time limit) holds its slot until the server
        // answers, and closing waits for every slot. The process ends
        // either way, and the server drops what it held.
        let _ = tokio::time::timeout(CLOSE_WAIT, closing).await;
    }

    /// The store's journal: runs' records and logs.
    pub(crate) fn journal(&self) -> &dyn Journal {
        match self {
            Self::Sqlite(store) => store,
            Self::Postgres(store) => store,
        }
    }

    /// The store's conversations.
    pub(crate) fn threads(&self) -> &dyn ShortTermMemory {
        match self {
            Self::Sqlite(store) => store,
            Self::Postgres(store) => store,
        }
    }

    /// The store's catalog: its runs, a page at a time.
    pub(crate) fn catalog(&self) -> &dyn RunCatalog {
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

/// The scheme of `spec` (before its `:`) when it looks like one (a letter,
/// then letters, digits, `+`, `-` or `.`); empty otherwise, since what
/// else it holds may be a password.
fn scheme(spec: &str) -> String {
    let Some((scheme, _)) = spec.split_once(':') else {
        return String::new();
    };
    let mut chars = scheme.chars();
    let first = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if first && rest && scheme.len() <= 16 {
        scheme.to_owned()
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::scheme;

    #[test]
    fn only_a_scheme_is_shown_never_what_may_be_a_password() {
        assert_eq!(scheme("redis://user:pw@cache"), "redis");
        assert_eq!(scheme("klieo:hunter2@db/x"), "klieo");
        assert_eq!(scheme("user@host:hunter2"), "");
        assert_eq!(scheme("agent.db"), "");
    }
}
