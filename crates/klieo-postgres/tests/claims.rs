//! Workers of several processes claiming from one queue at once: each run
//! goes to one of them.

use crate::support::fresh_url;
use klieo_postgres::PostgresStore;
use klieo_types::{RunQueue, Submission};
use std::collections::HashSet;
use std::time::Duration;
use tokio::task::JoinSet;

const RUNS: usize = 400;
const CLAIMERS: usize = 8;
const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs a PostgreSQL server: cargo xtask ci starts one"]
async fn claimers_racing_on_one_queue_each_get_runs_of_their_own() {
    let url = fresh_url().await;
    let store = PostgresStore::connect(&url).await.expect("connects");
    let mut submitted = HashSet::new();
    for i in 0..RUNS {
        let run = store
            .submit(&Submission::new("support", format!("run {i}")))
            .await
            .expect("submits");
        submitted.insert(run);
    }
    let mut claiming = JoinSet::new();
    for worker in 0..CLAIMERS {
        // A store of its own, as a worker process has.
        let store = PostgresStore::connect(&url).await.expect("connects");
        claiming.spawn(async move {
            let holder = format!("w{worker}");
            let agents = ["support".to_owned()];
            let mut mine = Vec::new();
            loop {
                let claimed = store
                    .claim(&holder, &agents, 1, HOUR)
                    .await
                    .expect("claims");
                if claimed.is_empty() {
                    return mine;
                }
                mine.extend(claimed.into_iter().map(|c| c.run));
            }
        });
    }
    let mut claimed = Vec::new();
    while let Some(mine) = claiming.join_next().await {
        claimed.extend(mine.expect("a claimer ends"));
    }
    let distinct: HashSet<_> = claimed.iter().copied().collect();
    assert_eq!(distinct.len(), claimed.len(), "a run claimed twice");
    assert_eq!(distinct, submitted, "every run claimed");
}

/// Whether a session of the database waits on a lock, looked for a
/// bounded number of times (not slept on).
async fn a_lock_is_waited_on(url: &str) -> bool {
    use sqlx::Connection;
    let mut watch = sqlx::PgConnection::connect(url).await.expect("connects");
    for _ in 0..10_000 {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut watch)
        .await
        .expect("reads the activity");
        if n > 0 {
            return true;
        }
        tokio::task::yield_now().await;
    }
    false
}

/// A run another process leases (a resume) while a worker's claim is
/// between finding it and leasing it is left to that process, and left
/// queued: the claim marks running only what it leased.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a PostgreSQL server: cargo xtask ci starts one"]
async fn a_claim_that_loses_a_runs_lease_leaves_it_queued() {
    use klieo_types::{Journal, RunState};
    use sqlx::Connection;

    let url = fresh_url().await;
    let store = PostgresStore::connect(&url).await.expect("connects");
    let run = store
        .submit(&Submission::new("support", "help"))
        .await
        .expect("submits");
    // The claim's lease waits, once it found the run, on a gate the test
    // holds.
    let mut gate = sqlx::PgConnection::connect(&url).await.expect("connects");
    for statement in [
        "CREATE FUNCTION gate() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
           IF NEW.holder = 'w' THEN PERFORM pg_advisory_xact_lock_shared(4242); END IF; \
           RETURN NEW; END $$",
        "CREATE TRIGGER gate BEFORE INSERT ON klieo_leases FOR EACH ROW EXECUTE FUNCTION gate()",
        "SELECT pg_advisory_lock(4242)",
    ] {
        sqlx::query(statement)
            .execute(&mut gate)
            .await
            .expect("sets the gate");
    }
    let claimer = PostgresStore::connect(&url).await.expect("connects");
    let agents = ["support".to_owned()];
    let claiming = tokio::spawn(async move { claimer.claim("w", &agents, 1, HOUR).await });
    assert!(
        a_lock_is_waited_on(&url).await,
        "the claim never reached its lease"
    );

    assert!(
        store.lease(run, "taker", HOUR).await.expect("leases"),
        "the other process leases it"
    );
    sqlx::query("SELECT pg_advisory_unlock(4242)")
        .execute(&mut gate)
        .await
        .expect("opens the gate");
    let claimed = claiming.await.expect("the claim ends").expect("claims");
    assert!(claimed.is_empty(), "{claimed:?}");
    assert_eq!(
        store.state(run).await.expect("reads"),
        Some(RunState::Queued)
    );
}

