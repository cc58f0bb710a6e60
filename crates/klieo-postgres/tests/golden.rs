//! The golden fixtures `tests/fixtures/schema-v{N}.sql`: a database written
//! by schema version N (by `examples/postgres_golden_fixture.rs`), dumped by
//! `pg_dump`. Each is restored into a fresh database and must still read.

use crate::support::fresh_url;
use klieo_postgres::{PostgresStore, SCHEMA_VERSION};
use klieo_store::testing::golden;
use sqlx::Connection;
use std::path::Path;

async fn version(url: &str) -> i64 {
    let mut raw = sqlx::PgConnection::connect(url)
        .await
        .expect("a raw connection");
    let version = sqlx::query_scalar("SELECT version FROM public.klieo_schema")
        .fetch_one(&mut raw)
        .await
        .expect("the version row");
    raw.close().await.expect("closes");
    version
}

/// A fresh database holding the fixture of `version`, with `more` run
/// after it (on the dump's empty search path: name tables `public.`).
async fn restored(fixture_version: i64, more: &str) -> String {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("schema-v{fixture_version}.sql"));
    let sql = std::fs::read_to_string(&fixture).expect("the fixture is in tests/fixtures");
    let url = fresh_url().await;
    // One connection of its own: the dump empties the session's search path.
    let mut raw = sqlx::PgConnection::connect(&url)
        .await
        .expect("a raw connection");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql + more))
        .execute(&mut raw)
        .await
        .expect("the fixture restores");
    raw.close().await.expect("closes");
    url
}

/// Restores the fixture of `version` into a fresh database, opens the
/// store on it and checks what it holds.
async fn read_fixture(fixture_version: i64) {
    let url = restored(fixture_version, "").await;
    assert_eq!(
        version(&url).await,
        fixture_version,
        "the fixture's version"
    );

    let store = PostgresStore::connect(&url)
        .await
        .expect("the old database opens");
    golden::check(&store).await;
    golden::check_catalog(&store).await;
    store.close().await;
    assert_eq!(version(&url).await, SCHEMA_VERSION, "migrated on open");
}

#[tokio::test]
#[ignore = "needs a PostgreSQL server: cargo xtask ci starts one"]
async fn a_database_of_every_shipped_schema_version_still_reads() {
    for version in [2] {
        read_fixture(version).await;
    }
}

#[tokio::test]
#[ignore = "needs a PostgreSQL server: cargo xtask ci starts one"]
async fn a_v2_database_whose_failed_run_error_holds_a_nul_migrates() {
    let run = klieo_types::RunId::new();
    let failed = format!(
        "INSERT INTO public.klieo_runs VALUES ('{run}', 'nul', NULL); \
         INSERT INTO public.klieo_episodes VALUES ('{run}', 0, 'started', \
             '{{\"type\":\"started\",\"agent\":\"calc\"}}'); \
         INSERT INTO public.klieo_episodes VALUES ('{run}', 1, 'failed', \
             '{{\"type\":\"failed\",\"error\":\"bad\\u0000reply\"}}');"
    );
    let url = restored(2, &failed).await;
    let store = PostgresStore::connect(&url)
        .await
        .expect("the old database migrates");
    let state = klieo_types::RunQueue::state(&store, run)
        .await
        .expect("the run's state reads");
    assert_eq!(
        state,
        Some(klieo_types::RunState::Failed {
            error: "bad\u{FFFD}reply".into()
        })
    );
    store.close().await;
}
