//! The schema's versions: a file of every shipped version still reads,
//! reopening changes nothing, a newer file is refused.

use klieo_sqlite::{OpenError, SqliteStore, SCHEMA_VERSION};
use klieo_store::testing::golden;
use klieo_types::{RunQueue, RunState};
use std::path::Path;

async fn user_version(path: &Path) -> i64 {
    let url = format!("sqlite://{}", path.display());
    let pool = sqlx::SqlitePool::connect(&url)
        .await
        .expect("a raw connection");
    let version = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(&pool)
        .await
        .expect("the version");
    pool.close().await;
    version
}

/// Opens a copy of the fixture of `version` and checks what it holds.
async fn read_fixture(version: i64) {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("schema-v{version}.db"));
    let dir = tempfile::tempdir().expect("a temporary directory");
    // A copy: opening migrates the file, and the fixture must stay as shipped.
    let path = dir.path().join("copy.db");
    std::fs::copy(&fixture, &path).expect("the fixture is in tests/fixtures");
    assert_eq!(user_version(&path).await, version, "the fixture's version");

    let store = SqliteStore::open(&path).await.expect("the old file opens");
    if version >= 3 {
        golden::check(&store).await;
        golden::check_catalog(&store).await;
        // Version 4 gives each old run the state its log ends in.
        let state = |run| store.state(run);
        assert_eq!(
            state(golden::run()).await.expect("the state"),
            Some(RunState::Completed {
                answer: String::new()
            }),
            "a completed run is completed (its answer was not kept apart)"
        );
        assert_eq!(
            state(golden::waiting_run()).await.expect("the state"),
            Some(RunState::Running),
            "a run that stopped mid-step is running, for a worker to take over"
        );
    } else {
        golden::check_memories(&store).await;
    }
    store.close().await;
    assert_eq!(
        user_version(&path).await,
        SCHEMA_VERSION,
        "migrated on open"
    );
}

#[tokio::test]
async fn a_file_of_every_shipped_schema_version_still_reads() {
    for version in [1, 3] {
        read_fixture(version).await;
    }
}

#[tokio::test]
async fn opening_again_changes_nothing() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("a.db");
    for _ in 0..3 {
        SqliteStore::open(&path).await.expect("opens").close().await;
    }
    assert_eq!(user_version(&path).await, SCHEMA_VERSION);
}

#[tokio::test]
async fn a_file_from_a_newer_version_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("a.db");
    SqliteStore::open(&path).await.expect("opens").close().await;
    let url = format!("sqlite://{}", path.display());
    let pool = sqlx::SqlitePool::connect(&url)
        .await
        .expect("a raw connection");
    sqlx::query("PRAGMA user_version = 99")
        .execute(&pool)
        .await
        .expect("set");
    pool.close().await;

    let error = SqliteStore::open(&path).await.expect_err("refused");
    assert!(
        matches!(error, OpenError::TooNew { found: 99, known, .. } if known == SCHEMA_VERSION),
        "{error:?}"
    );
    assert!(error.to_string().contains("newer klieo-sqlite"), "{error}");
    assert_eq!(user_version(&path).await, 99, "the file is left as it was");
}

#[tokio::test]
async fn a_file_in_a_missing_directory_names_the_path() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("no such directory").join("a.db");
    let error = SqliteStore::open(&path)
        .await
        .expect_err("cannot be created");
    assert!(matches!(error, OpenError::Open { .. }), "{error:?}");
    let text = error.to_string();
    assert!(text.contains("no such directory"), "{text}");
    assert!(
        std::error::Error::source(&error).is_some(),
        "the driver's cause is kept"
    );
}

/// Processes that restart together (two resumers after a crash) open the
/// same new file at the same instant: each must wait its turn, as the
/// busy timeout promises, never fail with "database is locked". Separate
/// pools are separate connections, as separate processes would hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_opening_one_new_file_at_once_all_open() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    for round in 0..40 {
        let path = dir.path().join(format!("new-{round}.db"));
        let opens: Vec<_> = (0..4)
            .map(|_| tokio::spawn(SqliteStore::open(path.clone())))
            .collect();
        for open in opens {
            let store = open
                .await
                .expect("the task ran")
                .expect("every store opens, waiting its turn");
            store.close().await;
        }
        assert_eq!(user_version(&path).await, SCHEMA_VERSION);
    }
}

