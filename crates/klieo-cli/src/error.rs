//! [`CliError`]: what a command could not do, said so a person can act.

use klieo::types::{MemoryError, RunId};

/// What a command could not do.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// `--store` names no store kind klieo knows. Only the part before
    /// `://` is shown: the rest may carry a password.
    #[error(
        "the store `{scheme}…` is neither `sqlite://PATH` nor `postgres://USER@HOST/DATABASE`; \
         give one of those with --store or KLIEO_STORE"
    )]
    UnknownStore {
        /// What came before `://`, or the first characters.
        scheme: String,
    },
    /// The SQLite store could not be opened.
    #[error("could not open the SQLite store")]
    Sqlite(#[source] klieo::sqlite::OpenError),
    /// The PostgreSQL store could not be opened.
    #[error("could not open the PostgreSQL store")]
    Postgres(#[source] klieo::postgres::OpenError),
    /// A run id that is not one.
    #[error("`{text}` is not a run id (a UUID such as 0190d3f6-…); `klieo runs list` shows them")]
    BadRunId {
        /// What was given.
        text: String,
    },
    /// A ticket that is not one.
    #[error("`{text}` is not a ticket (RUN:CALL:DIGEST); `klieo runs show RUN` prints the one a suspended run waits on")]
    BadTicket {
        /// What was given, cut.
        text: String,
    },
    /// The decision was not taken: the run does not wait on that call.
    #[error("the decision was not recorded")]
    Decision(#[source] klieo::types::Error),
    /// The store has no such run.
    #[error("the store has no run {run}; `klieo runs list` shows the runs it has")]
    UnknownRun {
        /// The run.
        run: RunId,
    },
    /// The store failed while reading or writing.
    #[error("the store failed")]
    Store(#[from] MemoryError),
    /// The output could not be made into JSON.
    #[error("could not write the output as JSON")]
    Json(#[from] serde_json::Error),
    /// The async runtime could not start.
    #[error("could not start the async runtime")]
    Runtime(#[source] std::io::Error),
}

impl CliError {
    /// The error and its causes, as one line.
    pub(crate) fn with_causes(&self) -> String {
        let mut text = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(e) = cause {
            text.push_str(": ");
            text.push_str(&e.to_string());
            cause = e.source();
        }
        text
    }
}
