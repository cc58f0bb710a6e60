//! A fresh database on the server `KLIEO_POSTGRES_URL` names.

use klieo_postgres::PostgresStore;
use klieo_types::RunId;

/// The URL of a new, empty database on the test server.
pub(crate) async fn fresh_url() -> String {
    let url = std::env::var("KLIEO_POSTGRES_URL")
        .expect("KLIEO_POSTGRES_URL names a PostgreSQL server: cargo xtask ci sets it");
    let admin = sqlx::PgPool::connect(&url).await.expect("the test server");
    let name = format!(
        "klieo_test_{:x}",
        RunId::new().as_u128() & u128::from(u64::MAX)
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .expect("a database of its own");
    admin.close().await;
    let base = url.rsplit_once('/').map_or(url.as_str(), |(base, _)| base);
    format!("{base}/{name}")
}

/// A store on a new, empty database.
pub(crate) async fn fresh() -> PostgresStore {
    PostgresStore::connect(&fresh_url().await)
        .await
        .expect("the store connects")
}
