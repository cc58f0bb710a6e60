//! The fleet's store (a SQLite file or a PostgreSQL database) and what
//! each command does with it.

use klieo::postgres::PostgresStore;
use klieo::prelude::*;
use klieo::runtime::{wait, WorkerReport};
use klieo::sqlite::SqliteStore;
use klieo::types::{ConfigError, Journal};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The name runs are submitted for and workers drive.
pub(crate) const AGENT: &str = "assistant";

/// A worker's settings: leases short enough to watch a takeover.
fn options() -> WorkerOptions {
    WorkerOptions::new()
        .with_concurrency(4)
        .with_lease_ttl(Duration::from_secs(10))
        .with_drain_deadline(Duration::from_secs(10))
}

/// The store every command of the fleet opens.
pub(crate) enum Fleet {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

impl Fleet {
    /// A PostgreSQL database for a `postgres://` or `postgresql://` URL, a
    /// SQLite file for anything else.
    pub(crate) async fn open(location: &str) -> Result<Self, Box<dyn std::error::Error>> {
        if location.starts_with("postgres://") || location.starts_with("postgresql://") {
            Ok(Self::Postgres(PostgresStore::connect(location).await?))
        } else {
            Ok(Self::Sqlite(SqliteStore::open(location).await?))
        }
    }

    fn queue(&self) -> &dyn RunQueue {
        match self {
            Self::Sqlite(store) => store,
            Self::Postgres(store) => store,
        }
    }

    /// Queues `prompt` for the assistant; `key` makes a repeated submit
    /// find the first one's run.
    pub(crate) async fn submit(&self, prompt: &str, key: Option<&str>) -> Result<RunId, Error> {
        let mut submission = Submission::new(AGENT, prompt);
        if let Some(key) = key {
            submission = submission.with_key(key);
        }
        Ok(self.queue().submit(&submission).await?)
    }

    /// The run's state once it is over or waits on a person, or after
    /// `within`.
    pub(crate) async fn wait(&self, run: RunId, within: Duration) -> Result<RunState, Error> {
        wait(self.queue(), run, within).await
    }

    /// Drives the assistant's runs with `llm` until `shutdown`.
    pub(crate) async fn work(
        &self,
        llm: impl LlmClient + 'static,
        shutdown: CancellationToken,
    ) -> Result<WorkerReport, ConfigError> {
        let worker = match self {
            Self::Sqlite(store) => worker(store.clone(), Arc::new(llm))?,
            Self::Postgres(store) => worker(store.clone(), Arc::new(llm))?,
        };
        Ok(worker.run(shutdown).await)
    }
}

/// A worker on `store` whose assistant answers with `llm`.
fn worker<S>(store: S, llm: Arc<dyn LlmClient>) -> Result<Worker, ConfigError>
where
    S: RunQueue + Journal + Clone + 'static,
{
    let assistant = Agent::builder_shared(llm)
        .with_instructions("You are a helpful assistant. Answer in one or two sentences.")
        .with_memory(store.clone())
        .build()?;
    Worker::builder(store)
        .add_agent(AGENT, assistant)
        .with_options(options())
        .build()
}
