//! A run's tree read from the store alone (`klieo_runtime::decisions`):
//! whether runs under an ended run still go, anywhere under it.

use async_trait::async_trait;
use klieo_runtime::decisions::{cancel_tree, going_under, Under};
use klieo_store::testing::runs::started;
use klieo_store::InMemoryJournal;
use klieo_types::{
    MemoryError, RunCatalog, RunEntry, RunId, RunPage, RunQuery, RunQueue, RunState,
};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A run started under `parent`, as a child's first commit says.
async fn child_of(store: &InMemoryJournal, parent: RunId) -> RunId {
    started(store, "lookup", Some(parent)).await.unwrap()
}

/// A root, its child and its child's child, the root and the child
/// cancelled alone (as a cancel cut short midway leaves them).
async fn cut_short(store: &InMemoryJournal) -> (RunId, RunId, RunId) {
    let root = started(store, "desk", None).await.unwrap();
    let child = child_of(store, root).await;
    let grandchild = child_of(store, child).await;
    store.cancel(root, "ops").await.unwrap();
    store.cancel(child, "ops").await.unwrap();
    (root, child, grandchild)
}

#[tokio::test]
async fn a_run_still_going_two_levels_under_an_ended_run_is_found() {
    let store = InMemoryJournal::new();
    let (root, _, grandchild) = cut_short(&store).await;
    assert_eq!(
        store.state(grandchild).await.unwrap(),
        Some(RunState::Running)
    );

    assert_eq!(going_under(&store, root, 32).await.unwrap(), Under::Going);
    assert_eq!(
        going_under(&store, root, 1).await.unwrap(),
        Under::Unknown,
        "one read lists the child, ended, and not what is under it"
    );

    let cancelled = cancel_tree(&store, &store, root, "ops").await.unwrap();
    assert_eq!(cancelled.unwrap().under, 1, "the grandchild");
    assert_eq!(going_under(&store, root, 32).await.unwrap(), Under::Ended);
}

#[tokio::test]
async fn a_tree_read_to_its_end_within_the_reads_allowed_has_ended() {
    let store = InMemoryJournal::new();
    let (root, child, grandchild) = cut_short(&store).await;
    store.cancel(grandchild, "ops").await.unwrap();
    // The root's children, the child's, the grandchild's: three reads.
    assert_eq!(going_under(&store, root, 3).await.unwrap(), Under::Ended);
    assert_eq!(going_under(&store, root, 2).await.unwrap(), Under::Unknown);
    assert_eq!(
        going_under(&store, grandchild, 1).await.unwrap(),
        Under::Ended
    );
    assert_eq!(going_under(&store, child, 0).await.unwrap(), Under::Unknown);
}

/// A catalog that counts its reads.
struct Counted {
    store: InMemoryJournal,
    reads: AtomicUsize,
}

#[async_trait]
impl RunCatalog for Counted {
    async fn runs(&self, query: &RunQuery) -> Result<RunPage, MemoryError> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.store.runs(query).await
    }

    async fn entry(&self, run: RunId) -> Result<Option<RunEntry>, MemoryError> {
        self.store.entry(run).await
    }
}

#[tokio::test]
async fn a_wide_tree_of_ended_runs_is_read_no_more_than_allowed() {
    let store = InMemoryJournal::new();
    let root = started(&store, "desk", None).await.unwrap();
    for _ in 0..40 {
        let leaf = child_of(&store, root).await;
        store.cancel(leaf, "ops").await.unwrap();
    }
    store.cancel(root, "ops").await.unwrap();
    let counted = Counted {
        store,
        reads: AtomicUsize::new(0),
    };
    // The root's children, then the first of theirs: each child's read is
    // one, though it finds none.
    assert_eq!(
        going_under(&counted, root, 2).await.unwrap(),
        Under::Unknown
    );
    assert_eq!(counted.reads.load(Ordering::Relaxed), 2);
    assert_eq!(going_under(&counted, root, 41).await.unwrap(), Under::Ended);
    assert_eq!(
        counted.reads.load(Ordering::Relaxed),
        2 + 41,
        "the root's children, then each child's, once"
    );
}
