//! [`StoreRows`]: how a database store keeps conversations and event logs
//! as rows, whatever its driver.

use klieo_types::{
    History, MemoryError, Message, PendingStep, Role, RunId, RunRecord, RunState, Submission,
    ThreadId, ThreadSummary, Transcript,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::time::Duration;

/// The row layout klieo's database stores share, and the conversions to
/// and from it, with errors that name the store.
///
/// Messages, episodes and pending steps are kept as JSON text. A thread's
/// messages are numbered from 0 and carry the running sum of the tokens
/// before them, so the newest messages within a token budget are one
/// range query: those whose `total - tokens_before <= budget`, where
/// `total` is the last row's `tokens_before + tokens`. [`transcript`]
/// then drops leading tool results whose call was cut, the same cut as
/// [`MessageLog::window`](klieo_types::MessageLog::window).
///
/// ```
/// use klieo_store::StoreRows;
/// use klieo_types::Message;
///
/// const ROWS: StoreRows = StoreRows::new("my store");
/// let rows = ROWS.message_rows(&[Message::user("hi"), Message::assistant("hello")], None)?;
/// assert_eq!((rows[1].seq, rows[1].tokens_before), (1, rows[0].tokens));
///
/// let stored: Vec<(String, String)> = rows
///     .into_iter()
///     .map(|row| (row.role.to_owned(), row.json))
///     .collect();
/// assert_eq!(ROWS.transcript(&stored)?.len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// [`transcript`]: Self::transcript
#[derive(Debug, Clone, Copy)]
pub struct StoreRows {
    store: &'static str,
}

/// One message as a row, numbered after the thread's last.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MessageRow {
    /// Its place in the thread, from 0.
    pub seq: i64,
    /// Its role, as [`Role::as_str`] spells it.
    pub role: &'static str,
    /// The estimated tokens of the thread's messages before it.
    pub tokens_before: i64,
    /// Its own estimated tokens.
    pub tokens: i64,
    /// The message as JSON.
    pub json: String,
}

impl StoreRows {
    /// The layout for the store called `store` in error messages
    /// ("SQLite store").
    pub const fn new(store: &'static str) -> Self {
        Self { store }
    }

    /// `value` as JSON text; `what` names it in the error ("a message").
    ///
    /// # Errors
    ///
    /// `MemoryError::Serialization` when serde cannot encode it.
    pub fn encode<T: Serialize>(&self, what: &str, value: &T) -> Result<String, MemoryError> {
        serde_json::to_string(value).map_err(|e| {
            MemoryError::serialization_from(format!("{}: encoding {what}", self.store), e)
        })
    }

    /// A value read back from JSON text; `what` names it in the error.
    ///
    /// # Errors
    ///
    /// `MemoryError::Serialization` when the text is not a `T`.
    pub fn decode<T: DeserializeOwned>(&self, what: &str, text: &str) -> Result<T, MemoryError> {
        serde_json::from_str(text).map_err(|e| {
            MemoryError::serialization_from(
                format!(
                    "{}: a stored {what} could not be read; was it written by another program?",
                    self.store
                ),
                e,
            )
        })
    }

    /// The rows of `messages` appended after a thread whose last row has
    /// `last = (seq, tokens_before + tokens)`, or to an empty thread.
    ///
    /// # Errors
    ///
    /// `MemoryError::Serialization` when a message cannot be encoded.
    pub fn message_rows(
        &self,
        messages: &[Message],
        last: Option<(i64, i64)>,
    ) -> Result<Vec<MessageRow>, MemoryError> {
        let (mut seq, mut before) =
            last.map_or((0, 0), |(seq, total)| (seq.saturating_add(1), total));
        messages
            .iter()
            .map(|message| {
                let tokens = Self::tokens(message.estimated_tokens());
                let row = MessageRow {
                    seq,
                    role: message.role.as_str(),
                    tokens_before: before,
                    tokens,
                    json: self.encode("a message", message)?,
                };
                seq += 1;
                before = before.saturating_add(tokens);
                Ok(row)
            })
            .collect()
    }

    /// A duration in whole milliseconds as the column type (a lease's time
    /// to live), at most [`MAX_MILLIS`](Self::MAX_MILLIS): a database adds
    /// it to the clock, and PostgreSQL refuses an interval past its range
    /// (`Duration::MAX` as a lease that never lapses).
    pub fn millis(d: Duration) -> i64 {
        i64::try_from(d.as_millis()).map_or(Self::MAX_MILLIS, |ms| ms.min(Self::MAX_MILLIS))
    }

