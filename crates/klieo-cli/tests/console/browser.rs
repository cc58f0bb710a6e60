//! A person's path through the console, in Chromium driven by Playwright
//! (`tests/browser/console.mjs`): `cargo xtask ci`'s console step installs
//! both and runs this with `KLIEO_NODE`, `KLIEO_PLAYWRIGHT` and
//! `KLIEO_CHROMIUM` set.

use crate::support::{fill, Console, Working, LONG, TOKEN};
use klieo::sqlite::SqliteStore;
use klieo::types::{Episode, EpisodicMemory, RunQueue, RunState, Submission};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

fn needed(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: cargo xtask ci sets it"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and playwright-core: cargo xtask ci's console step installs them"]
async fn a_person_lists_opens_approves_and_denies_runs_in_a_browser() {
    let (node, playwright, chromium) = (
        needed("KLIEO_NODE"),
        needed("KLIEO_PLAYWRIGHT"),
        needed("KLIEO_CHROMIUM"),
    );
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let shots = manifest.join("../../target/console-screenshots");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agents.db");
    let runs = fill(&path).await;
    // A failed run's screenshot must not outlive it.
    let _ = std::fs::remove_dir_all(&shots);

    // A worker carries out what the person decides, as in a deployment.
    let store = SqliteStore::open(&path).await.unwrap();
    let working = Working::start(&store, None);
    // A mail run that asks for a second mail once the first is approved.
    let twice = store
        .submit(&Submission::new("mail", "twice: to Bob"))
        .await
        .unwrap();
    let waits = klieo::runtime::wait(&store, twice, LONG).await.unwrap();
    assert_eq!(waits, RunState::Suspended);
    let console = Console::start(&format!("sqlite://{}", path.display()));
    let script = manifest.join("tests/browser/console.mjs");
    let ids = serde_json::json!({
        "looked_up": runs.looked_up,
        "to_approve": runs.to_approve,
        "to_deny": runs.to_deny,
        "in_doubt": runs.in_doubt,
        "twice": twice,
    });
    let mut browse = Command::new(node);
    browse
        .arg(script)
        .env("KLIEO_PLAYWRIGHT", playwright)
        .env("KLIEO_CHROMIUM", chromium)
        .env("KLIEO_CONSOLE", &console.base)
        .env("KLIEO_TOKEN", TOKEN)
        .env("KLIEO_RUNS", ids.to_string())
        .env("KLIEO_SCREENSHOTS", &shots);
    // Bounded: the script's every wait is, and so is the whole.
    let browsed = tokio::time::timeout(
        Duration::from_secs(300),
        tokio::task::spawn_blocking(move || browse.output()),
    )
    .await
    .expect("the browser's script ends within 5 minutes")
    .unwrap()
    .unwrap();
    working.stop().await;
    let said = String::from_utf8_lossy(&browsed.stdout);
    assert!(
        browsed.status.success(),
        "the browser's script failed:\n{said}\n{}",
        String::from_utf8_lossy(&browsed.stderr)
    );
    println!("{said}");

    // What the person did is in the store, with who did it.
    for (run, by) in [(runs.to_approve, "ada"), (runs.to_deny, "grace")] {
        let state = store.state(run).await.unwrap();
        assert!(
            matches!(state, Some(RunState::Completed { .. })),
            "{state:?}"
        );
        let log = store.replay(run).await.unwrap();
        let decided = log.iter().any(|e| match e {
            Episode::Approved { by: Some(who), .. } | Episode::Denied { by: Some(who), .. } => {
                who == by
            }
            _ => false,
        });
        assert!(decided, "{by}'s decision on {run} is in its log");
    }
    let settled = store.replay(runs.in_doubt).await.unwrap();
    assert!(
        settled
            .iter()
            .any(|e| matches!(e, Episode::Settled { by: Some(by), .. } if by == "ada")),
        "ada's settlement is in the log"
    );
    let paid = store.state(runs.in_doubt).await.unwrap();
    assert!(matches!(paid, Some(RunState::Completed { .. })), "{paid:?}");
    let both = store.state(twice).await.unwrap();
    assert!(matches!(both, Some(RunState::Completed { .. })), "{both:?}");
    for page in [
        "refused",
        "runs",
        "run",
        "approvals",
        "approved",
        "moved",
        "denied",
        "settled",
    ] {
        assert!(
            shots.join(format!("{page}.png")).is_file(),
            "{page}'s screenshot"
        );
    }
    store.close().await;
}
