//! A claim on a file a person edited: a run whose id cannot be read is
//! failed, and the runs queued behind it are claimed.

use klieo_sqlite::SqliteStore;
use klieo_types::{RunQueue, RunState, Submission};
use std::time::Duration;

#[tokio::test]
async fn a_run_whose_id_cannot_be_read_is_failed_and_the_runs_behind_it_are_claimed() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("a.db");
    let store = SqliteStore::open(&path).await.expect("opens");
    let first = store
        .submit(&Submission::new("greeter", "first"))
        .await
        .expect("submits");
    let second = store
        .submit(&Submission::new("greeter", "second"))
        .await
        .expect("submits");

    let url = format!("sqlite://{}", path.display());
    let raw = sqlx::SqlitePool::connect(&url)
        .await
        .expect("a raw connection");
    sqlx::query("UPDATE runs SET run = 'not-a-run-id' WHERE run = ?1")
        .bind(first.to_string())
        .execute(&raw)
        .await
        .expect("the edit");

    let agents = ["greeter".to_owned()];
    let ttl = Duration::from_secs(30);
    let claimed = store.claim("w", &agents, 8, ttl).await.expect("claims");
    let runs: Vec<_> = claimed.iter().map(|c| c.run).collect();
    assert_eq!(runs, [second]);
    // The edited row is failed, saying why, and not found again.
    let state: (String, String) =
        sqlx::query_as("SELECT state, outcome FROM runs WHERE run = 'not-a-run-id'")
            .fetch_one(&raw)
            .await
            .expect("reads the edited row");
    assert_eq!(state.0, "failed");
    assert!(
        state
            .1
            .contains("the run id of run `not-a-run-id` could not be read"),
        "{}",
        state.1
    );
    let again = store.claim("w", &agents, 8, ttl).await.expect("claims");
    assert!(again.is_empty(), "{again:?}");
    let state = store.state(second).await.expect("reads");
    assert_eq!(state, Some(RunState::Running));
}

/// Another program wrote a prompt that is not UTF-8: its run is failed,
/// saying what could not be read, and the run behind it is claimed.
#[tokio::test]
async fn a_run_whose_prompt_is_not_utf8_is_failed_and_the_runs_behind_it_are_claimed() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("a.db");
    let store = SqliteStore::open(&path).await.expect("opens");
    let first = store
        .submit(&Submission::new("greeter", "first"))
        .await
        .expect("submits");
    let second = store
        .submit(&Submission::new("greeter", "second"))
        .await
        .expect("submits");
    let url = format!("sqlite://{}", path.display());
    let raw = sqlx::SqlitePool::connect(&url)
        .await
        .expect("a raw connection");
    sqlx::query("UPDATE runs SET prompt = CAST(X'FF' AS TEXT) WHERE run = ?1")
        .bind(first.to_string())
        .execute(&raw)
        .await
        .expect("the edit");

    let agents = ["greeter".to_owned()];
    let ttl = Duration::from_secs(30);
    let claimed = store.claim("w", &agents, 8, ttl).await.expect("claims");
    let runs: Vec<_> = claimed.iter().map(|c| c.run).collect();
    assert_eq!(runs, [second]);
    let state = store.state(first).await.expect("reads");
    assert!(
        matches!(&state, Some(RunState::Failed { error }) if error.contains("the prompt of run")),
        "{state:?}"
    );
}