    /// The longest duration [`millis`](Self::millis) gives: 100 years, as
    /// good as for ever to a lease.
    pub const MAX_MILLIS: i64 = 100 * 366 * 24 * 3600 * 1000;

    /// What a submit of `submission` answers when its key already made a
    /// run, whose row holds `(run, agent, prompt, thread)`: that run, or
    /// `MemoryError::KeyReused` when the row was made for another
    /// submission ([`Submission::resubmitted`]).
    ///
    /// # Errors
    ///
    /// `MemoryError::KeyReused`, or `MemoryError::Serialization` for a run
    /// id that is not one.
    pub fn resubmitted(
        &self,
        submission: &Submission,
        (run, agent, prompt, thread): (String, Option<String>, Option<String>, String),
    ) -> Result<RunId, MemoryError> {
        let first = Submission::new(agent.unwrap_or_default(), prompt.unwrap_or_default())
            .with_thread(ThreadId::new(thread));
        submission.resubmitted(self.run_id(&run)?, &first)
    }

    /// A token count as the column type, saturating.
    pub fn tokens(n: usize) -> i64 {
        i64::try_from(n).unwrap_or(i64::MAX)
    }

    /// The messages of the `(role, json)` rows a window query returned, in
    /// order, without the leading tool results whose call was cut.
    ///
    /// # Errors
    ///
    /// `MemoryError::Serialization` when a row is not a message.
    pub fn transcript(&self, rows: &[(String, String)]) -> Result<Transcript, MemoryError> {
        let tool = Role::Tool.as_str();
        rows.iter()
            .skip_while(|(role, _)| role == tool)
            .map(|(_, json)| self.decode::<Message>("message", json))
            .collect()
    }

    /// The messages of the `(seq, role, json, tokens)` rows a history
    /// query returned, in order, without the leading tool results whose
    /// call was cut; the thread's index of the first of them (`None` when
    /// none is left); and their estimated tokens, as counted when they
    /// were appended.
    ///
    /// # Errors
    ///
    /// `MemoryError::Serialization` when a row is not a message.
    pub fn numbered_transcript(
        &self,
        rows: &[(i64, String, String, i64)],
    ) -> Result<(Transcript, Option<u64>, u64), MemoryError> {
        let tool = Role::Tool.as_str();
        let kept = rows.iter().skip_while(|(_, role, _, _)| role == tool);
        let first = kept.clone().next().map(|(seq, ..)| Self::count(*seq));
        // Saturating: stored counts edited by hand may be anything.
        let tokens = kept
            .clone()
            .map(|(.., tokens)| Self::count(*tokens))
            .fold(0, u64::saturating_add);
        let messages = kept
            .map(|(_, _, json, _)| self.decode::<Message>("message", json))
            .collect::<Result<Transcript, _>>()?;
        Ok((messages, first, tokens))
    }

    /// The [`History`] of a thread of `len` messages: `summary`, then the
    /// window `rows` (as [`numbered_transcript`](Self::numbered_transcript)
    /// reads them) hold, counted by the store; a window with nothing in it
    /// starts at the thread's end.
    ///
    /// # Errors
    ///
    /// `MemoryError::Serialization` when a row is not a message.
    pub fn history(
        &self,
        summary: Option<ThreadSummary>,
        rows: &[(i64, String, String, i64)],
        len: u64,
    ) -> Result<History, MemoryError> {
        let (messages, first, tokens) = self.numbered_transcript(rows)?;
        Ok(History::new(summary, messages, first.unwrap_or(len)).with_tokens(tokens))
    }

    /// A thread's length and latest summary from the columns a store read
    /// them into: the message count, and the summary's `from`, `through`
    /// and text (all `None` for a thread with no summary).
    pub fn thread_head(
        len: i64,
        from: Option<i64>,
        through: Option<i64>,
        text: Option<String>,
    ) -> (u64, Option<ThreadSummary>) {
        let summary = match (from, through, text) {
            (Some(from), Some(through), Some(text)) => Some(ThreadSummary::new(
                Self::count(from),
                Self::count(through),
                text,
            )),
            _ => None,
        };
        (Self::count(len), summary)
    }

    /// A count or index read back from an integer column (a negative one,
    /// which klieo never writes, as 0).
    pub fn count(n: i64) -> u64 {
        u64::try_from(n).unwrap_or(0)
    }

    /// A count or index as the column type, saturating.
    pub fn index(n: u64) -> i64 {
        i64::try_from(n).unwrap_or(i64::MAX)
    }

