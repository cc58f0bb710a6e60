//! The store against a real server: the shared behaviour, migrations,
//! concurrent writers, all-or-nothing commits; and connection errors that
//! never show the URL.

use crate::support::fresh_url;
use klieo_postgres::{OpenError, PostgresOptions, PostgresStore, SCHEMA_VERSION};
use klieo_store::testing::memory;
use klieo_types::{
    Commit, Episode, EpisodicMemory, Journal, Message, PendingStep, RunId, ShortTermMemory,
    ThreadId, ToolCall,
};
use serde_json::json;

mod like_every_journal {
    use crate::support::fresh;
    klieo_store::testing::memory::journal_suite!(
        Box::new(fresh().await),
        #[ignore = "needs a PostgreSQL server: cargo xtask ci starts one"]
    );
}

mod like_every_ledger {
    use crate::support::fresh;
    klieo_store::testing::ledger::ledger_suite!(
        Box::new(fresh().await),
        #[ignore = "needs a PostgreSQL server: cargo xtask ci starts one"]
    );
}

mod like_every_queue {
    use crate::support::fresh;
    klieo_store::testing::queue::queue_suite!(
        Box::new(fresh().await),
        #[ignore = "needs a PostgreSQL server: cargo xtask ci starts one"]
    );
}

mod like_every_catalog {
    use crate::support::fresh;
    klieo_store::testing::catalog::catalog_suite!(
        Box::new(fresh().await),
        #[ignore = "needs a PostgreSQL server: cargo xtask ci starts one"]
    );
}

/// Two limiters of the suite's limits on one database, each through a
/// store of its own (as two processes have).
async fn two_limiters() -> (
    Box<klieo_postgres::PostgresRateLimiter>,
    Box<klieo_postgres::PostgresRateLimiter>,
) {
    let url = fresh_url().await;
    let limits = klieo_store::testing::rate::limits();
    let mut pair = Vec::new();
    for _ in 0..2 {
        let store = PostgresStore::connect(&url).await.expect("connects");
        pair.push(Box::new(
            store.rate_limiter(limits.clone()).expect("valid limits"),
        ));
    }
    let b = pair.pop().expect("two");
    (pair.pop().expect("two"), b)
}

