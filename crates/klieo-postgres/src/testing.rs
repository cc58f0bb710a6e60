//! For tests against a real server (feature `testing`).

use klieo_types::RunId;

/// Makes a new, empty database on the server `server_url` names, and
/// returns its URL: each test gets one of its own.
pub async fn fresh_database(server_url: &str) -> Result<String, sqlx::Error> {
    let admin = sqlx::PgPool::connect(server_url).await?;
    let name = format!(
        "klieo_test_{:x}",
        RunId::new().as_u128() & u128::from(u64::MAX)
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await?;
    admin.close().await;
    let base = server_url
        .rsplit_once('/')
        .map_or(server_url, |(base, _)| base);
    Ok(format!("{base}/{name}"))
}
