//! A claim on a file a person edited: a run whose id cannot be read is
//! failed, and the runs queued behind it are claimed.

use klieo_sqlite::SqliteStore;
use klieo_types::{RunCatalog, RunId, RunQuery, RunQueue, RunState, Submission};
use std::time::Duration;

/// A store of two runs submitted for `greeter`, the first edited by
/// `edit` (its `?1` the run's id) on a connection of another program; the
/// store, both runs and that connection.
async fn edited(
    dir: &std::path::Path,
    edit: &'static str,
) -> (SqliteStore, RunId, RunId, sqlx::SqlitePool) {
    let path = dir.join("a.db");
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
    sqlx::query(edit)
        .bind(first.to_string())
        .execute(&raw)
        .await
        .expect("the edit");
    (store, first, second, raw)
}

/// What `store` claims for `greeter`: the runs' ids.
async fn claimed(store: &SqliteStore) -> Vec<RunId> {
    let agents = ["greeter".to_owned()];
    let ttl = Duration::from_secs(30);
    let claimed = store.claim("w", &agents, 8, ttl).await.expect("claims");
    claimed.iter().map(|c| c.run).collect()
}

/// The runs of the catalog's first page, newest first.
async fn listed(store: &SqliteStore) -> Vec<RunId> {
    let page = store
        .runs(&RunQuery::new())
        .await
        .expect("the page is read");
    page.runs.iter().map(|entry| entry.run).collect()
}

#[tokio::test]
async fn a_run_whose_id_cannot_be_read_is_failed_and_the_runs_behind_it_are_claimed() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let edit = "UPDATE runs SET run = 'not-a-run-id' WHERE run = ?1";
    let (store, _, second, raw) = edited(dir.path(), edit).await;
    assert_eq!(claimed(&store).await, [second]);
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
    assert!(claimed(&store).await.is_empty());
    let state = store.state(second).await.expect("reads");
    assert_eq!(state, Some(RunState::Running));
    // Listed without it: its id is nothing to act on.
    let listed = listed(&store).await;
    assert_eq!(listed, [second]);
}

/// Another program wrote a prompt that is not UTF-8: its run is failed,
/// saying what could not be read, and the run behind it is claimed.
#[tokio::test]
async fn a_run_whose_prompt_is_not_utf8_is_failed_and_the_runs_behind_it_are_claimed() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let edit = "UPDATE runs SET prompt = CAST(X'FF' AS TEXT) WHERE run = ?1";
    let (store, first, second, _raw) = edited(dir.path(), edit).await;
    assert_eq!(claimed(&store).await, [second]);
    let state = store.state(first).await.expect("reads");
    assert!(
        matches!(&state, Some(RunState::Failed { error }) if error.contains("the prompt of run")),
        "{state:?}"
    );
}

/// A run whose texts another program wrote not as UTF-8 is listed with
/// them shown as U+FFFD: the page of every other run is not lost to it.
#[tokio::test]
async fn a_run_whose_texts_are_not_utf8_is_listed_with_the_others() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let edit = "UPDATE runs SET thread = CAST(X'FF' AS TEXT) WHERE run = ?1";
    let (store, first, second, _raw) = edited(dir.path(), edit).await;
    let listed = listed(&store).await;
    assert_eq!(listed, [second, first]);
}

/// Another program wrote a parent's id that is not UTF-8: the catalog's
/// pages leave its run out rather than fail.
#[tokio::test]
async fn a_run_whose_parent_is_not_utf8_is_left_out_of_the_page() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let edit = "UPDATE runs SET parent = CAST(X'FF' AS TEXT) WHERE run = ?1";
    let (store, _, second, _raw) = edited(dir.path(), edit).await;
    let listed = listed(&store).await;
    assert_eq!(listed, [second]);
}

/// Another program wrote a run id that is not UTF-8: a claim fails the
/// run, and the catalog's pages leave it out rather than fail.
#[tokio::test]
async fn a_run_whose_id_is_not_utf8_is_left_out_of_the_page() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let edit = "UPDATE runs SET run = CAST(X'FF' AS TEXT) WHERE run = ?1";
    let (store, _, second, _raw) = edited(dir.path(), edit).await;
    assert_eq!(claimed(&store).await, [second]);
    let listed = listed(&store).await;
    assert_eq!(listed, [second]);
}

