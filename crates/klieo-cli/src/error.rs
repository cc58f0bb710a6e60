//! [`CliError`]: what a command could not do, said so a person can act.

use klieo::types::{ErrorChain, MemoryError, RunId};

/// What a command could not do.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// No store was named.
    #[error("no store given: name it with --store sqlite://PATH (or postgres://USER@HOST/DATABASE), or set KLIEO_STORE")]
    NoStore,
    /// `--store` names no store kind klieo knows. Only its scheme is
    /// shown: the rest may carry a password.
    #[error(
        "the store `{scheme}…` is neither `sqlite://PATH` nor `postgres://USER@HOST/DATABASE`; \
         give one of those with --store or KLIEO_STORE"
    )]
    UnknownStore {
        /// The scheme before `:`, when it looks like one; empty otherwise.
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
    #[error("`{text}` is not a ticket (RUN/CALL/DIGEST); `klieo runs show RUN` prints the one a suspended run waits on")]
    BadTicket {
        /// What was given, escaped and cut.
        text: String,
        /// Why it does not parse.
        #[source]
        source: klieo::types::ParseTicketError,
    },
    /// The decision was not taken: the run does not wait on that call.
    #[error("the decision was not recorded")]
    Decision(#[source] klieo::types::Error),
    /// The store failed while a decision was being recorded: it may have
    /// been (a commit whose answer was lost), or not.
    #[error(
        "the store failed while recording the decision, so it may or may not be recorded: \
         `klieo runs show {run}` tells; check that the store is reachable before deciding again"
    )]
    Deciding {
        /// The run the decision was for.
        run: RunId,
        /// What the store said.
        #[source]
        source: MemoryError,
    },
    /// The call a run waits on could not be read.
    #[error("could not read the call the run waits on")]
    Reading(#[source] klieo::types::Error),
    /// Opening the store took too long.
    #[error(
        "opening the store took longer than {after:?}; check that its server is up and reachable"
    )]
    OpenTimedOut {
        /// The limit.
        after: std::time::Duration,
    },
    /// A command got no answer from the open store for this long.
    #[error(
        "the store answered nothing for {after:?}; check that its server is up and reachable. \
         A decision, cancel or resume may have been recorded anyway: `klieo runs show RUN` \
         tells before you try again"
    )]
    CommandTimedOut {
        /// The limit.
        after: std::time::Duration,
    },
    /// The store answered no read for this long (a failover that drops
    /// packets, a frozen server).
    #[error(
        "the store answered nothing for {after:?}; check that its server is up and reachable, \
         then watch again"
    )]
    StoreSilent {
        /// How long it was asked.
        after: std::time::Duration,
    },
    /// The store has no such run.
    #[error("the store has no run {run}; `klieo runs list` shows the runs it has")]
    UnknownRun {
        /// The run.
        run: RunId,
    },
    /// `klieo resume` of a run that names no agent, without `--agent`.
    #[error("run {run} was never submitted, so no agent is named for it; name the agent whose workers should drive it with --agent NAME")]
    NoAgent {
        /// The run.
        run: RunId,
    },
    /// `klieo resume` of a child run, which its parent's call drives.
    #[error("run {run} is a child run of run {parent} (an agent used as a tool): resume run {parent}, whose call takes the child up")]
    ChildRun {
        /// The run.
        run: RunId,
        /// Its parent.
        parent: RunId,
    },
    /// `klieo resume` of a team's run, which a hand-off gave on: workers
    /// drive one agent, not a team.
    #[error("run {run} is a team's run, which a hand-off gave to agent `{agent}`: workers drive one agent, not a team; take it up in code with Team::resume")]
    TeamRun {
        /// The run.
        run: RunId,
        /// The agent that drives it now.
        agent: String,
    },
    /// `klieo resume` of a run that is over.
    #[error("run {run} is already {state}, so it cannot go on; submit a new run")]
    Over {
        /// The run.
        run: RunId,
        /// Its state's name: completed, failed or cancelled.
        state: &'static str,
    },
    /// The store failed while reading or writing.
    #[error("the store failed while reading or writing; check that it is reachable and try again")]
    Store(#[source] MemoryError),
    /// The store holds something this klieo cannot read: trying again
    /// changes nothing.
    #[error(
        "the store holds data this klieo cannot read (written by another version or program, \
         or edited by hand); the cause names it"
    )]
    Unreadable(#[source] MemoryError),
    /// The store refused what was asked (the run was cancelled, another
    /// process wrote first, it cannot do it): the cause says why.
    #[error("the store refused it")]
    Refused(#[source] MemoryError),
    /// The output could not be made into JSON.
    #[error("could not write the output as JSON")]
    Json(#[from] serde_json::Error),
    /// `--token` is too short or holds characters a URL or a cookie
    /// would change.
    #[error(
        "the console's token must be at least {min} letters, digits, `-`, `_`, `.` or `~`; \
         give another with KLIEO_CONSOLE_TOKEN (or --token), or leave it out for a random one"
    )]
    BadToken {
        /// The fewest characters.
        min: usize,
    },
    /// The operating system gave no random bytes for the console's token.
    #[error("could not make the console's token: the operating system gave no random bytes")]
    Random(#[source] getrandom::Error),
    /// The console could not listen where it was told.
    #[error("the console could not listen on {addr}; choose another address or port with --bind")]
    Bind {
        /// Where.
        addr: std::net::SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The output could not be written (a full disk; not a reader that
    /// went away, which is no error).
    #[error("could not write the output; check where it goes (a full disk?)")]
    Output(#[source] std::io::Error),
    /// The async runtime could not start.
    #[error("could not start the async runtime")]
    Runtime(#[source] std::io::Error),
}

impl From<MemoryError> for CliError {
    fn from(error: MemoryError) -> Self {
        match error {
            MemoryError::Serialization { .. } => Self::Unreadable(error),
            MemoryError::Conflict(_)
            | MemoryError::KeyReused { .. }
            | MemoryError::SummaryRefused { .. }
            | MemoryError::Unsupported(_)
            | MemoryError::Cancelled { .. } => Self::Refused(error),
            _ => Self::Store(error),
        }
    }
}

impl CliError {
    /// The error and its causes, as one line for a terminal or a page
    /// (what they quote of a store's or a model's text escaped), cut at
    /// `max` characters.
    pub(crate) fn with_causes(&self, max: usize) -> String {
        let text = ErrorChain(self).to_string();
        crate::runs::plain(&text, max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_failing_store_is_told_to_check_it_is_reachable() {
        let failed = CliError::from(MemoryError::backend("connection refused"));
        assert!(failed.to_string().contains("reachable"), "{failed}");
        for error in [
            MemoryError::Serialization {
                reason: "episode kind `from_the_future`".into(),
                cause: None,
            },
            MemoryError::Conflict("another worker wrote first".into()),
            MemoryError::Unsupported("no summaries".into()),
        ] {
            let said = CliError::from(error);
            assert!(!said.to_string().contains("reachable"), "{said}");
            assert!(!said.to_string().contains("  "), "{said}");
            assert!(
                said.with_causes(400).contains(':'),
                "the cause is told: {said}"
            );
        }
    }
}