    /// A run's [`RunState`] as two columns: its name (`queued`, `running`,
    /// `suspended`, `completed`, `failed`, `cancelled`) and its text (the
    /// answer, the error, or who cancelled), which [`run_state`] reads
    /// back.
    ///
    /// ```
    /// use klieo_store::StoreRows;
    /// use klieo_types::RunState;
    ///
    /// const ROWS: StoreRows = StoreRows::new("my store");
    /// let done = RunState::Completed { answer: "391".into() };
    /// let (name, text) = ROWS.state_columns(&done);
    /// assert_eq!((name, text), ("completed", Some("391")));
    /// assert_eq!(ROWS.run_state(name, text.map(str::to_owned))?, done);
    /// # Ok::<(), klieo_types::MemoryError>(())
    /// ```
    ///
    /// [`run_state`]: Self::run_state
    pub fn state_columns<'a>(&self, state: &'a RunState) -> (&'static str, Option<&'a str>) {
        (state.name(), state.outcome())
    }

    /// The [`RunState`] two columns hold (see [`state_columns`]).
    ///
    /// # Errors
    ///
    /// `MemoryError::Serialization` for a state name this version does not
    /// know (a newer schema's).
    ///
    /// [`state_columns`]: Self::state_columns
    pub fn run_state(&self, name: &str, text: Option<String>) -> Result<RunState, MemoryError> {
        let text = text.unwrap_or_default();
        Ok(match name {
            "queued" => RunState::Queued,
            "running" => RunState::Running,
            "suspended" => RunState::Suspended,
            "completed" => RunState::Completed { answer: text },
            "failed" => RunState::Failed { error: text },
            "cancelled" => RunState::Cancelled { by: text },
            other => {
                return Err(MemoryError::Serialization {
                    reason: format!(
                        "{}: a run's state `{other}` is not one this version knows; upgrade klieo",
                        self.store
                    ),
                    cause: None,
                })
            }
        })
    }

    /// The outcome a queue writes for a due run `id` whose stored `what`
    /// (`"run id"`, `"prompt"`) cannot be read (edited by hand, or by
    /// another program): no worker can drive it, so its claim fails it,
    /// and the runs queued behind it are claimed, not stalled.
    pub fn unreadable_run(&self, id: &str, what: &str) -> String {
        format!(
            "{}: the {what} of run `{}` could not be read, so no worker can drive it; it \
             was failed so that the runs queued behind it are claimed",
            self.store,
            klieo_types::text::prefix_chars(id, 64)
        )
    }

    /// A driver's error as `MemoryError::Backend`, saying what was being
    /// done (`"appending to a thread"`) in this store, the driver's error
    /// as its source (not pasted into its text).
    pub fn backend(
        &self,
        doing: &str,
        error: impl std::error::Error + Send + Sync + 'static,
    ) -> MemoryError {
        MemoryError::backend_from(format!("{}: {doing}", self.store), error)
    }

    /// A run's record from its row: its thread and its pending step's
    /// JSON, when it has one.
    ///
    /// # Errors
    ///
    /// `MemoryError::Serialization` when the pending step cannot be read.
    pub fn run_record(
        &self,
        thread: String,
        pending: Option<String>,
    ) -> Result<RunRecord, MemoryError> {
        let pending = pending
            .map(|json| self.decode::<PendingStep>("pending step", &json))
            .transpose()?;
        Ok(RunRecord::new(ThreadId::new(thread), pending))
    }

    /// The run ids of stored rows. A text that is not one klieo wrote
    /// ([`run_id`](Self::run_id): edited by hand, or by another program)
    /// is left out: nothing can be done with it by id, and the list of
    /// every other run is not lost to it.
    pub fn run_ids(&self, rows: &[String]) -> Vec<RunId> {
        rows.iter().filter_map(|id| self.run_id(id).ok()).collect()
    }

    /// The run id of a stored row, written as klieo writes it: a text
    /// that reads as an id but is written otherwise (upper case, by
    /// another program) is not one, since the row would then not be found
    /// again by the id it reads as.
    ///
    /// # Errors
    ///
    /// `MemoryError::Serialization` naming the text when it is not one.
    pub fn run_id(&self, id: &str) -> Result<RunId, MemoryError> {
        let run: RunId = id.parse().map_err(|e| {
            MemoryError::serialization_from(
                format!("{}: run id `{id}` could not be read", self.store),
                e,
            )
        })?;
        if run.to_string() != id {
            return Err(MemoryError::Serialization {
                reason: format!(
                    "{}: run id `{id}` is not written as klieo writes ids (`{run}`), so its \
                     rows would not be found by it",
                    self.store
                ),
                cause: None,
            });
        }
        Ok(run)
    }
}

#[cfg(test)]
#[path = "rows_tests.rs"]
mod tests;