/// A row edited to an id that is no run id's sorts above every run: a
/// page of one row still holds the run behind it, and the listing goes on
/// to its end (a page of only that row ended it, with no run).
#[tokio::test]
async fn a_page_of_one_whose_row_cannot_be_read_still_leads_to_the_runs_behind_it() {
    for edit in [
        "UPDATE runs SET run = 'not-a-run-id' WHERE run = ?1",
        // A BLOB sorts above every text, and `GLOB` reads its bytes.
        "UPDATE runs SET run = CAST(run AS BLOB) WHERE run = ?1",
    ] {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (store, _, second, _raw) = edited(dir.path(), edit).await;
        let mut seen = Vec::new();
        let mut query = RunQuery::new().with_limit(1);
        for _ in 0..4 {
            let page = store.runs(&query).await.expect("the page is read");
            seen.extend(page.runs.iter().map(|entry| entry.run));
            match page.next {
                Some(next) => query = query.with_before(next),
                None => break,
            }
        }
        assert_eq!(seen, [second], "{edit}");
    }
}

/// Another program wrote a run id in upper case: it reads as an id, but
/// its rows would not be found by it, so a claim fails the run (before,
/// the claim leased and drove the lower-case id while the row stayed
/// queued, to be claimed again without end).
#[tokio::test]
async fn a_run_whose_id_is_in_upper_case_is_failed_and_the_runs_behind_it_are_claimed() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let edit = "UPDATE runs SET run = upper(run) WHERE run = ?1";
    let (store, _, second, raw) = edited(dir.path(), edit).await;
    assert_eq!(claimed(&store).await, [second]);
    let (state,): (String,) = sqlx::query_as("SELECT state FROM runs WHERE run = upper(run)")
        .fetch_one(&raw)
        .await
        .expect("reads the edited row");
    assert_eq!(state, "failed");
    assert!(claimed(&store).await.is_empty(), "not claimed again");
}

/// Another program stored a run id as bytes: it reads as an id, but no
/// row is found by it, so a claim fails the run and the catalog leaves it
/// out (before, the claim drove it while its row stayed queued).
#[tokio::test]
async fn a_run_whose_id_is_stored_as_bytes_is_failed_and_left_out() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let edit = "UPDATE runs SET run = CAST(run AS BLOB) WHERE run = ?1";
    let (store, _, second, raw) = edited(dir.path(), edit).await;
    assert_eq!(claimed(&store).await, [second]);
    let (state,): (String,) = sqlx::query_as("SELECT state FROM runs WHERE typeof(run) = 'blob'")
        .fetch_one(&raw)
        .await
        .expect("reads the edited row");
    assert_eq!(state, "failed");
    assert!(claimed(&store).await.is_empty(), "not claimed again");
    assert_eq!(listed(&store).await, [second]);
}

/// Another program wrote an episode's run id that is not UTF-8: the runs
/// are listed without it, not the whole list failed.
#[tokio::test]
async fn a_run_id_in_the_log_that_is_not_utf8_is_left_out_of_the_list() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("a.db");
    let store = SqliteStore::open(&path).await.expect("opens");
    let (edited, kept) = (RunId::new(), RunId::new());
    for run in [edited, kept] {
        let started = klieo_types::Episode::Started {
            agent: "greeter".into(),
        };
        klieo_types::EpisodicMemory::record(&store, run, started)
            .await
            .expect("records");
    }
    let raw = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("a raw connection");
    sqlx::query("UPDATE episodes SET run = CAST(X'FF' AS TEXT) WHERE run = ?1")
        .bind(edited.to_string())
        .execute(&raw)
        .await
        .expect("the edit");
    let listed = klieo_types::EpisodicMemory::list_runs(&store).await;
    assert_eq!(listed.expect("the list is read"), [kept]);
}
