//! Writes the golden fixture of this schema version,
//! `tests/fixtures/schema-v{SCHEMA_VERSION}.sql`: `klieo_store::testing::golden`'s
//! thread and runs, written through the journal into a fresh database,
//! then dumped as plain SQL by `pg_dump`. It refuses to rewrite a shipped
//! fixture: a new schema version adds its own beside the older ones.
//!
//! ```text
//! KLIEO_POSTGRES_URL=postgres://klieo@127.0.0.1:5432/postgres \
//! PG_DUMP=/usr/lib/postgresql/15/bin/pg_dump \
//!     cargo run -p klieo-postgres --features testing --example postgres_golden_fixture
//! ```
#![allow(clippy::print_stdout)]

use klieo_postgres::testing::fresh_database;
use klieo_postgres::{PostgresStore, SCHEMA_VERSION};
use klieo_store::testing::golden;
use std::path::Path;
use std::process::Command;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("schema-v{SCHEMA_VERSION}.sql"));
    if path.exists() {
        let shown = path.display();
        return Err(format!("{shown} exists: a shipped fixture is never rewritten").into());
    }
    let server = std::env::var("KLIEO_POSTGRES_URL")
        .map_err(|_| "set KLIEO_POSTGRES_URL to a PostgreSQL server to write the fixture on")?;
    let url = fresh_database(&server).await?;
    let store = PostgresStore::connect(&url).await?;
    golden::write(&store).await?;
    store.close().await;

    let pg_dump = std::env::var("PG_DUMP").unwrap_or_else(|_| "pg_dump".to_owned());
    let dump = Command::new(&pg_dump)
        .args([
            "--no-owner",
            "--no-privileges",
            "--inserts",
            "--dbname",
            &url,
        ])
        .output()
        .map_err(|e| format!("running {pg_dump} (set PG_DUMP to its path): {e}"))?;
    if !dump.status.success() {
        let stderr = String::from_utf8_lossy(&dump.stderr);
        return Err(format!("{pg_dump} failed: {stderr}").into());
    }
    // `\restrict` and `\unrestrict` are psql meta-commands, not SQL: the
    // fixture is read by a driver.
    let sql: String = String::from_utf8(dump.stdout)?
        .lines()
        .filter(|line| !line.starts_with('\\'))
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::write(&path, sql)?;
    println!("wrote {}", path.display());
    Ok(())
}
