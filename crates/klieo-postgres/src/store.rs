//! [`PostgresStore`]: conversations, event logs and run journals in one
//! PostgreSQL database, shared by every process that connects to it.

use crate::error::OpenError;
use crate::options::PostgresOptions;
use crate::schema;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgSslMode};
use sqlx::Connection;
use std::fmt;
use std::str::FromStr;

/// Conversations ([`ShortTermMemory`](klieo_types::ShortTermMemory)),
/// event logs ([`EpisodicMemory`](klieo_types::EpisodicMemory)) and run
/// journals ([`Journal`](klieo_types::Journal)) in PostgreSQL, for many
/// processes on many machines sharing one database.
///
/// Connecting brings the schema up to date
/// ([`SCHEMA_VERSION`](crate::SCHEMA_VERSION)). A commit is one
/// transaction; appends to one thread and episodes of one run are
/// serialised by advisory locks, so concurrent writers never race their
/// sequence numbers. Cloning is cheap and shares the pool.
#[derive(Clone)]
pub struct PostgresStore {
    pub(crate) pool: PgPool,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the URL: it may carry a password.
        f.debug_struct("PostgresStore")
            .field("connections", &self.pool.size())
            .finish_non_exhaustive()
    }
}

/// Refuses `sslmode=verify-ca`. It checks no host name, and the driver
/// trusts the system's roots besides the URL's `sslrootcert` (libpq trusts
/// `sslrootcert` alone), so a certificate any public CA signed, for any
/// name, would pass.
fn refuse_weak_tls(connect: &PgConnectOptions) -> Result<(), OpenError> {
    if matches!(connect.get_ssl_mode(), PgSslMode::VerifyCa) {
        return Err(OpenError::Config(klieo_types::ConfigError::invalid(
            "sslmode",
            "verify-ca (from the URL, or PGSSLMODE) checks no host name, and klieo's driver \
             trusts the system's root certificates besides sslrootcert, so any publicly signed \
             certificate would pass: use sslmode=verify-full (a certificate that names the \
             URL's host)",
        )));
    }
    Ok(())
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user@host:port/db`)
    /// with the default [`PostgresOptions`]: a pool of up to 8
    /// connections, each wait for one bounded by 10 s.
    pub async fn connect(url: &str) -> Result<Self, OpenError> {
        Self::connect_with(PostgresOptions::new(url)).await
    }

    /// Connects to the database `options` describe.
    pub async fn connect_with(options: PostgresOptions) -> Result<Self, OpenError> {
        options.validate()?;
        let connect = PgConnectOptions::from_str(&options.url).map_err(|_| OpenError::BadUrl)?;
        refuse_weak_tls(&connect)?;
        let host = connect.get_host().to_owned();
        // One connection first: a server that is down or refuses is an error
        // at once, where the pool would retry until its timeout.
        let probe = PgConnection::connect_with(&connect)
            .await
            .map_err(|source| OpenError::connecting(&host, source))?;
        probe
            .close()
            .await
            .map_err(|source| OpenError::Connect { source })?;
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections())
            .acquire_timeout(options.acquire_timeout())
            .connect_with(connect)
            .await
            .map_err(|source| OpenError::connecting(&host, source))?;
        schema::migrate(&pool, options.create()).await?;
        Ok(Self { pool })
    }

    /// Closes every connection, waiting for those in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn verify_ca_is_refused_before_any_connection() {
        let url = "postgres://u:pw@127.0.0.1:1/agents?sslmode=verify-ca&sslrootcert=/ca.pem";
        let refused = PostgresStore::connect(url).await.expect_err("refused");
        let text = refused.to_string();
        assert!(
            matches!(refused, OpenError::Config(_)) && text.contains("verify-full"),
            "{text}"
        );
        assert!(!text.contains("pw@"), "the URL is not shown: {text}");
        let full = "postgres://u@127.0.0.1:1/agents?sslmode=verify-full";
        let connect = PgConnectOptions::from_str(full).expect("a URL");
        assert!(refuse_weak_tls(&connect).is_ok());
    }
}
