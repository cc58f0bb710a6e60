//! klieo's shared store: conversations, event logs and run journals in
//! PostgreSQL, for many processes on many machines sharing one database.
//!
//! Depends on `klieo-types`, the store kit `klieo-store` (the row layout
//! it shares with klieo-sqlite) and its driver (sqlx) only: never on the
//! runtime. [`PostgresStore`] implements
//! [`ShortTermMemory`](klieo_types::ShortTermMemory),
//! [`EpisodicMemory`](klieo_types::EpisodicMemory) and
//! [`Journal`](klieo_types::Journal); hand it to an agent with
//! `AgentBuilder::with_memory`, and resume or approve its runs from any
//! process. It runs on tokio, with timers enabled.
//!
//! PostgreSQL's `text` cannot hold the NUL character: the columns kept
//! as plain text (a run's outcome and prompt, a thread's summary) get
//! U+FFFD in its place; messages and episodes, kept as JSON, keep it. A
//! thread id keys rows, and a key holds 2,704 bytes: a thread id over
//! 2,000 bytes is refused (`MemoryError::Unsupported`) before anything
//! is written, a submit's included.
//!
//! The schema is versioned ([`SCHEMA_VERSION`]); connecting applies the
//! migrations the database lacks, all in one transaction (a failure
//! leaves the version it had, which its older workers still use), each
//! lock it takes waited for at most 10 s (a long reader of a table makes
//! the migration fail, to be tried again, instead of holding every
//! worker's writes up behind it), and refuses a database from a newer
//! version. No error or `Debug` output shows the
//! connection URL.
//!
//! Leases ([`Journal::lease`](klieo_types::Journal::lease)) are timed by
//! the server's clock, so workers on many machines agree on them. These
//! notify the channel `klieo_runs`: a submit; a run given up by a draining
//! worker; a person's decision, recorded from the store, that lets a
//! suspended run go on (an approval, a denial, a settled call, or a
//! decision on a child run that its parent waited on); and
//! [`RunQueue::assign`](klieo_types::RunQueue::assign) of a run that is not
//! over. [`RunQueue::wakeups`](klieo_types::RunQueue::wakeups) listens on it
//! on a connection of its own, outside the pool.
//!
//! The pool's size and wait are [`PostgresOptions`]
//! (`PostgresStore::connect_with`). TLS is asked for in the URL, as
//! libpq's: `?sslmode=verify-full&sslrootcert=/path/ca.pem` checks the
//! server's certificate against that CA or the system's roots (the driver
//! trusts both; libpq trusts `sslrootcert` alone) and that it names the
//! URL's host; `sslmode=require` only encrypts; `sslmode=verify-ca`, which
//! checks no name, is refused ([`OpenError::Config`]): with the system's
//! roots, any publicly signed certificate would pass. It is rustls on
//! ring; a refused certificate is [`OpenError::Tls`].
//!
//! ```no_run
//! use klieo_postgres::PostgresStore;
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let store = PostgresStore::connect("postgres://klieo@127.0.0.1:5432/agents").await?;
//! # let _ = store;
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

/// The `FROM` item that bounds the waits of the statement's transaction,
/// for that transaction only (a pooler such as PgBouncer sees no session
/// setting): 30 s for a lock, and the server ends it if it sits idle 60 s
/// holding one. Put it before the statement's lock: a subquery with
/// volatile functions is evaluated before the target list. The store's
/// SQL functions (migration 0011) set the same.
macro_rules! bounded_waits {
    () => {
        bounded_waits!("30s")
    };
    ($lock:literal) => {
        concat!(
            "(SELECT set_config('lock_timeout', '",
            $lock,
            "', true), set_config('idle_in_transaction_session_timeout', '60s', true)) AS bounded"
        )
    };
}

mod catalog;
mod changes;
mod error;
mod journal;
mod ledger;
mod memory;
mod options;
mod queue;
mod rate;
mod schema;
mod store;
#[cfg(feature = "testing")]
pub mod testing;
mod text;
mod wakeups;

pub use error::OpenError;
pub use options::PostgresOptions;
pub use rate::PostgresRateLimiter;
pub use schema::SCHEMA_VERSION;
pub use store::PostgresStore;
