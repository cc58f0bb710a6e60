//! The catalog of runs: the row a database store lists a run from
//! ([`CatalogRow`], read back by [`StoreRows::run_entry`]), and the
//! [`InMemoryJournal`]'s own catalog.

use crate::journal::State;
use crate::queue::Entry;
use crate::{InMemoryJournal, StoreRows};
use async_trait::async_trait;
use futures_util::stream;
use klieo_types::{
    MemoryError, RunCatalog, RunChange, RunChanges, RunEntry, RunId, RunPage, RunQuery, RunTally,
    ThreadId,
};

/// A run's row in a database store's catalog, as its driver reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CatalogRow {
    /// The run's id.
    pub run: String,
    /// Its thread.
    pub thread: String,
    /// The agent it was submitted for.
    pub agent: Option<String>,
    /// Its state's name ([`StoreRows::state_columns`]).
    pub state: String,
    /// Its state's text.
    pub outcome: Option<String>,
    /// Model calls.
    pub model_calls: i64,
    /// Tool calls asked for.
    pub tool_calls: i64,
    /// Input tokens.
    pub input_tokens: i64,
    /// Output tokens.
    pub output_tokens: i64,
    /// Cost in millionths of a US dollar, when priced.
    pub cost_micros: Option<i64>,
    /// When it last changed, in milliseconds since the Unix epoch.
    pub updated_ms: Option<i64>,
    /// The run whose call started it, for a child run.
    pub parent: Option<String>,
}

impl StoreRows {
    /// The catalog's entry of `row`.
    ///
    /// # Errors
    ///
    /// `MemoryError::Serialization` when its id or state cannot be read.
    ///
    /// ```
    /// use klieo_store::{CatalogRow, StoreRows};
    /// use klieo_types::{RunId, RunStatus};
    ///
    /// const ROWS: StoreRows = StoreRows::new("my store");
    /// let mut row = CatalogRow::default();
    /// row.run = RunId::new().to_string();
    /// row.thread = "t".into();
    /// row.state = "failed".into();
    /// row.outcome = Some("boom".into());
    /// row.model_calls = 3;
    /// let entry = ROWS.run_entry(row)?;
    /// assert_eq!(entry.state.status(), RunStatus::Failed);
    /// assert_eq!(entry.tally.model_calls, 3);
    /// # Ok::<(), klieo_types::MemoryError>(())
    /// ```
    pub fn run_entry(&self, row: CatalogRow) -> Result<RunEntry, MemoryError> {
        let mut tally = RunTally::default();
        tally.model_calls = Self::count(row.model_calls);
        tally.tool_calls = Self::count(row.tool_calls);
        tally.input_tokens = Self::count(row.input_tokens);
        tally.output_tokens = Self::count(row.output_tokens);
        tally.cost_micros = row.cost_micros.map(Self::count);
        let parent = row.parent.map(|p| self.run_id(&p)).transpose()?;
        Ok(RunEntry::new(
            self.run_id(&row.run)?,
            ThreadId::new(row.thread),
            row.agent,
            self.run_state(&row.state, row.outcome)?,
            tally,
            row.updated_ms.map(Self::count),
        )
        .with_parent(parent))
    }
}

impl StoreRows {
    /// The page of a query of `limit` runs from the `rows` read for it
    /// (one past the limit when more follow; see [`RunPage::new`]). A row
    /// whose run id or parent's id cannot be read (edited by hand; a claim
    /// fails it, saying so) is left out: nothing can be done with it by
    /// id, and the page of every other run is not lost to it. A store
    /// reads no such rows where its query can tell (the SQL stores match
    /// the ids' text): a page of `limit` rows none of which can be read
    /// would have no run to start the next after, and end the listing.
    ///
    /// # Errors
    ///
    /// `MemoryError::Serialization` when a row's state cannot be read.
    pub fn run_page(&self, rows: Vec<CatalogRow>, limit: usize) -> Result<RunPage, MemoryError> {
        let more = rows.len() > limit;
        let runs = rows
            .into_iter()
            .take(limit)
            .filter(|row| {
                self.run_id(&row.run).is_ok()
                    && row.parent.as_deref().is_none_or(|p| self.run_id(p).is_ok())
            })
            .map(|row| self.run_entry(row))
            .collect::<Result<_, _>>()?;
        let mut page = RunPage::new(runs, limit);
        if more {
            page.next = page.runs.last().map(|entry| entry.run);
        }
        Ok(page)
    }
}