/// Opening with `create` off: only a klieo store of this version opens;
/// anything else is refused and left byte for byte as it was.
#[tokio::test]
async fn with_create_off_only_a_store_of_this_version_opens_and_nothing_else_is_touched() {
    use klieo_sqlite::SqliteOptions;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let open = |path: &Path| SqliteStore::open_with(SqliteOptions::new(path).with_create(false));

    let missing = dir.path().join("missing.db");
    let refused = open(&missing).await.expect_err("a missing file");
    assert!(matches!(refused, OpenError::NotAStore { .. }), "{refused}");
    assert!(!missing.exists(), "not created");

    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, "").expect("an empty file");
    let refused = open(&empty).await.expect_err("an empty file");
    assert!(
        refused.to_string().contains("has no klieo schema"),
        "{refused}"
    );
    assert_eq!(std::fs::read(&empty).expect("read"), b"");

    // Another application's SQLite file, in rollback-journal mode.
    let foreign = dir.path().join("notes.db");
    let url = format!("sqlite://{}?mode=rwc", foreign.display());
    let pool = sqlx::SqlitePool::connect(&url)
        .await
        .expect("a raw connection");
    sqlx::raw_sql(
        "PRAGMA journal_mode = DELETE; PRAGMA user_version = 3; CREATE TABLE notes (text TEXT)",
    )
    .execute(&pool)
    .await
    .expect("another app's schema");
    pool.close().await;
    let before = std::fs::read(&foreign).expect("read");
    let refused = open(&foreign).await.expect_err("another app's file");
    assert!(
        refused.to_string().contains("has no klieo schema"),
        "{refused}"
    );
    assert_eq!(std::fs::read(&foreign).expect("read"), before, "untouched");

    let older = dir.path().join("older.db");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema-v3.db");
    std::fs::copy(&fixture, &older).expect("the v3 fixture");
    let before = std::fs::read(&older).expect("read");
    let refused = open(&older).await.expect_err("an older schema");
    assert!(
        matches!(refused, OpenError::TooOld { found: 3, .. }),
        "{refused}"
    );
    assert_eq!(std::fs::read(&older).expect("read"), before, "not migrated");

    let current = dir.path().join("current.db");
    SqliteStore::open(&current)
        .await
        .expect("made")
        .close()
        .await;
    open(&current)
        .await
        .expect("a store of this version opens")
        .close()
        .await;
}

#[tokio::test]
async fn options_that_cannot_work_are_refused_before_the_file_is_touched() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("a.db");
    let options = klieo_sqlite::SqliteOptions::new(&path).with_max_readers(0);
    let error = SqliteStore::open_with(options)
        .await
        .expect_err("no reader");
    assert!(
        matches!(&error, OpenError::Config { source } if source.to_string().contains("max_readers")),
        "{error:?}"
    );
    assert!(!path.exists(), "nothing was created");
}

#[test]
fn a_busy_timeout_under_a_millisecond_is_refused() {
    let options = klieo_sqlite::SqliteOptions::new("a.db")
        .with_busy_timeout(std::time::Duration::from_micros(500));
    let error = options.validate().expect_err("SQLite would wait 0 ms");
    assert!(error.to_string().contains("busy_timeout"), "{error}");
    let one = klieo_sqlite::SqliteOptions::new("a.db")
        .with_busy_timeout(std::time::Duration::from_millis(1));
    assert!(one.validate().is_ok());
}

#[tokio::test]
async fn a_busy_timeout_past_what_sqlite_takes_waits_its_most() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let options = klieo_sqlite::SqliteOptions::new(dir.path().join("a.db"))
        .with_busy_timeout(std::time::Duration::MAX);
    let store = klieo_sqlite::SqliteStore::open_with(options)
        .await
        .expect("opens, waiting at most SQLite's most");
    store.close().await;
}

#[tokio::test]
async fn another_applications_numbered_database_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("theirs.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let pool = sqlx::SqlitePool::connect(&url)
        .await
        .expect("a raw connection");
    sqlx::raw_sql("CREATE TABLE notes (body TEXT); PRAGMA user_version = 12;")
        .execute(&pool)
        .await
        .expect("their schema");
    pool.close().await;

    let error = SqliteStore::open(&path).await.expect_err("refused");
    assert!(matches!(error, OpenError::NotAStore { .. }), "{error:?}");
    assert!(error.to_string().contains("another application"), "{error}");
    assert_eq!(user_version(&path).await, 12, "the file is left as it was");
}
