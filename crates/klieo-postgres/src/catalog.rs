//! The store as a [`RunCatalog`]: one indexed range read, newest run
//! first, by the index that fits the filter (`klieo_runs_by_state`,
//! `_by_agent`, `_by_agent_state` or `_newest`, each on the run id's text
//! in the "C" collation, which sorts ids in the order they were made).

use crate::error::backend;
use crate::memory::ROWS;
use crate::PostgresStore;
use async_trait::async_trait;
use klieo_store::CatalogRow;
use klieo_types::{MemoryError, RunCatalog, RunChanges, RunEntry, RunId, RunPage, RunQuery};
use sqlx::postgres::PgRow;
use sqlx::Row;
use std::time::Duration;

/// A run id as klieo writes it (`RunId`'s text: lower-case hex in groups
/// of 8, 4, 4, 4 and 12), as a POSIX regular expression.
const RUN_ID: &str = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";

#[async_trait]
impl RunCatalog for PostgresStore {
    async fn runs(&self, query: &RunQuery) -> Result<RunPage, MemoryError> {
        let doing = "listing runs";
        // No agent's name holds a NUL (PostgreSQL's text cannot), so no
        // run matches one; PostgreSQL refuses to read it at all.
        if query.agent().is_some_and(|agent| agent.contains('\0')) {
            return ROWS.run_page(Vec::new(), query.limit());
        }
        // Rows whose id or parent's id is no run id as klieo writes it
        // (edited by hand) are not read: a page of them would be empty
        // and end the listing early.
        let mut filters = vec![
            format!("run ~ '{RUN_ID}'"),
            format!("(parent IS NULL OR parent ~ '{RUN_ID}')"),
        ];
        let mut next = 0;
        let mut placeholder = || {
            next += 1;
            format!("${next}")
        };
        if query.status().is_some() {
            filters.push(format!("state = {}", placeholder()));
        }
        if query.agent().is_some() {
            filters.push(format!("agent = {}", placeholder()));
        }
        if query.parent().is_some() {
            filters.push(format!("parent = {}", placeholder()));
        }
        if query.before().is_some() {
            filters.push(format!("run COLLATE \"C\" < {}", placeholder()));
        }
        let filter = format!("WHERE {}", filters.join(" AND "));
        let sql = format!(
            "SELECT {COLUMNS} FROM klieo_runs {filter} ORDER BY run COLLATE \"C\" DESC LIMIT {}",
            placeholder()
        );
        let mut select = sqlx::query(sqlx::AssertSqlSafe(sql));
        if let Some(status) = query.status() {
            select = select.bind(status.name());
        }
        if let Some(agent) = query.agent() {
            select = select.bind(agent);
        }
        if let Some(parent) = query.parent() {
            select = select.bind(parent.to_string());
        }
        if let Some(before) = query.before() {
            select = select.bind(before.to_string());
        }
        // One past the page: whether there is a next.
        let limit = i64::try_from(query.limit() + 1).unwrap_or(i64::MAX);
        let rows = select
            .bind(limit)
            .try_map(|row: PgRow| catalog_row(&row))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| backend(doing, e))?;
        ROWS.run_page(rows, query.limit())
    }

    async fn entry(&self, run: RunId) -> Result<Option<RunEntry>, MemoryError> {
        let doing = "reading a run's entry";
        let sql = format!("SELECT {COLUMNS} FROM klieo_runs WHERE run = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(run.to_string())
            .try_map(|row: PgRow| catalog_row(&row))
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| backend(doing, e))?;
        row.map(|row| ROWS.run_entry(row)).transpose()
    }

    /// Each followed run's changes, by `LISTEN/NOTIFY` on a connection of
    /// the stream's own.
    async fn changes(&self) -> Result<Option<RunChanges>, MemoryError> {
        self.run_changes().await.map(Some)
    }

    async fn follow(&self, run: RunId, ttl: Duration) -> Result<(), MemoryError> {
        self.follow_run(run, ttl).await
    }
}

/// The columns a catalog row is read from.
const COLUMNS: &str = "run, thread, agent, state, outcome, model_calls, tool_calls, \
     input_tokens, output_tokens, cost_micros, \
     (extract(epoch FROM updated_at) * 1000)::BIGINT AS updated_ms, parent";

/// A catalog row, by its columns' names.
fn catalog_row(row: &PgRow) -> Result<CatalogRow, sqlx::Error> {
    let mut read = CatalogRow::default();
    read.run = row.try_get("run")?;
    read.thread = row.try_get("thread")?;
    read.agent = row.try_get("agent")?;
    read.state = row.try_get("state")?;
    read.outcome = row.try_get("outcome")?;
    read.model_calls = row.try_get("model_calls")?;
    read.tool_calls = row.try_get("tool_calls")?;
    read.input_tokens = row.try_get("input_tokens")?;
    read.output_tokens = row.try_get("output_tokens")?;
    read.cost_micros = row.try_get("cost_micros")?;
    read.updated_ms = row.try_get("updated_ms")?;
    read.parent = row.try_get("parent")?;
    Ok(read)
}
