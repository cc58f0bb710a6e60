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
    /// The TLS connection the URL asks for (`sslmode=require`,
    /// `verify-full`) could not be made: the server offers
    /// no TLS, or its certificate is not signed by a trusted CA
    /// (`sslrootcert`, else the system's), or (with `verify-full`) does
    /// not name `host`.
    #[error(
        "could not make a TLS connection to the PostgreSQL server at {host}: check that it \
         offers TLS, that the URL's sslrootcert is the CA that signed its certificate, and, \
         with sslmode=verify-full, that the certificate names {host}"
    )]
    Tls {
        /// The host the URL names.
        host: String,
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
    /// The database has no klieo schema, and the options said not to give
    /// it one ([`PostgresOptions::with_create`](crate::PostgresOptions::with_create)).
    /// Nothing was written.
    #[error(
        "the database is not a klieo store (it has no klieo schema); check the URL's \
         database name (a store is made by an agent or worker that connects to it)"
    )]
    NotAStore,
    /// The database is a klieo store of an older schema, and the options
    /// said not to bring it up to date
    /// ([`PostgresOptions::with_create`](crate::PostgresOptions::with_create)):
    /// the processes that use it may be of that older version. Nothing
    /// was written.
    #[error(
        "the database has klieo schema version {found}, older than the {known} this \
         klieo-postgres writes: connect once with this version's agents or workers, \
         which bring it up to date, or use the matching older version"
    )]
    TooOld {
        /// The schema version in the database.
        found: i64,
        /// The version this crate writes.
        known: i64,
    },
    /// Bringing the schema up to date failed; the database is left at the
    /// version it had (the migrations are one transaction). A table
    /// another session held past the migration's 10 s lock bound fails it
    /// too (SQLSTATE 55P03): connect again once that session is done.
    #[error(
        "could not migrate the database to klieo schema version {version}; it is left at the \
         version it had (if a long transaction held a table, connect again once it ends)"
    )]
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

impl OpenError {
    /// A connection to `host` that failed with `source`: [`Self::Tls`] when
    /// TLS failed, else [`Self::Connect`].
    pub(crate) fn connecting(host: &str, source: sqlx::Error) -> Self {
        // The driver says a server without TLS is a TLS error, and a
        // handshake rustls refused an I/O error around rustls' own.
        let tls = match &source {
            sqlx::Error::Tls(_) => true,
            sqlx::Error::Io(e) => e
                .get_ref()
                .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some()),
            _ => false,
        };
        if tls {
            Self::Tls {
                host: host.to_owned(),
                source,
            }
        } else {
            Self::Connect { source }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn a_refused_certificate_or_a_server_without_tls_is_a_tls_error_naming_the_host() {
        let refused = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let handshake = sqlx::Error::Io(io::Error::new(io::ErrorKind::InvalidData, refused));
        let no_tls = sqlx::Error::Tls("server does not support TLS".into());
        for source in [handshake, no_tls] {
            let e = OpenError::connecting("db.example.com", source);
            assert!(
                matches!(&e, OpenError::Tls { host, .. } if host == "db.example.com"),
                "{e:?}"
            );
        }
        let down = sqlx::Error::Io(io::Error::from(io::ErrorKind::ConnectionRefused));
        assert!(matches!(
            OpenError::connecting("db.example.com", down),
            OpenError::Connect { .. }
        ));
    }
}
