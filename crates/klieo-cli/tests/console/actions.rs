//! What a person does from the console: approve, deny and cancel, each
//! recorded with who did it; a form that is not the console's own, or a
//! ticket for another call, changes nothing.

use crate::support::{
    form_value, get, hidden, opened, post, request, Console, Opened, Reply, TOKEN,
};
use klieo::sqlite::SqliteStore;
use klieo::store::testing::runs::started;
use klieo::types::{Episode, EpisodicMemory, RunId, RunQueue, RunState};
use std::path::Path;

/// The CSRF value and the ticket (for a form body) of `run`'s page.
async fn forms(console: &Console, run: RunId) -> (String, String) {
    let page = get(console, &format!("/runs/{run}")).await;
    let ticket = form_value(&hidden(&page.body, "ticket"));
    (hidden(&page.body, "csrf"), ticket)
}

/// Run `run`'s page, and the answer to its cancel form sent by `ops`.
async fn cancelled_from_page(console: &Console, run: RunId) -> (Reply, Reply) {
    let page = get(console, &format!("/runs/{run}")).await;
    let csrf = hidden(&page.body, "csrf");
    let form = format!("csrf={csrf}&by=ops");
    let done = post(console, &format!("/runs/{run}/cancel"), &form).await;
    (page, done)
}

/// A run started under `parent`, as a child's first commit says.
async fn child_of(store: &SqliteStore, parent: RunId) -> RunId {
    started(store, "lookup", Some(parent)).await.unwrap()
}

