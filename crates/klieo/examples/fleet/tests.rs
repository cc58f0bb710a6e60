//! The fleet's commands on a SQLite file, with a scripted model: runs
//! submitted from one handle, driven by two workers with handles of their
//! own (as separate processes have), waited for from a third.
#![allow(clippy::unwrap_used, clippy::panic)]

use crate::fleet::Fleet;
use klieo::prelude::*;
use klieo::types::testing::ScriptedLlm;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const RUNS: usize = 6;

fn model() -> ScriptedLlm {
    (0..RUNS).fold(ScriptedLlm::new(), |llm, _| llm.then_text("Hello."))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_submitted_in_one_process_are_driven_by_two_workers_and_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleet.db");
    let path = path.to_str().unwrap();
    let submitter = Fleet::open(path).await.unwrap();
    let mut runs = Vec::new();
    for i in 0..RUNS {
        runs.push(
            submitter
                .submit(&format!("hi {i}"), Some(&format!("k{i}")))
                .await
                .unwrap(),
        );
    }
    assert_eq!(
        submitter.submit("hi 0", Some("k0")).await.unwrap(),
        runs[0],
        "a retried submit finds its run"
    );

    let shutdown = CancellationToken::new();
    let mut workers = Vec::new();
    for _ in 0..2 {
        let fleet = Fleet::open(path).await.unwrap();
        let stop = shutdown.clone();
        workers.push(tokio::spawn(async move { fleet.work(model(), stop).await }));
    }
    for run in &runs {
        let state = submitter.wait(*run, Duration::from_secs(60)).await.unwrap();
        assert_eq!(
            state,
            RunState::Completed {
                answer: "Hello.".into()
            }
        );
    }
    shutdown.cancel();
    let mut finished = 0;
    for worker in workers {
        finished += worker.await.unwrap().unwrap().finished;
    }
    assert_eq!(finished, RUNS as u64, "each run driven by one worker");
}

#[test]
fn a_waited_answer_holding_an_escape_sequence_is_printed_escaped() {
    let shown = crate::printable("ok\u{1b}]52;c;ZXZpbA==\u{7}\nnext\u{202e}line");
    assert!(
        !shown.contains('\u{1b}') && !shown.contains('\u{7}'),
        "{shown}"
    );
    assert!(!shown.contains('\u{202e}'), "{shown}");
    assert_eq!(shown, "ok\\u{1b}]52;c;ZXZpbA==\\u{7}\nnext\\u{202e}line");
}
