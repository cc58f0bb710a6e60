//! Text a store may not hold as it is: the NUL character, which a model
//! can write and PostgreSQL's `text` cannot hold.

use super::{claim, commit, state, submit};
use klieo_types::{Commit, Episode, Message, RunQueue, RunState, Submission, ThreadId};

/// A prompt, an answer and a cancel's author holding a NUL are each
/// written, not refused again at every try (and a keyed submission
/// holding one, made again, is its run): the thread keeps the answer's
/// message as it is, and the run's state its text, with U+FFFD in the
/// NUL's place where the store cannot hold one (PostgreSQL).
pub async fn texts_holding_a_nul_are_written(queue: &dyn RunQueue) {
    let kept =
        |text: &str, written: &str| text == written || text == written.replace('\0', "\u{FFFD}");
    let asked = Submission::new("support", "where\0 is it?").with_key("nul");
    let run = submit(queue, &asked).await;
    assert_eq!(
        submit(queue, &asked).await,
        run,
        "the same submission again"
    );
    let claimed = claim(queue, "w", "support", 10).await;
    assert!(
        claimed.iter().any(|c| c.run == run
            && c.prompt
                .as_deref()
                .is_some_and(|p| kept(p, "where\0 is it?"))),
        "{claimed:?}"
    );
    let thread = ThreadId::new(format!("run-{run}"));
    let answered = Commit::new(run, thread.clone())
        .with_messages(vec![Message::assistant("it is\0 here")])
        .with_episodes(vec![Episode::Completed { steps: 1 }]);
    commit(queue, answered).await;
    match state(queue, run).await {
        Some(RunState::Completed { answer }) => {
            assert!(kept(&answer, "it is\0 here"), "{answer:?}");
        }
        other => panic!("the run completed: {other:?}"),
    }
    match queue.load(&thread, usize::MAX).await {
        Ok(said) => assert_eq!(
            said.last().map(|m| m.content.as_str()),
            Some("it is\0 here")
        ),
        Err(e) => panic!("load failed: {e}"),
    }
    let other = submit(queue, &Submission::new("support", "hi")).await;
    match queue.cancel(other, "ops\0").await {
        Ok(Some(RunState::Cancelled { by })) => assert!(kept(&by, "ops\0"), "{by:?}"),
        other => panic!("the run was cancelled: {other:?}"),
    }
}
