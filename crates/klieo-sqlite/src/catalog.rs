//! The store as a [`RunCatalog`]: one indexed range read on a reader,
//! newest run first (a run id's text sorts in the order ids were made),
//! by the index that fits the filter (`runs_by_state`, `runs_by_agent`,
//! `runs_by_agent_state`, `runs_by_parent`, or the table's key).

use crate::error::backend;
use crate::memory::ROWS;
use crate::SqliteStore;
use async_trait::async_trait;
use klieo_store::CatalogRow;
use klieo_types::{MemoryError, RunCatalog, RunChanges, RunEntry, RunId, RunPage, RunQuery};
use rusqlite::types::{Value, ValueRef};
use rusqlite::{params_from_iter, OptionalExtension, Row};

/// The columns a catalog row is read from, in [`catalog_row`]'s order.
const COLUMNS: &str = "run, thread, agent, state, outcome, model_calls, tool_calls, \
                       input_tokens, output_tokens, cost_micros, updated_ms, parent";

#[async_trait]
impl RunCatalog for SqliteStore {
    async fn runs(&self, query: &RunQuery) -> Result<RunPage, MemoryError> {
        let doing = "listing runs";
        let (sql, values) = select(query);
        let rows = self
            .readers
            .read(doing, move |connection| {
                connection
                    .prepare_cached(&sql)
                    .and_then(|mut select| {
                        select
                            .query_map(params_from_iter(values), catalog_row)?
                            .collect::<Result<Vec<_>, _>>()
                    })
                    .map_err(|e| backend(doing, e))
            })
            .await?;
        ROWS.run_page(rows, query.limit())
    }

    async fn entry(&self, run: RunId) -> Result<Option<RunEntry>, MemoryError> {
        let doing = "reading a run's entry";
        let sql = format!("SELECT {COLUMNS} FROM runs WHERE run = ?1");
        let id = run.to_string();
        let row = self
            .readers
            .read(doing, move |connection| {
                connection
                    .prepare_cached(&sql)
                    .and_then(|mut select| select.query_row([&id], catalog_row).optional())
                    .map_err(|e| backend(doing, e))
            })
            .await?;
        row.map(|row| ROWS.run_entry(row)).transpose()
    }

    /// [`RunChange::Any`](klieo_types::RunChange::Any) each time another connection committed to the
    /// file (`PRAGMA data_version`, asked every 100 ms).
    async fn changes(&self) -> Result<Option<RunChanges>, MemoryError> {
        self.change_counter().await.map(Some)
    }
}

/// A run id as klieo writes it (`RunId`'s text: lower-case hex in groups
/// of 8, 4, 4, 4 and 12), as a `GLOB` pattern.
fn run_id_glob() -> String {
    let hex = |n: usize| "[0-9a-f]".repeat(n);
    format!("{}-{}-{}-{}-{}", hex(8), hex(4), hex(4), hex(4), hex(12))
}

/// The statement `query` reads by, and its values: one text per filter
/// combination, so each is prepared once and planned on its index. Rows
/// whose id or parent's id is no run id (edited by hand) are not read:
/// a page of them would be empty and end the listing early.
fn select(query: &RunQuery) -> (String, Vec<Value>) {
    let glob = run_id_glob();
    // Text: `GLOB` reads a BLOB's bytes as text, and a BLOB sorts above
    // every text.
    let mut filters = vec![
        format!("typeof(run) = 'text' AND run GLOB '{glob}'"),
        format!("(parent IS NULL OR (typeof(parent) = 'text' AND parent GLOB '{glob}'))"),
    ];
    let mut values = Vec::new();
    if let Some(status) = query.status() {
        values.push(Value::Text(status.name().to_owned()));
        filters.push(format!("state = ?{}", values.len()));
    }
    if let Some(agent) = query.agent() {
        values.push(Value::Text(agent.to_owned()));
        filters.push(format!("agent = ?{}", values.len()));
    }
    if let Some(parent) = query.parent() {
        values.push(Value::Text(parent.to_string()));
        filters.push(format!("parent = ?{}", values.len()));
    }
    if let Some(before) = query.before() {
        values.push(Value::Text(before.to_string()));
        filters.push(format!("run < ?{}", values.len()));
    }
    let filter = format!("WHERE {}", filters.join(" AND "));
    // One past the page: whether there is a next.
    values.push(Value::Integer(
        i64::try_from(query.limit() + 1).unwrap_or(i64::MAX),
    ));
    let sql = format!(
        "SELECT {COLUMNS} FROM runs {filter} ORDER BY run DESC LIMIT ?{}",
        values.len()
    );
    (sql, values)
}

/// A row of [`COLUMNS`].
fn catalog_row(row: &Row<'_>) -> rusqlite::Result<CatalogRow> {
    // Texts another program wrote may not be UTF-8: shown with U+FFFD, so
    // that one such run does not fail the page of every other.
    let text = |i: usize| -> rusqlite::Result<Option<String>> {
        Ok(match row.get_ref(i)? {
            ValueRef::Null => None,
            ValueRef::Text(bytes) | ValueRef::Blob(bytes) => {
                Some(String::from_utf8_lossy(bytes).into_owned())
            }
            ValueRef::Integer(n) => Some(n.to_string()),
            ValueRef::Real(x) => Some(x.to_string()),
        })
    };
    let mut read = CatalogRow::default();
    // An id that is not UTF-8, or not text (bytes another program
    // stored), is no id the run is found by: the page leaves it out.
    read.run = match row.get_ref(0)? {
        ValueRef::Text(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        _ => String::new(),
    };
    read.thread = text(1)?.unwrap_or_default();
    read.agent = text(2)?;
    read.state = row.get(3)?;
    read.outcome = text(4)?;
    read.model_calls = row.get(5)?;
    read.tool_calls = row.get(6)?;
    read.input_tokens = row.get(7)?;
    read.output_tokens = row.get(8)?;
    read.cost_micros = row.get(9)?;
    read.updated_ms = row.get(10)?;
    // A parent's id that is not UTF-8 is no id either: read lossily, it
    // does not parse, and a page leaves the row out (`run_page`).
    read.parent = text(11)?;
    Ok(read)
}
