//! A fresh database on the server `KLIEO_POSTGRES_URL` names.

use klieo_postgres::testing::fresh_database;
use klieo_postgres::PostgresStore;

/// The URL of a new, empty database on the test server.
pub(crate) async fn fresh_url() -> String {
    let url = std::env::var("KLIEO_POSTGRES_URL")
        .expect("KLIEO_POSTGRES_URL names a PostgreSQL server: cargo xtask ci sets it");
    fresh_database(&url).await.expect("a database of its own")
}

/// A store on a new, empty database.
pub(crate) async fn fresh() -> PostgresStore {
    PostgresStore::connect(&fresh_url().await)
        .await
        .expect("the store connects")
}