async fn log(path: &Path, run: RunId) -> (Option<RunState>, Vec<Episode>) {
    let store = SqliteStore::open(path).await.unwrap();
    let state = store.state(run).await.unwrap();
    let log = store.replay(run).await.unwrap();
    store.close().await;
    (state, log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_is_recorded_with_who_decided() {
    let Opened {
        path,
        runs,
        console,
        _dir,
    } = opened().await;
    let run = runs.to_approve;

    let page = get(&console, &format!("/runs/{run}")).await;
    let (csrf, ticket) = (hidden(&page.body, "csrf"), hidden(&page.body, "ticket"));
    assert!(
        !csrf.contains(TOKEN) && csrf != TOKEN,
        "the CSRF value is not the token"
    );
    let form = format!("csrf={csrf}&ticket={}&by=ada", form_value(&ticket));
    let done = post(&console, &format!("/runs/{run}/approve"), &form).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(
        done.header("location"),
        Some(format!("/runs/{run}?said=approved").as_str())
    );
    let again = post(&console, &format!("/runs/{run}/approve"), &form).await;
    assert_eq!(again.status, 409, "decided once");
    assert!(again.body.contains("was not recorded"), "{}", again.body);

    let (_, log) = log(&path, run).await;
    let approved: Vec<_> = log
        .iter()
        .filter_map(|e| match e {
            Episode::Approved { by, .. } => Some(by.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(approved, [Some("ada".to_owned())]);
    let said = get(&console, &format!("/runs/{run}?said=approved")).await;
    assert!(said
        .body
        .contains("Approved. The run goes on where its agent is."));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denial_needs_a_reason_and_keeps_it() {
    let Opened {
        path,
        runs,
        console,
        _dir,
    } = opened().await;
    let run = runs.to_deny;
    let (csrf, ticket) = forms(&console, run).await;

    let reasonless = format!("csrf={csrf}&ticket={ticket}&by=grace&reason=%20");
    let refused = post(&console, &format!("/runs/{run}/deny"), &reasonless).await;
    assert_eq!(refused.status, 400);
    assert!(refused.body.contains("`why` is empty"), "{}", refused.body);
    let form = format!("csrf={csrf}&ticket={ticket}&by=grace&reason=not%20to%20Eve");
    let done = post(&console, &format!("/runs/{run}/deny"), &form).await;
    assert_eq!(done.status, 303, "{}", done.body);

    let (_, log) = log(&path, run).await;
    assert!(log.iter().any(|e| matches!(
        e,
        Episode::Denied { reason, by: Some(by), .. } if reason == "not to Eve" && by == "grace"
    )));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reason_of_the_most_characters_the_form_takes_is_kept_in_any_script() {
    let Opened {
        path,
        runs,
        console,
        _dir,
    } = opened().await;
    let run = runs.to_deny;
    let (csrf, ticket) = forms(&console, run).await;
    // 2,000 characters of four bytes each, as a browser sends them.
    let reason = "𝄞".repeat(2_000);
    let by = "學".repeat(100);
    let form = format!(
        "csrf={csrf}&ticket={ticket}&by={}&reason={}",
        form_value(&by),
        form_value(&reason)
    );
    let done = post(&console, &format!("/runs/{run}/deny"), &form).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let (_, log) = log(&path, run).await;
    assert!(log
        .iter()
        .any(|e| matches!(e, Episode::Denied { reason: kept, .. } if *kept == reason)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_that_is_not_the_consoles_own_changes_nothing() {
    let Opened {
        path,
        runs,
        console,
        _dir,
    } = opened().await;
    let run = runs.to_approve;
    let (csrf, ticket) = forms(&console, run).await;
    let (before, _) = log(&path, run).await;

    let forged = format!("csrf=guessed&ticket={ticket}&by=mallory");
    let reply = post(&console, &format!("/runs/{run}/approve"), &forged).await;
    assert_eq!(reply.status, 403, "without the CSRF value");
    let bearer = format!("Bearer {TOKEN}");
    let elsewhere = [
        ("Authorization", bearer.as_str()),
        ("Origin", "http://evil.example"),
    ];
    let form = format!("csrf={csrf}&ticket={ticket}&by=mallory");
    let path_to = format!("/runs/{run}/approve");
    let reply = request(console.addr(), "POST", &path_to, &elsewhere, &form).await;
    assert_eq!(reply.status, 403, "from another site");
    let other = format!(
        "csrf={csrf}&ticket={}&by=mallory",
        form_value(&format!("{}/c1/00", runs.to_deny))
    );
    let reply = post(&console, &path_to, &other).await;
    assert_eq!(reply.status, 400, "a ticket of another run");
    let cancel = post(
        &console,
        &format!("/runs/{run}/cancel"),
        "csrf=guessed&by=mallory",
    )
    .await;
    assert_eq!(cancel.status, 403);

    let (after, log) = log(&path, run).await;
    assert_eq!(after, before);
    assert_eq!(after, Some(RunState::Suspended));
    assert!(!log.iter().any(|e| matches!(e, Episode::Approved { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_is_cancelled_from_its_page() {
    let Opened {
        path,
        runs,
        console,
        _dir,
    } = opened().await;
    let run = runs.to_deny;
    let (_, done) = cancelled_from_page(&console, run).await;
    assert_eq!(done.status, 303);
    let (state, _) = log(&path, run).await;
    assert_eq!(state, Some(RunState::Cancelled { by: "ops".into() }));
    let finished = get(&console, &format!("/runs/{}", runs.looked_up)).await;
    assert!(
        !finished.body.contains("Cancel the run"),
        "a finished run has no cancel form"
    );
}

/// A chain of `depth` runs under the run to deny, it and each run of the
/// chain but the last cancelled alone (as a cancel cut short midway
/// leaves them): the console and its store, the root, the run left going.
async fn left_going(depth: usize) -> (Opened, RunId, RunId) {
    let opened = opened().await;
    let root = opened.runs.to_deny;
    let store = SqliteStore::open(&opened.path).await.unwrap();
    let mut chain = vec![root];
    for _ in 0..depth {
        let parent = chain[chain.len() - 1];
        chain.push(child_of(&store, parent).await);
    }
    let going = chain.pop().unwrap();
    for run in chain {
        store.cancel(run, "ops").await.unwrap();
    }
    store.close().await;
    (opened, root, going)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runs_a_cancelled_run_left_going_are_cancelled_from_its_page() {
    let (
        Opened {
            path,
            console,
            _dir,
            ..
        },
        root,
        child,
    ) = left_going(1).await;

    let (page, done) = cancelled_from_page(&console, root).await;
    assert!(!page.body.contains("Cancel the run<"), "{}", page.body);
    assert!(page.body.contains("Cancel the runs under it still going"));
    assert_eq!(done.status, 303);
    let (state, _) = log(&path, child).await;
    assert_eq!(state, Some(RunState::Cancelled { by: "ops".into() }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_left_going_under_an_ended_child_is_cancelled_from_the_roots_page() {
    let (
        Opened {
            path,
            console,
            _dir,
            ..
        },
        root,
        grandchild,
    ) = left_going(2).await;

    let (page, done) = cancelled_from_page(&console, root).await;
    assert!(
        page.body.contains("Cancel the runs under it still going"),
        "{}",
        page.body
    );
    assert_eq!(done.status, 303);
    let (state, _) = log(&path, grandchild).await;
    assert_eq!(state, Some(RunState::Cancelled { by: "ops".into() }));
}