/// Lists what the queue knows (every run submitted or committed to),
/// filtered, then sorted newest first: time in the number of runs, as
/// befits a store for tests and single processes.
#[async_trait]
impl RunCatalog for InMemoryJournal {
    async fn runs(&self, query: &RunQuery) -> Result<RunPage, MemoryError> {
        let state = self.state();
        let mut runs: Vec<RunEntry> = state
            .queue
            .entries()
            .filter(|(run, entry)| {
                let agent = entry.submission.as_ref().map(|(s, _)| s.agent());
                query.status().is_none_or(|s| s == entry.state.status())
                    && query.agent().is_none_or(|a| agent == Some(a))
                    && query.parent().is_none_or(|p| entry.parent == Some(p))
                    && query.before().is_none_or(|before| *run < before)
            })
            .map(|(run, entry)| catalog_entry(&state, run, entry))
            .collect();
        runs.sort_unstable_by_key(|entry| std::cmp::Reverse(entry.run));
        runs.truncate(query.limit() + 1);
        Ok(RunPage::new(runs, query.limit()))
    }

    async fn entry(&self, run: RunId) -> Result<Option<RunEntry>, MemoryError> {
        let state = self.state();
        Ok(state
            .queue
            .entry(run)
            .map(|entry| catalog_entry(&state, run, entry)))
    }

    /// [`RunChange::Any`] at each change: the store counts them, not
    /// which run changed.
    async fn changes(&self) -> Result<Option<RunChanges>, MemoryError> {
        let changed = self.state().queue.changed.subscribe();
        let each = stream::unfold(changed, |mut changed| async move {
            changed.changed().await.ok()?;
            Some((RunChange::Any, changed))
        });
        Ok(Some(Box::pin(each)))
    }
}

/// The catalog's entry of `run`, which the queue holds as `entry`.
fn catalog_entry(state: &State, run: RunId, entry: &Entry) -> RunEntry {
    let submission = entry.submission.as_ref().map(|(s, _)| s);
    let thread = state
        .thread_of(run)
        .unwrap_or_else(|| ThreadId::new(run.to_string()));
    RunEntry::new(
        run,
        thread,
        submission.map(|s| s.agent().to_owned()),
        entry.state.clone(),
        entry.tally,
        Some(entry.updated_ms),
    )
    .with_parent(entry.parent)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROWS: StoreRows = StoreRows::new("test store");

    fn row(run: String) -> CatalogRow {
        CatalogRow {
            run,
            thread: "t".into(),
            state: "queued".into(),
            ..CatalogRow::default()
        }
    }

    #[test]
    fn a_page_short_of_an_unreadable_row_still_says_where_the_next_starts() {
        let (oldest, older, newest) = (RunId::new(), RunId::new(), RunId::new());
        // Newest first, one past the limit of 3: more follow.
        let rows = vec![
            row(newest.to_string()),
            row("edited by hand".into()),
            row(older.to_string()),
            row(oldest.to_string()),
        ];
        let page = ROWS
            .run_page(rows, 3)
            .expect("the readable rows make a page");
        let listed: Vec<RunId> = page.runs.iter().map(|e| e.run).collect();
        assert_eq!(listed, vec![newest, older]);
        assert_eq!(page.next, Some(older), "the listing goes on after the page");
    }

    #[test]
    fn a_last_page_short_of_an_unreadable_row_is_the_last() {
        let run = RunId::new();
        let rows = vec![row(run.to_string()), row("edited by hand".into())];
        let page = ROWS
            .run_page(rows, 3)
            .expect("the readable rows make a page");
        assert_eq!(page.runs.len(), 1);
        assert_eq!(page.next, None);
    }

    #[test]
    fn a_row_whose_parent_cannot_be_read_is_left_out_of_its_page() {
        let (older, newer) = (RunId::new(), RunId::new());
        let mut orphan = row(newer.to_string());
        orphan.parent = Some("edited by hand".into());
        let page = ROWS
            .run_page(vec![orphan, row(older.to_string())], 3)
            .expect("the readable rows make a page");
        let listed: Vec<RunId> = page.runs.iter().map(|e| e.run).collect();
        assert_eq!(listed, [older]);
    }
}