mod like_every_rate_limiter {
    klieo_store::testing::rate::rate_limiter_suite!(
        super::two_limiters().await,
        #[ignore = "needs a PostgreSQL server: cargo xtask ci starts one"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a PostgreSQL server: cargo xtask ci starts one"]
async fn processes_connecting_at_once_migrate_once() {
    let url = fresh_url().await;
    let (a, b) = tokio::join!(PostgresStore::connect(&url), PostgresStore::connect(&url));
    let (a, _b) = (a.expect("one connects"), b.expect("the other too"));
    let versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM klieo_schema")
        .fetch_all(&sqlx::PgPool::connect(&url).await.expect("raw"))
        .await
        .expect("the version row");
    assert_eq!(versions, [SCHEMA_VERSION]);
    a.close().await;
}

/// Connecting with `create` off reads the schema's version and nothing
/// more: a database without klieo's schema, or with an older one, is
/// refused and left as it was.
#[tokio::test]
#[ignore = "needs a PostgreSQL server: cargo xtask ci starts one"]
async fn with_create_off_only_a_store_of_this_version_connects() {
    let url = fresh_url().await;
    let look = || PostgresStore::connect_with(PostgresOptions::new(&url).with_create(false));
    let refused = look().await.expect_err("no klieo schema");
    assert!(matches!(refused, OpenError::NotAStore), "{refused}");
    let raw = sqlx::PgPool::connect(&url).await.expect("raw");
    let tables: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'klieo%'")
            .fetch_one(&raw)
            .await
            .expect("the tables");
    assert_eq!(tables, 0, "no table was made");

    PostgresStore::connect(&url)
        .await
        .expect("made")
        .close()
        .await;
    look()
        .await
        .expect("a store of this version connects")
        .close()
        .await;
    sqlx::query("UPDATE klieo_schema SET version = version - 1")
        .execute(&raw)
        .await
        .expect("an older version");
    let refused = look().await.expect_err("an older schema");
    assert!(
        matches!(refused, OpenError::TooOld { found, .. } if found == SCHEMA_VERSION - 1),
        "{refused}"
    );
    let version: i64 = sqlx::query_scalar("SELECT version FROM klieo_schema")
        .fetch_one(&raw)
        .await
        .expect("the version");
    assert_eq!(version, SCHEMA_VERSION - 1, "not migrated");
    raw.close().await;
}

/// A worker's role that may not create tables (PostgreSQL 15's default
/// on `public`) connects to a store of this version, with `create` on:
/// nothing is to be migrated, so nothing is locked or altered.
#[tokio::test]
#[ignore = "needs a PostgreSQL server: cargo xtask ci starts one"]
async fn a_role_that_may_not_create_tables_connects_to_a_current_store() {
    let url = fresh_url().await;
    PostgresStore::connect(&url)
        .await
        .expect("made")
        .close()
        .await;
    let raw = sqlx::PgPool::connect(&url).await.expect("raw");
    let role = format!("klieo_worker_{:x}", RunId::new().as_u128() & 0xffff_ffff);
    let grants = format!(
        "CREATE ROLE {role} LOGIN; REVOKE CREATE ON SCHEMA public FROM PUBLIC; \
         GRANT USAGE ON SCHEMA public TO {role}; GRANT SELECT ON klieo_schema TO {role}"
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(grants))
        .execute(&raw)
        .await
        .expect("the role");
    raw.close().await;
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let host = rest.split_once('@').map_or(rest, |(_, host)| host);
    let as_worker = format!("{scheme}://{role}@{host}");
    let store = PostgresStore::connect(&as_worker).await;
    let store = store.expect("a role without CREATE connects to a current store");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a PostgreSQL server: cargo xtask ci starts one"]
async fn concurrent_appends_from_two_stores_all_land_in_order() {
    let url = fresh_url().await;
    let a = PostgresStore::connect(&url).await.expect("connects");
    let b = PostgresStore::connect(&url).await.expect("connects");
    memory::concurrent_appends(&[&a, &b]).await;
}

#[tokio::test]
#[ignore = "needs a PostgreSQL server: cargo xtask ci starts one"]
async fn a_thread_id_longer_than_a_key_holds_is_refused_before_anything_is_written() {
    let store = crate::support::fresh().await;
    // Random text does not compress: past the 2,704 bytes of a B-tree key.
    let long: String = (0..4_000u32)
        .map(|i| char::from(b'a' + ((i.wrapping_mul(2_654_435_761) >> 7) % 26) as u8))
        .collect();
    let thread = ThreadId::new(long.clone());
    let appended = store.append(&thread, vec![Message::user("hi")]).await;
    assert!(
        matches!(appended, Err(klieo_types::MemoryError::Unsupported(ref why)) if why.contains("4000 bytes")),
        "{appended:?}"
    );
    let submission =
        klieo_types::Submission::new("support", "hi").with_thread(ThreadId::new(long.clone()));
    let submitted = klieo_types::RunQueue::submit(&store, &submission).await;
    assert!(submitted.is_err(), "no run a worker could never start");
    let runs = klieo_types::RunCatalog::runs(&store, &klieo_types::RunQuery::new()).await;
    assert!(runs.expect("the catalogue reads").runs.is_empty());
    // An idempotency key leads a key too: refused saying what it is.
    let keyed = klieo_types::Submission::new("support", "hi").with_key(long);
    let submitted = klieo_types::RunQueue::submit(&store, &keyed).await;
    assert!(
        matches!(submitted, Err(klieo_types::MemoryError::Unsupported(ref why)) if why.contains("an idempotency key of 4000 bytes")),
        "{submitted:?}"
    );
}

#[tokio::test]
#[ignore = "needs a PostgreSQL server: cargo xtask ci starts one"]
async fn a_commit_that_fails_part_way_writes_nothing() {
    let url = fresh_url().await;
    let store = PostgresStore::connect(&url).await.expect("connects");
    let (run, thread) = (RunId::new(), ThreadId::new("t"));
    let reply = Message::assistant_tool_calls("", vec![ToolCall::new("c1", "echo", json!({}))]);
    store
        .commit(
            Commit::new(run, thread.clone())
                .with_messages(vec![Message::user("go")])
                .with_pending(PendingStep::new(1, reply.clone())),
        )
        .await
        .expect("the first commit");
    let raw = sqlx::PgPool::connect(&url).await.expect("raw");
    sqlx::raw_sql(
        "CREATE FUNCTION no_completed() RETURNS trigger AS $$ BEGIN \
         IF NEW.kind = 'completed' THEN RAISE EXCEPTION 'disk full'; END IF; RETURN NEW; \
         END $$ LANGUAGE plpgsql; \
         CREATE TRIGGER no_completed BEFORE INSERT ON klieo_episodes \
         FOR EACH ROW EXECUTE FUNCTION no_completed();",
    )
    .execute(&raw)
    .await
    .expect("the trigger");
    let error = store
        .commit(
            Commit::new(run, thread.clone())
                .with_messages(vec![reply.clone(), Message::tool_result("c1", "{}")])
                .with_episodes(vec![
                    Episode::Started { agent: "a".into() },
                    Episode::Completed { steps: 1 },
                ]),
        )
        .await
        .expect_err("the trigger fails the commit");
    let chain = klieo_types::ErrorChain(&error).to_string();
    assert!(
        chain.contains("disk full"),
        "the driver's error is the source: {chain}"
    );
    let history = store.load(&thread, 1_000).await.expect("load").to_vec();
    assert_eq!(
        history,
        [Message::user("go")],
        "no message of the failed commit"
    );
    assert!(
        store.replay(run).await.expect("replay").is_empty(),
        "no episode of it"
    );
    assert_eq!(
        store.pending(run).await.expect("pending"),
        Some(PendingStep::new(1, reply)),
        "the pending step is still the one before"
    );
}

#[tokio::test]
async fn a_connection_error_never_shows_the_url() {
    // Nothing listens on port 1; the password must not appear anywhere.
    let error = PostgresStore::connect("postgres://klieo:s3cr3t-pw@127.0.0.1:1/agents")
        .await
        .expect_err("refused");
    assert!(matches!(error, OpenError::Connect { .. }), "{error:?}");
    let mut texts = vec![error.to_string(), format!("{error:?}")];
    let mut cause = std::error::Error::source(&error);
    while let Some(c) = cause {
        texts.push(c.to_string());
        cause = c.source();
    }
    for text in texts {
        assert!(!text.contains("s3cr3t-pw"), "{text}");
    }
    let error = PostgresStore::connect("postgres://klieo:s3cr3t-pw@[bad")
        .await
        .expect_err("bad");
    assert!(matches!(error, OpenError::BadUrl), "{error:?}");
    assert!(!error.to_string().contains("s3cr3t-pw"));
}

#[tokio::test]
async fn options_that_cannot_work_are_refused_before_connecting() {
    let url = "postgres://klieo:s3cr3t-pw@127.0.0.1:1/agents";
    for (options, field) in [
        (
            PostgresOptions::new(url).with_max_connections(0),
            "PostgresOptions::max_connections",
        ),
        (
            PostgresOptions::new(url).with_acquire_timeout(std::time::Duration::ZERO),
            "PostgresOptions::acquire_timeout",
        ),
    ] {
        let error = PostgresStore::connect_with(options)
            .await
            .expect_err("refused");
        assert!(
            matches!(&error, OpenError::Config(klieo_types::ConfigError::Invalid { name, .. }) if name == field),
            "{field}: {error:?}"
        );
        assert!(!error.to_string().contains("s3cr3t-pw"));
    }
}
