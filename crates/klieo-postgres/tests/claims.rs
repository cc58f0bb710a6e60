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