/// A worker whose lease lapsed commits while another worker's claim of
/// the run is under way: the claim is first, so the commit is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a PostgreSQL server: cargo xtask ci starts one"]
async fn a_commit_after_a_claim_under_way_is_refused() {
    use klieo_types::{Commit, Episode, Journal, MemoryError, RunId, ThreadId};
    use sqlx::Connection;

    let url = fresh_url().await;
    let store = PostgresStore::connect(&url).await.expect("connects");
    let (run, thread) = (RunId::new(), ThreadId::new("t"));
    let started = Episode::Started {
        agent: "support".into(),
    };
    let first = Commit::new(run, thread.clone()).with_episodes(vec![started]);
    store.commit(first).await.expect("the run starts");
    // W1's lease, lapsed at once.
    assert!(store
        .lease(run, "w1", Duration::ZERO)
        .await
        .expect("leases"));

    // W2's claim, half done: the run's row locked, its lease written.
    let mut claim = sqlx::PgConnection::connect(&url).await.expect("connects");
    let mut tx = claim.begin().await.expect("begins");
    sqlx::query("SELECT 1 FROM klieo_runs WHERE run = $1 FOR UPDATE")
        .bind(run.to_string())
        .execute(&mut *tx)
        .await
        .expect("locks the run");
    sqlx::query(
        "INSERT INTO klieo_leases (run, holder, until_at) VALUES ($1, 'w2', now() + interval '1 hour') \
         ON CONFLICT (run) DO UPDATE SET holder = excluded.holder, until_at = excluded.until_at",
    )
    .bind(run.to_string())
    .execute(&mut *tx)
    .await
    .expect("leases the run");

    let late = Commit::new(run, thread)
        .with_episodes(vec![Episode::Failed {
            error: "w1's late step".into(),
        }])
        .with_holder("w1");
    let committing = tokio::spawn(async move { store.commit(late).await });
    // The commit waits on the claim's lock.
    assert!(
        a_lock_is_waited_on(&url).await,
        "the commit never waited on the claim"
    );
    tx.commit().await.expect("the claim commits");

    let refused = committing.await.expect("the commit ends");
    assert!(
        matches!(refused, Err(MemoryError::Conflict(_))),
        "{refused:?}"
    );
}

/// A run whose id a person edited into one klieo cannot read is failed by
/// the claim that finds it, and the runs found with it are claimed: none
/// is left leased and undriven.
#[tokio::test]
#[ignore = "needs a PostgreSQL server: cargo xtask ci starts one"]
async fn a_run_whose_id_cannot_be_read_is_failed_and_the_runs_behind_it_are_claimed() {
    use klieo_types::RunState;
    use sqlx::Connection;

    let url = fresh_url().await;
    let store = PostgresStore::connect(&url).await.expect("connects");
    let first = store
        .submit(&Submission::new("greeter", "first"))
        .await
        .expect("submits");
    let second = store
        .submit(&Submission::new("greeter", "second"))
        .await
        .expect("submits");
    let mut raw = sqlx::PgConnection::connect(&url).await.expect("connects");
    sqlx::query("UPDATE klieo_runs SET run = 'not-a-run-id' WHERE run = $1")
        .bind(first.to_string())
        .execute(&mut raw)
        .await
        .expect("the edit");

    let agents = ["greeter".to_owned()];
    let claimed = store.claim("w", &agents, 8, HOUR).await.expect("claims");
    let runs: Vec<_> = claimed.iter().map(|c| c.run).collect();
    assert_eq!(runs, [second]);
    let (state, outcome): (String, String) =
        sqlx::query_as("SELECT state, outcome FROM klieo_runs WHERE run = 'not-a-run-id'")
            .fetch_one(&mut raw)
            .await
            .expect("reads the edited row");
    assert_eq!(state, "failed");
    assert!(
        outcome.contains("the run id of run `not-a-run-id` could not be read"),
        "{outcome}"
    );
    assert!(store
        .claim("w", &agents, 8, HOUR)
        .await
        .expect("claims")
        .is_empty());
    assert_eq!(
        store.state(second).await.expect("reads"),
        Some(RunState::Running)
    );
}
